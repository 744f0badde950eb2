using Loyalty.Domain.Customers;
using Loyalty.Domain.Programs;
using System.Text.Json.Nodes;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

/// <summary>Tier periods of 12 months: Bronze 0, Silver 1000, Gold 5000, Platinum 20000 over 365 Berlin days.</summary>
public sealed class TierLifecycleTests
{
    private static ActiveProgram Program(string downgrade = "oneTier", int graceDays = 0, bool protect = false) =>
        PointsLifecycleTests.With("{}", edit: root =>
        {
            var tiers = root["tiers"]!.AsObject();
            tiers["periodMonths"] = 12;
            tiers["downgrade"] = downgrade;
            tiers["graceDays"] = graceDays;
            tiers["protectCareProfiles"] = protect;
        });

    /// <summary>A customer who reached Gold on 2026-11-25 and then did nothing.</summary>
    private static TestCustomer GoldCustomer(ActiveProgram program)
    {
        var customer = new TestCustomer(program: program);
        customer.Earn(Buy("o-1", Line("tv", "electronics", 1, 500_000)));   // 5000: Gold
        Assert.Equal("Gold", customer.State.Tier);
        return customer;
    }

    private static readonly DateTimeOffset PeriodEnd = new(2027, 11, 26, 0, 0, 0, TimeSpan.FromHours(1));  // end of 2027-11-25, Berlin

    [Fact]
    public void A_tier_is_kept_until_its_period_ends_then_drops_one_tier()
    {
        var customer = GoldCustomer(Program());
        Assert.Equal(PeriodEnd, customer.View().TierPeriodEnd);

        // Months without qualifying points do not lower the tier before the period ends.
        customer.Clock.SetUtcNow(PeriodEnd - TimeSpan.FromTicks(1));
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        Assert.Equal("Gold", customer.State.Tier);

        customer.Clock.SetUtcNow(PeriodEnd);
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        Assert.Equal("Silver", customer.State.Tier);
        var change = customer.State.TierHistory[^1];
        Assert.Equal(("Gold", "Silver", PeriodEnd, "period ended without requalifying"), (change.From, change.To, change.At, change.Reason));
        // Silver gets a period of its own, and a year later goes down again.
        Assert.Equal(new DateTimeOffset(2028, 11, 26, 0, 0, 0, TimeSpan.FromHours(1)), customer.View().TierPeriodEnd);
        customer.Clock.SetUtcNow(new DateTimeOffset(2028, 11, 26, 0, 0, 0, TimeSpan.FromHours(1)));
        Assert.Equal("Bronze", customer.View().Summary.Tier);
    }

    [Fact]
    public void To_qualifying_drops_straight_to_the_tier_the_points_reach()
    {
        var customer = GoldCustomer(Program(downgrade: "toQualifying"));
        customer.Clock.SetUtcNow(PeriodEnd);
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        Assert.Equal("Bronze", customer.State.Tier);
        Assert.Null(customer.View().TierPeriodEnd);   // the lowest tier has no period
    }

    [Fact]
    public void A_customer_who_still_qualifies_at_the_period_end_keeps_the_tier_for_another_period()
    {
        var customer = GoldCustomer(Program());
        customer.Clock.SetUtcNow(new DateTimeOffset(2027, 10, 1, 12, 0, 0, TimeSpan.Zero));
        customer.Earn(Buy("o-2", Line("tv", "electronics", 1, 400_000)));   // 4000 x 1.5 = 6000 in the window
        customer.Clock.SetUtcNow(PeriodEnd);
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        Assert.Equal("Gold", customer.State.Tier);
        Assert.Equal(PeriodEnd.AddYears(1), customer.View().TierPeriodEnd);
    }

    [Fact]
    public void Grace_gives_time_to_requalify_before_the_downgrade()
    {
        var customer = GoldCustomer(Program(graceDays: 30));
        customer.Clock.SetUtcNow(PeriodEnd);
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        Assert.Equal("Gold", customer.State.Tier);
        var graceEnd = new DateTimeOffset(2027, 12, 26, 0, 0, 0, TimeSpan.FromHours(1));
        Assert.Equal(graceEnd, customer.View().GraceUntil);

        // Without requalifying: down at the grace period's end.
        var lapsed = GoldCustomer(Program(graceDays: 30));
        lapsed.Clock.SetUtcNow(graceEnd);
        Assert.Equal("Silver", lapsed.View().Summary.Tier);

        // Requalifying within grace keeps Gold and starts a new period from that day.
        customer.Clock.SetUtcNow(new DateTimeOffset(2027, 12, 10, 12, 0, 0, TimeSpan.Zero));
        customer.Earn(Buy("o-2", Line("tv", "electronics", 1, 400_000)));   // 6000 in the window
        Assert.Null(customer.View().GraceUntil);
        customer.Clock.SetUtcNow(graceEnd.AddDays(1));
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        Assert.Equal("Gold", customer.State.Tier);
        Assert.Equal(new DateTimeOffset(2028, 12, 11, 0, 0, 0, TimeSpan.FromHours(1)), customer.View().TierPeriodEnd);
    }

    [Theory]
    [InlineData(1950, false, true)]    // 77 in 2027
    [InlineData(1962, false, true)]    // 65 in 2027
    [InlineData(1963, false, false)]   // 64
    [InlineData(0, true, true)]        // accessibility needs
    [InlineData(0, false, false)]
    public void Care_profiles_are_protected_from_downgrades_when_the_program_says_so(int birthYear, bool access, bool kept)
    {
        var customer = GoldCustomer(Program(protect: true));
        customer.Earn(Profile(birthYear: birthYear == 0 ? null : birthYear, access: access));
        customer.Clock.SetUtcNow(PeriodEnd);
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        Assert.Equal(kept ? "Gold" : "Silver", customer.State.Tier);

        // Without the program option, the same profile goes down.
        var unprotected = GoldCustomer(Program(protect: false));
        unprotected.Earn(Profile(birthYear: birthYear == 0 ? null : birthYear, access: access));
        unprotected.Clock.SetUtcNow(PeriodEnd);
        Assert.Equal("Silver", unprotected.View().Summary.Tier);
    }

    [Fact]
    public void Without_tier_periods_tiers_never_go_down()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("tv", "electronics", 1, 500_000)));
        customer.Clock.Advance(TimeSpan.FromDays(3 * 365));
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        Assert.Equal("Gold", customer.State.Tier);
        Assert.Null(customer.View().TierPeriodEnd);
    }

    [Fact]
    public void An_event_long_after_the_period_end_first_applies_the_downgrade_then_earns_at_the_lower_tier()
    {
        var customer = GoldCustomer(Program());
        customer.Clock.SetUtcNow(PeriodEnd.AddDays(3));
        // 10.00 EUR at Silver's x1.25 = 12 (Gold would give 15).
        Assert.Equal(12, customer.Earn(Buy("o-2", Line("novel", "books", 1, 1000))));
        Assert.Equal("Silver", customer.State.Tier);
    }
}

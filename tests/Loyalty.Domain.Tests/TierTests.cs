using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

/// <summary>Sample tiers: Bronze 0 (x1), Silver 1000 (x1.25), Gold 5000 (x1.5), Platinum 20000 (x2);
/// qualifying points are those of the last 365 Berlin days.</summary>
public class TierTests
{
    [Fact]
    public void Crossing_the_silver_threshold_upgrades_on_that_event()
    {
        var customer = new TestCustomer();
        // 999.00 EUR x 1 = 999: one short.
        Assert.Equal(999, customer.Earn(Buy("o-1", Line("tv", "electronics", 1, 99_900))));
        Assert.Equal("Bronze", customer.State.Tier);

        var result = customer.Apply(Buy("o-2", Line("cable", "electronics", 1, 100)));

        // The crossing event itself still earns at Bronze: 1.00 EUR x 1 = 1, 999 + 1 = 1000.
        Assert.Equal(1, result.PointsDelta);
        Assert.Equal("Silver", result.Customer?.Tier);
        Assert.Equal("Silver", customer.State.Tier);
        Assert.EndsWith("; tier Bronze → Silver", customer.State.Interactions[^1].Summary, StringComparison.Ordinal);
        Assert.Equal("Silver", customer.State.Interactions[^1].TierAfter);
    }

    [Fact]
    public void Earning_after_the_upgrade_uses_the_silver_multiplier()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("tv", "electronics", 1, 100_000)));  // 1000.00 EUR -> 1000, Silver

        // 10.00 EUR x 1 x 1.25 = 12.5 -> 12
        Assert.Equal(12, customer.Earn(Buy("o-2", Line("novel", "books", 1, 1000))));
        // 10.00 EUR x 2 (baby) x 1.25 = 25
        Assert.Equal(25, customer.Earn(Buy("o-3", Line("bib", "baby", 1, 1000))));
        // 7 minutes x 1 x 1 x 1.25 = 8.75 -> 8
        Assert.Equal(8, customer.Earn(Game(7 * 60, 1)));
        // rank 1: 50 x 1.25 = 62.5 -> 62
        Assert.Equal(62, customer.Earn(Match(1, 8)));
        // first-win: 25 x 1.25 = 31.25 -> 31
        Assert.Equal(31, customer.Earn(Achieved("first-win")));
        // human resolution: 100 x 1.25 = 125
        Assert.Equal(125, customer.Earn(Support("k-1", SupportStatus.Resolved, SupportChannel.Human)));
        // 1000 + 12 + 25 + 8 + 62 + 31 + 125
        Assert.Equal(1263, customer.State.PointsAvailable);
    }

    [Fact]
    public void One_event_can_jump_several_tiers()
    {
        var customer = new TestCustomer();

        // 5000.00 EUR x 1 = 5000 -> Gold, skipping Silver.
        var result = customer.Apply(Buy("o-1", Line("bike", "electronics", 1, 500_000)));

        Assert.Equal("Gold", result.Customer?.Tier);
        // 10.00 EUR x 1.5 = 15
        Assert.Equal(15, customer.Earn(Buy("o-2", Line("novel", "books", 1, 1000))));
    }

    [Fact]
    public void Points_older_than_the_qualifying_window_do_not_count_toward_a_tier()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("tv", "electronics", 1, 60_000)));  // 600 points on Berlin day D

        // 365 days later the day D bucket falls out (days counted: D+1 .. D+365).
        customer.Clock.Advance(TimeSpan.FromDays(365));
        customer.Earn(Buy("o-2", Line("tv", "electronics", 1, 50_000)));  // 500 points

        Assert.Equal("Bronze", customer.State.Tier);
        Assert.Equal(500, CustomerEngine.QualifyingPoints(customer.State));
        // Spendable points do not expire with the window.
        Assert.Equal(1100, customer.State.PointsAvailable);
    }

    [Fact]
    public void Points_inside_the_qualifying_window_still_count_toward_a_tier()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("tv", "electronics", 1, 60_000)));  // 600 points on Berlin day D

        customer.Clock.Advance(TimeSpan.FromDays(364));
        var result = customer.Apply(Buy("o-2", Line("tv", "electronics", 1, 50_000)));  // 500 points

        // 600 + 500 = 1100 >= 1000
        Assert.Equal("Silver", result.Customer?.Tier);
        Assert.Equal(1100, CustomerEngine.QualifyingPoints(customer.State));
    }

    [Fact]
    public void Tier_is_not_lowered_when_qualifying_points_leave_the_window()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("tv", "electronics", 1, 100_000)));  // 1000 -> Silver

        customer.Clock.Advance(TimeSpan.FromDays(400));
        // 1 minute x 1 x 1.25 = 1.25 -> 1: earned at Silver, so the tier is still held.
        Assert.Equal(1, customer.Earn(Game(60, 1)));

        Assert.Equal(1, CustomerEngine.QualifyingPoints(customer.State));
        Assert.Equal("Silver", customer.State.Tier);
    }

    [Fact]
    public void Tier_is_not_lowered_by_a_refund()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("tv", "electronics", 1, 100_000)));  // 1000 -> Silver

        Assert.Equal(-1000, customer.Earn(Refund("o-1", Line("tv", "electronics", 1, 100_000))));

        Assert.Equal(0, CustomerEngine.QualifyingPoints(customer.State));
        Assert.Equal("Silver", customer.State.Tier);
    }

    [Fact]
    public void Tier_no_longer_in_the_program_falls_back_to_the_lowest()
    {
        var customer = new TestCustomer();
        customer.Earn(Game(60, 1));
        customer.State.Tier = "Diamond";  // as stored under an older program

        // Unknown tier earns at the lowest tier's multiplier: 2 minutes x 1 = 2.
        Assert.Equal(2, customer.Earn(Game(120, 1)));
        Assert.Equal("Bronze", customer.State.Tier);
    }
}

using static Loyalty.Domain.Tests.Pay;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>Conditions on the customer as the event left them: tier, points, profile, perks.
/// Sample earning: books earn 1 point per EUR; Silver from 1000 qualifying points.</summary>
public class CustomerConditionTests
{
    [Fact]
    public void TierAtLeast_holds_from_the_event_that_reaches_the_tier()
    {
        var customer = CustomerWhen("""{ "tierAtLeast": "Silver" }""");

        Assert.False(customer.Fires(Buy("o-1", Line("tv", "books", 1, 99_999))));  // 999.99 -> 999, Bronze
        Assert.True(customer.Fires(Buy("o-2", Line("pen", "books", 1, 100))));     // +1 = 1000, Silver on this event
        Assert.True(customer.Fires(Game(60, 1)));
    }

    [Theory]
    [InlineData("Bronze", true)]    // the lowest tier always holds
    [InlineData("Silver", true)]
    [InlineData("Gold", false)]
    [InlineData("Platinum", false)]
    public void TierAtLeast_compares_by_the_order_of_tiers(string tier, bool fires)
    {
        var customer = CustomerWhen($$"""{ "tierAtLeast": "{{tier}}" }""");
        customer.Applied(Buy("o-1", Line("tv", "books", 1, 200_000)));  // 2000.00 -> 2000: Silver (Gold needs 5000)

        Assert.Equal(fires, customer.Fires(Game(60, 1)));
    }

    [Fact]
    public void PointsAvailableAtLeast_sees_the_points_of_the_event_itself()
    {
        var customer = CustomerWhen("""{ "pointsAvailableAtLeast": 100 }""");

        Assert.False(customer.Fires(Buy("o-1", Line("a", "books", 1, 9_999))));  // 99.99 -> 99
        Assert.True(customer.Fires(Buy("o-2", Line("b", "books", 1, 100))));     // 99 + 1 = 100
    }

    [Fact]
    public void PointsAvailableAtLeast_stops_holding_after_a_refund()
    {
        var customer = CustomerWhen("""{ "pointsAvailableAtLeast": 100 }""");
        Assert.True(customer.Fires(Buy("o-1", Line("a", "books", 1, 10_000), Line("b", "books", 1, 5_000))));  // 150

        Assert.False(customer.Fires(Refund("o-1", Line("a", "books", 1, 10_000))));  // 150 - 100 = 50
    }

    [Fact]
    public void PointsLifetimeAtLeast_compares_lifetime_points()
    {
        var customer = CustomerWhen("""{ "pointsLifetimeAtLeast": 150 }""");

        Assert.False(customer.Fires(Buy("o-1", Line("a", "books", 1, 14_999))));  // 149.99 -> 149
        Assert.True(customer.Fires(Buy("o-2", Line("b", "books", 1, 100))));      // 149 + 1 = 150
        Assert.Equal(150, customer.State.PointsLifetime);
    }

    [Theory]
    [InlineData("""{ "pointsAvailableAtLeast": 50 }""", true)]
    [InlineData("""{ "pointsAvailableAtLeast": 51 }""", false)]
    [InlineData("""{ "pointsLifetimeAtLeast": 150 }""", true)]
    [InlineData("""{ "pointsLifetimeAtLeast": 151 }""", false)]
    public void Points_conditions_tell_available_from_lifetime_points(string condition, bool fires)
    {
        var customer = CustomerWhen(condition);
        customer.Applied(Buy("o-1", Line("a", "books", 1, 15_000)));  // 150.00 -> 150 points
        customer.State.PointsAvailable -= 100;                        // as a redemption of 100 would leave it: 50 of 150

        Assert.Equal(fires, customer.Fires(Game(59, 1)));              // no whole minute: earns nothing
    }

    [Theory]
    [InlineData(1961, true)]   // 2026 - 1961 = 65
    [InlineData(1950, true)]
    [InlineData(1962, false)]  // 64
    public void AgeAtLeast_uses_the_birth_year_from_the_profile(int birthYear, bool fires)
    {
        var customer = CustomerWhen("""{ "ageAtLeast": 65 }""");

        // The profile update that sets the year is itself evaluated with it.
        Assert.Equal(fires, customer.Fires(Profile(birthYear: birthYear)));
        Assert.Equal(fires, customer.Fires(Buy("o-1", Line("a", "books", 1, 100))));
    }

    [Fact]
    public void AgeAtLeast_does_not_hold_without_a_birth_year()
    {
        var customer = CustomerWhen("""{ "ageAtLeast": 0 }""");

        Assert.False(customer.Fires(Profile(name: "Ada")));
    }

    [Theory]
    // Born 1962: 64 in 2026, 65 in 2027. New year in Berlin (UTC+1 in winter) comes an hour before UTC's.
    [InlineData("2026-12-31T22:30:00Z", false)]  // 23:30 on 31 Dec in Berlin
    [InlineData("2026-12-31T23:30:00Z", true)]   // 00:30 on 1 Jan 2027 in Berlin, still 2026 in UTC
    public void AgeAtLeast_counts_years_in_the_programs_time_zone(string utcNow, bool fires)
    {
        var customer = CustomerWhen("""{ "ageAtLeast": 65 }""");
        customer.Applied(Profile(birthYear: 1962));
        customer.Clock.SetUtcNow(Utc(utcNow));

        Assert.Equal(fires, customer.Fires(Game(60, 1)));
    }

    [Fact]
    public void AccessibilityNeeds_true_holds_once_the_profile_says_so()
    {
        var customer = CustomerWhen("""{ "accessibilityNeeds": true }""");

        Assert.False(customer.Fires(Game(60, 1)));
        Assert.True(customer.Fires(Profile(access: true)));
        Assert.True(customer.Fires(Profile(name: "Ada")));  // other fields leave it as it was
        Assert.False(customer.Fires(Profile(access: false)));
    }

    [Fact]
    public void AccessibilityNeeds_false_holds_for_a_customer_without_them()
    {
        var customer = CustomerWhen("""{ "accessibilityNeeds": false }""");

        Assert.True(customer.Fires(Game(60, 1)));
        Assert.False(customer.Fires(Profile(access: true)));
    }

    [Fact]
    public void HasPerk_holds_while_the_perk_is_held_and_not_after_it_ends()
    {
        // "r" is evaluated before "grant-vip", so it does not see the perk on the event that grants it.
        var customer = new TestCustomer(program: Program($$"""
            [
              {{MarkerRule("""{ "hasPerk": "vip" }""")}},
              { "id": "grant-vip", "when": ["profile_update"], "then": [{ "grantPerk": { "perk": "vip", "days": 1 } }] }
            ]
            """));

        Assert.False(customer.Fires(Game(60, 1)));
        Assert.False(customer.Fires(Profile(name: "Ada")));  // vip until now + 1 day
        Assert.True(customer.Fires(Game(60, 1)));
        customer.Clock.Advance(TimeSpan.FromDays(1) - TimeSpan.FromSeconds(1));
        Assert.True(customer.Fires(Game(60, 1)));           // one second left
        customer.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(customer.Fires(Game(60, 1)));          // ended
    }

    [Fact]
    public void HasPerk_sees_a_perk_granted_by_an_earlier_rule_on_the_same_event()
    {
        var customer = new TestCustomer(program: Program($$"""
            [
              { "id": "grant-vip", "when": ["profile_update"], "then": [{ "grantPerk": { "perk": "vip" } }] },
              {{MarkerRule("""{ "hasPerk": "vip" }""")}}
            ]
            """));

        Assert.True(customer.Fires(Profile(name: "Ada")));
    }

    [Fact]
    public void HasPerk_of_another_perk_does_not_hold()
    {
        var customer = new TestCustomer(program: Program($$"""
            [
              { "id": "grant-vip", "when": ["any"], "then": [{ "grantPerk": { "perk": "vip" } }] },
              {{MarkerRule("""{ "hasPerk": "VIP" }""")}}
            ]
            """));

        Assert.False(customer.Fires(Game(60, 1)));  // perk names are exact
    }
}

using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>Which events a rule listens to, and its per-customer limits, on the injected clock
/// (starting 2026-11-25 12:00 UTC, 13:00 in Berlin). Caps and cooldowns count firings at processing time.</summary>
public class RuleLimitTests
{
    private static TestCustomer Limited(string limits, string condition = "{ \"not\": { \"categoryIn\": [\"gift-cards\"] } }", string id = "c-1") =>
        new(program: Program($$"""
            [{ "id": "r", "when": ["any"], "if": {{condition}}, "then": [{ "grantPerk": { "perk": "{{Marker}}" } }],
               "limits": {{limits}} }]
            """), id: id);

    [Fact]
    public void MaxPerCustomer_fires_n_times_in_the_period_then_again_when_the_first_firing_leaves_it()
    {
        var customer = Limited("""{ "maxPerCustomer": 2, "periodDays": 7 }""");

        Assert.True(customer.Fires(Game(60, 1)));      // T0
        customer.Clock.Advance(TimeSpan.FromHours(1));
        Assert.True(customer.Fires(Game(60, 1)));      // T0 + 1h
        customer.Clock.Advance(TimeSpan.FromHours(1));
        Assert.False(customer.Fires(Game(60, 1)));     // two in the last 7 days
        customer.Clock.SetUtcNow(Sample.Now.AddDays(7).AddMinutes(-1));
        Assert.False(customer.Fires(Game(60, 1)));     // T0 is still a minute inside the period

        customer.Clock.SetUtcNow(Sample.Now.AddDays(7).AddMinutes(30));
        Assert.True(customer.Fires(Game(60, 1)));      // T0 left the period; T0 + 1h did not
        Assert.False(customer.Fires(Game(60, 1)));     // T0 + 1h and T0 + 7d 30m
        customer.Clock.SetUtcNow(Sample.Now.AddDays(7).AddHours(1));
        Assert.True(customer.Fires(Game(60, 1)));      // T0 + 1h left too
    }

    [Fact]
    public void MaxPerCustomer_without_a_period_is_for_good()
    {
        var customer = Limited("""{ "maxPerCustomer": 1 }""");  // periodDays defaults to 3650

        Assert.True(customer.Fires(Game(60, 1)));
        customer.Clock.Advance(TimeSpan.FromDays(365));
        Assert.False(customer.Fires(Game(60, 1)));
    }

    [Fact]
    public void MaxPerCustomer_counts_firings_not_events()
    {
        var customer = Limited("""{ "maxPerCustomer": 1, "periodDays": 30 }""", """{ "categoryIn": ["baby"] }""");

        Assert.False(customer.Fires(Buy("o-1", Line("x", "books", 1, 100))));  // does not hold: uses nothing up
        Assert.False(customer.Fires(Game(60, 1)));
        Assert.True(customer.Fires(Buy("o-2", Line("x", "baby", 1, 100))));
        Assert.False(customer.Fires(Buy("o-3", Line("x", "baby", 1, 100))));
    }

    [Fact]
    public void MaxPerCustomer_is_per_customer()
    {
        var first = Limited("""{ "maxPerCustomer": 1 }""", id: "c-1");
        var second = Limited("""{ "maxPerCustomer": 1 }""", id: "c-2");

        Assert.True(first.Fires(Game(60, 1)));
        Assert.False(first.Fires(Game(60, 1)));
        Assert.True(second.Fires(Game(60, 1)));
    }

    [Fact]
    public void MaxPerCustomer_keeps_only_the_firings_it_needs()
    {
        var customer = Limited("""{ "maxPerCustomer": 2, "periodDays": 1 }""");
        for (var day = 0; day < 10; day++)
        {
            Assert.True(customer.Fires(Game(60, 1)));
            Assert.True(customer.Fires(Game(60, 1)));
            customer.Clock.Advance(TimeSpan.FromDays(1));
        }

        // Bounded state, whatever the history: the two firings of the last day, in minutes since 2000.
        var lastDay = RuleFiring.MinuteOf(Sample.Now.AddDays(9));
        Assert.Equal([lastDay, lastDay], Assert.Single(customer.State.Firings).Minutes);
    }

    [Fact]
    public void MaxPerCustomer_forgets_firings_that_left_the_period()
    {
        var customer = Limited("""{ "maxPerCustomer": 3, "periodDays": 1 }""");
        for (var day = 0; day < 5; day++)
        {
            Assert.True(customer.Fires(Game(60, 1)));
            customer.Clock.Advance(TimeSpan.FromDays(1));
        }

        // Room for three, but only the firing of the last day is still inside the period.
        Assert.Equal([RuleFiring.MinuteOf(Sample.Now.AddDays(4))], Assert.Single(customer.State.Firings).Minutes);
    }

    [Fact]
    public void CooldownHours_keeps_only_the_last_firing()
    {
        var customer = Limited("""{ "cooldownHours": 1 }""");
        for (var i = 0; i < 5; i++)
        {
            Assert.True(customer.Fires(Game(60, 1)));
            customer.Clock.Advance(TimeSpan.FromHours(1));
        }

        // A cooldown only needs the latest firing: T0 + 4h.
        Assert.Equal([RuleFiring.MinuteOf(Sample.Now.AddHours(4))], Assert.Single(customer.State.Firings).Minutes);
    }

    [Fact]
    public void CooldownHours_keeps_a_rule_quiet_until_the_cooldown_has_passed()
    {
        var customer = Limited("""{ "cooldownHours": 24 }""");

        Assert.True(customer.Fires(Game(60, 1)));       // T0
        customer.Clock.Advance(TimeSpan.FromHours(23) + TimeSpan.FromMinutes(59));
        Assert.False(customer.Fires(Game(60, 1)));      // T0 + 23h59m
        customer.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.True(customer.Fires(Game(60, 1)));       // T0 + 24h exactly
        Assert.False(customer.Fires(Game(60, 1)));      // the cooldown restarts from the last firing
        customer.Clock.Advance(TimeSpan.FromHours(24));
        Assert.True(customer.Fires(Game(60, 1)));
    }

    [Fact]
    public void CooldownHours_may_be_a_fraction_of_an_hour()
    {
        var customer = Limited("""{ "cooldownHours": 0.5 }""");

        Assert.True(customer.Fires(Game(60, 1)));
        customer.Clock.Advance(TimeSpan.FromMinutes(29));
        Assert.False(customer.Fires(Game(60, 1)));
        customer.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.True(customer.Fires(Game(60, 1)));
    }

    [Fact]
    public void Cap_and_cooldown_together_both_apply()
    {
        var customer = Limited("""{ "maxPerCustomer": 2, "periodDays": 1, "cooldownHours": 6 }""");

        Assert.True(customer.Fires(Game(60, 1)));       // T0
        customer.Clock.Advance(TimeSpan.FromHours(5));
        Assert.False(customer.Fires(Game(60, 1)));      // cooldown
        customer.Clock.Advance(TimeSpan.FromHours(1));
        Assert.True(customer.Fires(Game(60, 1)));       // T0 + 6h
        customer.Clock.Advance(TimeSpan.FromHours(6));
        Assert.False(customer.Fires(Game(60, 1)));      // T0 + 12h: cooldown over, but two in the last day
        customer.Clock.Advance(TimeSpan.FromHours(12) + TimeSpan.FromMinutes(1));
        Assert.True(customer.Fires(Game(60, 1)));       // T0 + 24h 1m: T0 left the day
    }

    [Theory]
    [InlineData("2026-11-24T22:59:59Z", false)]  // 23:59:59 on the 24th in Berlin
    [InlineData("2026-11-24T23:00:00Z", true)]   // 00:00 on the 25th in Berlin: startDate is inclusive
    [InlineData("2026-11-26T22:59:59Z", true)]   // 23:59:59 on the 26th: endDate is inclusive
    [InlineData("2026-11-26T23:00:00Z", false)]  // 00:00 on the 27th in Berlin, still the 26th in UTC
    public void StartDate_and_endDate_are_program_local_days_of_the_event(string occurredAt, bool fires)
    {
        var customer = Limited("""{ "startDate": "2026-11-25", "endDate": "2026-11-26" }""");
        customer.Clock.SetUtcNow(Utc("2026-11-27T12:00:00Z"));

        Assert.Equal(fires, customer.Fires(Game(60, 1), Utc(occurredAt)));
    }

    [Fact]
    public void StartDate_alone_opens_a_window_without_end()
    {
        var customer = Limited("""{ "startDate": "2026-11-26" }""");

        Assert.False(customer.Fires(Game(60, 1)));      // the 25th
        customer.Clock.Advance(TimeSpan.FromDays(400));
        Assert.True(customer.Fires(Game(60, 1)));
    }

    [Fact]
    public void EndDate_alone_closes_a_window_without_start()
    {
        var customer = Limited("""{ "endDate": "2026-11-25" }""");

        Assert.True(customer.Fires(Game(60, 1)));       // the 25th
        customer.Clock.Advance(TimeSpan.FromDays(1));
        Assert.False(customer.Fires(Game(60, 1)));
    }

    [Fact]
    public void A_rule_outside_its_dates_uses_up_no_cap()
    {
        var customer = Limited("""{ "startDate": "2026-11-26", "maxPerCustomer": 1 }""");
        Assert.False(customer.Fires(Game(60, 1)));
        customer.Clock.Advance(TimeSpan.FromDays(1));

        Assert.True(customer.Fires(Game(60, 1)));
    }

    [Fact]
    public void A_rule_never_fires_for_event_kinds_not_in_when()
    {
        var customer = new TestCustomer(program: Program($$"""
            [{ "id": "r", "when": ["purchase", "match_result"], "then": [{ "grantPerk": { "perk": "{{Marker}}" } }] }]
            """));

        Assert.False(customer.Fires(Game(600, 5)));
        Assert.False(customer.Fires(Achieved("marathon")));
        Assert.False(customer.Fires(Support("k-1", SupportStatus.Resolved, SupportChannel.Human, 5)));
        Assert.False(customer.Fires(Profile(name: "Ada")));
        Assert.True(customer.Fires(Buy("o-1", Line("x", "books", 1, 100))));
        Assert.False(customer.Fires(Refund("o-1", Line("x", "books", 1, 100))));
        Assert.True(customer.Fires(Match(9, 10)));
    }

    [Fact]
    public void Any_matches_every_event_kind()
    {
        var customer = new TestCustomer(program: Program($$"""
            [{ "id": "r", "when": ["any"], "then": [{ "grantPerk": { "perk": "{{Marker}}" } }] }]
            """));

        Assert.True(customer.Fires(Buy("o-1", Line("x", "books", 2, 100))));
        Assert.True(customer.Fires(Refund("o-1", Line("x", "books", 1, 100))));
        Assert.True(customer.Fires(Game(60, 1)));
        Assert.True(customer.Fires(Match(9, 10)));
        Assert.True(customer.Fires(Achieved("marathon")));
        Assert.True(customer.Fires(Support("k-1", SupportStatus.Opened, SupportChannel.Bot)));
        Assert.True(customer.Fires(Profile(name: "Ada")));
        Assert.Equal(EventKinds.All.Count, customer.State.Interactions.Count);
        Assert.Equal(EventKinds.All, customer.State.Interactions.Select(i => i.Kind));
    }

    [Fact]
    public void A_rejected_event_fires_no_rule()
    {
        var customer = new TestCustomer(program: Program($$"""
            [{ "id": "r", "when": ["any"], "then": [{ "addPoints": 10 }] }]
            """));

        var result = customer.Apply(Refund("o-unknown", Line("x", "books", 1, 100)));

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.Equal(0, result.PointsDelta);
        Assert.Equal(0, customer.State.PointsAvailable);
    }
}

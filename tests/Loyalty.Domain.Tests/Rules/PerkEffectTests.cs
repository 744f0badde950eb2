using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>grantPerk for a number of days or permanently: a perk held is extended, never shortened.</summary>
public class PerkEffectTests
{
    private static readonly DateTimeOffset T0 = Sample.Now;

    /// <summary>Purchases grant fast-lane for 10 days, game sessions for 3, achievements for good.</summary>
    private static TestCustomer Customer() => new(program: Program("""
        [
          { "id": "long", "when": ["purchase"], "then": [{ "grantPerk": { "perk": "fast-lane", "days": 10 } }] },
          { "id": "short", "when": ["game_session"], "then": [{ "grantPerk": { "perk": "fast-lane", "days": 3 } }] },
          { "id": "forever", "when": ["achievement"], "then": [{ "grantPerk": { "perk": "fast-lane" } }] }
        ]
        """));

    private static long? Until(DateTimeOffset at) => at.UtcTicks;

    [Fact]
    public void GrantPerk_holds_the_perk_for_its_days()
    {
        var customer = Customer();

        var result = customer.Applied(Game(60, 1));

        Assert.Equal(1, result.PointsDelta);  // base only: 1 minute x 1
        var perk = new HeldPerk("fast-lane", Until(T0.AddDays(3)), "short", T0);
        Assert.Equal(perk, Assert.Single(result.Perks));
        Assert.Equal(perk, Assert.Single(customer.State.Perks));
        Assert.Empty(result.Rewards);
        Assert.Empty(customer.State.Rewards);
    }

    [Fact]
    public void GrantPerk_without_days_holds_it_permanently()
    {
        var customer = Customer();

        var result = customer.Applied(Achieved("marathon"));

        Assert.Equal(new HeldPerk("fast-lane", null, "forever", T0), Assert.Single(result.Perks));
        Assert.Equal(new HeldPerk("fast-lane", null, "forever", T0), Assert.Single(customer.State.Perks));
    }

    [Fact]
    public void A_shorter_grant_never_shortens_a_held_perk()
    {
        var customer = Customer();
        customer.Applied(Buy("o-1", Line("x", "books", 1, 100)));   // until T0 + 10 days
        customer.Clock.Advance(TimeSpan.FromDays(5));

        var result = customer.Applied(Game(60, 1));                  // would end at T0 + 8 days

        var perk = new HeldPerk("fast-lane", Until(T0.AddDays(10)), "long", T0);
        Assert.Equal(perk, Assert.Single(result.Perks));
        Assert.Equal(perk, Assert.Single(customer.State.Perks));
    }

    [Fact]
    public void A_longer_grant_extends_a_held_perk()
    {
        var customer = Customer();
        customer.Applied(Game(60, 1));                                // until T0 + 3 days
        customer.Clock.Advance(TimeSpan.FromDays(1));

        customer.Applied(Buy("o-1", Line("x", "books", 1, 100)));   // T0 + 1 + 10 days

        // Held since T0 without a gap; the end comes from the rule that extended it.
        Assert.Equal(new HeldPerk("fast-lane", Until(T0.AddDays(11)), "long", T0), Assert.Single(customer.State.Perks));
    }

    [Fact]
    public void A_timed_grant_never_shortens_a_permanent_perk()
    {
        var customer = Customer();
        customer.Applied(Achieved("marathon"));
        customer.Clock.Advance(TimeSpan.FromDays(1));

        customer.Applied(Buy("o-1", Line("x", "books", 1, 100)));
        customer.Applied(Game(60, 1));

        Assert.Equal(new HeldPerk("fast-lane", null, "forever", T0), Assert.Single(customer.State.Perks));
    }

    [Fact]
    public void A_permanent_grant_makes_a_timed_perk_permanent()
    {
        var customer = Customer();
        customer.Applied(Buy("o-1", Line("x", "books", 1, 100)));
        customer.Clock.Advance(TimeSpan.FromDays(1));

        customer.Applied(Achieved("marathon"));

        Assert.Equal(new HeldPerk("fast-lane", null, "forever", T0), Assert.Single(customer.State.Perks));
    }

    [Fact]
    public void A_perk_granted_again_after_it_ended_starts_afresh()
    {
        var customer = Customer();
        customer.Applied(Game(60, 1));                                // until T0 + 3 days
        customer.Clock.Advance(TimeSpan.FromDays(4));

        customer.Applied(Game(60, 1));

        var t4 = T0.AddDays(4);
        Assert.Equal(new HeldPerk("fast-lane", Until(t4.AddDays(3)), "short", t4), Assert.Single(customer.State.Perks));
    }

    [Fact]
    public void Different_perks_are_held_side_by_side()
    {
        var customer = new TestCustomer(program: Program("""
            [{ "id": "r", "when": ["any"], "then": [
                { "grantPerk": { "perk": "fast-lane", "days": 2 } },
                { "grantPerk": { "perk": "lounge" } }
            ] }]
            """));

        var result = customer.Applied(Game(60, 1));

        Assert.Equal(["fast-lane", "lounge"], result.Perks.Select(p => p.Name));
        Assert.Equal([Until(T0.AddDays(2)), null], customer.State.Perks.Select(p => p.UntilTicks));
    }

    [Fact]
    public void A_perk_reward_for_30_days_does_not_shorten_a_permanent_green_channel()
    {
        // The sample's story: green channel holds priority support for good; a later service recovery grants
        // it for 30 days, and it stays permanent.
        var customer = new TestCustomer(program: Program("""
            [
              { "id": "green-channel", "when": ["profile_update"], "if": { "accessibilityNeeds": true },
                "then": [{ "grantPerk": { "perk": "priority_human_support" } }] },
              { "id": "recovery", "when": ["support_case"], "then": [{ "grantReward": "priority" }] }
            ]
            """, Catalogue));
        customer.Applied(Profile(access: true));

        var result = customer.Applied(Support("k-1", SupportStatus.Resolved, SupportChannel.Human));

        Assert.Equal(T0.AddDays(30), Assert.Single(result.Rewards).ExpiresAt);  // the reward says what it grants
        Assert.Equal(new HeldPerk("priority_human_support", null, "green-channel", T0), Assert.Single(customer.State.Perks));
    }
}

using Loyalty.Domain.Customers;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests.Rules;

public sealed class RewardCapTests
{
    private const string Rewards = """
        [ { "id": "coffee", "description": "Free coffee", "maxPerCustomer": 2, "periodDays": 7,
            "coupon": { "valueMinor": 300, "validityDays": 7, "codePrefix": "COFFEE" } } ]
        """;

    // Two rules grant the same reward; the reward's own cap (2 per 7 days) holds whichever rule grants it.
    private const string Rules = """
        [ { "id": "any-game", "when": ["game_session"], "then": [ { "grantReward": "coffee" }, { "addPoints": 1 } ] },
          { "id": "long-game", "when": ["game_session"], "if": { "minutesAtLeast": 30 }, "then": [ { "grantReward": "coffee" } ] } ]
        """;

    [Fact]
    public void A_reward_capped_per_customer_is_granted_at_most_that_often_whichever_rules_grant_it()
    {
        var customer = new TestCustomer(program: RuleKit.Program(Rules, Rewards));

        var first = customer.Applied(Game(45 * 60, 1));   // both rules hold: 2 coffees, the cap
        var second = customer.Applied(Game(45 * 60, 1));  // capped: no coffee, but the rule's points still count
        Assert.Equal(2, first.Rewards.Count);
        Assert.Empty(second.Rewards);
        Assert.Equal(45 + 1, second.PointsDelta);          // 45 min x 1 + addPoints 1

        customer.Clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1)); // the 7-day period has passed
        var later = customer.Applied(Game(10 * 60, 1));    // only any-game holds: 1 coffee
        Assert.Single(later.Rewards);
        Assert.StartsWith("COFFEE-", later.Rewards[0].Code, StringComparison.Ordinal);
    }

    [Fact]
    public void A_reward_cap_outside_1_to_50_is_refused_with_its_path()
    {
        var error = Assert.Throws<Loyalty.Domain.Programs.ProgramValidationException>(() =>
            RuleKit.Program(Rules, Rewards.Replace("\"maxPerCustomer\": 2", "\"maxPerCustomer\": 51", StringComparison.Ordinal)));
        Assert.Contains(error.Errors, e => e.Path == "$.rewards[0].maxPerCustomer");
    }
}

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

public sealed class ScaledGrantBudgetTests
{
    private sealed class CountingGate : Loyalty.Domain.Rules.IBudgetGate
    {
        public List<(string Rule, int Grants, long Points)> Asked { get; } = [];

        public bool TryConsume(Loyalty.Domain.Rules.RuleDefinition rule, int grants, long points)
        {
            Asked.Add((rule.Id, grants, points));
            return true;
        }
    }

    [Fact]
    public void A_scaled_currency_grant_worth_nothing_draws_nothing_from_the_budget()
    {
        const string rules = """
            [ { "id": "gems", "when": ["game_session"], "then": [ { "grantCurrencyPerMinuteTimesDifficulty": { "reward": "gems", "perMinuteTimesDifficulty": 1 } } ],
                "limits": { "budget": { "maxGrants": 10 } } } ]
            """;
        var program = RuleKit.Program(rules, RuleKit.Catalogue);
        var state = new CustomerState();
        var gate = new CountingGate();
        // 59 seconds is 0 whole minutes: 0 gems, no grant; 2 minutes at difficulty 3: 6 gems, one grant.
        CustomerEngine.Apply(state, new Loyalty.Domain.Events.LoyaltyEvent { EventId = "a", CustomerId = "c", OccurredAt = Sample.Now, Payload = Pay.Game(59, 1) },
            program, Sample.Now, EngineLimits.Default, gate);
        var result = CustomerEngine.Apply(state, new Loyalty.Domain.Events.LoyaltyEvent { EventId = "b", CustomerId = "c", OccurredAt = Sample.Now, Payload = Pay.Game(120, 3) },
            program, Sample.Now, EngineLimits.Default, gate);
        Assert.Equal([("gems", 0, 0L), ("gems", 1, 0L)], gate.Asked);
        Assert.Equal(6, Assert.Single(result.Rewards).Amount);
    }
}

public sealed class BudgetCountingTests
{
    private sealed class CountingGate : Loyalty.Domain.Rules.IBudgetGate
    {
        public List<(string Rule, int Grants)> Asked { get; } = [];

        public bool TryConsume(Loyalty.Domain.Rules.RuleDefinition rule, int grants, long points)
        {
            Asked.Add((rule.Id, grants));
            return true;
        }
    }

    [Fact]
    public void A_points_or_perk_rule_counts_one_grant_per_firing_and_a_capped_reward_counts_none()
    {
        const string rewards = """
            [ { "id": "mug", "description": "A mug", "maxPerCustomer": 1, "gameItem": { "gameId": "shop", "itemId": "mug" } } ]
            """;
        const string rules = """
            [ { "id": "bonus", "when": ["game_session"], "then": [ { "addPoints": 5 } ], "limits": { "budget": { "maxGrants": 100 } } },
              { "id": "mug-rule", "when": ["game_session"], "then": [ { "grantReward": "mug" } ], "limits": { "budget": { "maxGrants": 100 } } } ]
            """;
        var program = RuleKit.Program(rules, rewards);
        var state = new CustomerState();
        var gate = new CountingGate();
        for (var i = 0; i < 2; i++)
        {
            CustomerEngine.Apply(state, new Loyalty.Domain.Events.LoyaltyEvent { EventId = $"e{i}", CustomerId = "c", OccurredAt = Sample.Now, Payload = Pay.Game(60, 1) },
                program, Sample.Now, EngineLimits.Default, gate);
        }
        // First event: bonus 1, mug 1. Second: bonus 1, mug 0 (the customer already has the one mug allowed).
        Assert.Equal([("bonus", 1), ("mug-rule", 1), ("bonus", 1), ("mug-rule", 0)], gate.Asked);
    }
}

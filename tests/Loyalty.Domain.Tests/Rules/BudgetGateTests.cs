using Loyalty.Domain.Customers;
using Loyalty.Domain.Rules;
using static Loyalty.Domain.Tests.Pay;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>The domain side of campaign budgets: a rule with a budget asks the gate before it fires, and a refusal
/// is told, not silent. (How the gate shares a budget across silos is tested on a cluster.)</summary>
public class BudgetGateTests
{
    /// <summary>Allows the first <c>room</c> firings and remembers what each asked for.</summary>
    private sealed class CountingGate(int room) : IBudgetGate
    {
        public List<(string Rule, int Grants, long Points)> Asked { get; } = [];

        public bool TryConsume(RuleDefinition rule, int grants, long points)
        {
            Asked.Add((rule.Id, grants, points));
            return Asked.Count <= room;
        }
    }

    private const string Rules = """
        [
          { "id": "launch", "when": ["purchase"], "then": [{ "grantReward": "baby-5" }, { "addPoints": 200 }],
            "limits": { "budget": { "maxGrants": 1000 } } },
          { "id": "always", "when": ["purchase"], "then": [{ "addPoints": 1 }] }
        ]
        """;

    private static EventResult Apply(TestCustomer customer, IBudgetGate gate, string orderId) =>
        CustomerEngine.Apply(customer.State, customer.Event(Buy(orderId, Line("x", "books", 1, 1000))), customer.Program,
            customer.Now, customer.Limits, gate);

    [Fact]
    public void A_rule_with_a_budget_fires_while_the_gate_has_room_and_is_declined_after()
    {
        var customer = new TestCustomer(program: Program(Rules, Catalogue));
        var gate = new CountingGate(room: 1);

        var first = Apply(customer, gate, "o-1");
        var second = Apply(customer, gate, "o-2");

        // base 10 + launch 200 + always 1
        Assert.Equal(211, first.PointsDelta);
        Assert.Equal("launch", Assert.Single(first.Rewards).RuleId);
        Assert.Empty(first.Declined);
        // base 10 + always 1: the rule without a budget is not held back
        Assert.Equal(11, second.PointsDelta);
        Assert.Empty(second.Rewards);
        var decline = Assert.Single(second.Declined);
        Assert.Equal("launch", decline.RuleId);
        Assert.Equal("the campaign budget of 1000 grants is used up", decline.Reason);
        Assert.Equal(222, customer.State.PointsAvailable);
    }

    [Fact]
    public void The_gate_is_asked_for_the_grants_and_points_of_the_firing_and_only_for_rules_with_a_budget()
    {
        var customer = new TestCustomer(program: Program(Rules, Catalogue));
        var gate = new CountingGate(room: 10);

        Apply(customer, gate, "o-1");

        Assert.Equal([("launch", 1, 200L)], gate.Asked);
    }

    [Fact]
    public void The_gate_is_not_asked_when_the_rule_does_not_hold()
    {
        var customer = new TestCustomer(program: Program("""
            [{ "id": "launch", "when": ["purchase"], "if": { "orderValueAtLeast": 2000 }, "then": [{ "addPoints": 5 }],
               "limits": { "budget": { "maxPoints": 5000, "periodDays": 7 } } }]
            """));
        var gate = new CountingGate(room: 0);

        var result = Apply(customer, gate, "o-1");  // 10.00 < 20.00

        Assert.Empty(gate.Asked);
        Assert.Empty(result.Declined);
        Assert.Equal(10, result.PointsDelta);
    }

    [Fact]
    public void Without_a_gate_budgets_do_not_hold_a_rule_back()
    {
        var customer = new TestCustomer(program: Program(Rules, Catalogue));

        // base 10 + 200 + 1
        Assert.Equal(211, customer.Applied(Buy("o-1", Line("x", "books", 1, 1000))).PointsDelta);
    }

    [Theory]
    [InlineData("""{ "budget": {} }""", "$.rules[0].limits.budget", "must set maxGrants, maxPoints or both")]
    [InlineData("""{ "budget": { "maxGrants": 0 } }""", "$.rules[0].limits.budget.maxGrants", "must be at least 1")]
    [InlineData("""{ "budget": { "maxPoints": 100, "periodDays": 0 } }""", "$.rules[0].limits.budget.periodDays", "must be 1..36600")]
    public void Budget_mistake_is_reported_at_its_path(string limits, string path, string problem)
    {
        var error = Assert.Single(Errors(ProgramJson($$"""[{ "id": "r", "when": ["any"], "then": [{ "addPoints": 1 }], "limits": {{limits}} }]""")));

        Assert.Equal(path, error.Path);
        Assert.Contains(problem, error.Problem, StringComparison.Ordinal);
    }
}

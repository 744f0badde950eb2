using Loyalty.Domain.Events;
using Loyalty.Domain.Tests.Rules;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests;

/// <summary>A support case pays a rule's reward at most maxPerCase times (default once), whatever the event ids.</summary>
public sealed class CaseLimitTests
{
    private static SupportCase Resolved(string caseId) => new(caseId, SupportStatus.Resolved, SupportChannel.Human, 5, 0, 0);

    private static string Rule(string limits = "") =>
        $$"""[{ "id": "r", "when": ["support_case"], "if": { "satisfactionAtLeast": 4 }, "then": [{ "grantPerk": { "perk": "{{Marker}}" } }]{{limits}} }]""";

    [Fact]
    public void A_rule_on_a_support_case_fires_once_per_case_by_default_whatever_the_event_ids()
    {
        var customer = new TestCustomer(program: Program(Rule()), id: "c-1");
        Assert.True(customer.Fires(Resolved("k-1")));
        Assert.False(customer.Fires(Resolved("k-1")));   // a new event id, the same case
        Assert.False(customer.Fires(Resolved("k-1")));
        Assert.True(customer.Fires(Resolved("k-2")));
    }

    [Fact]
    public void MaxPerCase_lets_a_program_pay_a_case_more_than_once()
    {
        var customer = new TestCustomer(program: Program(Rule(""", "limits": { "maxPerCase": 2 }""")), id: "c-1");
        Assert.True(customer.Fires(Resolved("k-1")));
        Assert.True(customer.Fires(Resolved("k-1")));
        Assert.False(customer.Fires(Resolved("k-1")));
    }

    [Fact]
    public void MaxPerCase_is_refused_outside_support_case_rules_and_outside_its_range_naming_the_path()
    {
        var onPurchase = """[{ "id": "r", "when": ["purchase"], "then": [{ "addPoints": 1 }], "limits": { "maxPerCase": 2 } }]""";
        Assert.Contains(Errors(ProgramJson(onPurchase)), e => e.Path == "$.rules[0].limits.maxPerCase");
        Assert.Contains(Errors(ProgramJson(Rule(""", "limits": { "maxPerCase": 0 }"""))), e => e.Path == "$.rules[0].limits.maxPerCase");
    }
}

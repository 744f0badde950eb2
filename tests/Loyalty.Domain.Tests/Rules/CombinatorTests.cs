using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>all / any / not, alone and nested.</summary>
public class CombinatorTests
{
    private const string BabyAndFifty = """{ "all": [ { "categoryIn": ["baby"] }, { "orderValueAtLeast": 5000 } ] }""";
    private const string BabyOrFifty = """{ "any": [ { "categoryIn": ["baby"] }, { "orderValueAtLeast": 5000 } ] }""";

    [Theory]
    [InlineData("baby", 5000, true)]
    [InlineData("baby", 4999, false)]
    [InlineData("books", 5000, false)]
    [InlineData("books", 4999, false)]
    public void All_holds_when_every_condition_holds(string category, long valueMinor, bool fires)
    {
        Assert.Equal(fires, CustomerWhen(BabyAndFifty).Fires(Buy("o-1", Line("x", category, 1, valueMinor))));
    }

    [Theory]
    [InlineData("baby", 5000, true)]
    [InlineData("baby", 100, true)]
    [InlineData("books", 5000, true)]
    [InlineData("books", 4999, false)]
    public void Any_holds_when_one_condition_holds(string category, long valueMinor, bool fires)
    {
        Assert.Equal(fires, CustomerWhen(BabyOrFifty).Fires(Buy("o-1", Line("x", category, 1, valueMinor))));
    }

    [Theory]
    [InlineData("books", true)]
    [InlineData("gift-cards", false)]
    public void Not_inverts_its_condition(string category, bool fires)
    {
        var customer = CustomerWhen("""{ "not": { "categoryIn": ["gift-cards"] } }""");

        Assert.Equal(fires, customer.Fires(Buy("o-1", Line("x", category, 1, 100))));
    }

    [Fact]
    public void Not_of_a_purchase_condition_holds_for_other_event_kinds()
    {
        Assert.True(CustomerWhen("""{ "not": { "categoryIn": ["gift-cards"] } }""").Fires(Game(60, 1)));
    }

    [Theory]
    [InlineData("baby", true)]
    [InlineData("books", false)]
    public void Not_of_not_is_the_condition(string category, bool fires)
    {
        var customer = CustomerWhen("""{ "not": { "not": { "categoryIn": ["baby"] } } }""");

        Assert.Equal(fires, customer.Fires(Buy("o-1", Line("x", category, 1, 100))));
    }

    /// <summary>A human handled the case after a frustrating bot or queue, and the customer is not happy.</summary>
    private const string Nested = """
        { "all": [
            { "channelIs": "human" },
            { "any": [ { "botTurnsAtLeast": 5 }, { "waitSecondsAtLeast": 600 } ] },
            { "not": { "satisfactionAtLeast": 4 } }
        ] }
        """;

    [Theory]
    [InlineData(SupportChannel.Human, 5, 0, null, true)]
    [InlineData(SupportChannel.Human, 0, 600, 3, true)]
    [InlineData(SupportChannel.Human, 9, 900, 1, true)]
    [InlineData(SupportChannel.Human, 4, 599, null, false)]  // neither frustration signal
    [InlineData(SupportChannel.Human, 5, 0, 4, false)]       // happy after all
    [InlineData(SupportChannel.Bot, 5, 600, null, false)]    // never reached a human
    public void Nested_combinators_evaluate_as_written(SupportChannel channel, int botTurns, int waitSeconds, int? satisfaction, bool fires)
    {
        var customer = CustomerWhen(Nested);

        Assert.Equal(fires, customer.Fires(new SupportCase("k-1", SupportStatus.Resolved, channel, satisfaction, botTurns, waitSeconds)));
    }

    [Theory]
    [InlineData(1961, false, true)]
    [InlineData(1990, true, true)]
    [InlineData(1990, false, false)]
    public void Any_of_customer_conditions_holds_on_any_event(int birthYear, bool access, bool fires)
    {
        var customer = CustomerWhen("""{ "any": [ { "ageAtLeast": 65 }, { "accessibilityNeeds": true } ] }""");
        customer.Applied(Profile(birthYear: birthYear, access: access));

        Assert.Equal(fires, customer.Fires(Match(5, 10)));
    }

    [Fact]
    public void A_rule_without_if_always_fires()
    {
        var customer = new TestCustomer(program: Program("""[{ "id": "r", "when": ["any"], "then": [{ "grantPerk": { "perk": "rule-fired" } }] }]"""));

        Assert.True(customer.Fires(Match(5, 10)));
        Assert.True(customer.Fires(Buy("o-1", Line("x", "gift-cards", 1, 1))));
    }
}

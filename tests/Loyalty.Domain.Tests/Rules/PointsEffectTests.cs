using Loyalty.Domain.Customers;
using static Loyalty.Domain.Tests.Pay;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>Effects that add points. Base earning (sample, Bronze x1): books 1 point per EUR, baby x2; games
/// minutes x difficulty x 1; Silver (x1.25) from 1000 qualifying points. Rule points come on top of the base,
/// in the event's delta, the balance and the qualifying points.</summary>
public class PointsEffectTests
{
    private static TestCustomer With(string when, string then) =>
        new(program: Program($$"""[{ "id": "r", "when": [{{when}}], "then": {{then}} }]"""));

    [Fact]
    public void AddPoints_adds_a_fixed_number_to_the_event()
    {
        var customer = With("\"purchase\"", """[{ "addPoints": 25 }]""");

        var result = customer.Applied(Buy("o-1", Line("novel", "books", 1, 1000)));

        // base 10.00 EUR -> 10, rule +25
        Assert.Equal(35, result.PointsDelta);
        Assert.Equal(35, result.Customer?.PointsAvailable);
        Assert.Equal(35, customer.State.PointsAvailable);
        Assert.Equal(35, customer.State.PointsLifetime);
        Assert.Equal(35, customer.State.Seen[^1].PointsDelta);         // a duplicate answers the same
        Assert.Equal(35, customer.State.Interactions[^1].PointsDelta);
    }

    [Fact]
    public void Rule_points_count_towards_the_tier()
    {
        var customer = With("\"purchase\"", """[{ "addPoints": 995 }]""");

        var result = customer.Applied(Buy("o-1", Line("novel", "books", 1, 500)));

        // 5 + 995 = 1000 qualifying points: Silver on this event.
        Assert.Equal(1000, result.PointsDelta);
        Assert.Equal("Silver", result.Customer?.Tier);
        Assert.Equal(1000, CustomerEngine.QualifyingPoints(customer.State));
    }

    [Fact]
    public void A_duplicate_event_does_not_fire_rules_again()
    {
        var customer = With("\"purchase\"", """[{ "addPoints": 25 }]""");
        var first = customer.Event(Buy("o-1", Line("novel", "books", 1, 1000)));
        customer.Apply(first);

        var again = customer.Apply(first);

        Assert.Equal(EventOutcome.Duplicate, again.Outcome);
        Assert.Equal(35, again.PointsDelta);  // what it did the first time
        Assert.Equal(35, customer.State.PointsAvailable);
    }

    [Theory]
    [InlineData("books", 1234, 36)]  // base floor(12.34) = 12; rule floor(12.34 x 2) = 24
    [InlineData("baby", 1234, 48)]   // base floor(12.34 x 2) = 24; rule ignores category multipliers: 24
    [InlineData("books", 99, 1)]     // base floor(0.99) = 0; rule floor(1.98) = 1
    public void PointsPerCurrencyUnit_pays_on_the_order_value(string category, long unitPriceMinor, long expected)
    {
        var customer = With("\"any\"", """[{ "pointsPerCurrencyUnit": 2 }]""");

        Assert.Equal(expected, customer.Applied(Buy("o-1", Line("x", category, 1, unitPriceMinor))).PointsDelta);
    }

    [Fact]
    public void PointsPerCurrencyUnit_adds_nothing_to_other_event_kinds()
    {
        var customer = With("\"any\"", """[{ "pointsPerCurrencyUnit": 2 }]""");

        // base 10 min x 1 = 10, rule 0
        Assert.Equal(10, customer.Applied(Game(600, 1)).PointsDelta);
    }

    [Theory]
    [InlineData(450, 3, 31)]    // 7 whole minutes x 3 = 21 base; 21 x 0.5 = 10.5 -> 10
    [InlineData(600, 2, 30)]    // 10 x 2 = 20 base; 10
    [InlineData(59, 10, 0)]     // no whole minute: 0 and 0
    public void PointsPerMinuteTimesDifficulty_pays_on_whole_minutes_times_difficulty(int seconds, int difficulty, long expected)
    {
        var customer = With("\"any\"", """[{ "pointsPerMinuteTimesDifficulty": 0.5 }]""");

        Assert.Equal(expected, customer.Applied(Game(seconds, difficulty)).PointsDelta);
    }

    [Fact]
    public void PointsPerMinuteTimesDifficulty_adds_nothing_to_other_event_kinds()
    {
        var customer = With("\"any\"", """[{ "pointsPerMinuteTimesDifficulty": 5 }]""");

        // rank 1 bonus 50, rule 0
        Assert.Equal(50, customer.Applied(Match(1, 10)).PointsDelta);
    }

    [Theory]
    [InlineData("2", "baby", 1000, 40)]     // base 10.00 x 2 = 20; + 20 x (2 - 1) = 40
    [InlineData("1.5", "books", 2500, 37)]  // base 25; + floor(25 x 0.5) = 12
    [InlineData("1", "books", 2500, 25)]    // x1 adds nothing
    [InlineData("0", "books", 2500, 0)]     // x0 takes the base back
    public void MultiplyBasePoints_adds_the_base_times_m_minus_one(string multiplier, string category, long unitPriceMinor, long expected)
    {
        var customer = With("\"purchase\"", $$"""[{ "multiplyBasePoints": {{multiplier}} }]""");

        Assert.Equal(expected, customer.Applied(Buy("o-1", Line("x", category, 1, unitPriceMinor))).PointsDelta);
    }

    [Fact]
    public void MultiplyBasePoints_multiplies_the_base_after_the_tier_multiplier()
    {
        var customer = With("\"game_session\"", """[{ "multiplyBasePoints": 2 }]""");
        Assert.Equal(1000, customer.Applied(Buy("o-1", Line("tv", "books", 1, 100_000))).PointsDelta);  // Silver, rule not for purchases

        var result = customer.Applied(Game(600, 2));

        // base 10 x 2 x 1.25 = 25; rule + 25
        Assert.Equal(50, result.PointsDelta);
        Assert.Equal(1050, customer.State.PointsAvailable);
    }

    [Fact]
    public void A_refund_takes_back_the_rule_bonus_of_its_lines_once_even_when_the_rule_also_fires_on_refunds()
    {
        var customer = With("\"any\"", """[{ "multiplyBasePoints": 2 }]""");
        Assert.Equal(40, customer.Applied(Buy("o-1", Line("x", "books", 2, 1000))).PointsDelta);  // 20 + 20

        // The refund of one of two takes back its 10 base points and its 10 of the bonus; the rule multiplies
        // earnings only, so nothing is taken twice.
        Assert.Equal(-20, customer.Applied(Refund("o-1", Line("x", "books", 1, 1000))).PointsDelta);
        Assert.Equal(20, customer.State.PointsAvailable);
        Assert.Equal(-20, customer.Applied(Refund("o-1", Line("x", "books", 1, 1000))).PointsDelta);
        Assert.Equal(0, customer.State.PointsAvailable);
    }

    [Fact]
    public void Effects_of_one_rule_and_of_several_rules_add_up()
    {
        var customer = new TestCustomer(program: Program("""
            [
              { "id": "a", "when": ["purchase"], "then": [{ "addPoints": 5 }, { "multiplyBasePoints": 3 }] },
              { "id": "b", "when": ["purchase"], "then": [{ "pointsPerCurrencyUnit": 0.5 }] },
              { "id": "c", "when": ["game_session"], "then": [{ "addPoints": 1000 }] }
            ]
            """));

        var result = customer.Applied(Buy("o-1", Line("novel", "books", 1, 1000)));

        // base 10; a: 5 + 10 x 2 = 25; b: floor(10.00 x 0.5) = 5; c does not listen to purchases
        Assert.Equal(40, result.PointsDelta);
        Assert.EndsWith("; rules a, b (+30 points)", customer.State.Interactions[^1].Summary, StringComparison.Ordinal);
    }
}

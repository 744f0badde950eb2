using Loyalty.Domain.Customers;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

public class DeterminismTests
{
    [Fact]
    public void Same_events_on_two_fresh_states_give_identical_stored_json()
    {
        var (first, firstResults) = Scenario.Run();
        var (second, secondResults) = Scenario.Run();

        Assert.Equal(firstResults, secondResults);
        Assert.Equal(TestCustomer.Serialized(first), TestCustomer.Serialized(second));
    }

    [Fact]
    public void Scenario_moves_the_points_the_rules_give()
    {
        var (state, results) = Scenario.Run();

        // purchase 89, refund -31, game 6, opened 0, resolved 100, profile 0, rank 2 -> 20, first-win 25
        Assert.Equal([89L, -31, 6, 0, 100, 0, 20, 25], results.Select(r => r.PointsDelta));
        Assert.All(results, r => Assert.Equal(EventOutcome.Applied, r.Outcome));
        Assert.Equal(209, state.PointsAvailable);
    }

    [Fact]
    public void Largest_remainder_allocation_is_the_same_on_every_run()
    {
        // Three lines of equal remainder: 3 x (0.99 x 1.5 = 1.485) = 4.455 -> 4, floors 1 + 1 + 1 leave one point,
        // which goes to the first line on ties.
        var lines = new[] { Line("a", "sports", 1, 99), Line("b", "sports", 1, 99), Line("c", "sports", 1, 99) };
        var runs = Enumerable.Range(0, 3).Select(_ =>
        {
            var customer = new TestCustomer();
            customer.Earn(Buy("o-1", lines));
            return customer.State.Orders[0].Lines.Select(l => l.PointsLeft).ToArray();
        }).ToList();

        Assert.All(runs, r => Assert.Equal([2L, 1, 1], r));
    }
}

public class RewardCodeTests
{
    [Fact]
    public void Codes_are_stable_across_versions_hmac_sha256_in_crockford_base32()
    {
        // Computed independently (Python hmac/sha256, low 60 bits of the first 8 bytes, little endian, 5 bits per char):
        // a code issued by an earlier version must verify the same forever.
        Assert.Equal("CPN-933R-SPPE-QMV6", Loyalty.Domain.Rules.RuleEngine.Code("secret", "CPN", "c1", "e1", "r1", "w1", 0));
    }
}

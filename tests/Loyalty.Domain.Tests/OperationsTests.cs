using Loyalty.Domain.Customers;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

public sealed class OperationsTests
{
    private static TestCustomer WithPoints(long minutes)
    {
        var customer = new TestCustomer(program: Sample.Full);
        customer.Earn(Game((int)minutes * 60, 1, gameId: "chess")); // minutes x 1 point
        return customer;
    }

    [Fact]
    public void Redeeming_spends_the_price_issues_a_coded_reward_and_writes_a_spend_entry()
    {
        var customer = WithPoints(600);
        var result = CustomerOperations.Redeem(customer.State, "r-1", "free-shipping", Sample.Full, customer.Now, EngineLimits.Default);

        Assert.Equal(OperationOutcome.Applied, result.Outcome);
        Assert.Equal(-500, result.PointsDelta);                    // free-shipping costs 500
        Assert.Equal(100, customer.State.PointsAvailable);          // 600 - 500
        Assert.Equal(600, customer.State.PointsLifetime);           // spending does not lower lifetime
        Assert.StartsWith("SHIP-", result.Reward!.Value.Code, StringComparison.Ordinal);
        var spend = customer.State.Ledger[^2];
        Assert.Equal(("spend", -500L, 100L, "free-shipping"), (spend.Kind, spend.Points, spend.BalanceAfter, spend.Note));
        // A notice of the reward follows, with its code (what a watcher is told).
        var notice = customer.State.Ledger[^1];
        Assert.Equal(("reward", 0L, "free-shipping", result.Reward!.Value.Code), (notice.Kind, notice.Points, notice.Ref, notice.Note));
        Assert.Equal(customer.State.PointsAvailable, customer.State.Ledger.Sum(e => e.Points));
    }

    [Fact]
    public void A_repeated_redemption_spends_nothing_and_returns_the_same_reward()
    {
        var customer = WithPoints(1200);
        var first = CustomerOperations.Redeem(customer.State, "r-1", "free-shipping", Sample.Full, customer.Now, EngineLimits.Default);
        var again = CustomerOperations.Redeem(customer.State, "r-1", "free-shipping", Sample.Full, customer.Now, EngineLimits.Default);
        Assert.Equal(OperationOutcome.Duplicate, again.Outcome);
        Assert.Equal(first.Reward!.Value.Code, again.Reward!.Value.Code);
        Assert.Equal(-500, again.PointsDelta);
        Assert.Equal(700, customer.State.PointsAvailable);
        Assert.Single(customer.State.Ledger, e => e.Kind == "spend");
    }

    [Fact]
    public void A_repeated_redemption_whose_reward_is_no_longer_kept_answers_without_one()
    {
        var customer = WithPoints(1200);
        var limits = EngineLimits.Default with { RewardsKept = 1 };
        var first = CustomerOperations.Redeem(customer.State, "r-1", "free-shipping", Sample.Full, customer.Now, limits);
        CustomerOperations.Redeem(customer.State, "r-2", "free-shipping", Sample.Full, customer.Now, limits); // pushes r-1's out
        Assert.DoesNotContain(customer.State.Rewards, r => r.Code == first.Reward!.Value.Code);
        var again = CustomerOperations.Redeem(customer.State, "r-1", "free-shipping", Sample.Full, customer.Now, limits);
        Assert.Equal((OperationOutcome.Duplicate, -500L), (again.Outcome, again.PointsDelta));
        Assert.Null(again.Reward); // not an empty reward: rewards are values, and "none found" must stay none
        var kept = Assert.Single(customer.State.Rewards);
        Assert.Equal(kept, customer.State.RewardWithCode(kept.Code));
        Assert.Equal(kept, customer.State.RewardGrantedBy(kept.EventId));
        Assert.Null(customer.State.RewardWithCode(first.Reward!.Value.Code));
        Assert.Null(customer.State.RewardGrantedBy(first.Reward!.Value.EventId));
        Assert.Equal(200, customer.State.PointsAvailable);
    }

    [Theory]
    [InlineData("cinema-voucher", "insufficient points")]   // costs 1500, 600 available
    [InlineData("launch-gift", "cannot be bought")]         // no points price
    [InlineData("no-such-reward", "not in the catalogue")]
    public void A_redemption_that_cannot_be_made_changes_nothing(string rewardId, string reason)
    {
        var customer = WithPoints(600);
        var before = System.Text.Json.JsonSerializer.Serialize(customer.State, DomainJson.Options);
        var result = CustomerOperations.Redeem(customer.State, "r-1", rewardId, Sample.Full, customer.Now, EngineLimits.Default);
        Assert.Equal(OperationOutcome.Refused, result.Outcome);
        Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
        Assert.Equal(before, System.Text.Json.JsonSerializer.Serialize(customer.State, DomainJson.Options));
    }

    [Fact]
    public void Adjustments_are_recorded_with_their_reason_once_and_never_go_below_zero()
    {
        var customer = WithPoints(100);
        var add = CustomerOperations.Adjust(customer.State, "a-1", 50, "goodwill after a late delivery", Sample.Full, customer.Now, EngineLimits.Default);
        var again = CustomerOperations.Adjust(customer.State, "a-1", 50, "goodwill after a late delivery", Sample.Full, customer.Now, EngineLimits.Default);
        var tooMuch = CustomerOperations.Adjust(customer.State, "a-2", -151, "correction", Sample.Full, customer.Now, EngineLimits.Default);
        var take = CustomerOperations.Adjust(customer.State, "a-3", -150, "correction", Sample.Full, customer.Now, EngineLimits.Default);

        Assert.Equal((OperationOutcome.Applied, OperationOutcome.Duplicate, OperationOutcome.Refused, OperationOutcome.Applied),
            (add.Outcome, again.Outcome, tooMuch.Outcome, take.Outcome));
        Assert.Equal(0, customer.State.PointsAvailable);           // 100 + 50 - 150
        Assert.Equal(150, customer.State.PointsLifetime);          // 100 + 50 (a negative adjustment does not lower it)
        Assert.Equal(["earn", "adjust", "adjust"], customer.State.Ledger.Select(e => e.Kind));
        Assert.Equal("goodwill after a late delivery", customer.State.Ledger[1].Note);
        Assert.Equal(0, customer.State.Ledger.Sum(e => e.Points));
    }

    [Fact]
    public void Goodwill_issues_a_catalogue_reward_free_once_with_its_reason_on_the_ledger()
    {
        var customer = WithPoints(100);
        var first = CustomerOperations.Goodwill(customer.State, "g-1", "apology-coupon", "waited an hour", Sample.Full, customer.Now, EngineLimits.Default);
        var again = CustomerOperations.Goodwill(customer.State, "g-1", "apology-coupon", "waited an hour", Sample.Full, customer.Now, EngineLimits.Default);

        Assert.Equal((OperationOutcome.Applied, OperationOutcome.Duplicate), (first.Outcome, again.Outcome));
        Assert.Equal(first.Reward!.Value.Code, again.Reward!.Value.Code);
        Assert.StartsWith("SORRY-", first.Reward!.Value.Code, StringComparison.Ordinal);
        Assert.Equal(("goodwill", 1500L), (first.Reward!.Value.RuleId, first.Reward!.Value.ValueMinor));
        Assert.Equal(first.Reward!.Value.Description, again.Reward!.Value.Description);   // described on a duplicate too
        Assert.Equal(100, customer.State.PointsAvailable);                  // free: no points change
        Assert.Single(customer.State.Rewards, r => r.Code == first.Reward!.Value.Code);
        var notice = Assert.Single(customer.State.Ledger, e => e.Kind == "reward");
        Assert.Equal(("goodwill", "apology-coupon", $"{first.Reward!.Value.Code}: waited an hour"), (notice.RuleId, notice.Ref, notice.Note));
    }

    [Fact]
    public void Goodwill_respects_the_catalogue_cap_and_an_unknown_reward_changes_nothing()
    {
        var program = Loyalty.Domain.Programs.ProgramLoader.Parse(File.ReadAllText(Sample.Path)
            .Replace("{ \"id\": \"apology-coupon\",", "{ \"id\": \"apology-coupon\", \"maxPerCustomer\": 1, \"periodDays\": 30,", StringComparison.Ordinal));
        var customer = WithPoints(100);
        Assert.Equal(OperationOutcome.Applied, CustomerOperations.Goodwill(customer.State, "g-1", "apology-coupon", "late", program, customer.Now, EngineLimits.Default).Outcome);
        var before = System.Text.Json.JsonSerializer.Serialize(customer.State, DomainJson.Options);
        var capped = CustomerOperations.Goodwill(customer.State, "g-2", "apology-coupon", "late again", program, customer.Now, EngineLimits.Default);
        var unknown = CustomerOperations.Goodwill(customer.State, "g-3", "no-such-reward", "late", program, customer.Now, EngineLimits.Default);
        Assert.Equal(OperationOutcome.Refused, capped.Outcome);
        Assert.Contains("cap", capped.Reason, StringComparison.Ordinal);
        Assert.Equal(OperationOutcome.Refused, unknown.Outcome);
        Assert.Contains("not in the catalogue", unknown.Reason, StringComparison.Ordinal);
        Assert.Equal(before, System.Text.Json.JsonSerializer.Serialize(customer.State, DomainJson.Options));
    }

    [Theory]
    [InlineData(0L, "ok", "points")]
    [InlineData(long.MinValue, "ok", "points")]
    [InlineData(1_000_000_001L, "ok", "points")]
    [InlineData(5L, " ", "reason")]
    [InlineData(5L, "bad\nreason", "reason")]
    public void An_adjustment_needs_a_bounded_amount_and_a_reason(long points, string reason, string field)
    {
        Assert.Equal(field, CustomerOperations.CheckAdjustment(points, reason)?.Field);
        Assert.Null(CustomerOperations.CheckAdjustment(-5, "goodwill"));
    }
}

using Loyalty.Domain.Customers;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

public sealed class ReservationTests
{
    private static TestCustomer WithPoints(int minutes)
    {
        var customer = new TestCustomer(program: Sample.Full);
        customer.Earn(Game(minutes * 60, 1)); // minutes x 1 point
        return customer;
    }

    [Fact]
    public void A_hold_keeps_points_from_other_spending_and_confirm_spends_them_once()
    {
        var c = WithPoints(1000);
        var ttl = TimeSpan.FromMinutes(15);
        Assert.Equal(OperationOutcome.Applied, CustomerOperations.Reserve(c.State, "cart-1", 700, ttl, c.Now, EngineLimits.Default).Outcome);
        Assert.Equal(300, CustomerOperations.Spendable(c.State, c.Now));
        // 500 for free shipping is more than the 300 not held.
        Assert.Equal(OperationOutcome.Refused, CustomerOperations.Redeem(c.State, "r-1", "free-shipping", Sample.Full, c.Now, EngineLimits.Default).Outcome);
        Assert.Equal(OperationOutcome.Refused, CustomerOperations.Reserve(c.State, "cart-2", 301, ttl, c.Now, EngineLimits.Default).Outcome);

        var confirmed = CustomerOperations.Confirm(c.State, "cart-1", "order 77", Sample.Full, c.Now, EngineLimits.Default);
        var again = CustomerOperations.Confirm(c.State, "cart-1", "order 77", Sample.Full, c.Now, EngineLimits.Default);
        Assert.Equal((OperationOutcome.Applied, -700L), (confirmed.Outcome, confirmed.PointsDelta));
        Assert.Equal((OperationOutcome.Duplicate, -700L), (again.Outcome, again.PointsDelta));
        Assert.Equal(300, c.State.PointsAvailable);
        Assert.Empty(c.State.Holds);
        Assert.Equal(("spend", -700L, "order 77"), (c.State.Ledger[^1].Kind, c.State.Ledger[^1].Points, c.State.Ledger[^1].Note));
        Assert.Equal(c.State.PointsAvailable, c.State.Ledger.Sum(e => e.Points));
    }

    [Fact]
    public void Cancel_releases_a_hold_and_an_unconfirmed_hold_releases_itself_at_its_end()
    {
        var c = WithPoints(1000);
        CustomerOperations.Reserve(c.State, "cart-1", 600, TimeSpan.FromMinutes(15), c.Now, EngineLimits.Default);
        Assert.Equal(OperationOutcome.Applied, CustomerOperations.Cancel(c.State, "cart-1", c.Now).Outcome);
        Assert.Equal(OperationOutcome.Duplicate, CustomerOperations.Cancel(c.State, "cart-1", c.Now).Outcome);
        Assert.Equal(1000, CustomerOperations.Spendable(c.State, c.Now));

        CustomerOperations.Reserve(c.State, "cart-2", 600, TimeSpan.FromMinutes(15), c.Now, EngineLimits.Default);
        Assert.Equal(400, CustomerOperations.Spendable(c.State, c.Now));
        c.Clock.Advance(TimeSpan.FromMinutes(15)); // exactly at its end the hold no longer counts
        Assert.Equal(1000, CustomerOperations.Spendable(c.State, c.Now));
        Assert.Equal(OperationOutcome.Refused, CustomerOperations.Confirm(c.State, "cart-2", "", Sample.Full, c.Now, EngineLimits.Default).Outcome);
        Assert.Equal(1000, c.State.PointsAvailable);
    }

    [Fact]
    public void At_most_20_reservations_are_open_at_once()
    {
        var c = WithPoints(1000);
        for (var i = 0; i < CustomerOperations.MaxHolds; i++)
        {
            Assert.Equal(OperationOutcome.Applied, CustomerOperations.Reserve(c.State, $"cart-{i}", 1, TimeSpan.FromMinutes(5), c.Now, EngineLimits.Default).Outcome);
        }
        var refused = CustomerOperations.Reserve(c.State, "cart-x", 1, TimeSpan.FromMinutes(5), c.Now, EngineLimits.Default);
        Assert.Equal(OperationOutcome.Refused, refused.Outcome);
        Assert.Contains("20 reservations", refused.Reason, StringComparison.Ordinal);
        c.Clock.Advance(TimeSpan.FromMinutes(5)); // they expire: room again
        Assert.Equal(OperationOutcome.Applied, CustomerOperations.Reserve(c.State, "cart-y", 1, TimeSpan.FromMinutes(5), c.Now, EngineLimits.Default).Outcome);
    }
}

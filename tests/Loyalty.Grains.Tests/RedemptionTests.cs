using Loyalty.Domain.Customers;
using static Loyalty.Grains.Tests.TestEvents;

namespace Loyalty.Grains.Tests;

[Collection(MemoryClusterCollection.Name)]
public sealed class RedemptionTests(MemoryClusterFixture fixture)
{
    [Fact]
    public async Task Fifty_concurrent_identical_redemptions_spend_once()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        await grain.Apply([Game(id, "g", fixture.Time.GetUtcNow(), minutes: 800, difficulty: 1)]); // 800 points (Bronze: x1)

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Task.Run(() => grain.Redeem("checkout-42", "free-shipping"))));

        Assert.Single(results, r => r!.Outcome == OperationOutcome.Applied);
        Assert.Equal(49, results.Count(r => r!.Outcome == OperationOutcome.Duplicate));
        Assert.Single(results.Select(r => r!.Reward!.Value.Code).Distinct());
        Assert.Equal(300, (await grain.Get())!.Summary.PointsAvailable); // 800 - 500, once
        var ledger = (await grain.ListLedger(10, null))!.Entries;
        Assert.Single(ledger, e => e.Kind == "spend");
    }

    [Fact]
    public async Task Operations_on_an_unknown_customer_answer_null()
    {
        Assert.Null(await fixture.Customer(NewCustomer()).Redeem("r", "free-shipping"));
        Assert.Null(await fixture.Customer(NewCustomer()).Adjust("a", 5, "why"));
    }
}

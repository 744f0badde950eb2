using Grpc.Core;
using Loyalty.Contracts.V1;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

[Collection(InProcessCollection.Name)]
public sealed class CustomersTests(InProcessEngineFixture fixture)
{
    private Ingestion.IngestionClient Ingestion => fixture.Server.Ingestion;
    private Customers.CustomersClient Customers => fixture.Server.Customers;

    [Fact]
    public async Task GetCustomer_for_an_unknown_id_is_NOT_FOUND()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = NewCustomer() }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        var list = await Assert.ThrowsAsync<RpcException>(() => Customers.ListInteractionsAsync(new ListInteractionsRequest { CustomerId = NewCustomer() }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, list.StatusCode);
    }

    [Fact]
    public async Task GetCustomer_without_an_id_is_INVALID_ARGUMENT()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => Customers.GetCustomerAsync(new GetCustomerRequest()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("customer_id:", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListInteractions_pages_newest_first_with_tokens_that_stay_valid_as_events_arrive()
    {
        var id = NewCustomer();
        for (var i = 0; i < 25; i++)
        {
            await Ingestion.PublishAsync(Req(Game(id, minutes: 1, difficulty: 1, eventId: $"g{i:00}")));
        }
        var page1 = await Customers.ListInteractionsAsync(new ListInteractionsRequest { CustomerId = id, PageSize = 10 });
        Assert.Equal(Enumerable.Range(15, 10).Reverse().Select(i => $"g{i:00}"), page1.Interactions.Select(x => x.EventId));
        Assert.True(page1.Interactions.Zip(page1.Interactions.Skip(1)).All(p => p.First.Sequence > p.Second.Sequence));
        Assert.All(page1.Interactions, x => Assert.Equal("game_session", x.Kind));

        for (var i = 0; i < 5; i++)
        {
            await Ingestion.PublishAsync(Req(Game(id, minutes: 1, difficulty: 1, eventId: $"new{i}")));
        }
        var page2 = await Customers.ListInteractionsAsync(new ListInteractionsRequest { CustomerId = id, PageSize = 10, PageToken = page1.NextPageToken });
        Assert.Equal(Enumerable.Range(5, 10).Reverse().Select(i => $"g{i:00}"), page2.Interactions.Select(x => x.EventId));
        var page3 = await Customers.ListInteractionsAsync(new ListInteractionsRequest { CustomerId = id, PageSize = 10, PageToken = page2.NextPageToken });
        Assert.Equal(Enumerable.Range(0, 5).Reverse().Select(i => $"g{i:00}"), page3.Interactions.Select(x => x.EventId));
        Assert.Equal("", page3.NextPageToken);

        // The same token gives the same page again.
        var again = await Customers.ListInteractionsAsync(new ListInteractionsRequest { CustomerId = id, PageSize = 10, PageToken = page1.NextPageToken });
        Assert.Equal(page2.Interactions, again.Interactions);
    }

    [Fact]
    public async Task ListInteractions_with_a_forged_token_is_INVALID_ARGUMENT()
    {
        var id = NewCustomer();
        await Ingestion.PublishAsync(Req(Game(id, 1, 1)));
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            Customers.ListInteractionsAsync(new ListInteractionsRequest { CustomerId = id, PageToken = "not-a-token" }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("page_token:", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetProgram_returns_the_active_program_with_its_version_and_tiers()
    {
        var program = await fixture.Server.Programs.GetProgramAsync(new GetProgramRequest());
        Assert.Equal("acme-rewards", program.ProgramId);
        Assert.Equal(12, program.Version.Length);
        Assert.Equal(["Bronze", "Silver", "Gold", "Platinum"], program.Tiers.Select(t => t.Name));
        Assert.Equal(1.25, program.Tiers[1].EarnMultiplier);
        Assert.Contains("categoryMultipliers", program.DefinitionJson, StringComparison.Ordinal);
    }
}

[Collection(InProcessCollection.Name)]
public sealed class LedgerApiTests(InProcessEngineFixture fixture)
{
    [Fact]
    public async Task ListLedger_pages_every_change_of_points_newest_first()
    {
        var id = Events.NewCustomer();
        for (var i = 0; i < 5; i++)
        {
            await fixture.Server.Ingestion.PublishAsync(Events.Req(Events.Game(id, minutes: i + 1, difficulty: 1)));
        }
        var first = await fixture.Server.Customers.ListLedgerAsync(new ListLedgerRequest { CustomerId = id, PageSize = 3 });
        var second = await fixture.Server.Customers.ListLedgerAsync(new ListLedgerRequest { CustomerId = id, PageSize = 3, PageToken = first.NextPageToken });
        var all = first.Entries.Concat(second.Entries).ToList();
        Assert.Equal([5L, 4, 3, 2, 1], all.Select(e => e.Sequence));
        Assert.Equal([5L, 4, 3, 2, 1], all.Select(e => e.Points));
        Assert.Equal([15L, 10, 6, 3, 1], all.Select(e => e.BalanceAfter));
        Assert.All(all, e => Assert.Equal("earn", e.Kind));
        Assert.Equal("", second.NextPageToken);

        var missing = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() =>
            fixture.Server.Customers.ListLedgerAsync(new ListLedgerRequest { CustomerId = Events.NewCustomer() }).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.NotFound, missing.StatusCode);
    }
}

[Collection(InProcessCollection.Name)]
public sealed class RedeemApiTests(InProcessEngineFixture fixture)
{
    [Fact]
    public async Task Redeem_and_Adjust_over_gRPC_with_precise_statuses_and_ledger_entries()
    {
        var customers = fixture.Server.Customers;
        var id = Events.NewCustomer();
        await fixture.Server.Ingestion.PublishAsync(Events.Req(Events.Game(id, minutes: 600, difficulty: 1))); // 600 points

        var redeemed = await customers.RedeemAsync(new RedeemRequest { CustomerId = id, RewardId = "free-shipping", RedemptionId = "r-1" });
        Assert.Equal((Outcome.Applied, -500L, 100L), (redeemed.Outcome, redeemed.PointsDelta, redeemed.Customer.PointsAvailable));
        Assert.StartsWith("SHIP-", redeemed.Reward.Code, StringComparison.Ordinal);
        var again = await customers.RedeemAsync(new RedeemRequest { CustomerId = id, RewardId = "free-shipping", RedemptionId = "r-1" });
        Assert.Equal((Outcome.Duplicate, redeemed.Reward.Code), (again.Outcome, again.Reward.Code));

        async Task<Grpc.Core.StatusCode> Status(Func<Task> call) => (await Assert.ThrowsAsync<Grpc.Core.RpcException>(call)).StatusCode;
        Assert.Equal(Grpc.Core.StatusCode.FailedPrecondition, await Status(() => customers.RedeemAsync(new RedeemRequest { CustomerId = id, RewardId = "cinema-voucher", RedemptionId = "r-2" }).ResponseAsync));
        Assert.Equal(Grpc.Core.StatusCode.NotFound, await Status(() => customers.RedeemAsync(new RedeemRequest { CustomerId = id, RewardId = "yacht", RedemptionId = "r-3" }).ResponseAsync));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, await Status(() => customers.RedeemAsync(new RedeemRequest { CustomerId = id, RewardId = "free-shipping" }).ResponseAsync));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, await Status(() => customers.AdjustAsync(new AdjustRequest { CustomerId = id, Points = 10, AdjustmentId = "a-1" }).ResponseAsync));
        Assert.Equal(Grpc.Core.StatusCode.FailedPrecondition, await Status(() => customers.AdjustAsync(new AdjustRequest { CustomerId = id, Points = -101, Reason = "fix", AdjustmentId = "a-2" }).ResponseAsync));

        var adjusted = await customers.AdjustAsync(new AdjustRequest { CustomerId = id, Points = 25, Reason = "goodwill", AdjustmentId = "a-3" });
        Assert.Equal((Outcome.Applied, 125L), (adjusted.Outcome, adjusted.Customer.PointsAvailable));

        var ledger = await customers.ListLedgerAsync(new ListLedgerRequest { CustomerId = id, PageSize = 10 });
        Assert.Equal([("adjust", 25L, "goodwill"), ("reward", 0L, redeemed.Reward.Code), ("spend", -500L, "free-shipping"), ("earn", 600L, "")],
            ledger.Entries.Select(e => (e.Kind, e.Points, e.Note)));
        Assert.Equal(125, ledger.Entries.Sum(e => e.Points));
    }
}

[Collection(InProcessCollection.Name)]
public sealed class ReservationApiTests(InProcessEngineFixture fixture)
{
    [Fact]
    public async Task Reserve_then_confirm_or_cancel_over_gRPC()
    {
        var customers = fixture.Server.Customers;
        var id = Events.NewCustomer();
        await fixture.Server.Ingestion.PublishAsync(Events.Req(Events.Game(id, minutes: 900, difficulty: 1))); // 900 points

        var held = await customers.ReserveAsync(new ReserveRequest { CustomerId = id, ReservationId = "cart-1", Points = 800, TtlSeconds = 600 });
        Assert.Equal(Outcome.Applied, held.Outcome);
        var tooMuch = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() =>
            customers.RedeemAsync(new RedeemRequest { CustomerId = id, RewardId = "free-shipping", RedemptionId = "r-1" }).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.FailedPrecondition, tooMuch.StatusCode);

        var cancelled = await customers.CancelAsync(new CancelRequest { CustomerId = id, ReservationId = "cart-1" });
        Assert.True(cancelled.Released);
        await customers.ReserveAsync(new ReserveRequest { CustomerId = id, ReservationId = "cart-2", Points = 800 });
        var confirmed = await customers.ConfirmAsync(new ConfirmRequest { CustomerId = id, ReservationId = "cart-2", Note = "order 9" });
        Assert.Equal((Outcome.Applied, -800L, 100L), (confirmed.Outcome, confirmed.PointsDelta, confirmed.Customer.PointsAvailable));
        var unknown = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() =>
            customers.ConfirmAsync(new ConfirmRequest { CustomerId = id, ReservationId = "cart-404" }).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.FailedPrecondition, unknown.StatusCode);
    }
}

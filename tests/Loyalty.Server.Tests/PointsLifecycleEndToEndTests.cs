using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>Its own Azurite and engine, running the sample program with a 14-day return window, points that expire
/// at the end of each month, and negative balances after refunds of spent points.</summary>
public sealed class PointsLifecycleFixture : IAsyncLifetime
{
    private readonly string _programPath = Path.Combine(Path.GetTempPath(), $"loyalty-points-{Guid.NewGuid():N}.json");

    public AzuriteProcess Azurite { get; private set; } = null!;
    public ServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var program = JsonNode.Parse(File.ReadAllText(RepoPaths.SampleProgram), documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!;
        program["points"] = JsonNode.Parse("""{ "pendingDays": 14, "refundAfterSpend": "negative", "expiry": { "policy": "endOfMonth", "months": 0 } }""");
        await File.WriteAllTextAsync(_programPath, program.ToJsonString());
        Azurite = await AzuriteProcess.StartAsync();
        Server = await ServerProcess.StartAsync(Azurite.ConnectionString, new Dictionary<string, string> { ["ProgramPath"] = _programPath });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Azurite.DisposeAsync();
        File.Delete(_programPath);
    }
}

[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
public sealed class PointsLifecycleEndToEndTests(PointsLifecycleFixture fixture) : IClassFixture<PointsLifecycleFixture>
{
    private Customers.CustomersClient Customers => fixture.Server.Customers;

    [Fact]
    public async Task Pending_points_activate_on_their_own_at_the_due_time_and_show_in_the_ledger()
    {
        var id = NewCustomer();
        // Bought almost 14 days ago: the return window closes 3 seconds from now.
        var purchase = Purchase(id, "o-1", Line("novel", "books", 1, 4000));
        var due = DateTimeOffset.UtcNow.AddSeconds(3);
        purchase.OccurredAt = Timestamp.FromDateTimeOffset(due.AddDays(-14));
        var result = await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = purchase });
        Assert.Equal(Outcome.Applied, result.Outcome);
        Assert.Equal((0L, 40L), (result.Customer.PointsAvailable, result.Customer.PointsPending));

        var customer = await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.InRange(customer.NextActivationAt.ToDateTimeOffset(), due.AddSeconds(-1), due.AddSeconds(1));

        // No other event: the customer's timer activates the points and stores an activate entry.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        ListLedgerResponse ledger;
        do
        {
            await Task.Delay(200);
            ledger = await Customers.ListLedgerAsync(new ListLedgerRequest { CustomerId = id });
        }
        while (ledger.Entries.All(e => e.Kind != "activate") && DateTime.UtcNow < deadline);

        // Points entries; the notices: the launch gift the purchase earned, and (points expire at the end of this month,
        // within 30 days) the expiring notice written when they became spendable.
        var points = ledger.Entries.Where(e => e.Points != 0 || e.PendingPoints != 0).ToList();
        Assert.Contains(ledger.Entries, e => e.Kind == "expiring" && e.Note.StartsWith("40 points expire", StringComparison.Ordinal));
        Assert.Equal(["activate", "pending"], points.Select(e => e.Kind));
        Assert.Equal((40L, -40L, 40L), (points[0].Points, points[0].PendingPoints, points[0].BalanceAfter));
        Assert.Equal((0L, 40L), (points[1].Points, points[1].PendingPoints));
        customer = await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.Equal((40L, 0L), (customer.Summary.PointsAvailable, customer.Summary.PointsPending));
        Assert.Null(customer.NextActivationAt);
        // Points earned this month expire at the end of the month (Berlin): within 30 days.
        var expiring = Assert.Single(customer.ExpiringSoon);
        Assert.Equal(40, expiring.Points);
        Assert.Equal(30, customer.ExpiringWindowDays);
    }

    [Fact]
    public async Task A_refund_of_spent_points_leaves_points_owed_and_revokes_the_coupons_the_order_earned()
    {
        var id = NewCustomer();
        var purchase = Purchase(id, "o-1", Line("stroller", "baby", 1, 30_000));
        purchase.OccurredAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-15));   // past the return window
        var bought = await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = purchase });
        Assert.Equal(600, bought.PointsDelta);   // 300.00 x2 (baby)
        Assert.NotEmpty(bought.Rewards);
        var adjusted = await Customers.AdjustAsync(new AdjustRequest { CustomerId = id, Points = -600, Reason = "spent at the till", AdjustmentId = "a-1" });
        Assert.Equal(0, adjusted.Customer.PointsAvailable);

        var refund = Base(id);
        refund.Refund = new Refund { OrderId = "o-1" };
        refund.Refund.Lines.Add(Line("stroller", "baby", 1, 30_000));
        var refunded = await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = refund });
        Assert.Equal((Outcome.Applied, -600L, -600L), (refunded.Outcome, refunded.PointsDelta, refunded.Customer.PointsAvailable));

        var customer = await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.Equal(600, customer.PointsOwed);
        Assert.All(customer.Rewards.Where(r => r.EventId == purchase.EventId), r => Assert.NotNull(r.RevokedAt));
        var ledger = await Customers.ListLedgerAsync(new ListLedgerRequest { CustomerId = id });
        Assert.Equal(customer.Summary.PointsAvailable + customer.Summary.PointsPending, ledger.Entries.Sum(e => e.Points + e.PendingPoints));
        Assert.Equal("reverse", ledger.Entries[0].Kind);
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;
using Loyalty.TestKit;
using static Loyalty.Grains.Tests.TestEvents;

namespace Loyalty.Grains.Tests;

/// <summary>The shipped sample program with a 14-day return window and points that expire after one month.</summary>
public sealed class DueWorkClusterFixture : ClusterFixtureBase
{
    protected override LoyaltyStorageOptions Storage => new() { Provider = "Memory" };

    protected override ActiveProgram LoadProgram() => ProgramWithPoints("""{ "pendingDays": 14, "expiry": { "policy": "rolling", "months": 1 } }""");

    public static ActiveProgram ProgramWithPoints(string points)
    {
        var root = JsonNode.Parse(File.ReadAllText(RepoPaths.SampleProgram), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip })!.AsObject();
        root["points"] = JsonNode.Parse(points);
        return ProgramLoader.Parse(root.ToJsonString(), "test program");
    }
}

public sealed class DueWorkTests(DueWorkClusterFixture fixture) : IClassFixture<DueWorkClusterFixture>
{
    [Fact]
    public async Task Pending_points_activate_and_expire_on_the_customers_own_timer_without_another_event()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        var bought = fixture.Time.GetUtcNow();
        var result = (await grain.Apply([Purchase(id, "p-1", bought, "o-1", new LineItem("bib", "baby", 2, 1000))]))[0];
        Assert.Equal(EventOutcome.Applied, result.Outcome);
        Assert.Equal((0L, 40L), (result.Customer!.PointsAvailable, result.Customer.PointsPending));

        // The clock moves to the due time; nothing is sent to the customer. The grain's timer (on the injected
        // clock) activates the points and stores the activation.
        fixture.Time.Advance(TimeSpan.FromDays(14));
        var ledger = await WaitForLedger(grain, entries => entries.Any(e => e.Kind == "activate"));
        var activate = ledger.Single(e => e.Kind == "activate");
        Assert.Equal((40L, -40L, bought.AddDays(14)), (activate.Points, activate.PendingPoints, activate.At));
        var view = (await grain.Get())!;
        Assert.Equal((40L, 0L), (view.Summary.PointsAvailable, view.Summary.PointsPending));

        // A month later the points expire, again on the timer.
        fixture.Time.Advance(TimeSpan.FromDays(32));
        ledger = await WaitForLedger(grain, entries => entries.Any(e => e.Kind == "expire"));
        Assert.Equal(-40, ledger.Single(e => e.Kind == "expire").Points);
        Assert.Equal(0, (await grain.Get())!.Summary.PointsAvailable);
        Assert.Equal(0, ledger.Sum(e => e.Total));
    }

    [Fact]
    public async Task A_customer_activated_after_the_due_time_catches_up_on_activation()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        await grain.Apply([Purchase(id, "p-1", fixture.Time.GetUtcNow(), "o-1", new LineItem("bib", "baby", 1, 1000))]);
        await fixture.Cluster.DeactivateAsync(grain);

        fixture.Time.Advance(TimeSpan.FromDays(15));
        // Any call activates the customer, which first catches up: the read shows it and storage gets it.
        Assert.Equal(20, (await grain.Get())!.Summary.PointsAvailable);
        var ledger = await WaitForLedger(grain, entries => entries.Any(e => e.Kind == "activate"));
        Assert.Equal(20, ledger.Sum(e => e.Total));
    }

    private static async Task<IReadOnlyList<LedgerEntry>> WaitForLedger(ICustomerGrain grain, Func<IReadOnlyList<LedgerEntry>, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var entries = (await grain.ListLedger(100, null))!.Entries;
            if (done(entries) || DateTime.UtcNow > deadline)
            {
                return entries;
            }
            await Task.Delay(20);
        }
    }
}

/// <summary>A fixture of its own: its clock is not moved by other tests.</summary>
public sealed class ReminderClusterFixture : ClusterFixtureBase
{
    protected override LoyaltyStorageOptions Storage => new() { Provider = "Memory" };

    protected override ActiveProgram LoadProgram() => DueWorkClusterFixture.ProgramWithPoints("""{ "pendingDays": 14 }""");
}

public sealed class DueWorkReminderTests(ReminderClusterFixture fixture) : IClassFixture<ReminderClusterFixture>
{
    [Fact]
    public async Task An_inactive_customer_is_woken_by_a_reminder_when_its_points_fall_due()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        var now = fixture.Time.GetUtcNow();
        // Bought almost 14 days ago: due in 2 seconds.
        await grain.Apply([Purchase(id, "p-1", now.AddDays(-14).AddSeconds(2), "o-1", new LineItem("bib", "baby", 1, 1000))]);
        await fixture.Cluster.DeactivateAsync(grain);
        Assert.False(fixture.Cluster.TryGetGrainContext(grain.GetGrainId(), out _));
        fixture.Time.Advance(TimeSpan.FromSeconds(3));

        // Nobody calls the customer: the reminder activates it, and it catches up. (Orleans fires reminders on real
        // time, from a reminder service that starts with the silo; a busy machine has been seen to take over 30 s.)
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!fixture.Cluster.TryGetGrainContext(grain.GetGrainId(), out _) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        Assert.True(fixture.Cluster.TryGetGrainContext(grain.GetGrainId(), out _), "the reminder did not wake the customer");
        var deadline2 = DateTime.UtcNow.AddSeconds(10);
        IReadOnlyList<LedgerEntry> ledger;
        do
        {
            await Task.Delay(50);
            ledger = (await grain.ListLedger(10, null))!.Entries;
        }
        while (ledger.All(e => e.Kind != "activate") && DateTime.UtcNow < deadline2);
        Assert.Equal(["activate", "pending"], ledger.Where(e => e.Kind != "reward").Select(e => e.Kind));   // the purchase also earned a coupon
    }
}

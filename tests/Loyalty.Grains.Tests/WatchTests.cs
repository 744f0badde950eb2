using System.Collections.Concurrent;
using System.Diagnostics;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static Loyalty.Grains.Tests.TestEvents;

namespace Loyalty.Grains.Tests;

/// <summary>A watcher object living on one silo; it records what it is told and when.</summary>
internal sealed class RecordingWatcher : ICustomerWatcher
{
    public ConcurrentQueue<(LedgerEntry Entry, long Ticks)> Received { get; } = new();

    public Task OnEntries(string customerId, LedgerEntry[] entries)
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var e in entries)
        {
            Received.Enqueue((e, now));
        }
        return Task.CompletedTask;
    }
}

public sealed class WatchTests(TwoSiloFixture fixture, ITestOutputHelper output) : IClassFixture<TwoSiloFixture>
{
    private static LoyaltyEvent HumanResolved(string customer, string eventId, string caseId) => new()
    {
        EventId = eventId,
        CustomerId = customer,
        OccurredAt = DateTimeOffset.UtcNow,
        Source = "support-desk",
        Payload = new SupportCase(caseId, SupportStatus.Resolved, SupportChannel.Human, 5, 0, 0),
    };

    [Fact]
    public async Task A_watcher_on_one_silo_is_pushed_a_reward_granted_on_the_other_and_a_reconnect_replays_exactly_what_it_missed()
    {
        var silos = fixture.Cluster.GetActiveSilos().ToList();
        Assert.Equal(2, silos.Count);
        var id = NewCustomer();
        var client = fixture.Cluster.Client;
        await client.GetGrain<ICustomerGrain>(id).Apply([Game(id, "warm-up", DateTimeOffset.UtcNow)]);
        var home = await client.GetGrain<ICustomerGrain>(id).Location();
        // The watcher lives on the silo the customer is NOT on.
        var watcherSilo = silos.Single(s => !home.Contains(s.SiloAddress.Endpoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        var factory = watcherSilo.ServiceProvider.GetRequiredService<IGrainFactory>();
        var watcher = new RecordingWatcher();
        var reference = factory.CreateObjectReference<ICustomerWatcher>(watcher);
        var history = await factory.GetGrain<ICustomerGrain>(id).Watch(reference, 0, 100, 16);
        Assert.NotNull(history);
        Assert.Equal([1L], history.Select(e => e.Sequence));   // the warm-up's earn entry, replayed

        var latencies = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            var results = await client.GetGrain<ICustomerGrain>(id).Apply([HumanResolved(id, $"case-{i}-resolved", $"case-{i}")]);
            var acked = Stopwatch.GetTimestamp();
            var code = Assert.Single(results[0].Rewards).Code;
            var deadline = DateTime.UtcNow.AddSeconds(5);
            (LedgerEntry Entry, long Ticks)? seen = null;
            while (seen is null && DateTime.UtcNow < deadline)
            {
                seen = watcher.Received.Where(r => r.Entry.Kind == "reward" && r.Entry.Note == code).Select(r => ((LedgerEntry, long)?)r).FirstOrDefault();
                if (seen is null)
                {
                    await Task.Delay(1);
                }
            }
            Assert.NotNull(seen);
            latencies.Add(Stopwatch.GetElapsedTime(acked, Math.Max(acked, seen.Value.Ticks)).TotalMilliseconds);
        }
        output.WriteLine($"customer on {home}, watcher on {watcherSilo.SiloAddress}; reward seen after the ack within {string.Join(", ", latencies.Select(l => $"{l:F1}"))} ms");
        // Pushed as it is stored (typically well under 100 ms; the figures are printed), not found at the next lease
        // renewal (30 s). The bound is loose on purpose: a busy CI machine has taken 131 ms, and latency is measured by
        // benchmarks, not asserted by unit tests.
        Assert.All(latencies, l => Assert.True(l < 2_000, $"{l} ms"));
        var seenThrough = watcher.Received.Max(r => r.Entry.Sequence);
        Assert.Equal(Enumerable.Range(2, (int)seenThrough - 1).Select(i => (long)i), watcher.Received.Select(r => r.Entry.Sequence).Order());

        // Disconnect; three more events happen; reconnect with since = the last sequence seen.
        await factory.GetGrain<ICustomerGrain>(id).Unwatch(reference);
        factory.DeleteObjectReference<ICustomerWatcher>(reference);
        await client.GetGrain<ICustomerGrain>(id).Apply([Game(id, "g-1", DateTimeOffset.UtcNow), HumanResolved(id, "case-9-resolved", "case-9"), Game(id, "g-2", DateTimeOffset.UtcNow)]);
        var missedCount = (await client.GetGrain<ICustomerGrain>(id).ListLedger(100, null))!.Entries.Count(e => e.Sequence > seenThrough);
        Assert.True(watcher.Received.All(r => r.Entry.Sequence <= seenThrough), "a disconnected watcher was told");

        var again = new RecordingWatcher();
        var reference2 = factory.CreateObjectReference<ICustomerWatcher>(again);
        var replayed = await factory.GetGrain<ICustomerGrain>(id).Watch(reference2, seenThrough, 100, 16);
        Assert.NotNull(replayed);
        Assert.Equal(Enumerable.Range((int)seenThrough + 1, missedCount).Select(i => (long)i), replayed.Select(e => e.Sequence));
        Assert.Contains(replayed, e => e.Kind == "reward");
        factory.DeleteObjectReference<ICustomerWatcher>(reference2);
    }

    [Fact]
    public async Task A_watch_on_an_id_never_seen_subscribes_nothing_and_a_customer_serves_at_most_its_watcher_limit()
    {
        var factory = fixture.Cluster.Client;
        var recorders = Enumerable.Range(0, 4).Select(_ => new RecordingWatcher()).ToList();
        var watchers = recorders.Select(factory.CreateObjectReference<ICustomerWatcher>).ToList();
        var ghost = NewCustomer();
        Assert.Null(await factory.GetGrain<ICustomerGrain>(ghost).Watch(watchers[0], 0, 100, 3));
        // Still nobody: the event that creates the customer is the first thing anyone is told about, not a held watch.
        await factory.GetGrain<ICustomerGrain>(ghost).Apply([Game(ghost, "first", DateTimeOffset.UtcNow)]);
        await Task.Delay(200);
        Assert.Empty(recorders[0].Received);

        var id = NewCustomer();
        var grain = factory.GetGrain<ICustomerGrain>(id);
        await grain.Apply([Game(id, "g", DateTimeOffset.UtcNow)]);
        for (var i = 0; i < 3; i++)
        {
            Assert.NotNull(await grain.Watch(watchers[i], 0, 100, 3));
        }
        Assert.NotNull(await grain.Watch(watchers[2], 0, 100, 3));   // a renewal is not a new watcher
        var refused = await Assert.ThrowsAsync<TooManyWatchersException>(() => grain.Watch(watchers[3], 0, 100, 3));
        Assert.Contains("3 watchers", refused.Message, StringComparison.Ordinal);
        await grain.Unwatch(watchers[0]);
        Assert.NotNull(await grain.Watch(watchers[3], 0, 100, 3));

        // Erased while watched: the next renewal learns the customer is gone.
        await grain.Erase();
        Assert.Null(await factory.GetGrain<ICustomerGrain>(id).Watch(watchers[1], 0, 100, 3));
        foreach (var w in watchers)
        {
            factory.DeleteObjectReference<ICustomerWatcher>(w);
        }
    }
}

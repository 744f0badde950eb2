using Grpc.Core;
using Loyalty.Contracts.V1;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

[Collection(InProcessCollection.Name)]
public sealed class WatchEndToEndTests(InProcessEngineFixture fixture)
{
    private Customers.CustomersClient Customers => fixture.Server.Customers;

    private static async Task<List<LedgerEntry>> Take(IAsyncStreamReader<LedgerEntry> stream, int count)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var taken = new List<LedgerEntry>();
        while (taken.Count < count && await stream.MoveNext(timeout.Token))
        {
            taken.Add(stream.Current);
        }
        return taken;
    }

    [Fact]
    public async Task A_watcher_sees_points_and_rewards_live_and_a_reconnect_with_since_replays_exactly_what_it_missed()
    {
        var id = NewCustomer();
        await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });   // #1, before watching

        using (var cts = new CancellationTokenSource())
        {
            using var watch = Customers.Watch(new WatchRequest { CustomerId = id }, cancellationToken: cts.Token);
            var replayed = await Take(watch.ResponseStream, 1);
            Assert.Equal(("earn", 10L), (replayed[0].Kind, replayed[0].Points));

            var resolved = Support(id, SupportStatus.Resolved, SupportChannel.Human, satisfaction: 5);
            var result = await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = resolved });
            var code = Assert.Single(result.Rewards).Code;
            var live = await Take(watch.ResponseStream, 3);   // resolution bonus, rule points, reward notice
            Assert.Equal([2L, 3L, 4L], live.Select(e => e.Sequence));
            var reward = Assert.Single(live, e => e.Kind == "reward");
            Assert.Equal(("thank-you-coupon", code, resolved.EventId), (reward.Ref, reward.Note, reward.EventId));
            Assert.Equal(live.Where(e => e.Kind == "earn").Sum(e => e.Points), result.PointsDelta);
            await cts.CancelAsync();
        }

        // While nobody watches, two more events.
        await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = Game(id, 5, 1) });
        await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = Game(id, 7, 1) });

        using var again = Customers.Watch(new WatchRequest { CustomerId = id, Since = 4 });
        var missed = await Take(again.ResponseStream, 2);
        Assert.Equal([(5L, 5L), (6L, 7L)], missed.Select(e => (e.Sequence, e.Points)));
        // And live again after the replay.
        await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = Game(id, 3, 1) });
        Assert.Equal([7L], (await Take(again.ResponseStream, 1)).Select(e => e.Sequence));
    }

    /// <summary>Orleans holds observer objects weakly. The engine runs in this process, so a full collection here is
    /// one in the engine: a watch whose observer nobody else held stopped receiving live entries after it.</summary>
    [Fact]
    public async Task A_watch_keeps_its_live_entries_through_a_full_garbage_collection()
    {
        var id = NewCustomer();
        await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });   // Watch needs a customer
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var watch = Customers.Watch(new WatchRequest { CustomerId = id }, cancellationToken: cts.Token);
        Assert.Equal([1L], (await Take(watch.ResponseStream, 1)).Select(e => e.Sequence));   // replayed: subscribed
        FullCollection();
        await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = Game(id, 4, 1) });
        Assert.Equal([(2L, 4L)], (await Take(watch.ResponseStream, 1)).Select(e => (e.Sequence, e.Points)));
    }

    internal static void FullCollection()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
    }

    [Fact]
    public async Task Watch_refuses_a_malformed_request_naming_the_field()
    {
        var empty = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = Customers.Watch(new WatchRequest { CustomerId = "" });
            await call.ResponseStream.MoveNext();
        });
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        Assert.Contains("customer_id", empty.Status.Detail);
        var negative = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = Customers.Watch(new WatchRequest { CustomerId = NewCustomer(), Since = -1 });
            await call.ResponseStream.MoveNext();
        });
        Assert.Contains("since", negative.Status.Detail);
    }
}

[Collection(InProcessCollection.Name)]
public sealed class WatchRewardsEndToEndTests(InProcessEngineFixture fixture)
{
    [Fact]
    public async Task The_reward_feed_shows_rewards_granted_to_any_customer_filtered_by_kind()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var feed = fixture.Server.Programs.WatchRewards(new WatchRewardsRequest { Kinds = { "coupon" } }, cancellationToken: cts.Token);
        await feed.ResponseHeadersAsync;   // the watch is live

        var customers = Enumerable.Range(0, 5).Select(_ => NewCustomer()).ToList();
        var codes = new HashSet<string>();
        foreach (var customer in customers)
        {
            var result = await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = Support(customer, SupportStatus.Resolved, SupportChannel.Human, satisfaction: 5) });
            codes.UnionWith(result.Rewards.Where(r => r.Kind == "coupon").Select(r => r.Code));
        }
        Assert.Equal(5, codes.Count);

        var seen = new Dictionary<string, string>();
        while (seen.Count < codes.Count && await feed.ResponseStream.MoveNext(cts.Token))
        {
            var n = feed.ResponseStream.Current;
            Assert.Equal("coupon", n.Reward.Kind);
            if (codes.Contains(n.Reward.Code))
            {
                seen[n.Reward.Code] = n.CustomerId;
                Assert.False(string.IsNullOrEmpty(n.Reward.Description));
            }
        }
        Assert.Equal(codes.Order(), seen.Keys.Order());
        Assert.Equal(customers.Order(), seen.Values.Order());
    }

    [Fact]
    public async Task The_reward_feed_keeps_delivering_through_a_full_garbage_collection()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var feed = fixture.Server.Programs.WatchRewards(new WatchRewardsRequest { Kinds = { "coupon" } }, cancellationToken: cts.Token);
        await feed.ResponseHeadersAsync;   // the watch is live
        WatchEndToEndTests.FullCollection();
        var customer = NewCustomer();
        var result = await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = Support(customer, SupportStatus.Resolved, SupportChannel.Human, satisfaction: 5) });
        var code = Assert.Single(result.Rewards, r => r.Kind == "coupon").Code;
        while (await feed.ResponseStream.MoveNext(cts.Token))
        {
            if (feed.ResponseStream.Current.Reward.Code == code)
            {
                Assert.Equal(customer, feed.ResponseStream.Current.CustomerId);
                return;
            }
        }
    }
}

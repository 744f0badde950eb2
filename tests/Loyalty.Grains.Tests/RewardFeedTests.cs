using System.Collections.Concurrent;
using System.Diagnostics;
using Loyalty.Domain.Events;
using Microsoft.Extensions.DependencyInjection;
using static Loyalty.Grains.Tests.TestEvents;

namespace Loyalty.Grains.Tests;

/// <summary>
/// The program-wide reward feed on a real cluster: a silo whose feed partition said nobody watches it stops collecting
/// that partition's notices for a while, and a new watch waits out that pause, after which every reward reaches it.
/// </summary>
[Collection(MemoryClusterCollection.Name)]
public sealed class RewardFeedTests(MemoryClusterFixture fixture)
{
    private sealed class RecordingRewardWatcher : IRewardWatcher
    {
        public ConcurrentQueue<RewardNotice> Received { get; } = new();

        public Task OnRewards(RewardNotice[] notices)
        {
            foreach (var notice in notices)
            {
                Received.Enqueue(notice);
            }
            return Task.CompletedTask;
        }
    }

    private RewardFeedPublisher Publisher => fixture.Cluster.GetSiloServiceProvider(fixture.Cluster.Silos[0].SiloAddress).GetRequiredService<RewardFeedPublisher>();

    private IGrainFactory SiloGrains => fixture.Cluster.GetSiloServiceProvider(fixture.Cluster.Silos[0].SiloAddress).GetRequiredService<IGrainFactory>();

    private static LoyaltyEvent HumanResolved(string customer, string caseId, DateTimeOffset at) => new()
    {
        EventId = "resolved-" + caseId,
        CustomerId = customer,
        OccurredAt = at,
        Source = "support-desk",
        Payload = new SupportCase(caseId, SupportStatus.Resolved, SupportChannel.Human, 5, 0, 0),
    };

    /// <summary>Grants a coupon (a human resolved the case with top satisfaction) and returns its code.</summary>
    private async Task<string> GrantCoupon(string customer, string caseId)
    {
        var results = await fixture.Customer(customer).Apply([HumanResolved(customer, caseId, fixture.Time.GetUtcNow())]);
        return Assert.Single(results[0].Rewards, r => r.Kind == "coupon").Code;
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 10;
        while (!condition())
        {
            Assert.True(Stopwatch.GetTimestamp() < deadline, "timed out waiting until " + what);
            await Task.Delay(5);
        }
    }

    /// <summary>Pauses the partition if it is not paused: a reward delivered to a feed grain nobody watches does. A pause
    /// lasts 250 ms, and on a loaded machine (the whole suite at once) the polls can miss one: then another reward is
    /// granted, up to 10 times, before the partition counts as never pausing.</summary>
    private async Task Paused(RewardFeedPublisher publisher, string customer, int partition)
    {
        for (var attempt = 0; publisher.Watched(partition); attempt++)
        {
            Assert.True(attempt < 10, "the partition never paused after a reward nobody watched");
            await GrantCoupon(customer, "pause-" + Guid.NewGuid().ToString("N")[..8]);
            var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 2;
            while (publisher.Watched(partition) && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(5);
            }
        }
    }

    [Fact]
    public async Task Nobody_watching_stops_the_silo_collecting_a_partitions_notices_and_a_new_watch_gets_every_reward_once_live()
    {
        var customer = NewCustomer();
        var partition = RewardFeed.PartitionOf(customer);
        var publisher = Publisher;

        // A reward delivered to the feed grain, which answers that nobody watches: the silo pauses the partition, and
        // rewards granted while it is paused are not collected for it at all (checked on the attempts the pause covered
        // whole: a pause lasts 250 ms, and a slow machine may let it end in the middle of one).
        var covered = 0;
        for (var attempt = 0; attempt < 20 && covered < 2; attempt++)
        {
            await Paused(publisher, customer, partition);
            await Task.Delay(RewardFeedPublisher.FlushEvery * 2);   // anything collected earlier has been delivered
            var before = publisher.Delivered;
            var pausedBefore = !publisher.Watched(partition);
            await GrantCoupon(customer, $"paused-{attempt}");
            var pausedAfter = !publisher.Watched(partition);
            await Task.Delay(RewardFeedPublisher.FlushEvery * 3);
            if (pausedBefore && pausedAfter)
            {
                Assert.Equal(before, publisher.Delivered);
                covered++;
            }
        }
        Assert.True(covered > 0, "no reward was granted within a pause");

        // A new watch is told how long the pause may still last (checked when the silo was still paused after the
        // answer: the feed grain's quiet time ends no sooner than the silo's pause), waits it out, then misses nothing.
        var watcher = new RecordingRewardWatcher();
        var grains = SiloGrains;
        var reference = grains.CreateObjectReference<IRewardWatcher>(watcher);
        var feeds = Enumerable.Range(0, RewardFeed.Partitions).Select(p => grains.GetGrain<IRewardFeedGrain>(p)).ToList();
        try
        {
            TimeSpan[]? held = null;
            for (var attempt = 0; attempt < 5 && held is null; attempt++)
            {
                await Paused(publisher, customer, partition);
                var answers = await Task.WhenAll(feeds.Select(f => f.Watch(reference)));
                if (!publisher.Watched(partition))
                {
                    Assert.InRange(answers[partition], TimeSpan.FromTicks(1), RewardFeed.Unwatched);
                    held = answers;
                }
                else
                {
                    await Task.WhenAll(feeds.Select(f => f.Unsubscribe(reference)));
                }
            }
            Assert.NotNull(held);
            await Task.Delay(held.Max() + TimeSpan.FromMilliseconds(1));

            Assert.True(publisher.Watched(partition));
            var codes = new List<string>();
            for (var i = 0; i < 3; i++)
            {
                codes.Add(await GrantCoupon(customer, $"watched-{i}"));
            }
            await Until(() => codes.All(c => watcher.Received.Any(n => n.CustomerId == customer && n.Reward.Code == c)), "the watcher has every reward");
            Assert.True(publisher.Watched(partition));   // the feed grain answered that someone watches
        }
        finally
        {
            await Task.WhenAll(feeds.Select(f => f.Unsubscribe(reference)));
            grains.DeleteObjectReference<IRewardWatcher>(reference);
        }
    }

    [Fact]
    public async Task A_partition_nobody_watched_recently_lets_a_new_watch_start_at_once()
    {
        var grains = SiloGrains;
        var watcher = new RecordingRewardWatcher();
        var reference = grains.CreateObjectReference<IRewardWatcher>(watcher);
        try
        {
            // A partition number nothing publishes to in this cluster's tests is never quiet.
            var feed = grains.GetGrain<IRewardFeedGrain>(1_000 + Random.Shared.Next(1_000));
            Assert.Equal(TimeSpan.Zero, await feed.Watch(reference));

            // The call of silos of earlier builds still reaches watchers.
            var notice = new RewardNotice("c-compat", default);
            await feed.Publish([notice]);
            await Until(() => watcher.Received.Contains(notice), "the watcher has the notice");
            Assert.True(await feed.Deliver([notice]));
        }
        finally
        {
            grains.DeleteObjectReference<IRewardWatcher>(reference);
        }
    }
}

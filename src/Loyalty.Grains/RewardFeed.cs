using Loyalty.Domain.Customers;
using Orleans.Concurrency;

namespace Loyalty.Grains;

/// <summary>A reward granted to a customer, for the program-wide feed. Immutable (a string and an immutable struct), so
/// Orleans hands it to the feed's partitions by reference instead of copying every notice of every flush. A value: a
/// notice per reward granted (most game events grant one) added an object per event that lived until the next flush.</summary>
[GenerateSerializer, Immutable]
public readonly record struct RewardNotice([property: Id(0)] string CustomerId, [property: Id(1)] GrantedReward Reward);

public interface IRewardWatcher : IGrainObserver
{
    [OneWay]
    Task OnRewards(RewardNotice[] notices);
}

/// <summary>One of <see cref="RewardFeed.Partitions"/> partitions of the program-wide reward feed (customers are spread
/// over them by id): customer grains publish after a stored write, watchers subscribe to every partition.</summary>
public interface IRewardFeedGrain : IGrainWithIntegerKey
{
    [OneWay]
    Task Publish(RewardNotice[] notices);

    /// <summary>Subscribes or renews (a lease of <see cref="RewardFeed.Lease"/>).</summary>
    Task Subscribe(IRewardWatcher watcher);

    Task Unsubscribe(IRewardWatcher watcher);
}

public static class RewardFeed
{
    public const int Partitions = 16;
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);

    public static int PartitionOf(string customerId)
    {
        // Stable across processes (string.GetHashCode is randomized per process).
        var hash = 2166136261u;
        foreach (var c in customerId)
        {
            hash = (hash ^ c) * 16777619u;
        }
        return (int)(hash % Partitions);
    }
}

[Reentrant]
public sealed class RewardFeedGrain : Grain, IRewardFeedGrain
{
    private readonly Dictionary<IRewardWatcher, DateTime> _watchers = [];

    public Task Publish(RewardNotice[] notices)
    {
        var now = DateTime.UtcNow;
        foreach (var (watcher, until) in _watchers.ToList())
        {
            if (until < now)
            {
                _watchers.Remove(watcher);
                continue;
            }
            try
            {
                _ = watcher.OnRewards(notices);
            }
            catch (Exception)
            {
                _watchers.Remove(watcher);
            }
        }
        return Task.CompletedTask;
    }

    public Task Subscribe(IRewardWatcher watcher)
    {
        _watchers[watcher] = DateTime.UtcNow + RewardFeed.Lease;
        return Task.CompletedTask;
    }

    public Task Unsubscribe(IRewardWatcher watcher)
    {
        _watchers.Remove(watcher);
        return Task.CompletedTask;
    }
}

/// <summary>
/// The silo's side of the reward feed: customers hand over their notices once stored, and every
/// <see cref="FlushEvery"/> one call per partition carries all of them (instead of one call per customer write).
/// Best effort like the feed itself: watchers are live views, not a record.
/// </summary>
public sealed class RewardFeedPublisher(IGrainFactory grains, Microsoft.Extensions.Logging.ILogger<RewardFeedPublisher> logger)
{
    public static readonly TimeSpan FlushEvery = TimeSpan.FromMilliseconds(20);
    private readonly List<RewardNotice>?[] _pending = new List<RewardNotice>?[RewardFeed.Partitions];
    private readonly IRewardFeedGrain?[] _feeds = new IRewardFeedGrain?[RewardFeed.Partitions];
    private int _scheduled;

    public void Publish(RewardNotice notice)
    {
        var partition = RewardFeed.PartitionOf(notice.CustomerId);
        lock (_pending)
        {
            (_pending[partition] ??= []).Add(notice);
        }
        if (Interlocked.Exchange(ref _scheduled, 1) == 0)
        {
            _ = FlushSoon();
        }
    }

    private async Task FlushSoon()
    {
        await Task.Delay(FlushEvery).ConfigureAwait(false);   // off the customer's scheduler from here on
        Volatile.Write(ref _scheduled, 0);
        List<RewardNotice>?[] batch;
        lock (_pending)
        {
            batch = (List<RewardNotice>?[])_pending.Clone();
            Array.Clear(_pending);
        }
        for (var partition = 0; partition < batch.Length; partition++)
        {
            if (batch[partition] is not { Count: > 0 } notices)
            {
                continue;
            }
            try
            {
                _ = (_feeds[partition] ??= grains.GetGrain<IRewardFeedGrain>(partition)).Publish([.. notices]);
            }
            catch (Exception ex)
            {
                Microsoft.Extensions.Logging.LoggerExtensions.LogDebug(logger, ex, "Reward feed publish failed for partition {Partition}", partition);
            }
            notices.Clear();
        }
        // The lists go back for the next notices, with the room they grew to: a new list per partition every flush
        // grew again from nothing, and with a reward per event that was most of the bytes the feed allocated.
        lock (_pending)
        {
            for (var partition = 0; partition < batch.Length; partition++)
            {
                _pending[partition] ??= batch[partition];
            }
        }
    }
}

using Loyalty.Domain.Customers;
using System.Diagnostics;
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
    /// <summary>Hands notices to the watchers (kept for silos of earlier builds, which call it without waiting).</summary>
    [OneWay]
    Task Publish(RewardNotice[] notices);

    /// <summary>Hands notices to the watchers and answers whether any is subscribed. A silo told "none" stops collecting
    /// this partition's notices for <see cref="RewardFeed.Unwatched"/>, counted from when it sent the call.</summary>
    Task<bool> Deliver(RewardNotice[] notices);

    /// <summary>Subscribes or renews (a lease of <see cref="RewardFeed.Lease"/>).</summary>
    Task Subscribe(IRewardWatcher watcher);

    /// <summary>Subscribes or renews, and answers how long silos told "none" may still hold this partition's notices
    /// back: every reward stored once that has passed reaches the watcher.</summary>
    Task<TimeSpan> Watch(IRewardWatcher watcher);

    Task Unsubscribe(IRewardWatcher watcher);
}

public static class RewardFeed
{
    public const int Partitions = 16;
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);

    /// <summary>How long a silo told that nobody watches a partition stops collecting its notices. Nobody watches the
    /// feed most of the time, and a notice copies the reward it is about (~280 bytes, three times over between the
    /// customer and the feed grain): with a reward per event that was ~650 bytes of every event's garbage, for no one.</summary>
    public static readonly TimeSpan Unwatched = TimeSpan.FromMilliseconds(250);

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

    // Until when (this process's monotonic clock) a silo told "nobody watches" may hold notices back: a delivery
    // mechanism, measured like the publisher's flush interval, not a business time.
    private long _quietUntil;

    public Task Publish(RewardNotice[] notices)
    {
        Forward(notices);
        return Task.CompletedTask;
    }

    public Task<bool> Deliver(RewardNotice[] notices)
    {
        if (Forward(notices))
        {
            return Task.FromResult(true);
        }
        // The caller measures its pause from before it sent this call, so it ends no later than this.
        _quietUntil = Math.Max(_quietUntil, Stopwatch.GetTimestamp() + Ticks(RewardFeed.Unwatched));
        return Task.FromResult(false);
    }

    public Task Subscribe(IRewardWatcher watcher) => Watch(watcher);

    public Task<TimeSpan> Watch(IRewardWatcher watcher)
    {
        _watchers[watcher] = DateTime.UtcNow + RewardFeed.Lease;
        var left = _quietUntil - Stopwatch.GetTimestamp();
        return Task.FromResult(left > 0 ? Stopwatch.GetElapsedTime(0, left) : TimeSpan.Zero);
    }

    public Task Unsubscribe(IRewardWatcher watcher)
    {
        _watchers.Remove(watcher);
        return Task.CompletedTask;
    }

    /// <summary>Passes the notices to every watcher whose lease holds; whether there was any.</summary>
    private bool Forward(RewardNotice[] notices)
    {
        if (_watchers.Count == 0)
        {
            return false;
        }
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
        return _watchers.Count > 0;
    }

    internal static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);
}

/// <summary>
/// The silo's side of the reward feed: customers hand over their notices once stored, and every
/// <see cref="FlushEvery"/> one call per partition carries all of them (instead of one call per customer write).
/// A partition whose feed grain answered that nobody watches it is left alone for <see cref="RewardFeed.Unwatched"/>:
/// customers do not even look for its notices meanwhile (<see cref="Watched"/>). Best effort like the feed itself:
/// watchers are live views, not a record.
/// </summary>
public sealed class RewardFeedPublisher(IGrainFactory grains, Microsoft.Extensions.Logging.ILogger<RewardFeedPublisher> logger)
{
    public static readonly TimeSpan FlushEvery = TimeSpan.FromMilliseconds(20);
    private readonly Lock _lock = new();
    private List<RewardNotice>?[] _pending = new List<RewardNotice>?[RewardFeed.Partitions];
    private List<RewardNotice>?[]? _spare = new List<RewardNotice>?[RewardFeed.Partitions];
    private readonly IRewardFeedGrain?[] _feeds = new IRewardFeedGrain?[RewardFeed.Partitions];
    private readonly long[] _unwatchedUntil = new long[RewardFeed.Partitions];
    private int _scheduled;

    /// <summary>Whether notices for <paramref name="partition"/> are wanted now: false for a while after its feed
    /// grain said nobody watches it.</summary>
    public bool Watched(int partition) => Stopwatch.GetTimestamp() >= Volatile.Read(ref _unwatchedUntil[partition]);

    /// <summary>Notices delivered to feed grains since start (for tests and diagnostics).</summary>
    public long Delivered => Interlocked.Read(ref _delivered);
    private long _delivered;

    /// <summary>Queues a notice of a customer in <paramref name="partition"/> (<see cref="RewardFeed.PartitionOf"/>).</summary>
    public void Publish(int partition, RewardNotice notice)
    {
        lock (_lock)
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
        lock (_lock)
        {
            // The lists go back and forth with the room they grew to: new lists every flush grew again from nothing,
            // and with a reward per event that was most of the bytes the feed allocated.
            batch = _pending;
            _pending = _spare ?? new List<RewardNotice>?[RewardFeed.Partitions];
            _spare = null;
        }
        for (var partition = 0; partition < batch.Length; partition++)
        {
            if (batch[partition] is not { Count: > 0 } notices)
            {
                continue;
            }
            _ = Deliver(partition, [.. notices]);
            notices.Clear();
        }
        lock (_lock)
        {
            _spare = batch;
        }
    }

    private async Task Deliver(int partition, RewardNotice[] notices)
    {
        var sent = Stopwatch.GetTimestamp();
        try
        {
            Interlocked.Add(ref _delivered, notices.Length);
            if (!await (_feeds[partition] ??= grains.GetGrain<IRewardFeedGrain>(partition)).Deliver(notices))
            {
                // From when it was sent, not when the answer came: the feed grain tells a new watcher how long to wait
                // counting from its answer, which is later.
                Volatile.Write(ref _unwatchedUntil[partition], sent + RewardFeedGrain.Ticks(RewardFeed.Unwatched));
            }
        }
        catch (Exception ex)
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogDebug(logger, ex, "Reward feed delivery failed for partition {Partition}", partition);
        }
    }
}

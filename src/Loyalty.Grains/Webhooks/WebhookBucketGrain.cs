using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Loyalty.Grains.Webhooks;

/// <summary>Sends one delivery. Implemented by the host (HTTP with signing and retries).</summary>
public interface IWebhookSender
{
    /// <summary>Returns once the endpoint accepted the delivery (2xx). Retries failed attempts with backoff, telling
    /// <paramref name="failedAttempt"/> why each failed, until <paramref name="cancellationToken"/> is cancelled (then
    /// throws <see cref="OperationCanceledException"/>).</summary>
    Task SendAsync(WebhookEndpoint endpoint, QueuedNotice notice, Action<string> failedAttempt, CancellationToken cancellationToken);
}

/// <summary>What one bucket knows about its deliveries.</summary>
[GenerateSerializer, Immutable, Alias("loyalty.WebhookBucketStatus")]
public sealed record WebhookBucketStatus(
    [property: Id(0)] string Endpoint,
    [property: Id(1)] int Bucket,
    [property: Id(2)] long Delivered,
    [property: Id(3)] long Failed,
    [property: Id(4)] int Pending,
    [property: Id(5)] int Retrying,
    [property: Id(6)] DateTimeOffset? OldestQueuedAt,
    [property: Id(7)] string LastError,
    [property: Id(8)] DateTimeOffset? LastErrorAt);

/// <summary>One delivery queue of one endpoint (key "{endpoint}.{bucket}", the outbox partition it reads).</summary>
public interface IWebhookBucketGrain : IGrainWithStringKey
{
    /// <summary>Look at the stored outbox now rather than at the next poll (start, reminder).</summary>
    [Orleans.Concurrency.OneWay]
    Task Wake();

    /// <summary>These notices were just stored in this bucket's partition: deliver them without reading them back.</summary>
    [Orleans.Concurrency.OneWay]
    Task Offer(QueuedNotice[] notices);

    /// <summary>The customer was erased: forget its notices and cursor (a customer created again under the id starts
    /// from nothing).</summary>
    Task Forget(string customerId);

    Task<WebhookBucketStatus> Status();
}

/// <summary>
/// Delivers one outbox partition: each customer's notices one at a time and in sequence order, up to
/// <see cref="WebhookOptions.ConcurrencyPerBucket"/> customers at once. The outbox hands over what it stores
/// (<see cref="Offer"/>), so the stored partition is read only when the bucket activates and on a slow poll, to pick
/// up what a dead silo stored but could not hand over; a reminder wakes the bucket every minute, so a bucket whose silo
/// died resumes on another silo from the stored notices and cursors. Customers are never activated to deliver. The
/// delivery loop runs off the grain's scheduler; the grain only starts, feeds and reports it.
/// </summary>
public sealed class WebhookBucketGrain(WebhookOptions options, IWebhookStore store, IWebhookSender sender, WebhookBoard board,
    EngineClock clock, ILogger<WebhookBucketGrain> logger) : Grain, IWebhookBucketGrain, IRemindable
{
    public const string Reminder = "webhooks";
    private const int ScanSize = 1000;
    private const int CursorsCached = 100_000;
    /// <summary>Notices held in memory; beyond it offers are dropped and read back from storage as slots free up
    /// (an endpoint down for days must not fill the silo's memory).</summary>
    private const int WaitingHeld = 20_000;
    /// <summary>How often the stored partition is read again while the bucket runs.</summary>
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(30);

    // The engine's clock dates notices and their retry deadline; the loop's own pauses are real time.
    private readonly TimeProvider _time = clock.Time;
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;
    private WebhookEndpoint? _endpoint;
    private string _partition = "";
    private int _bucket;
    private long _delivered;
    private long _failed;
    private int _retrying;
    private volatile bool _scanDue = true;
    private readonly object _lock = new();
    /// <summary>Notices known to wait, by customer, in sequence order (from offers and scans).</summary>
    private readonly Dictionary<string, SortedDictionary<long, QueuedNotice>> _waiting = new(StringComparer.Ordinal);
    /// <summary>Delivery cursors read or written by this activation (it is the partition's only writer); all of the
    /// partition's when <see cref="_allCursors"/> (then a customer missing has none).</summary>
    private readonly Dictionary<string, WebhookCursor> _cursors = new(StringComparer.Ordinal);
    private bool _allCursors;
    /// <summary>Deliveries finished but not yet recorded in storage (group commit: one transaction for many).</summary>
    private readonly List<(QueuedNotice Notice, bool Failed, DateTimeOffset At)> _completions = [];
    /// <summary>Notices delivered whose completion is not stored yet: a scan meanwhile must not send them again.</summary>
    private readonly HashSet<(string Customer, long Sequence)> _uncommitted = [];
    /// <summary>Bumped when a customer is forgotten (erased): a delivery begun before stops without recording.</summary>
    private readonly Dictionary<string, int> _epochs = new(StringComparer.Ordinal);
    private int _waitingCount;
    private readonly SemaphoreSlim _completing = new(1, 1);
    private (string Error, DateTimeOffset At)? _lastError;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _partition = this.GetPrimaryKeyString();
        var dot = _partition.LastIndexOf('.');
        var name = dot > 0 ? _partition[..dot] : _partition;
        _bucket = dot > 0 && int.TryParse(_partition[(dot + 1)..], System.Globalization.CultureInfo.InvariantCulture, out var b) ? b : 0;
        _endpoint = options.Endpoints.FirstOrDefault(e => e.Name == name);
        if (_endpoint is null)
        {
            return;   // not configured (any more): nothing to deliver to
        }
        var counts = await store.CountsAsync(_partition, cancellationToken);
        (_delivered, _failed) = (counts.Delivered, counts.Failed);
        // One read of every cursor instead of one per customer (when the partition's customers fit in the cache).
        if (await store.CursorsAsync(_partition, CursorsCached, cancellationToken) is { } cursors)
        {
            foreach (var (customer, cursor) in cursors)
            {
                _cursors[customer] = cursor;
            }
            _allCursors = true;
        }
        try
        {
            await this.RegisterOrUpdateReminder(Reminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Webhook bucket {Bucket}: no reminder; it delivers while active and when woken by new notices", _partition);
        }
        var stopping = _stopping.Token;
        _loop = Task.Run(() => RunAsync(stopping), CancellationToken.None);
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        }
        catch (Exception)
        {
            // Stopped (or still stopping): whatever was not completed stays stored for the next activation.
        }
        board.Remove(_partition);
    }

    public Task Wake()
    {
        _scanDue = true;
        _signal.TrySetResult();
        return Task.CompletedTask;
    }

    public Task Offer(QueuedNotice[] notices)
    {
        Add(notices);
        _signal.TrySetResult();
        return Task.CompletedTask;
    }

    public Task Forget(string customerId)
    {
        lock (_lock)
        {
            if (_waiting.Remove(customerId, out var queue))
            {
                _waitingCount -= queue.Count;
            }
            _cursors.Remove(customerId);
            _epochs[customerId] = _epochs.GetValueOrDefault(customerId) + 1;
        }
        return Task.CompletedTask;
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => Wake();

    public Task<WebhookBucketStatus> Status() => Task.FromResult(Snapshot());

    /// <param name="missed">Read because a later notice of the customer is waiting: held even over the limit (few).</param>
    private void Add(IEnumerable<QueuedNotice> notices, bool missed = false)
    {
        lock (_lock)
        {
            foreach (var n in notices)
            {
                if (_uncommitted.Contains((n.CustomerId, n.Sequence)))
                {
                    continue;   // delivered; its completion is on its way to storage
                }
                if (_waitingCount >= WaitingHeld && !missed)
                {
                    _scanDue = true;   // stored: read back once the backlog shrinks
                    continue;
                }
                // One the cursor has passed is kept too: delivering skips it and removes its stored row.
                if (!_waiting.TryGetValue(n.CustomerId, out var queue))
                {
                    _waiting[n.CustomerId] = queue = [];
                }
                if (queue.TryAdd(n.Sequence, n))
                {
                    _waitingCount++;
                }
            }
        }
    }

    private WebhookBucketStatus Snapshot()
    {
        lock (_lock)
        {
            DateTimeOffset? oldest = null;
            var pending = 0;
            foreach (var queue in _waiting.Values)
            {
                pending += queue.Count;
                foreach (var n in queue.Values)
                {
                    oldest = oldest is null || n.QueuedAt < oldest ? n.QueuedAt : oldest;
                }
            }
            return new WebhookBucketStatus(_endpoint?.Name ?? "", _bucket, Interlocked.Read(ref _delivered), Interlocked.Read(ref _failed),
                pending, Volatile.Read(ref _retrying), oldest, _lastError?.Error ?? "", _lastError?.At);
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        var inFlight = new Dictionary<string, Task>(StringComparer.Ordinal);
        var lastScan = DateTime.MinValue;
        while (!stopping.IsCancellationRequested)
        {
            // A wake or offer after this line is seen by the wait below, however soon it comes.
            var signal = _signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_scanDue || DateTime.UtcNow - lastScan > Poll)
            {
                _scanDue = false;
                lastScan = DateTime.UtcNow;
                try
                {
                    Add(await store.PendingAsync(_partition, ScanSize, stopping));
                }
                catch (Exception ex) when (!stopping.IsCancellationRequested)
                {
                    Failed($"reading the outbox: {ex.Message}");
                    logger.LogWarning(ex, "Webhook bucket {Bucket}: reading the outbox failed; trying again", _partition);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            List<string> ready;
            lock (_lock)
            {
                ready = [.. _waiting.Where(w => w.Value.Count > 0 && !inFlight.ContainsKey(w.Key)).Select(w => w.Key)];
            }
            foreach (var customer in ready.Take(Math.Max(0, options.ConcurrencyPerBucket - inFlight.Count)))
            {
                inFlight[customer] = DeliverAsync(customer, stopping);
            }
            board.Report(Snapshot());
            using (var poll = CancellationTokenSource.CreateLinkedTokenSource(stopping))
            {
                // With every slot busy, new notices wait for a slot: only a finished customer (or the poll) matters.
                Task[] wakers = inFlight.Count >= options.ConcurrencyPerBucket
                    ? [Task.Delay(Poll, poll.Token), .. inFlight.Values]
                    : [signal.Task, Task.Delay(Poll, poll.Token), .. inFlight.Values];
                await Task.WhenAny(wakers);
                await poll.CancelAsync();
            }
            if (stopping.IsCancellationRequested)
            {
                break;
            }
            foreach (var (customer, task) in inFlight.Where(f => f.Value.IsCompleted).ToList())
            {
                inFlight.Remove(customer);
                if (task.Exception is { } ex)
                {
                    Failed(ex.InnerException?.Message ?? ex.Message);
                    logger.LogWarning(ex, "Webhook bucket {Bucket}: delivering to a customer stopped; its notices stay stored", _partition);
                    _scanDue = true;   // what failed is still stored: read it back
                    await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
                }
            }
        }
        try
        {
            await Task.WhenAll(inFlight.Values);
        }
        catch (Exception)
        {
            // Stopping: cancelled deliveries stay stored.
        }
    }

    private QueuedNotice? NextOf(string customerId)
    {
        lock (_lock)
        {
            if (_waiting.TryGetValue(customerId, out var queue) && queue.Count > 0)
            {
                return queue.First().Value;
            }
            _waiting.Remove(customerId);
            return null;
        }
    }

    private void Done(QueuedNotice notice, DateTimeOffset at)
    {
        lock (_lock)
        {
            if (_waiting.TryGetValue(notice.CustomerId, out var queue) && queue.Remove(notice.Sequence))
            {
                _waitingCount--;
            }
            if (_cursors.Count >= CursorsCached && !_cursors.ContainsKey(notice.CustomerId))
            {
                _cursors.Clear();
                _allCursors = false;
            }
            _cursors[notice.CustomerId] = WebhookCursor.Max(_cursors.GetValueOrDefault(notice.CustomerId, WebhookCursor.None), new WebhookCursor(notice.Sequence, at));
        }
    }

    private async Task<WebhookCursor> CursorOf(string customerId, CancellationToken stopping)
    {
        lock (_lock)
        {
            if (_cursors.TryGetValue(customerId, out var known))
            {
                return known;
            }
            if (_allCursors)
            {
                return WebhookCursor.None;
            }
        }
        var stored = await store.CursorAsync(_partition, customerId, stopping);
        lock (_lock)
        {
            return _cursors[customerId] = WebhookCursor.Max(stored, _cursors.GetValueOrDefault(customerId, WebhookCursor.None));
        }
    }

    /// <summary>One customer's waiting notices, in sequence order, including any that arrive meanwhile; each is sent
    /// until accepted or until it has been retried for <see cref="WebhookOptions.RetryFor"/> since it was queued.</summary>
    private async Task DeliverAsync(string customerId, CancellationToken stopping)
    {
        int epoch;
        lock (_lock)
        {
            epoch = _epochs.GetValueOrDefault(customerId);
        }
        var cursor = await CursorOf(customerId, stopping);
        // Every stored notice of the customer up to this sequence has reached this delivery: sent or skipped. A notice
        // whose previous one lies past it is not sent before the stored ones it may have missed.
        var seen = cursor.Sequence;
        while (NextOf(customerId) is { } notice)
        {
            if (cursor.Passed(notice))
            {
                await store.SkipAsync(_partition, notice, stopping);
                Done(notice, cursor.At);
                continue;
            }
            if (notice.After > seen)
            {
                // Notices before this one never reached this bucket (their offer went to a silo that died, or was
                // dropped while the bucket held too many, or a scan's page ended): read them, and send them first.
                Add(await store.WaitingAsync(_partition, customerId, seen, notice.After, stopping), missed: true);
                seen = notice.After;
                continue;
            }
            seen = Math.Max(seen, notice.Sequence);
            if (notice.Sequence <= cursor.Sequence)
            {
                logger.LogWarning("Webhook {Endpoint}: notice {CustomerId}:{Sequence} was stored before notice {Delivered} was delivered but reached this bucket after it; sent now, out of order",
                    _endpoint!.Name, customerId, notice.Sequence, cursor.Sequence);
            }
            // At least one attempt's time, even for a notice older than RetryFor (an endpoint configured again).
            var left = notice.QueuedAt + options.RetryFor - _time.GetUtcNow();
            using var giveUp = new CancellationTokenSource(left > options.AttemptTimeout ? left : options.AttemptTimeout, _time);
            using var either = CancellationTokenSource.CreateLinkedTokenSource(stopping, giveUp.Token);
            var retried = false;
            var delivered = false;
            try
            {
                await sender.SendAsync(_endpoint!, notice, error =>
                {
                    if (!retried)
                    {
                        retried = true;
                        Interlocked.Increment(ref _retrying);
                    }
                    Failed(error);
                    WebhookMetrics.AttemptFailed(_endpoint!.Name);
                }, either.Token);
                delivered = true;
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested && giveUp.IsCancellationRequested)
            {
                logger.LogWarning("Webhook {Endpoint}: notice {CustomerId}:{Sequence} was not accepted within {RetryFor}; set aside as failed",
                    _endpoint!.Name, customerId, notice.Sequence, options.RetryFor);
            }
            finally
            {
                if (retried)
                {
                    Interlocked.Decrement(ref _retrying);
                }
            }
            if (delivered)
            {
                Interlocked.Increment(ref _delivered);
            }
            else
            {
                Interlocked.Increment(ref _failed);
            }
            var at = _time.GetUtcNow();
            lock (_lock)
            {
                if (_epochs.GetValueOrDefault(customerId) != epoch)
                {
                    return;   // erased meanwhile: nothing of it is recorded again
                }
                _uncommitted.Add((notice.CustomerId, notice.Sequence));
            }
            Done(notice, at);
            await CompleteAsync(notice, !delivered, at);
            WebhookMetrics.Completed(_endpoint!.Name, delivered, _time.GetUtcNow() - notice.QueuedAt);
            cursor = WebhookCursor.Max(cursor, new WebhookCursor(notice.Sequence, at));
        }
    }

    /// <summary>Records a finished delivery: notices finished meanwhile by this bucket's other customers go in the same
    /// transaction. Until it is stored a scan does not send them again; if the record fails, the notices stay stored
    /// and are sent again (at least once, same delivery ids).</summary>
    private async Task CompleteAsync(QueuedNotice notice, bool failed, DateTimeOffset at)
    {
        lock (_completions)
        {
            _completions.Add((notice, failed, at));
        }
        await _completing.WaitAsync();
        try
        {
            List<(QueuedNotice, bool, DateTimeOffset)> batch;
            lock (_completions)
            {
                if (_completions.Count == 0)
                {
                    return;   // a delivery that waited meanwhile recorded this one with its own
                }
                batch = [.. _completions];
                _completions.Clear();
            }
            try
            {
                await store.CompleteAsync(_partition, batch, new BucketCounts(Interlocked.Read(ref _delivered), Interlocked.Read(ref _failed)));
                lock (_lock)
                {
                    foreach (var (done, _, _) in batch)
                    {
                        _uncommitted.Remove((done.CustomerId, done.Sequence));
                    }
                }
            }
            catch (Exception ex)
            {
                Failed($"recording deliveries: {ex.Message}");
                logger.LogWarning(ex, "Webhook bucket {Bucket}: recording {Count} deliveries failed; they stay stored and may be sent again", _partition, batch.Count);
                lock (_lock)
                {
                    foreach (var (done, _, _) in batch)
                    {
                        _uncommitted.Remove((done.CustomerId, done.Sequence));
                    }
                }
                _scanDue = true;
            }
        }
        finally
        {
            _completing.Release();
        }
    }

    private void Failed(string error)
    {
        lock (_lock)
        {
            _lastError = (error, _time.GetUtcNow());
        }
    }
}

/// <summary>This silo's active buckets, for the metrics' gauges.</summary>
public sealed class WebhookBoard
{
    private readonly ConcurrentDictionary<string, WebhookBucketStatus> _buckets = new(StringComparer.Ordinal);

    public WebhookBoard(EngineClock clock)
    {
        var time = clock.Time;
        WebhookMetrics.Observe(
            () => _buckets.Values.GroupBy(b => b.Endpoint).Select(g => (g.Key, (long)g.Sum(b => b.Pending))),
            () => _buckets.Values.GroupBy(b => b.Endpoint).Select(g => (g.Key, (long)g.Sum(b => b.Retrying))),
            () => _buckets.Values.GroupBy(b => b.Endpoint).Select(g => (g.Key,
                g.Min(b => b.OldestQueuedAt) is { } oldest ? Math.Max(0, (time.GetUtcNow() - oldest).TotalSeconds) : 0)));
    }

    public void Report(WebhookBucketStatus status) => _buckets[$"{status.Endpoint}.{status.Bucket}"] = status;

    public void Remove(string partition) => _buckets.TryRemove(partition, out _);
}

public static class WebhookMetrics
{
    private static readonly Meter Meter = new(LoyaltyMetrics.MeterName);
    private static readonly Counter<long> QueuedCounter = Meter.CreateCounter<long>(
        "loyalty.webhooks.queued", unit: "{notice}", description: "Notices stored in the webhook outbox (one per endpoint that wants it)");
    private static readonly Counter<long> DeliveredCounter = Meter.CreateCounter<long>(
        "loyalty.webhooks.delivered", unit: "{notice}", description: "Notices an endpoint accepted (2xx), by endpoint");
    private static readonly Counter<long> FailedCounter = Meter.CreateCounter<long>(
        "loyalty.webhooks.failed", unit: "{notice}", description: "Notices set aside after being retried for Loyalty:Webhooks:RetryFor, by endpoint");
    private static readonly Counter<long> AttemptsFailed = Meter.CreateCounter<long>(
        "loyalty.webhooks.attempts.failed", unit: "{attempt}", description: "Delivery attempts that failed (error status, timeout, no connection), by endpoint");
    private static readonly Histogram<double> Latency = Meter.CreateHistogram<double>(
        "loyalty.webhooks.delivery.latency", unit: "s", description: "From queued to accepted, by endpoint",
        tags: null, advice: LoyaltyMetrics.LongSeconds);
    private static int _observed;

    private static KeyValuePair<string, object?> Endpoint(string name) => new("loyalty.endpoint", name);

    public static void Queued(long notices) => QueuedCounter.Add(notices);

    public static void AttemptFailed(string endpoint) => AttemptsFailed.Add(1, Endpoint(endpoint));

    public static void Completed(string endpoint, bool delivered, TimeSpan sinceQueued)
    {
        if (delivered)
        {
            DeliveredCounter.Add(1, Endpoint(endpoint));
            Latency.Record(sinceQueued.TotalSeconds, Endpoint(endpoint));
        }
        else
        {
            FailedCounter.Add(1, Endpoint(endpoint));
        }
    }

    /// <summary>Gauges over this silo's active buckets (the first board registers them; a process has one silo).</summary>
    internal static void Observe(Func<IEnumerable<(string Endpoint, long Value)>> pending, Func<IEnumerable<(string Endpoint, long Value)>> retrying,
        Func<IEnumerable<(string Endpoint, double Value)>> oldestSeconds)
    {
        if (Interlocked.Exchange(ref _observed, 1) == 1)
        {
            return;
        }
        Meter.CreateObservableGauge("loyalty.webhooks.pending", () => pending().Select(p => new Measurement<long>(p.Value, Endpoint(p.Endpoint))),
            unit: "{notice}", description: "Notices waiting for delivery (up to 1,000 per bucket are counted), by endpoint");
        Meter.CreateObservableGauge("loyalty.webhooks.retrying", () => retrying().Select(p => new Measurement<long>(p.Value, Endpoint(p.Endpoint))),
            unit: "{notice}", description: "Notices being retried after a failed attempt, by endpoint");
        Meter.CreateObservableGauge("loyalty.webhooks.oldest_undelivered", () => oldestSeconds().Select(p => new Measurement<double>(p.Value, Endpoint(p.Endpoint))),
            unit: "s", description: "Age of the oldest notice waiting for delivery, by endpoint");
    }
}

/// <summary>The sender when the host registered none: every attempt fails, saying so (notices stay queued).</summary>
public sealed class NoWebhookSender : IWebhookSender
{
    public async Task SendAsync(WebhookEndpoint endpoint, QueuedNotice notice, Action<string> failedAttempt, CancellationToken cancellationToken)
    {
        failedAttempt("this host registers no webhook sender");
        await Task.Delay(Timeout.Infinite, cancellationToken);
    }
}

/// <summary>When the silo starts, wakes every bucket of every endpoint: notices queued before a restart are delivered
/// without waiting for new ones (their reminders would also wake them within a minute).</summary>
public sealed class WebhookStartup(WebhookOptions options, IGrainFactory grains, ILogger<WebhookStartup> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(WebhookStartup), ServiceLifecycleStage.Active, cancellationToken =>
        {
            foreach (var endpoint in options.Endpoints)
            {
                for (var bucket = 0; bucket < options.Buckets; bucket++)
                {
                    try
                    {
                        _ = grains.GetGrain<IWebhookBucketGrain>(WebhookOutbox.Partition(endpoint.Name, bucket)).Wake();
                    }
                    catch (Exception ex)
                    {
                        logger.LogWarning(ex, "Could not wake webhook bucket {Endpoint}.{Bucket}; its reminder will", endpoint.Name, bucket);
                    }
                }
            }
            return Task.CompletedTask;
        });
}

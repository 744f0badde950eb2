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
    /// <summary>New notices were queued: look now rather than at the next poll.</summary>
    [Orleans.Concurrency.OneWay]
    Task Wake();

    Task<WebhookBucketStatus> Status();
}

/// <summary>
/// Delivers one outbox partition: the waiting notices in (customer, sequence) order, each customer's one at a time and
/// in order, up to <see cref="WebhookOptions.ConcurrencyPerBucket"/> customers at once. A reminder wakes it every
/// minute, so a bucket whose silo died resumes on another silo from the stored cursors; customers are never activated
/// to deliver. The delivery loop runs off the grain's scheduler; the grain only starts, wakes and reports it.
/// </summary>
public sealed class WebhookBucketGrain(WebhookOptions options, IWebhookStore store, IWebhookSender sender, WebhookBoard board,
    EngineClock clock, ILogger<WebhookBucketGrain> logger) : Grain, IWebhookBucketGrain, IRemindable
{
    public const string Reminder = "webhooks";
    private const int ScanSize = 1000;
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MinScanInterval = TimeSpan.FromMilliseconds(50);

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
    private int _pending;
    private int _retrying;
    private readonly object _lock = new();
    private DateTimeOffset? _oldest;
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
            // Stopped (or still stopping): whatever was not completed stays queued for the next activation.
        }
        board.Remove(_partition);
    }

    public Task Wake()
    {
        _signal.TrySetResult();
        return Task.CompletedTask;
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => Wake();

    public Task<WebhookBucketStatus> Status() => Task.FromResult(Snapshot());

    private WebhookBucketStatus Snapshot()
    {
        lock (_lock)
        {
            return new WebhookBucketStatus(_endpoint?.Name ?? "", _bucket, Interlocked.Read(ref _delivered), Interlocked.Read(ref _failed),
                Volatile.Read(ref _pending), Volatile.Read(ref _retrying), _oldest, _lastError?.Error ?? "", _lastError?.At);
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        var inFlight = new Dictionary<string, Task>(StringComparer.Ordinal);
        while (!stopping.IsCancellationRequested)
        {
            // A wake after this line is seen by the wait below, however soon it comes.
            var signal = _signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            IReadOnlyList<QueuedNotice> pending = [];
            try
            {
                pending = await store.PendingAsync(_partition, ScanSize, stopping);
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
            lock (_lock)
            {
                _pending = pending.Count;
                _oldest = pending.Count > 0 ? pending.Min(n => n.QueuedAt) : null;
            }
            board.Report(Snapshot());
            foreach (var customer in pending.GroupBy(n => n.CustomerId, StringComparer.Ordinal))
            {
                if (inFlight.Count >= options.ConcurrencyPerBucket)
                {
                    break;
                }
                if (!inFlight.ContainsKey(customer.Key))
                {
                    inFlight[customer.Key] = DeliverAsync(customer.Key, [.. customer.OrderBy(n => n.Sequence)], stopping);
                }
            }
            using (var poll = CancellationTokenSource.CreateLinkedTokenSource(stopping))
            {
                await Task.WhenAny([signal.Task, Task.Delay(Poll, poll.Token), .. inFlight.Values]);
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
                    logger.LogWarning(ex, "Webhook bucket {Bucket}: delivering to a customer stopped; its notices stay queued", _partition);
                    await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
                }
            }
            // Under load the outbox wakes a bucket every few milliseconds: one scan per interval is enough.
            await Task.Delay(MinScanInterval, CancellationToken.None);
        }
        try
        {
            await Task.WhenAll(inFlight.Values);
        }
        catch (Exception)
        {
            // Stopping: cancelled deliveries stay queued.
        }
    }

    /// <summary>One customer's notices, in sequence order; each is sent until accepted or until it has been retried for
    /// <see cref="WebhookOptions.RetryFor"/> since it was queued.</summary>
    private async Task DeliverAsync(string customerId, List<QueuedNotice> notices, CancellationToken stopping)
    {
        var cursor = await store.CursorAsync(_partition, customerId, stopping);
        foreach (var notice in notices)
        {
            if (notice.Sequence <= cursor)
            {
                await store.SkipAsync(_partition, notice, stopping);
                continue;
            }
            var left = notice.QueuedAt + options.RetryFor - _time.GetUtcNow();
            using var giveUp = new CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.Zero, _time);
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
            var counts = delivered
                ? new BucketCounts(Interlocked.Increment(ref _delivered), Interlocked.Read(ref _failed))
                : new BucketCounts(Interlocked.Read(ref _delivered), Interlocked.Increment(ref _failed));
            await store.CompleteAsync(_partition, notice, counts, failed: !delivered, CancellationToken.None);
            WebhookMetrics.Completed(_endpoint!.Name, delivered, _time.GetUtcNow() - notice.QueuedAt);
            cursor = notice.Sequence;
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
        "loyalty.webhooks.delivery.latency", unit: "s", description: "From queued to accepted, by endpoint");
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

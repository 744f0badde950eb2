using System.Text.Json;
using Loyalty.Domain.Customers;
using Microsoft.Extensions.Logging;

namespace Loyalty.Grains.Webhooks;

/// <summary>
/// The silo's side of the webhook outbox: customers hand over stored ledger entries, and every few milliseconds one
/// write per bucket partition stores all of them (group commit, like the journal), then hands them to the buckets that deliver.
/// Customers hand over twice: right after a record is stored (fast, best effort) and before each checkpoint (the
/// guarantee: a checkpoint is only written once the entries it holds are queued; see docs/webhooks.md).
/// </summary>
public sealed class WebhookOutbox(WebhookOptions options, IWebhookStore store, IGrainFactory grains, EngineClock clock, ILogger<WebhookOutbox> logger)
{
    private readonly TimeProvider time = clock.Time;
    public static readonly TimeSpan FlushEvery = TimeSpan.FromMilliseconds(5);

    private readonly object _lock = new();
    private Dictionary<string, List<QueuedNotice>> _pending = [];
    private TaskCompletionSource? _flush;

    public bool Enabled => options.Endpoints.Count > 0;

    public WebhookOptions Options => options;

    public static string Partition(string endpoint, int bucket) => $"{endpoint}.{bucket:D3}";

    public int BucketOf(string customerId) => (int)(StableHash(customerId) % (uint)options.Buckets);

    /// <summary>Queues the entries (stored ones, in sequence order) for every endpoint that wants their kind; completes
    /// once they are stored. Throws when they could not be.</summary>
    /// <param name="after">The hand-over starts after this ledger sequence: every entry up to it is queued already.</param>
    /// <param name="ledger">The customer's ledger as held (in sequence order), or null: each notice then says where the
    /// endpoint's previous notice is, so its bucket reads nothing when it has delivered that one.</param>
    public Task QueueAsync(string customerId, IReadOnlyList<LedgerEntry> entries, long after, IReadOnlyList<LedgerEntry>? ledger = null)
    {
        if (!Enabled || entries.Count == 0)
        {
            return Task.CompletedTask;
        }
        var bucket = BucketOf(customerId);
        var now = time.GetUtcNow();
        TaskCompletionSource? flush = null;
        var start = false;
        lock (_lock)
        {
            foreach (var endpoint in options.Endpoints)
            {
                var previous = Since(endpoint, after, ledger);
                foreach (var entry in entries)
                {
                    if (!endpoint.Wants(entry.Kind))
                    {
                        continue;
                    }
                    var partition = Partition(endpoint.Name, bucket);
                    if (!_pending.TryGetValue(partition, out var list))
                    {
                        _pending[partition] = list = [];
                    }
                    list.Add(new QueuedNotice(customerId, entry.Sequence, entry.Kind, Body(customerId, entry), now, previous));
                    previous = entry.Sequence;
                    if (_flush is null)
                    {
                        _flush = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        start = true;
                    }
                    flush = _flush;
                }
            }
        }
        if (start)
        {
            _ = FlushSoon();
        }
        return flush?.Task ?? Task.CompletedTask;
    }

    /// <summary>Where the endpoint's own notices before this hand-over end: its last wanted entry up to
    /// <paramref name="after"/> in the ledger held, or just before the ledger held when none is there (what is older is
    /// not known here). Every notice of the endpoint up to that point was queued, and none lies between it and the
    /// hand-over.</summary>
    public static long Since(WebhookEndpoint endpoint, long after, IReadOnlyList<LedgerEntry>? ledger)
    {
        if (ledger is null)
        {
            return after;
        }
        long earliest = after + 1;
        for (var i = ledger.Count - 1; i >= 0; i--)
        {
            var entry = ledger[i];
            if (entry.Sequence > after)
            {
                continue;
            }
            if (endpoint.Wants(entry.Kind))
            {
                return entry.Sequence;
            }
            earliest = entry.Sequence;
        }
        return earliest - 1;
    }

    /// <summary>Queues the entries of <paramref name="snapshot"/> after its mark (and after <paramref name="alreadyQueued"/>)
    /// and moves the mark to its ledger end: called before a checkpoint of it is written.</summary>
    public async Task QueueThroughAsync(CustomerState snapshot, long alreadyQueued)
    {
        var from = Math.Max(snapshot.NoticesQueuedThrough ?? snapshot.LedgerSeq, alreadyQueued);
        if (Enabled && snapshot.LedgerSeq > from)
        {
            List<LedgerEntry> entries = [.. snapshot.LedgerBetween(from)];
            await QueueAsync(snapshot.CustomerId, entries, from, snapshot.Ledger);
        }
        snapshot.NoticesQueuedThrough = Math.Max(from, snapshot.LedgerSeq);
    }

    /// <summary>Erasure: every notice and cursor of the customer, for every endpoint.</summary>
    public async Task ForgetAsync(string customerId)
    {
        var bucket = BucketOf(customerId);
        foreach (var endpoint in options.Endpoints)
        {
            var partition = Partition(endpoint.Name, bucket);
            await grains.GetGrain<IWebhookBucketGrain>(partition).Forget(customerId);
            await store.ForgetAsync(partition, customerId);
        }
    }

    private async Task FlushSoon()
    {
        await Task.Delay(FlushEvery).ConfigureAwait(false);
        Dictionary<string, List<QueuedNotice>> batch;
        TaskCompletionSource flush;
        lock (_lock)
        {
            batch = _pending;
            _pending = [];
            flush = _flush!;
            _flush = null;
        }
        try
        {
            // Partitions in parallel; within one, the store writes in the order given (a customer's entries in order).
            // A transaction may not hold one row twice (a customer may have queued the same entry from both paths).
            await Task.WhenAll(batch.Select(p => store.EnqueueAsync(p.Key,
                [.. p.Value.DistinctBy(n => (n.CustomerId, n.Sequence)).OrderBy(n => WebhookRows.Notice(n.CustomerId, n.Sequence), StringComparer.Ordinal)])))
                .ConfigureAwait(false);
            WebhookMetrics.Queued(batch.Values.Sum(v => v.Count));
            flush.TrySetResult();
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Queuing {Notices} webhook notices failed; they are queued again by their customers' next checkpoint", batch.Values.Sum(v => v.Count));
            flush.TrySetException(ex);
            return;
        }
        foreach (var (partition, notices) in batch)
        {
            try
            {
                _ = grains.GetGrain<IWebhookBucketGrain>(partition).Offer([.. notices]);
            }
            catch (Exception ex)
            {
                logger.LogDebug(ex, "Waking webhook bucket {Bucket} failed; its reminder wakes it", partition);
            }
        }
    }

    /// <summary>The delivery body: what happened to whom, with the ledger entry as the API shows it.</summary>
    public static byte[] Body(string customerId, LedgerEntry entry)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("deliveryId", $"{customerId}:{entry.Sequence}");
            json.WriteString("customerId", customerId);
            json.WriteNumber("sequence", entry.Sequence);
            json.WriteString("kind", entry.Kind);
            json.WriteString("programVersion", entry.ProgramVersion);
            json.WriteString("at", entry.At.UtcDateTime);
            json.WriteStartObject("entry");
            json.WriteNumber("sequence", entry.Sequence);
            json.WriteString("kind", entry.Kind);
            json.WriteNumber("points", entry.Points);
            json.WriteNumber("pendingPoints", entry.PendingPoints);
            json.WriteNumber("balanceAfter", entry.BalanceAfter);
            json.WriteString("eventId", entry.EventKey);
            json.WriteString("ruleId", entry.RuleId);
            json.WriteString("ref", entry.Ref);
            json.WriteString("note", entry.Note);
            json.WriteString("programVersion", entry.ProgramVersion);
            json.WriteString("at", entry.At.UtcDateTime);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static uint StableHash(string customerId)
    {
        // FNV-1a: stable across processes (string.GetHashCode is randomized per process).
        var hash = 2166136261u;
        foreach (var c in customerId)
        {
            hash = (hash ^ c) * 16777619u;
        }
        return hash;
    }
}

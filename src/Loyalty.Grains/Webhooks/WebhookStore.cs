using System.Collections.Concurrent;
using System.Globalization;
using Azure;
using Azure.Data.Tables;

namespace Loyalty.Grains.Webhooks;

/// <summary>A notice waiting for delivery to one endpoint: the body is final (signatures cover it as stored).</summary>
[GenerateSerializer, Immutable, Alias("loyalty.QueuedNotice")]
public sealed record QueuedNotice(
    [property: Id(0)] string CustomerId,
    [property: Id(1)] long Sequence,
    [property: Id(2)] string Kind,
    [property: Id(3)] byte[] Body,
    [property: Id(4)] DateTimeOffset QueuedAt,
    [property: Id(5)] long After = 0)
{
    // After: the sequence of the endpoint's previous notice for this customer (or a point before it). Every notice up
    // to it was stored before this one, and none lies between (0: not known, rows of earlier builds). The bucket reads
    // the stored notices it may have missed before it sends one past what it has seen.
}

/// <summary>A customer's delivery cursor: the last sequence delivered (or set aside), and when. A stored notice at or
/// below it that was queued after that time is a copy queued again (after a crash, or by both hand-over paths) and is
/// not sent; one queued before it was never handed over in order and is sent late rather than lost.</summary>
public readonly record struct WebhookCursor(long Sequence, DateTimeOffset At)
{
    public static readonly WebhookCursor None = new(0, DateTimeOffset.MinValue);

    public bool Passed(QueuedNotice notice) => notice.Sequence <= Sequence && notice.QueuedAt >= At;

    public static WebhookCursor Max(WebhookCursor a, WebhookCursor b) => b.Sequence > a.Sequence ? b : a;
}

/// <summary>Deliveries counted by one bucket over its whole life.</summary>
public sealed record BucketCounts(long Delivered, long Failed);

/// <summary>
/// The webhook outbox: per (endpoint, bucket) partition, the notices waiting in (customer, sequence) order, each
/// customer's delivery cursor (the last sequence delivered), the notices set aside as failed, and the bucket's counts.
/// A delivery removes its notice and moves the cursor in one transaction; a notice at or below the cursor is never
/// sent again, so queuing one twice (a checkpoint after a crash) is harmless.
/// </summary>
public interface IWebhookStore
{
    /// <summary>Notices completed per transaction: each may need a delete, a failed row and a cursor, plus the counts,
    /// within Azure's 100 entities per transaction.</summary>
    const int CompletionsPerTransaction = 30;

    /// <summary>Stores the notices (upserts, in the order given; one partition per call).</summary>
    Task EnqueueAsync(string partition, IReadOnlyList<QueuedNotice> notices, CancellationToken cancellationToken = default);

    /// <summary>The first <paramref name="max"/> waiting notices in (customer, sequence) order.</summary>
    Task<IReadOnlyList<QueuedNotice>> PendingAsync(string partition, int max, CancellationToken cancellationToken = default);

    /// <summary>The customer's waiting notices with a sequence after <paramref name="after"/> up to <paramref name="through"/>.</summary>
    Task<IReadOnlyList<QueuedNotice>> WaitingAsync(string partition, string customerId, long after, long through, CancellationToken cancellationToken = default);

    Task<WebhookCursor> CursorAsync(string partition, string customerId, CancellationToken cancellationToken = default);

    /// <summary>Every customer's cursor in the partition, or null when there are more than <paramref name="max"/>.</summary>
    Task<IReadOnlyDictionary<string, WebhookCursor>?> CursorsAsync(string partition, int max, CancellationToken cancellationToken = default);

    Task<BucketCounts> CountsAsync(string partition, CancellationToken cancellationToken = default);

    /// <summary>Removes the notices and moves each customer's cursor to its last one, with the bucket's counts, at once
    /// (one transaction for up to <see cref="CompletionsPerTransaction"/>). A notice that failed is kept aside (for
    /// operators) instead of being sent again.</summary>
    Task CompleteAsync(string partition, IReadOnlyList<(QueuedNotice Notice, bool Failed, DateTimeOffset At)> done, BucketCounts counts, CancellationToken cancellationToken = default);

    /// <summary>Removes a notice the cursor has already passed (queued again after a crash).</summary>
    Task SkipAsync(string partition, QueuedNotice notice, CancellationToken cancellationToken = default);

    /// <summary>Everything stored for the customer in this partition (erasure).</summary>
    Task ForgetAsync(string partition, string customerId, CancellationToken cancellationToken = default);
}

/// <summary>Row keys: "n.{customer}.{sequence}" for waiting notices, "c.{customer}" for cursors, "f.{customer}.{sequence}"
/// for failed ones, "s" for the counts. Customer ids are base64url, so any id makes a valid key.</summary>
internal static class WebhookRows
{
    public static string FromCustomerKey(string key)
    {
        var b64 = key.Replace('-', '+').Replace('_', '/');
        return System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=')));
    }

    public static string Customer(string customerId) =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(customerId)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string Notice(string customerId, long sequence) =>
        string.Create(CultureInfo.InvariantCulture, $"n.{Customer(customerId)}.{sequence:D19}");

    public static string Failed(string customerId, long sequence) =>
        string.Create(CultureInfo.InvariantCulture, $"f.{Customer(customerId)}.{sequence:D19}");

    public static string Cursor(string customerId) => "c." + Customer(customerId);

    public const string Counts = "s";
}

public sealed class MemoryWebhookStore : IWebhookStore
{
    private sealed record Row(QueuedNotice? Notice, WebhookCursor Cursor = default);

    private readonly ConcurrentDictionary<string, SortedDictionary<string, Row>> _partitions = new();
    private readonly ConcurrentDictionary<string, BucketCounts> _counts = new();

    private SortedDictionary<string, Row> Partition(string partition) => _partitions.GetOrAdd(partition, _ => new(StringComparer.Ordinal));

    public Task EnqueueAsync(string partition, IReadOnlyList<QueuedNotice> notices, CancellationToken cancellationToken = default)
    {
        var rows = Partition(partition);
        lock (rows)
        {
            foreach (var n in notices)
            {
                rows.TryAdd(WebhookRows.Notice(n.CustomerId, n.Sequence), new Row(n));   // a waiting notice keeps its first QueuedAt
            }
        }
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<QueuedNotice>> PendingAsync(string partition, int max, CancellationToken cancellationToken = default)
    {
        var rows = Partition(partition);
        lock (rows)
        {
            return Task.FromResult<IReadOnlyList<QueuedNotice>>([.. rows.Where(r => r.Key.StartsWith("n.", StringComparison.Ordinal)).Take(max).Select(r => r.Value.Notice!)]);
        }
    }

    public Task<IReadOnlyList<QueuedNotice>> WaitingAsync(string partition, string customerId, long after, long through, CancellationToken cancellationToken = default)
    {
        var rows = Partition(partition);
        var from = WebhookRows.Notice(customerId, after + 1);
        var to = WebhookRows.Notice(customerId, through);
        lock (rows)
        {
            return Task.FromResult<IReadOnlyList<QueuedNotice>>([.. rows
                .Where(r => string.CompareOrdinal(r.Key, from) >= 0 && string.CompareOrdinal(r.Key, to) <= 0)
                .Select(r => r.Value.Notice!)]);
        }
    }

    public Task<WebhookCursor> CursorAsync(string partition, string customerId, CancellationToken cancellationToken = default)
    {
        var rows = Partition(partition);
        lock (rows)
        {
            return Task.FromResult(rows.TryGetValue(WebhookRows.Cursor(customerId), out var row) ? row.Cursor : WebhookCursor.None);
        }
    }

    public Task<BucketCounts> CountsAsync(string partition, CancellationToken cancellationToken = default) =>
        Task.FromResult(_counts.GetValueOrDefault(partition) ?? new BucketCounts(0, 0));

    public Task<IReadOnlyDictionary<string, WebhookCursor>?> CursorsAsync(string partition, int max, CancellationToken cancellationToken = default)
    {
        var rows = Partition(partition);
        lock (rows)
        {
            var cursors = rows.Where(r => r.Key.StartsWith("c.", StringComparison.Ordinal)).ToDictionary(r => WebhookRows.FromCustomerKey(r.Key[2..]), r => r.Value.Cursor);
            return Task.FromResult<IReadOnlyDictionary<string, WebhookCursor>?>(cursors.Count > max ? null : cursors);
        }
    }

    public Task CompleteAsync(string partition, IReadOnlyList<(QueuedNotice Notice, bool Failed, DateTimeOffset At)> done, BucketCounts counts, CancellationToken cancellationToken = default)
    {
        var rows = Partition(partition);
        lock (rows)
        {
            foreach (var (notice, failed, at) in done)
            {
                rows.Remove(WebhookRows.Notice(notice.CustomerId, notice.Sequence));
                var cursor = WebhookRows.Cursor(notice.CustomerId);
                rows[cursor] = new Row(null, WebhookCursor.Max(rows.TryGetValue(cursor, out var known) ? known.Cursor : WebhookCursor.None, new WebhookCursor(notice.Sequence, at)));
                if (failed)
                {
                    rows[WebhookRows.Failed(notice.CustomerId, notice.Sequence)] = new Row(notice);
                }
            }
            _counts[partition] = counts;
        }
        return Task.CompletedTask;
    }

    public Task SkipAsync(string partition, QueuedNotice notice, CancellationToken cancellationToken = default)
    {
        var rows = Partition(partition);
        lock (rows)
        {
            rows.Remove(WebhookRows.Notice(notice.CustomerId, notice.Sequence));
        }
        return Task.CompletedTask;
    }

    public Task ForgetAsync(string partition, string customerId, CancellationToken cancellationToken = default)
    {
        var rows = Partition(partition);
        var customer = WebhookRows.Customer(customerId);
        lock (rows)
        {
            foreach (var key in rows.Keys.Where(k => k == "c." + customer || k.StartsWith("n." + customer + ".", StringComparison.Ordinal)
                || k.StartsWith("f." + customer + ".", StringComparison.Ordinal)).ToList())
            {
                rows.Remove(key);
            }
        }
        return Task.CompletedTask;
    }
}

public sealed class AzureTableWebhookStore(TableServiceClient service, string tableName) : IWebhookStore
{
    private readonly TableClient _table = service.GetTableClient(tableName);
    private readonly TableCreation _creation = new(service.GetTableClient(tableName));

    private Task EnsureTable(CancellationToken ct) => _creation.EnsureAsync(ct);

    private static TableEntity Entity(string partition, string row, QueuedNotice n) => new(partition, row)
    {
        ["Customer"] = n.CustomerId,
        ["Seq"] = n.Sequence,
        ["Kind"] = n.Kind,
        ["Body"] = n.Body,
        ["QueuedAt"] = n.QueuedAt,
        ["After"] = n.After,
    };

    public async Task EnqueueAsync(string partition, IReadOnlyList<QueuedNotice> notices, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        // A transaction holds at most 100 entities and 4 MiB; bodies are a few hundred bytes. Chunks go one after
        // another, so a later notice of a customer is never stored before an earlier one of the same call. Inserts: a
        // notice already waiting keeps its first QueuedAt (its retry deadline, and how a late copy is told apart).
        foreach (var chunk in notices.Chunk(100))
        {
            var actions = chunk.Select(n => new TableTransactionAction(TableTransactionActionType.Add, Entity(partition, WebhookRows.Notice(n.CustomerId, n.Sequence), n))).ToList();
            while (actions.Count > 0)
            {
                try
                {
                    await _table.SubmitTransactionAsync(actions, cancellationToken);
                    break;
                }
                catch (TableTransactionFailedException e) when (e.Status == 409 && e.FailedTransactionActionIndex is { } index)
                {
                    actions.RemoveAt(index);   // waiting already
                }
            }
        }
    }

    public async Task<IReadOnlyList<QueuedNotice>> PendingAsync(string partition, int max, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition} and RowKey ge {"n."} and RowKey lt {"n/"}");
        var found = new List<QueuedNotice>();
        await foreach (var e in _table.QueryAsync<TableEntity>(filter, maxPerPage: Math.Min(max, 1000), cancellationToken: cancellationToken))
        {
            found.Add(Notice(e));
            if (found.Count >= max)
            {
                break;
            }
        }
        return found;
    }

    public async Task<IReadOnlyList<QueuedNotice>> WaitingAsync(string partition, string customerId, long after, long through, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey eq {partition} and RowKey ge {WebhookRows.Notice(customerId, after + 1)} and RowKey le {WebhookRows.Notice(customerId, through)}");
        var found = new List<QueuedNotice>();
        await foreach (var e in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            found.Add(Notice(e));
        }
        return found;
    }

    private static QueuedNotice Notice(TableEntity e) =>
        new(e.GetString("Customer"), e.GetInt64("Seq") ?? 0, e.GetString("Kind"), e.GetBinary("Body"),
            e.GetDateTimeOffset("QueuedAt") ?? DateTimeOffset.MinValue, e.GetInt64("After") ?? 0);

    private static WebhookCursor CursorOf(TableEntity e) =>
        new(e.GetInt64("Delivered") ?? 0, e.GetDateTimeOffset("DeliveredAt") ?? DateTimeOffset.MinValue);

    public async Task<WebhookCursor> CursorAsync(string partition, string customerId, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(partition, WebhookRows.Cursor(customerId), cancellationToken: cancellationToken);
        return row.HasValue ? CursorOf(row.Value!) : WebhookCursor.None;
    }

    public async Task<BucketCounts> CountsAsync(string partition, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(partition, WebhookRows.Counts, cancellationToken: cancellationToken);
        return row.HasValue ? new BucketCounts(row.Value!.GetInt64("Delivered") ?? 0, row.Value.GetInt64("Failed") ?? 0) : new BucketCounts(0, 0);
    }

    public async Task<IReadOnlyDictionary<string, WebhookCursor>?> CursorsAsync(string partition, int max, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition} and RowKey ge {"c."} and RowKey lt {"c/"}");
        var cursors = new Dictionary<string, WebhookCursor>(StringComparer.Ordinal);
        await foreach (var e in _table.QueryAsync<TableEntity>(filter, select: ["RowKey", "Delivered", "DeliveredAt"], cancellationToken: cancellationToken))
        {
            if (cursors.Count >= max)
            {
                return null;
            }
            cursors[WebhookRows.FromCustomerKey(e.RowKey[2..])] = CursorOf(e);
        }
        return cursors;
    }

    public async Task CompleteAsync(string partition, IReadOnlyList<(QueuedNotice Notice, bool Failed, DateTimeOffset At)> done, BucketCounts counts, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        // One row at most once per transaction (a notice re-sent while its first completion waited).
        foreach (var chunk in done.DistinctBy(d => (d.Notice.CustomerId, d.Notice.Sequence)).Chunk(IWebhookStore.CompletionsPerTransaction))
        {
            var actions = new List<TableTransactionAction>();
            foreach (var (notice, failed, _) in chunk)
            {
                actions.Add(new(TableTransactionActionType.Delete, new TableEntity(partition, WebhookRows.Notice(notice.CustomerId, notice.Sequence)), ETag.All));
                if (failed)
                {
                    actions.Add(new(TableTransactionActionType.UpsertReplace, Entity(partition, WebhookRows.Failed(notice.CustomerId, notice.Sequence), notice)));
                }
            }
            foreach (var customer in chunk.GroupBy(d => d.Notice.CustomerId, StringComparer.Ordinal))
            {
                var last = customer.MaxBy(d => d.Notice.Sequence);
                actions.Add(new(TableTransactionActionType.UpsertReplace, new TableEntity(partition, WebhookRows.Cursor(customer.Key))
                {
                    ["Delivered"] = last.Notice.Sequence,
                    ["DeliveredAt"] = last.At,
                }));
            }
            actions.Add(new(TableTransactionActionType.UpsertReplace, new TableEntity(partition, WebhookRows.Counts) { ["Delivered"] = counts.Delivered, ["Failed"] = counts.Failed }));
            // A notice row gone already (an erase, or a duplicate removed) is left out: the rest completes.
            await _table.SubmitLeavingOutGoneAsync(actions, cancellationToken);
        }
    }

    public async Task SkipAsync(string partition, QueuedNotice notice, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        await _table.DeleteEntityAsync(partition, WebhookRows.Notice(notice.CustomerId, notice.Sequence), ETag.All, cancellationToken);
    }

    public async Task ForgetAsync(string partition, string customerId, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        var customer = WebhookRows.Customer(customerId);
        var rows = new List<string> { "c." + customer };
        foreach (var prefix in new[] { "n." + customer + ".", "f." + customer + "." })
        {
            var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition} and RowKey ge {prefix} and RowKey lt {prefix[..^1] + "/"}");
            await foreach (var e in _table.QueryAsync<TableEntity>(filter, select: ["RowKey"], cancellationToken: cancellationToken))
            {
                rows.Add(e.RowKey);
            }
        }
        foreach (var row in rows)
        {
            await _table.DeleteEntityAsync(partition, row, ETag.All, cancellationToken);
        }
    }
}

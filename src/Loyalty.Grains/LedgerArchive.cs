using System.Collections.Concurrent;
using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Loyalty.Domain.Customers;

namespace Loyalty.Grains;

/// <summary>Where ledger entries go when they leave a customer's state: rows of their own, so the ledger is complete
/// for the customer's whole life while the state stays small. Appends are idempotent by sequence number.</summary>
public interface ILedgerArchive
{
    Task AppendAsync(string customerId, IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken = default);

    /// <summary>Deletes every archived entry of the customer; returns how many there were.</summary>
    Task<int> DeleteAllAsync(string customerId, CancellationToken cancellationToken = default);

    /// <summary>Entries with a sequence number below <paramref name="beforeSequence"/>, newest first.</summary>
    Task<IReadOnlyList<LedgerEntry>> ReadAsync(string customerId, long beforeSequence, int count, CancellationToken cancellationToken = default);
}

/// <summary>Azure Table rows: partition = the customer, row key = inverted sequence (so a plain query is newest first).</summary>
public sealed class AzureTableLedgerArchive(TableServiceClient service, string tableName) : ILedgerArchive
{
    private readonly TableClient _table = service.GetTableClient(tableName);
    private Task? _created;

    private Task EnsureTable(CancellationToken ct) => _created ??= _table.CreateIfNotExistsAsync(ct);

    public static string Partition(string customerId) =>
        "c" + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(customerId)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Row(long sequence) => (long.MaxValue - sequence).ToString("D19", CultureInfo.InvariantCulture);

    public async Task AppendAsync(string customerId, IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        var partition = Partition(customerId);
        foreach (var chunk in entries.Chunk(100))
        {
            // Upserts: archiving the same entries twice (a crash before the state was trimmed) changes nothing.
            var actions = chunk.Select(e => new TableTransactionAction(TableTransactionActionType.UpsertReplace, new TableEntity(partition, Row(e.Sequence))
            {
                ["Kind"] = e.Kind,
                ["Points"] = e.Points,
                ["Balance"] = e.BalanceAfter,
                ["Event"] = e.EventKey,
                ["Rule"] = e.RuleId,
                ["Version"] = e.ProgramVersion,
                ["At"] = e.At,
                ["Pending"] = e.PendingPoints,
                ["Note"] = e.Note,
                ["Ref"] = e.Ref,
            })).ToList();
            await _table.SubmitTransactionAsync(actions, cancellationToken);
        }
    }

    public async Task<int> DeleteAllAsync(string customerId, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        var partition = Partition(customerId);
        var keys = new List<string>();
        await foreach (var row in _table.QueryAsync<TableEntity>(e => e.PartitionKey == partition, select: ["RowKey"], cancellationToken: cancellationToken))
        {
            keys.Add(row.RowKey);
        }
        foreach (var chunk in keys.Chunk(100))
        {
            await _table.SubmitTransactionAsync(chunk.Select(k => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(partition, k), ETag.All)), cancellationToken);
        }
        return keys.Count;
    }

    public async Task<IReadOnlyList<LedgerEntry>> ReadAsync(string customerId, long beforeSequence, int count, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        var partition = Partition(customerId);
        var after = Row(beforeSequence);
        var result = new List<LedgerEntry>(count);
        var query = _table.QueryAsync<TableEntity>(e => e.PartitionKey == partition && e.RowKey.CompareTo(after) > 0, maxPerPage: Math.Min(count, 1000), cancellationToken: cancellationToken);
        await foreach (var row in query)
        {
            result.Add(new LedgerEntry(long.MaxValue - long.Parse(row.RowKey, CultureInfo.InvariantCulture), row.GetString("Kind"),
                row.GetInt64("Points") ?? 0, row.GetInt64("Balance") ?? 0, row.GetString("Event") ?? "", row.GetString("Rule") ?? "",
                row.GetString("Version") ?? "", row.GetDateTimeOffset("At") ?? default)
            {
                PendingPoints = row.GetInt64("Pending") ?? 0,
                Note = row.GetString("Note") ?? "",
                Ref = row.GetString("Ref") ?? "",
            });
            if (result.Count == count)
            {
                break;
            }
        }
        return result;
    }
}

/// <summary>In memory, for the explicit Memory storage option and tests.</summary>
public sealed class MemoryLedgerArchive : ILedgerArchive
{
    private readonly ConcurrentDictionary<string, SortedDictionary<long, LedgerEntry>> _rows = new();

    public Task AppendAsync(string customerId, IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken = default)
    {
        var rows = _rows.GetOrAdd(customerId, _ => []);
        lock (rows)
        {
            foreach (var e in entries)
            {
                rows[e.Sequence] = e;
            }
        }
        return Task.CompletedTask;
    }

    public Task<int> DeleteAllAsync(string customerId, CancellationToken cancellationToken = default) =>
        Task.FromResult(_rows.TryRemove(customerId, out var rows) ? rows.Count : 0);

    public Task<IReadOnlyList<LedgerEntry>> ReadAsync(string customerId, long beforeSequence, int count, CancellationToken cancellationToken = default)
    {
        if (!_rows.TryGetValue(customerId, out var rows))
        {
            return Task.FromResult<IReadOnlyList<LedgerEntry>>([]);
        }
        lock (rows)
        {
            return Task.FromResult<IReadOnlyList<LedgerEntry>>(rows.Values.Where(e => e.Sequence < beforeSequence).Reverse().Take(count).ToList());
        }
    }
}

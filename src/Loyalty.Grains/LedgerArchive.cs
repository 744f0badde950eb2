using System.Buffers;
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

/// <summary>Azure Table rows: partition = the customer; each row holds a run of consecutive entries (see AppendAsync).</summary>
public sealed class AzureTableLedgerArchive(TableServiceClient service, string tableName) : ILedgerArchive
{
    private readonly TableClient _table = service.GetTableClient(tableName);
    private readonly TableCreation _creation = new(service.GetTableClient(tableName));

    private Task EnsureTable(CancellationToken ct) => _creation.EnsureAsync(ct);

    public static string Partition(string customerId) =>
        "c" + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(customerId)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Row(long sequence) => (long.MaxValue - sequence).ToString("D19", CultureInfo.InvariantCulture);

    /// <summary>Bytes of entries in one row, before deflating: one binary property, under Azure's 64 KiB even if
    /// nothing would compress.</summary>
    private const int RowBytes = 60_000;
    /// <summary>A row's entries: a run in <see cref="LedgerBinary"/> form, deflated: about a third of the deflated JSON
    /// of the form before (1.3 KB against 4.0 KB for 256 game entries). The archive only grows, and the emulator saves
    /// every byte of it.</summary>
    public const string Binary = "B";
    /// <summary>A JSON array of entries, deflated, as builds before binary rows wrote it (read, never written).</summary>
    private const string Deflated = "Z";
    /// <summary>The same array as plain JSON, as builds before deflated rows wrote it (read, never written).</summary>
    private const string Plain = "E";
    /// <summary>What a build from before binary rows reads in a binary row (it knows only <see cref="Deflated"/> and
    /// <see cref="Plain"/>, and takes a row with neither for a one-entry row of the earliest builds): a deflated byte
    /// that is not JSON, so that during a rolling upgrade it fails the read rather than make up an entry.</summary>
    private static readonly byte[] EarlierBuildsRefuse = Deflation.Deflate([0xFF]);

    private static List<LedgerEntry> DecodeJson(byte[] json) =>
        System.Text.Json.JsonSerializer.Deserialize<List<LedgerEntry>>(json, Loyalty.Domain.DomainJson.Options) ?? [];
    /// <summary>Entries are archived in blocks of consecutive sequences; rows never span blocks.</summary>
    public const long Block = 256;

    private static long BlockOf(long sequence) => (sequence - 1) / Block;

    /// <summary>A row's key: its block, first and last entry (all inverted, so a plain query is newest first). The last
    /// entry is part of the key so that a shorter run from the same first entry (a stale writer: a silo declared dead
    /// whose checkpoint lands after recovery archived further) is a row of its own and never replaces a longer one.
    /// Rows of earlier builds have no last part and read the same.</summary>
    private static string Row(long block, long first, long last) =>
        string.Create(CultureInfo.InvariantCulture, $"{long.MaxValue - (block * Block + 1):D19}.{long.MaxValue - first:D19}.{long.MaxValue - last:D19}");

    /// <summary>
    /// Archives entries many to a row: a row holds consecutive entries of one block of 256 sequences as one run,
    /// keyed by the block and its first and last entry, so a checkpoint that moves 250 entries costs one request, not
    /// 250 entity writes. Archiving the same entries again (a retried checkpoint) rewrites the same rows; rows that
    /// overlap (a stale writer) are rows of their own within their block, and a read sorts and deduplicates each block.
    /// Rows of one entry each, rows of JSON, and rows keyed without their last entry, written by earlier builds, read
    /// the same way.
    /// </summary>
    public async Task AppendAsync(string customerId, IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken = default)
    {
        await EnsureTable(cancellationToken);
        var rows = RowsOf(Partition(customerId), entries);
        foreach (var batch in rows.Chunk(100))
        {
            await _table.SubmitTransactionAsync(batch, cancellationToken);
        }
    }

    /// <summary>The buffers a thread encodes rows and entries in, reused from one checkpoint to the next (a row's buffer
    /// is <see cref="RowBytes"/>: allocating it per checkpoint was 6 % of the bytes the engine allocated in the open
    /// loop). Only <see cref="RowsOf"/> uses them, and it never awaits.</summary>
    [ThreadStatic] private static System.Buffers.ArrayBufferWriter<byte>? t_row;
    [ThreadStatic] private static System.Buffers.ArrayBufferWriter<byte>? t_entry;
    [ThreadStatic] private static LedgerBinary.Writer? t_writer;

    /// <summary>The rows that archive <paramref name="entries"/>: each a run of consecutive entries of one block, deflated.</summary>
    private static List<TableTransactionAction> RowsOf(string partition, IReadOnlyList<LedgerEntry> entries)
    {
        var rows = new List<TableTransactionAction>();
        var row = t_row ??= new System.Buffers.ArrayBufferWriter<byte>(RowBytes);
        var entry = t_entry ??= new System.Buffers.ArrayBufferWriter<byte>(256);
        var writer = t_writer ??= new LedgerBinary.Writer();
        row.ResetWrittenCount();
        writer.Reset();
        long first = 0;
        long last = 0;
        void Cut()
        {
            if (row.WrittenCount > 0)
            {
                rows.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, new TableEntity(partition, Row(BlockOf(first), first, last))
                {
                    [Binary] = Deflation.Deflate(row.WrittenSpan),
                    [Deflated] = EarlierBuildsRefuse,
                }));
                row.ResetWrittenCount();
            }
            writer.Reset(); // the next row's first entry is written relative to nothing
        }
        // Each entry is written relative to the one before it in its row: written once, and again (relative to nothing)
        // only when it starts a row because the one before is full.
        foreach (var e in InOrder(entries))
        {
            if (row.WrittenCount > 0 && BlockOf(e.Sequence) != BlockOf(first))
            {
                Cut();
            }
            entry.ResetWrittenCount();
            writer.Write(entry, e);
            if (row.WrittenCount > 0 && row.WrittenCount + entry.WrittenCount > RowBytes)
            {
                Cut();
                entry.ResetWrittenCount();
                writer.Write(entry, e);
            }
            if (row.WrittenCount == 0)
            {
                first = e.Sequence;
                row.Write([LedgerBinary.Version1]);
            }
            row.Write(entry.WrittenSpan);
            last = e.Sequence;
        }
        Cut();
        return rows;
    }

    /// <summary>The entries by sequence (a checkpoint hands them over in order already: then they are not copied).</summary>
    private static IEnumerable<LedgerEntry> InOrder(IReadOnlyList<LedgerEntry> entries)
    {
        for (var i = 1; i < entries.Count; i++)
        {
            if (entries[i].Sequence < entries[i - 1].Sequence)
            {
                return entries.OrderBy(e => e.Sequence);
            }
        }
        return entries;
    }

    /// <summary>The entries of a row: many, a deflated binary run (this build), deflated or plain JSON (earlier builds),
    /// or one per row (the earliest builds).</summary>
    private static IEnumerable<LedgerEntry> Entries(TableEntity row)
    {
        if (row.GetBinary(Binary) is { } run)
        {
            return LedgerBinary.Read(Deflation.Inflate(run));
        }
        if (row.GetBinary(Deflated) is { } deflated)
        {
            return DecodeJson(Deflation.Inflate(deflated));
        }
        if (row.GetBinary(Plain) is { } many)
        {
            return DecodeJson(many);
        }
        return [new LedgerEntry(long.MaxValue - long.Parse(row.RowKey.AsSpan(0, 19), CultureInfo.InvariantCulture), row.GetString("Kind"),
            row.GetInt64("Points") ?? 0, row.GetInt64("Balance") ?? 0, row.GetString("Event") ?? "", row.GetString("Rule") ?? "",
            row.GetString("Version") ?? "", row.GetDateTimeOffset("At") ?? default)
        {
            PendingPoints = row.GetInt64("Pending") ?? 0,
            Note = row.GetString("Note") ?? "",
            Ref = row.GetString("Ref") ?? "",
        }];
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
            // An erase retried (or run twice at once) finds some rows gone already.
            await _table.SubmitLeavingOutGoneAsync([.. chunk.Select(k => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(partition, k), ETag.All))], cancellationToken);
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
        // Rows come newest block first; within a block rows may overlap, so each block is sorted before it is told.
        var block = new SortedDictionary<long, LedgerEntry>(Comparer<long>.Create((x, y) => y.CompareTo(x)));
        var current = long.MinValue;
        bool Flush()
        {
            foreach (var entry in block.Values)
            {
                result.Add(entry);
                if (result.Count == count)
                {
                    return true;
                }
            }
            block.Clear();
            return false;
        }
        await foreach (var row in query)
        {
            var rowBlock = BlockOf(long.MaxValue - long.Parse(row.RowKey.AsSpan(0, 19), CultureInfo.InvariantCulture));
            if (rowBlock != current)
            {
                if (Flush())
                {
                    return result;
                }
                current = rowBlock;
            }
            foreach (var entry in Entries(row))
            {
                if (entry.Sequence < beforeSequence)
                {
                    block.TryAdd(entry.Sequence, entry);
                }
            }
        }
        Flush();
        return result;
    }
}

/// <summary>In memory, for the explicit Memory storage option and tests. Like the table, it keeps entries stored (a
/// binary run per append) rather than as objects: the archive only grows, and every object in it would be carried by
/// the GC for the life of the process.</summary>
public sealed class MemoryLedgerArchive : ILedgerArchive
{
    private readonly ConcurrentDictionary<string, Rows> _rows = new();

    /// <summary>A customer's blocks, in sequence order, none overlapping.</summary>
    private sealed class Rows
    {
        public readonly List<(long First, long Last, int Count, byte[] Run)> Blocks = [];
        public int Count;
        public long Last => Blocks.Count == 0 ? 0 : Blocks[^1].Last;
    }

    public Task AppendAsync(string customerId, IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken = default)
    {
        var rows = _rows.GetOrAdd(customerId, _ => new Rows());
        lock (rows)
        {
            if (entries.Count > 0 && entries[0].Sequence > rows.Last && InOrder(entries))
            {
                // What a checkpoint hands over: entries after everything here, oldest first.
                rows.Blocks.Add((entries[0].Sequence, entries[^1].Sequence, entries.Count, Encode(entries)));
                rows.Count += entries.Count;
                return Task.CompletedTask;
            }
            // Entries come oldest first and after what is stored; an append run again (after a crash) repeats entries
            // already here, which are committed history and so the same. Anything else is merged the slow way.
            var after = entries.Where(e => e.Sequence > rows.Last).ToList();
            var repeated = entries.Where(e => e.Sequence <= rows.Last).ToList();
            if (!InOrder(after) || (repeated.Count > 0 && !AllStored(rows, repeated)))
            {
                Merge(rows, entries);
            }
            else if (after.Count > 0)
            {
                rows.Blocks.Add((after[0].Sequence, after[^1].Sequence, after.Count, Encode(after)));
                rows.Count += after.Count;
            }
        }
        return Task.CompletedTask;
    }

    private static bool InOrder(IReadOnlyList<LedgerEntry> entries)
    {
        for (var i = 1; i < entries.Count; i++)
        {
            if (entries[i].Sequence <= entries[i - 1].Sequence)
            {
                return false;
            }
        }
        return true;
    }

    private static bool AllStored(Rows rows, List<LedgerEntry> entries)
    {
        var stored = new HashSet<long>();
        foreach (var block in rows.Blocks.Where(b => entries.Any(e => e.Sequence >= b.First && e.Sequence <= b.Last)))
        {
            stored.UnionWith(Decode(block.Run).Select(e => e.Sequence));
        }
        return entries.All(e => stored.Contains(e.Sequence));
    }

    private static void Merge(Rows rows, IReadOnlyList<LedgerEntry> entries)
    {
        var all = new SortedDictionary<long, LedgerEntry>();
        foreach (var block in rows.Blocks)
        {
            foreach (var e in Decode(block.Run))
            {
                all[e.Sequence] = e;
            }
        }
        foreach (var e in entries)
        {
            all.TryAdd(e.Sequence, e);
        }
        rows.Blocks.Clear();
        if (all.Count > 0)
        {
            rows.Blocks.Add((all.Keys.First(), all.Keys.Last(), all.Count, Encode([.. all.Values])));
        }
        rows.Count = all.Count;
    }

    [ThreadStatic] private static System.Buffers.ArrayBufferWriter<byte>? t_block;
    [ThreadStatic] private static LedgerBinary.Writer? t_writer;

    /// <summary>The entries as one run (<see cref="LedgerBinary"/>, the table's row form before deflating), kept as
    /// <see cref="LongLivedBytes"/>: a block stays as long as the process.</summary>
    private static byte[] Encode(IReadOnlyList<LedgerEntry> entries)
    {
        var block = t_block ??= new System.Buffers.ArrayBufferWriter<byte>(16 * 1024);
        var writer = t_writer ??= new LedgerBinary.Writer();
        block.ResetWrittenCount();
        writer.Reset();
        block.Write([LedgerBinary.Version1]);
        for (var i = 0; i < entries.Count; i++)
        {
            writer.Write(block, entries[i]);
        }
        return LongLivedBytes.Copy(block.WrittenSpan);
    }

    private static List<LedgerEntry> Decode(byte[] run) => LedgerBinary.Read(run);

    public Task<int> DeleteAllAsync(string customerId, CancellationToken cancellationToken = default) =>
        Task.FromResult(_rows.TryRemove(customerId, out var rows) ? rows.Count : 0);

    public Task<IReadOnlyList<LedgerEntry>> ReadAsync(string customerId, long beforeSequence, int count, CancellationToken cancellationToken = default)
    {
        var found = new List<LedgerEntry>();
        if (!_rows.TryGetValue(customerId, out var rows))
        {
            return Task.FromResult<IReadOnlyList<LedgerEntry>>(found);
        }
        lock (rows)
        {
            for (var b = rows.Blocks.Count - 1; b >= 0 && found.Count < count; b--)
            {
                if (rows.Blocks[b].First >= beforeSequence)
                {
                    continue;
                }
                var block = Decode(rows.Blocks[b].Run);
                for (var i = block.Count - 1; i >= 0 && found.Count < count; i--)
                {
                    if (block[i].Sequence < beforeSequence)
                    {
                        found.Add(block[i]);
                    }
                }
            }
        }
        return Task.FromResult<IReadOnlyList<LedgerEntry>>(found);
    }
}

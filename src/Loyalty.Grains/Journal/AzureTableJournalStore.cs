using System.Collections.Concurrent;
using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Loyalty.Domain.Customers;

namespace Loyalty.Grains.Journal;

/// <summary>
/// The journal in Azure Table storage (layout in docs/journal.md). One partition per journal (per silo incarnation):
/// <list type="bullet">
/// <item>row <c>head</c>: owner, state (<c>open</c> or <c>recovering:&lt;silo&gt;</c>) and the last committed batch;</item>
/// <item>rows <c>b{batch:D19}.g</c>: small batches sharing a row, up to 32 (<see cref="SharedPages"/>), each batch's
/// records deflated into the property <c>G{batch - first:D2}</c>;</item>
/// <item>rows <c>b{batch:D19}.{page:D2}</c>: a larger batch's records, packed back to back (JournalCodec) into pages of at
/// most 15 binary properties of 64,000 bytes (an entity stays under 1 MiB, a property under 64 KiB);</item>
/// <item>rows <c>k{bucket:D3}</c>: the owner marks, customers' keys in 128 buckets (<see cref="MarkBuckets"/>);
/// journals opened by earlier builds have a row <c>m{customer}</c> per mark instead;</item>
/// <item>partition <c>directory</c>, one row per journal: what recovery looks at, and how the journal keeps marks.</item>
/// </list>
/// An append is one entity-group transaction in the journal's partition: the pages plus an update of the head with
/// If-Match on its last known ETag. Recovery moves the head first, so a writer declared dead can never append again.
/// </summary>
public sealed class AzureTableJournalStore(TableServiceClient service, string tableName) : IJournalStore
{
    public const string DirectoryPartition = "directory";
    private const string HeadRow = "head";
    private const int PropertyBytes = 64_000;
    private const int PropertiesPerPage = 15;
    /// <summary>Largest page: 15 properties of 64,000 bytes.</summary>
    public const int PageBytes = PropertyBytes * PropertiesPerPage;
    /// <summary>Raw bytes per append, records and mark rows together: binary travels base64 in the request (4/3, so
    /// 3.3 MiB), and a transaction is at most 4 MiB.</summary>
    public const int MaxBatchBytes = 5 * 512 * 1024;
    /// <summary>Entities per transaction: 100, one of them the head; pages and owner marks share the rest.</summary>
    public const int MaxEntitiesPerBatch = 100;

    private readonly TableClient _table = service.GetTableClient(tableName);
    private readonly ConcurrentDictionary<string, ETag> _heads = new();
    /// <summary>The marks of the journals this process writes.</summary>
    private readonly ConcurrentDictionary<string, MarkBuckets> _marks = new();
    /// <summary>Journals seen in the directory: true when they keep marks in buckets, false for a row per mark.</summary>
    private readonly ConcurrentDictionary<string, bool> _bucketed = new();
    /// <summary>The directory row's value for journals that keep marks in <see cref="MarkBuckets"/>.</summary>
    private const string BucketedMarks = "k128";
    /// <summary>The page rows of each batch this process appended, per journal, until truncation deletes them by key.
    /// Reading them back instead (a range query per round) cost Azurite enough to hold up the appends behind it: in
    /// the open loop, every truncation round after a wave of checkpoints put hundreds of events past 250 ms.</summary>
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<long, int>> _pageCounts = new();
    /// <summary>The shared page rows of the journals this process writes.</summary>
    private readonly ConcurrentDictionary<string, SharedPages> _shared = new();
    private int _created;

    public bool Durable => true;

    int IJournalStore.MaxBatchBytes => MaxBatchBytes;

    private async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _created) == 0)
        {
            await _table.CreateIfNotExistsAsync(cancellationToken);
            Volatile.Write(ref _created, 1);
        }
    }

    public async Task OpenAsync(string journalId, string owner, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        // The head first, then the directory row: a scan that lists the journal always finds its head. Listed without
        // a head, a journal counts as removed (recovery deletes the head before the directory row), and recovery would
        // remove a live journal that was halfway open.
        var head = await _table.AddEntityAsync(new TableEntity(journalId, HeadRow) { ["Owner"] = owner, ["State"] = "open", ["Batch"] = 0L }, cancellationToken);
        _heads[journalId] = head.Headers.ETag ?? (await _table.GetEntityAsync<TableEntity>(journalId, HeadRow, cancellationToken: cancellationToken)).Value.ETag;
        _marks[journalId] = new MarkBuckets();
        _bucketed[journalId] = true;
        await _table.UpsertEntityAsync(new TableEntity(DirectoryPartition, journalId) { ["Owner"] = owner, ["Marks"] = BucketedMarks }, TableUpdateMode.Replace, cancellationToken);
    }

    /// <summary>Row key of a customer's owner mark in journals of earlier builds, a row per mark (row keys cannot hold
    /// every character a customer id may).</summary>
    private static string MarkRow(string customerId) =>
        "m" + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(customerId)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Looks in the customer's bucket row, and in the row per mark of a journal by an earlier build (both when
    /// the directory has not said which kind the journal is).</summary>
    public async Task<bool> HasMarkAsync(string journalId, string customerId, CancellationToken cancellationToken)
    {
        var known = _bucketed.TryGetValue(journalId, out var bucketed);
        if (!known || bucketed)
        {
            var key = MarkBuckets.KeyOf(customerId);
            NullableResponse<TableEntity> row = await _table.GetEntityIfExistsAsync<TableEntity>(journalId, MarkBuckets.RowKey(MarkBuckets.BucketOf(key)), cancellationToken: cancellationToken);
            if (row.HasValue && MarkBuckets.Holds(row.Value!.GetBinary, key))
            {
                return true;
            }
            if (known)
            {
                return false;
            }
        }
        NullableResponse<TableEntity> mark = await _table.GetEntityIfExistsAsync<TableEntity>(journalId, MarkRow(customerId), select: ["RowKey"], cancellationToken: cancellationToken);
        return mark.HasValue;
    }

    public int MarkRowBytes(string journalId, int row) => _marks.TryGetValue(journalId, out var marks) ? marks.RowBytes(row) : 0;

    public int MarkRowOf(string customerId) => MarkBuckets.BucketOf(MarkBuckets.KeyOf(customerId));

    public async Task AppendAsync(string journalId, long batch, IReadOnlyList<JournalRecord> records, EncodedRecords? encoded,
        IReadOnlyCollection<string> mark, IReadOnlyCollection<string> unmark, LiabilityTotals? liability, CancellationToken cancellationToken)
    {
        if (!_heads.TryGetValue(journalId, out var etag))
        {
            throw new JournalFencedException($"journal {journalId} is not open here");
        }
        var head = new TableEntity(journalId, HeadRow) { ["Batch"] = batch };
        if (liability is not null)
        {
            WriteLiability(head, liability);
        }
        var actions = new List<TableTransactionAction>(4)
        {
            new(TableTransactionActionType.UpdateMerge, head, etag),
        };
        var data = encoded ?? EncodedRecords.Of(records);
        var shared = _shared.GetOrAdd(journalId, _ => new SharedPages());
        int pages;
        if (data.Length > 0 && data.Length <= PageBytes)
        {
            var row = OnePage(journalId, batch, data, shared);
            actions.Add(row);
            pages = row.ActionType == TableTransactionActionType.UpsertMerge ? 0 : 1;
        }
        else
        {
            pages = AddPages(journalId, batch, data, actions);
        }
        if (pages > 0)
        {
            shared.Close();
        }
        // Before the request: an answer that is lost may still have stored it (a batch number tried again after one that
        // was not stored replaces the count).
        _pageCounts.GetOrAdd(journalId, _ => new())[batch] = pages;
        // The rows count once the batch is known to be stored: here, or when resolving an unknown outcome.
        var marks = _marks.GetOrAdd(journalId, _ => new MarkBuckets());
        if (mark.Count + unmark.Count > 0)
        {
            foreach (var (bucket, keys) in marks.Stage(batch, mark, unmark))
            {
                var row = new TableEntity(journalId, MarkBuckets.RowKey(bucket));
                foreach (var (name, value) in MarkBuckets.Properties(keys))
                {
                    row[name] = value;
                }
                actions.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, row));
            }
        }
        var response = await _table.SubmitTransactionAsync(actions, cancellationToken);
        marks.Settle(batch, stored: true);
        if (response.Value.Count > 0 && response.Value[0].Headers.ETag is { } next)
        {
            _heads[journalId] = next;
        }
        else
        {
            _heads[journalId] = (await _table.GetEntityAsync<TableEntity>(journalId, HeadRow, cancellationToken: cancellationToken)).Value.ETag;
        }
        // Any failure (the head moved because recovery took the journal, a timeout, a lost answer) is resolved by the
        // writer through ResolveAsync, which reads the head.
    }

    public async Task<bool> ResolveAsync(string journalId, long batch, CancellationToken cancellationToken)
    {
        while (true)
        {
            NullableResponse<TableEntity> found = await _table.GetEntityIfExistsAsync<TableEntity>(journalId, HeadRow, cancellationToken: cancellationToken);
            if (!found.HasValue)
            {
                // Recovery removed the journal: nothing of it can land any more, and nothing more may be acknowledged.
                _heads.TryRemove(journalId, out _);
                throw new JournalFencedException($"journal {journalId} was removed");
            }
            var head = found.Value!;
            if (head.GetString("State") is { } state && state != "open")
            {
                _heads.TryRemove(journalId, out _);
                throw new JournalFencedException($"journal {journalId} was taken ({state})");
            }
            var stored = head.GetInt64("Batch") ?? 0;
            if (stored >= batch)
            {
                _heads[journalId] = head.ETag;
                if (stored != batch)
                {
                    throw new InvalidOperationException($"journal {journalId} is at batch {stored}, past {batch}");
                }
                Marks(journalId)?.Settle(batch, stored: true);
                return true;
            }
            // Not stored: move the head (same batch number, new ETag) so the failed request can never land later.
            try
            {
                var moved = await _table.UpdateEntityAsync(new TableEntity(journalId, HeadRow) { ["Batch"] = stored }, head.ETag, TableUpdateMode.Merge, cancellationToken);
                _heads[journalId] = moved.Headers.ETag ?? (await _table.GetEntityAsync<TableEntity>(journalId, HeadRow, cancellationToken: cancellationToken)).Value.ETag;
                Marks(journalId)?.Settle(batch, stored: false);
                if (_shared.TryGetValue(journalId, out var shared))
                {
                    shared.NotStored(batch);
                }
                return false;
            }
            catch (RequestFailedException e) when (e.Status == 412)
            {
                // The request landed after all (or recovery moved the head): look again.
            }
        }
    }

    private MarkBuckets? Marks(string journalId) => _marks.TryGetValue(journalId, out var marks) ? marks : null;

    public async Task DeleteBatchesAsync(string journalId, IReadOnlyList<long> batches, CancellationToken cancellationToken)
    {
        if (batches.Count == 0)
        {
            return;
        }
        // The pages of batches this process appended are deleted by key (a shared row once every batch in it is);
        // those of any other batch are read back.
        _pageCounts.TryGetValue(journalId, out var counts);
        _shared.TryGetValue(journalId, out var shared);
        var deletes = new List<TableTransactionAction>(100);
        var unknown = new HashSet<long>();
        foreach (var batch in batches)
        {
            if (shared is not null && shared.Delete(batch))
            {
                continue;
            }
            if (counts is null || !counts.TryGetValue(batch, out var pages))
            {
                unknown.Add(batch);
                continue;
            }
            for (var page = 0; page < pages; page++)
            {
                deletes.Add(new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(journalId, RowKey(batch, page)), ETag.All));
                if (deletes.Count == 100)
                {
                    await DeleteAsync(deletes, cancellationToken);
                }
            }
        }
        var ready = shared?.TakeReady() ?? [];
        try
        {
            foreach (var first in ready)
            {
                deletes.Add(new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(journalId, SharedRowKey(first)), ETag.All));
                if (deletes.Count == 100)
                {
                    await DeleteAsync(deletes, cancellationToken);
                }
            }
            await DeleteAsync(deletes, cancellationToken);
        }
        catch
        {
            shared?.Requeue(ready);
            throw;
        }
        shared?.Deleted(ready);
        foreach (var batch in batches)
        {
            counts?.TryRemove(batch, out _);
        }
        if (unknown.Count > 0)
        {
            // A shared row is deleted only if every batch in it is among these (whole rows are read: a rare path).
            await DeleteRowsAsync(journalId,
                TableClient.CreateQueryFilter($"PartitionKey eq {journalId} and RowKey ge {RowKey(Math.Max(0, unknown.Min() - SharedPages.Slots + 1), 0)} and RowKey lt {RowKey(unknown.Max() + 1, 0)}"),
                row => IsShared(row.RowKey) ? SharedBatches(row).All(unknown.Contains) : unknown.Contains(BatchOf(row.RowKey)), cancellationToken, wholeRows: true);
        }
    }

    /// <summary>Deletes the rows of one journal partition that the filter finds and <paramref name="which"/> keeps, 100 to a
    /// transaction (<paramref name="which"/> sees only the row key unless <paramref name="wholeRows"/>).</summary>
    private async Task DeleteRowsAsync(string journalId, string filter, Func<TableEntity, bool> which, CancellationToken cancellationToken, bool wholeRows = false)
    {
        var deletes = new List<TableTransactionAction>(100);
        await foreach (var entity in _table.QueryAsync<TableEntity>(filter, select: wholeRows ? null : ["RowKey"], cancellationToken: cancellationToken))
        {
            if (!which(entity))
            {
                continue;
            }
            deletes.Add(new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(journalId, entity.RowKey), ETag.All));
            if (deletes.Count == 100)
            {
                await DeleteAsync(deletes, cancellationToken);
            }
        }
        await DeleteAsync(deletes, cancellationToken);
    }

    /// <summary>Deletes the rows in one transaction, leaving out any already gone: two silos may recover (and remove)
    /// the same journal at once.</summary>
    private async Task DeleteAsync(List<TableTransactionAction> deletes, CancellationToken cancellationToken)
    {
        await _table.SubmitLeavingOutGoneAsync(deletes, cancellationToken);
        deletes.Clear();
    }

    public async Task<IReadOnlyList<JournalInfo>> ListAsync(CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        var result = new List<JournalInfo>();
        await foreach (var row in _table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {DirectoryPartition}"), cancellationToken: cancellationToken))
        {
            _bucketed[row.RowKey] = row.GetString("Marks") == BucketedMarks;
            var from = DateTime.UtcNow;
            NullableResponse<TableEntity> head = await _table.GetEntityIfExistsAsync<TableEntity>(row.RowKey, HeadRow, cancellationToken: cancellationToken);
            result.Add(new JournalInfo(row.RowKey, row.GetString("Owner") ?? "", head.HasValue ? head.Value!.GetInt64("Batch") ?? 0 : -1)
            {
                HeadReadFrom = from,
                HeadReadTo = DateTime.UtcNow,
            });
        }
        return result;
    }

    public async Task<bool> FenceAsync(string journalId, string recoverer, CancellationToken cancellationToken)
    {
        while (true)
        {
            NullableResponse<TableEntity> head = await _table.GetEntityIfExistsAsync<TableEntity>(journalId, HeadRow, cancellationToken: cancellationToken);
            if (!head.HasValue)
            {
                return false;
            }
            try
            {
                await _table.UpdateEntityAsync(new TableEntity(journalId, HeadRow) { ["State"] = "recovering:" + recoverer }, head.Value!.ETag, TableUpdateMode.Merge, cancellationToken);
                return true;
            }
            catch (RequestFailedException e) when (e.Status is 412 or 404)
            {
                // The writer appended in between: take it again, now that it has.
            }
        }
    }

    public async Task<IReadOnlyList<JournalRecord>> ReadAllAsync(string journalId, CancellationToken cancellationToken)
    {
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {journalId} and RowKey ge {"b"} and RowKey lt {"c"}");
        var records = new List<JournalRecord>();
        await foreach (var page in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            records.AddRange(RecordsOf(page));
        }
        return records;
    }

    public async Task<IReadOnlyList<JournalRecord>> ReadBatchesAsync(string journalId, IReadOnlyList<long> batches, CancellationToken cancellationToken)
    {
        var records = new List<JournalRecord>();
        _shared.TryGetValue(journalId, out var shared);
        foreach (var batch in batches.Distinct().Order())
        {
            if (shared is not null && shared.Holds(batch, out var first, out var slot))
            {
                records.AddRange(await ReadSlotAsync(journalId, first, slot, cancellationToken));
                continue;
            }
            var found = false;
            var filter = TableClient.CreateQueryFilter($"PartitionKey eq {journalId} and RowKey ge {RowKey(batch, 0)} and RowKey lt {RowKey(batch + 1, 0)}");
            await foreach (var page in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
            {
                if (!IsShared(page.RowKey))
                {
                    records.AddRange(JournalCodec.Read(Unpage(page)));
                    found = true;
                }
                else if (page.ContainsKey(SlotName(0)))
                {
                    records.AddRange(SlotRecords(page, 0));
                    found = true;
                }
            }
            if (!found)
            {
                // Appended by another process: the shared row that holds it, if any, starts at most Slots - 1 batches before.
                var from = TableClient.CreateQueryFilter($"PartitionKey eq {journalId} and RowKey ge {RowKey(Math.Max(0, batch - SharedPages.Slots + 1), 0)} and RowKey lt {RowKey(batch, 0)}");
                await foreach (var row in _table.QueryAsync<TableEntity>(from, select: ["RowKey"], cancellationToken: cancellationToken))
                {
                    if (IsShared(row.RowKey))
                    {
                        records.AddRange(await ReadSlotAsync(journalId, BatchOf(row.RowKey), (int)(batch - BatchOf(row.RowKey)), cancellationToken));
                    }
                }
            }
        }
        return records;
    }

    /// <summary>One batch's records from a shared row (none if the row or the slot is not there).</summary>
    private async Task<IReadOnlyList<JournalRecord>> ReadSlotAsync(string journalId, long first, int slot, CancellationToken cancellationToken)
    {
        NullableResponse<TableEntity> row = await _table.GetEntityIfExistsAsync<TableEntity>(journalId, SharedRowKey(first), select: [SlotName(slot)], cancellationToken: cancellationToken);
        return row.HasValue ? SlotRecords(row.Value!, slot) : [];
    }

    public async Task RemoveAsync(string journalId, CancellationToken cancellationToken)
    {
        NullableResponse<TableEntity> head = await _table.GetEntityIfExistsAsync<TableEntity>(journalId, HeadRow, cancellationToken: cancellationToken);
        if (head.HasValue && ReadLiability(head.Value!) is { IsZero: false } totals)
        {
            await FoldAsync(journalId, totals, cancellationToken);
        }
        await DeleteRowsAsync(journalId, TableClient.CreateQueryFilter($"PartitionKey eq {journalId}"), _ => true, cancellationToken);
        _shared.TryRemove(journalId, out _);
        try
        {
            await _table.DeleteEntityAsync(DirectoryPartition, journalId, ETag.All, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
        }
        _heads.TryRemove(journalId, out _);
        _marks.TryRemove(journalId, out _);
        _pageCounts.TryRemove(journalId, out _);
    }

    // ---- liability totals ------------------------------------------------------------------------------------------
    // Each journal's head holds the liability totals of its stored batches (written by the append that stores them).
    // Removing a journal first adds its totals to the lasting totals in partition "liability" (row "totals"), in one
    // transaction with a "folded-<journal>" marker row, so a removal that is interrupted and run again adds them once.

    public const string LiabilityPartition = "liability";
    private const string TotalsRow = "totals";
    private const string FoldedPrefix = "folded-";

    private static void WriteLiability(TableEntity entity, LiabilityTotals totals)
    {
        var data = Deflation.Deflate(totals.ToJson());
        var parts = 0;
        for (var offset = 0; offset < data.Length; offset += PropertyBytes, parts++)
        {
            if (parts == PropertiesPerPage - 1)
            {
                throw new InvalidOperationException($"liability totals of {data.Length} bytes do not fit one entity");
            }
            entity["L" + parts.ToString("D2", CultureInfo.InvariantCulture)] = data.AsSpan(offset, Math.Min(PropertyBytes, data.Length - offset)).ToArray();
        }
        entity["LN"] = parts;
    }

    private static LiabilityTotals ReadLiability(TableEntity entity)
    {
        var parts = entity.GetInt32("LN") ?? 0;
        if (parts == 0)
        {
            return new LiabilityTotals();
        }
        byte[] data = [.. Enumerable.Range(0, parts).SelectMany(i => entity.GetBinary("L" + i.ToString("D2", CultureInfo.InvariantCulture)) ?? [])];
        return LiabilityTotals.FromJson(Deflation.Inflate(data));
    }

    private async Task FoldAsync(string journalId, LiabilityTotals totals, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        while (true)
        {
            NullableResponse<TableEntity> folded = await _table.GetEntityIfExistsAsync<TableEntity>(LiabilityPartition, FoldedPrefix + journalId, select: ["RowKey"], cancellationToken: cancellationToken);
            if (folded.HasValue)
            {
                return;
            }
            NullableResponse<TableEntity> current = await _table.GetEntityIfExistsAsync<TableEntity>(LiabilityPartition, TotalsRow, cancellationToken: cancellationToken);
            var sum = current.HasValue ? ReadLiability(current.Value!) : new LiabilityTotals();
            sum.Add(totals);
            var row = new TableEntity(LiabilityPartition, TotalsRow);
            WriteLiability(row, sum);
            TableTransactionAction write = current.HasValue
                ? new(TableTransactionActionType.UpdateReplace, row, current.Value!.ETag)
                : new(TableTransactionActionType.Add, row);
            try
            {
                await _table.SubmitTransactionAsync([write, new TableTransactionAction(TableTransactionActionType.Add,
                    new TableEntity(LiabilityPartition, FoldedPrefix + journalId) { ["At"] = DateTimeOffset.UtcNow })], cancellationToken);
                return;
            }
            catch (TableTransactionFailedException e) when (e.Status is 409 or 412)
            {
                // Another fold went first (or this one did, and the answer was lost): read again.
            }
        }
    }

    public async Task<LiabilityTotals> ReadLiabilityAsync(CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        for (var attempt = 0; ; attempt++)
        {
            var sum = new LiabilityTotals();
            var folded = new HashSet<string>(StringComparer.Ordinal);
            await foreach (var row in _table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {LiabilityPartition}"), cancellationToken: cancellationToken))
            {
                if (row.RowKey == TotalsRow)
                {
                    sum.Add(ReadLiability(row));
                }
                else if (row.RowKey.StartsWith(FoldedPrefix, StringComparison.Ordinal))
                {
                    folded.Add(row.RowKey[FoldedPrefix.Length..]);
                }
            }
            var complete = true;
            await foreach (var journal in _table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {DirectoryPartition}"), select: ["RowKey"], cancellationToken: cancellationToken))
            {
                if (folded.Contains(journal.RowKey))
                {
                    continue; // folded, not yet deleted: counted in the totals
                }
                NullableResponse<TableEntity> head = await _table.GetEntityIfExistsAsync<TableEntity>(journal.RowKey, HeadRow, cancellationToken: cancellationToken);
                if (head.HasValue)
                {
                    sum.Add(ReadLiability(head.Value!));
                }
                else if (attempt < 5)
                {
                    complete = false; // removed after the totals were read: read them again
                    break;
                }
            }
            if (complete)
            {
                return sum;
            }
        }
    }

    // ---- erasures: partition "erasures", row = the erasure key (a keyed hash, never the customer id) ----------------
    public const string ErasurePartition = "erasures";

    public async Task RecordErasureAsync(string erasureKey, long sequence, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        while (true)
        {
            NullableResponse<TableEntity> current = await _table.GetEntityIfExistsAsync<TableEntity>(ErasurePartition, erasureKey, cancellationToken: cancellationToken);
            if (current.HasValue && (current.Value!.GetInt64("Seq") ?? 0) >= sequence)
            {
                return;
            }
            var row = new TableEntity(ErasurePartition, erasureKey) { ["Seq"] = sequence };
            try
            {
                if (current.HasValue)
                {
                    await _table.UpdateEntityAsync(row, current.Value!.ETag, TableUpdateMode.Replace, cancellationToken);
                }
                else
                {
                    await _table.AddEntityAsync(row, cancellationToken);
                }
                return;
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412)
            {
                // Written meanwhile: look again (the highest sequence wins).
            }
        }
    }

    public async Task<long> ErasureFloorAsync(string erasureKey, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        NullableResponse<TableEntity> row = await _table.GetEntityIfExistsAsync<TableEntity>(ErasurePartition, erasureKey, select: ["Seq"], cancellationToken: cancellationToken);
        return row.HasValue ? row.Value!.GetInt64("Seq") ?? 0 : 0;
    }

    /// <summary>Cuts the records, back to back, into pages of at most <see cref="PageBytes"/> (a record never spans pages),
    /// adds each page's row to <paramref name="actions"/> and returns how many there are. A page is a span of the
    /// batch's one buffer: a growing buffer and a copy per page were a tenth of the bytes the engine allocated in durable
    /// <c>game</c>, all of it in arrays large enough to go straight to the large object heap.</summary>
    private static int AddPages(string journalId, long batch, EncodedRecords records, List<TableTransactionAction> actions)
    {
        var pages = 0;
        var start = 0;
        for (var i = 0; i < records.Count; i++)
        {
            if (records.SizeOf(i) > PageBytes)
            {
                throw new ArgumentException($"a journal record of {records.SizeOf(i)} bytes is over the {PageBytes}-byte page", nameof(records));
            }
            if (records.EndOf(i) - start > PageBytes)
            {
                actions.Add(new TableTransactionAction(TableTransactionActionType.Add, PageEntity(journalId, batch, pages++, records.Bytes[start..records.StartOf(i)])));
                start = records.StartOf(i);
            }
        }
        if (records.Length > start)
        {
            actions.Add(new TableTransactionAction(TableTransactionActionType.Add, PageEntity(journalId, batch, pages++, records.Bytes[start..])));
        }
        return pages;
    }

    /// <summary>Pages are stored deflated (JSON records shrink several times over): fewer bytes per request and in
    /// storage. <c>Z = 1</c> marks a deflated page; pages without it are read as they are.</summary>
    private static TableEntity PageEntity(string journalId, long batch, int page, ReadOnlySpan<byte> raw)
    {
        TableEntity? entity = null;
        Deflation.Deflate(raw, data => entity = PageRow(journalId, batch, page, data));
        return entity!;
    }

    /// <summary>A page row of already deflated records, in properties of at most 64,000 bytes.</summary>
    private static TableEntity PageRow(string journalId, long batch, int page, ReadOnlySpan<byte> deflated)
    {
        var entity = new TableEntity(journalId, RowKey(batch, page)) { ["Z"] = 1 };
        for (int i = 0, offset = 0; offset < deflated.Length; i++, offset += PropertyBytes)
        {
            entity["D" + i.ToString("D2", CultureInfo.InvariantCulture)] = deflated.Slice(offset, Math.Min(PropertyBytes, deflated.Length - offset)).ToArray();
        }
        return entity;
    }

    /// <summary>A batch of one page, deflated once: merged into the journal's open shared row (its slot, in the same
    /// transaction as the head) when it fits one property, else added as a page row of its own.</summary>
    private static TableTransactionAction OnePage(string journalId, long batch, EncodedRecords records, SharedPages shared)
    {
        TableTransactionAction? action = null;
        Deflation.Deflate(records.Bytes, deflated =>
        {
            if (deflated.Length > PropertyBytes)
            {
                action = new(TableTransactionActionType.Add, PageRow(journalId, batch, 0, deflated));
                return;
            }
            var (first, slot) = shared.Place(batch, deflated.Length);
            var row = new TableEntity(journalId, SharedRowKey(first)) { ["Z"] = 1, ["D00"] = EarlierBuildsRefuse, [SlotName(slot)] = deflated.ToArray() };
            action = new(TableTransactionActionType.UpsertMerge, row);
        });
        return action!;
    }

    /// <summary>One batch's records from its slot of a shared row (none if the slot is not there).</summary>
    private static IReadOnlyList<JournalRecord> SlotRecords(TableEntity row, int slot) =>
        row.GetBinary(SlotName(slot)) is { } data ? JournalCodec.Read(Deflation.Inflate(data)) : [];

    /// <summary>What an earlier build reads as a shared row's page (it knows only <c>D00</c>…): a deflated record length of
    /// -1, which it refuses as a corrupt page, rather than take the row for a page without records.</summary>
    private static readonly byte[] EarlierBuildsRefuse = Deflation.Deflate([0xFF, 0xFF, 0xFF, 0xFF]);

    private static string SlotName(int slot) => "G" + slot.ToString("D2", CultureInfo.InvariantCulture);

    private static string SharedRowKey(long first) =>
        string.Create(CultureInfo.InvariantCulture, $"b{first:D19}.g");

    private static bool IsShared(string rowKey) => rowKey.EndsWith(".g", StringComparison.Ordinal);

    /// <summary>The batches a shared row holds, by its slots.</summary>
    private static IEnumerable<long> SharedBatches(TableEntity row)
    {
        var first = BatchOf(row.RowKey);
        return row.Keys.Where(k => k.Length == 3 && k[0] == 'G' && char.IsAsciiDigit(k[1]) && char.IsAsciiDigit(k[2]))
            .Select(k => first + int.Parse(k.AsSpan(1), CultureInfo.InvariantCulture));
    }

    /// <summary>The records of a row of pages or of a shared row, in batch order.</summary>
    public static IReadOnlyList<JournalRecord> RecordsOf(TableEntity row)
    {
        if (!IsShared(row.RowKey))
        {
            return JournalCodec.Read(Unpage(row));
        }
        return [.. Enumerable.Range(0, SharedPages.Slots).SelectMany(slot => SlotRecords(row, slot))];
    }

    /// <summary>The records of a page row, back to back as <see cref="JournalCodec.Read"/> reads them.</summary>
    public static byte[] Unpage(TableEntity page)
    {
        var parts = new List<byte[]>();
        for (var i = 0; i < PropertiesPerPage && page.GetBinary("D" + i.ToString("D2", CultureInfo.InvariantCulture)) is { } part; i++)
        {
            parts.Add(part);
        }
        byte[] data = [.. parts.SelectMany(p => p)];
        return page.GetInt32("Z") == 1 ? Deflation.Inflate(data) : data;
    }

    private static string RowKey(long batch, int page) =>
        string.Create(CultureInfo.InvariantCulture, $"b{batch:D19}.{page:D2}");

    private static long BatchOf(string rowKey) =>
        long.Parse(rowKey.AsSpan(1, 19), NumberStyles.None, CultureInfo.InvariantCulture);
}

using System.Collections.Concurrent;
using Loyalty.Domain.Customers;

namespace Loyalty.Grains.Journal;

/// <summary>A journal listed in the journal directory: whose it is and where it stands.</summary>
/// <param name="HeadBatch">The head's last batch: it advances at least every second while the owner lives (heartbeat).</param>
public sealed record JournalInfo(string JournalId, string Owner, long HeadBatch = 0)
{
    /// <summary>When the read of the head began and when it ended (UTC): the head had <see cref="HeadBatch"/> at some
    /// moment between the two, so standing still is measured from the end of one read to the start of a later one.</summary>
    public DateTime HeadReadFrom { get; init; }

    /// <inheritdoc cref="HeadReadFrom"/>
    public DateTime HeadReadTo { get; init; }
}

/// <summary>The journal's head row says someone else (recovery) took the journal: this writer may not append.</summary>
public sealed class JournalFencedException(string message) : Exception(message);

/// <summary>
/// Where journal records are stored. A journal is one partition with a head row; every append is one request that
/// adds the records and advances the head conditionally on its last known version, so a writer whose journal was
/// taken by recovery can never append again.
/// </summary>
public interface IJournalStore
{
    /// <summary>False for the memory store: nothing survives the process, so nothing is ever recovered.</summary>
    bool Durable { get; }

    /// <summary>Bytes one append may carry: its encoded records and the mark rows it rewrites.</summary>
    int MaxBatchBytes { get; }

    /// <summary>Creates the journal (head row) and lists it in the directory.</summary>
    Task OpenAsync(string journalId, string owner, CancellationToken cancellationToken);

    /// <summary>Appends batch number <paramref name="batch"/> (the head's next). Throws <see cref="JournalFencedException"/>
    /// when the head moved; any other exception leaves the outcome unknown until <see cref="ResolveAsync"/>.</summary>
    /// <param name="mark">Customers whose first uncovered record this batch holds: their owner marks, stored in the same
    /// request (in the store's mark rows), tell any other silo activating them that their latest records are in this
    /// journal.</param>
    /// <param name="unmark">Customers whose every record here is now covered by a checkpoint: their marks go.</param>
    /// <param name="liability">The journal's liability totals including this batch, stored in the same request (the
    /// head), or null when the batch changes none of them.</param>
    /// <param name="encoded">The records encoded (null: the store encodes them). Valid only until the returned task
    /// completes: the writer reuses its buffer for the next batch.</param>
    Task AppendAsync(string journalId, long batch, IReadOnlyList<JournalRecord> records, EncodedRecords? encoded,
        IReadOnlyCollection<string> mark, IReadOnlyCollection<string> unmark, LiabilityTotals? liability, CancellationToken cancellationToken);

    /// <summary>Bytes the store's mark row holds now: an append that rewrites it carries them (and they count
    /// against <see cref="MaxBatchBytes"/> with its records).</summary>
    int MarkRowBytes(string journalId, int row);

    /// <summary>The mark row that holds the customer's mark: an append rewrites each row its marks and unmarks touch.</summary>
    int MarkRowOf(string customerId);

    /// <summary>True if the journal holds records of the customer that no checkpoint covers (its owner mark).</summary>
    Task<bool> HasMarkAsync(string journalId, string customerId, CancellationToken cancellationToken);

    /// <summary>After an append failed: true if batch <paramref name="batch"/> is stored; false if it is not and now
    /// never will be (the head was moved past it). Throws <see cref="JournalFencedException"/> when fenced or removed.</summary>
    Task<bool> ResolveAsync(string journalId, long batch, CancellationToken cancellationToken);

    /// <summary>Deletes batches whose every record is covered by a checkpoint.</summary>
    Task DeleteBatchesAsync(string journalId, IReadOnlyList<long> batches, CancellationToken cancellationToken);

    /// <summary>The journals in the directory.</summary>
    Task<IReadOnlyList<JournalInfo>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Takes the journal for recovery: moves its head so its writer is fenced. False if it is already gone.</summary>
    Task<bool> FenceAsync(string journalId, string recoverer, CancellationToken cancellationToken);

    /// <summary>Every record in the journal, in append order.</summary>
    Task<IReadOnlyList<JournalRecord>> ReadAllAsync(string journalId, CancellationToken cancellationToken);

    /// <summary>The records of the given stored batches (not yet deleted), in append order: a customer that reactivates
    /// on its silo before a checkpoint covers its records reads them back from here.</summary>
    Task<IReadOnlyList<JournalRecord>> ReadBatchesAsync(string journalId, IReadOnlyList<long> batches, CancellationToken cancellationToken);

    /// <summary>Deletes the journal: its records, head and directory entry. Its liability totals are first added to the
    /// lasting totals, once (idempotent by journal id: a removal interrupted and run again never adds them twice).</summary>
    Task RemoveAsync(string journalId, CancellationToken cancellationToken);

    /// <summary>The liability totals of every journal: the lasting totals of removed journals plus the heads of those
    /// still in the directory. Exact as of each journal's last stored append.</summary>
    Task<LiabilityTotals> ReadLiabilityAsync(CancellationToken cancellationToken);

    /// <summary>Remembers that the customer behind <paramref name="erasureKey"/> (<see cref="Erasures.Key"/>, a keyed hash:
    /// no customer id is stored) was erased at journal sequence <paramref name="sequence"/> (the highest one is kept).</summary>
    Task RecordErasureAsync(string erasureKey, long sequence, CancellationToken cancellationToken);

    /// <summary>The journal sequence of the customer's last erasure, 0 if never erased: records at or below it belong to
    /// an erased incarnation and are never replayed; a customer created again continues above it.</summary>
    Task<long> ErasureFloorAsync(string erasureKey, CancellationToken cancellationToken);
}

/// <summary>How an erased customer is remembered without keeping their id: HMAC-SHA256 of the id under the engine's
/// secret (Loyalty:RewardCodeSecret), 128 bits in hex.</summary>
public static class Erasures
{
    public static string Key(EngineLimits limits, string customerId) =>
        Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes("erasure:" + limits.RewardCodeSecret), System.Text.Encoding.UTF8.GetBytes(customerId)).AsSpan(0, 16));
}

/// <summary>The memory provider's journal (explicit opt-in, lost with the process): keeps records in memory so that
/// every provider goes through the same write path, and answers at once. Records are kept encoded, as a durable journal
/// stores them and under the same size limits: a batch's records back to back in one array (like a durable journal's
/// page) instead of the several objects of each event, which the GC would otherwise carry from one collection to the
/// next until a checkpoint covers them. The array is <see cref="LongLivedBytes"/>.</summary>
public sealed class MemoryJournalStore : IJournalStore
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<long, byte[]>> _journals = new();
    private readonly ConcurrentDictionary<string, string> _owners = new();
    private readonly ConcurrentDictionary<string, LiabilityTotals> _liability = new();
    private readonly LiabilityTotals _folded = new();
    private readonly ConcurrentDictionary<string, long> _erasures = new(StringComparer.Ordinal);

    public bool Durable => false;

    public int MaxBatchBytes => AzureTableJournalStore.MaxBatchBytes;

    public Task OpenAsync(string journalId, string owner, CancellationToken cancellationToken)
    {
        _journals.TryAdd(journalId, new());
        _owners[journalId] = owner;
        return Task.CompletedTask;
    }

    public Task<bool> HasMarkAsync(string journalId, string customerId, CancellationToken cancellationToken) => Task.FromResult(false);

    public int MarkRowBytes(string journalId, int row) => 0;

    public int MarkRowOf(string customerId) => 0;

    public Task AppendAsync(string journalId, long batch, IReadOnlyList<JournalRecord> records, EncodedRecords? encoded,
        IReadOnlyCollection<string> mark, IReadOnlyCollection<string> unmark, LiabilityTotals? liability, CancellationToken cancellationToken)
    {
        if (!_journals.TryGetValue(journalId, out var journal) || !_owners.ContainsKey(journalId))
        {
            throw new JournalFencedException($"journal {journalId} was taken");
        }
        journal[batch] = LongLivedBytes.Copy((encoded ?? EncodedRecords.Of(records)).Bytes);
        if (liability is not null)
        {
            _liability[journalId] = liability.Copy();
        }
        return Task.CompletedTask;
    }

    public Task<bool> ResolveAsync(string journalId, long batch, CancellationToken cancellationToken) =>
        Task.FromResult(_journals.TryGetValue(journalId, out var journal) && journal.ContainsKey(batch));

    public Task DeleteBatchesAsync(string journalId, IReadOnlyList<long> batches, CancellationToken cancellationToken)
    {
        if (_journals.TryGetValue(journalId, out var journal))
        {
            foreach (var batch in batches)
            {
                journal.TryRemove(batch, out _);
            }
        }
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<JournalInfo>> ListAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<JournalInfo>>([.. _owners.Select(o => new JournalInfo(o.Key, o.Value))]);

    public Task<bool> FenceAsync(string journalId, string recoverer, CancellationToken cancellationToken) =>
        Task.FromResult(_owners.TryRemove(journalId, out _));

    public Task<IReadOnlyList<JournalRecord>> ReadAllAsync(string journalId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<JournalRecord>>(_journals.TryGetValue(journalId, out var journal)
            ? [.. journal.OrderBy(b => b.Key).SelectMany(b => JournalCodec.Read(b.Value))]
            : []);

    public Task<IReadOnlyList<JournalRecord>> ReadBatchesAsync(string journalId, IReadOnlyList<long> batches, CancellationToken cancellationToken)
    {
        var records = new List<JournalRecord>();
        if (_journals.TryGetValue(journalId, out var journal))
        {
            foreach (var batch in batches.Distinct().Order())
            {
                if (journal.TryGetValue(batch, out var page))
                {
                    records.AddRange(JournalCodec.Read(page));
                }
            }
        }
        return Task.FromResult<IReadOnlyList<JournalRecord>>(records);
    }

    public Task RemoveAsync(string journalId, CancellationToken cancellationToken)
    {
        lock (_folded)
        {
            if (_liability.TryRemove(journalId, out var totals))
            {
                _folded.Add(totals);
            }
        }
        _journals.TryRemove(journalId, out _);
        _owners.TryRemove(journalId, out _);
        return Task.CompletedTask;
    }

    public Task<LiabilityTotals> ReadLiabilityAsync(CancellationToken cancellationToken)
    {
        lock (_folded)
        {
            var sum = _folded.Copy();
            foreach (var totals in _liability.Values)
            {
                sum.Add(totals);
            }
            return Task.FromResult(sum);
        }
    }

    public Task RecordErasureAsync(string erasureKey, long sequence, CancellationToken cancellationToken)
    {
        _erasures.AddOrUpdate(erasureKey, sequence, (_, old) => Math.Max(old, sequence));
        return Task.CompletedTask;
    }

    public Task<long> ErasureFloorAsync(string erasureKey, CancellationToken cancellationToken) =>
        Task.FromResult(_erasures.GetValueOrDefault(erasureKey));

    /// <summary>Records of the customer the journals still hold (tests: truncation drops checkpointed ones).</summary>
    public int RecordsOf(string customerId) =>
        _journals.Values.Sum(j => j.Values.Sum(b => JournalCodec.Read(b).Count(r => r.CustomerId == customerId)));
}

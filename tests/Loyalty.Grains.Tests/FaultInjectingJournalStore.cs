using Loyalty.Domain.Customers;
using Loyalty.Grains.Journal;

namespace Loyalty.Grains.Tests;

/// <summary>The memory journal, slowed and broken on demand: appends can fail before storing (not stored) or after
/// (stored, but the caller saw an error: the ambiguous case the writer must resolve).</summary>
public sealed class FaultInjectingJournalStore : IJournalStore
{
    private readonly MemoryJournalStore _inner = new();
    private int _failBefore;
    private int _failAfter;
    private int _appends;

    public TimeSpan AppendDelay { get; set; }
    public int Appends => Volatile.Read(ref _appends);
    public bool Durable => false;
    public int? MaxBatchBytes => null;

    /// <summary>Every record stored, in order (tests).</summary>
    public List<JournalRecord> Records { get; } = [];

    public void FailNextAppends(int count, bool afterStoring = false)
    {
        Volatile.Write(ref _failBefore, afterStoring ? 0 : count);
        Volatile.Write(ref _failAfter, afterStoring ? count : 0);
    }

    public Task OpenAsync(string journalId, string owner, CancellationToken cancellationToken) => _inner.OpenAsync(journalId, owner, cancellationToken);

    public Task<bool> HasMarkAsync(string journalId, string customerId, CancellationToken cancellationToken) => Task.FromResult(false);

    public async Task AppendAsync(string journalId, long batch, IReadOnlyList<JournalRecord> records, IReadOnlyList<byte[]>? encoded,
        IReadOnlyCollection<string> mark, IReadOnlyCollection<string> unmark, CancellationToken cancellationToken)
    {
        if (AppendDelay > TimeSpan.Zero)
        {
            await Task.Delay(AppendDelay, cancellationToken);
        }
        Interlocked.Increment(ref _appends);
        if (Interlocked.Decrement(ref _failBefore) >= 0)
        {
            throw new IOException("injected journal failure (not stored)");
        }
        Interlocked.Exchange(ref _failBefore, 0);
        await _inner.AppendAsync(journalId, batch, records, encoded, mark, unmark, cancellationToken);
        lock (Records)
        {
            Records.AddRange(records);
        }
        if (Interlocked.Decrement(ref _failAfter) >= 0)
        {
            throw new TimeoutException("injected journal failure (stored, answer lost)");
        }
        Interlocked.Exchange(ref _failAfter, 0);
    }

    public Task<bool> ResolveAsync(string journalId, long batch, CancellationToken cancellationToken) => _inner.ResolveAsync(journalId, batch, cancellationToken);
    public Task DeleteBatchesAsync(string journalId, IReadOnlyList<long> batches, CancellationToken cancellationToken) => _inner.DeleteBatchesAsync(journalId, batches, cancellationToken);
    public Task<IReadOnlyList<JournalInfo>> ListAsync(CancellationToken cancellationToken) => _inner.ListAsync(cancellationToken);
    public Task<bool> FenceAsync(string journalId, string recoverer, CancellationToken cancellationToken) => _inner.FenceAsync(journalId, recoverer, cancellationToken);
    public Task<IReadOnlyList<JournalRecord>> ReadAllAsync(string journalId, CancellationToken cancellationToken) => _inner.ReadAllAsync(journalId, cancellationToken);
    public Task RemoveAsync(string journalId, CancellationToken cancellationToken) => _inner.RemoveAsync(journalId, cancellationToken);

    /// <summary>Records of the customer the journal holds now (after truncation of checkpointed batches).</summary>
    public int Held(string customerId) => _inner.RecordsOf(customerId);
}

using Loyalty.Domain.Customers;
using Loyalty.Grains.Journal;

namespace Loyalty.TestKit;

/// <summary>The memory journal behind a test store that changes only what it overrides.</summary>
public abstract class DelegatingJournalStore : IJournalStore
{
    protected MemoryJournalStore Inner { get; } = new();

    public abstract bool Durable { get; }
    public virtual int MaxBatchBytes => Inner.MaxBatchBytes;

    public virtual Task OpenAsync(string journalId, string owner, CancellationToken cancellationToken) => Inner.OpenAsync(journalId, owner, cancellationToken);

    public virtual Task AppendAsync(string journalId, long batch, IReadOnlyList<JournalRecord> records, EncodedRecords? encoded,
        IReadOnlyCollection<string> mark, IReadOnlyCollection<string> unmark, LiabilityTotals? liability, CancellationToken cancellationToken) =>
        Inner.AppendAsync(journalId, batch, records, encoded, mark, unmark, liability, cancellationToken);

    public virtual int MarkRowBytes(string journalId, int row) => Inner.MarkRowBytes(journalId, row);
    public virtual int MarkRowOf(string customerId) => Inner.MarkRowOf(customerId);
    public virtual Task<bool> HasMarkAsync(string journalId, string customerId, CancellationToken cancellationToken) => Task.FromResult(false);
    public Task<bool> ResolveAsync(string journalId, long batch, CancellationToken cancellationToken) => Inner.ResolveAsync(journalId, batch, cancellationToken);
    public virtual Task DeleteBatchesAsync(string journalId, IReadOnlyList<long> batches, CancellationToken cancellationToken) => Inner.DeleteBatchesAsync(journalId, batches, cancellationToken);
    public Task<IReadOnlyList<JournalInfo>> ListAsync(CancellationToken cancellationToken) => Inner.ListAsync(cancellationToken);
    public Task<bool> FenceAsync(string journalId, string recoverer, CancellationToken cancellationToken) => Inner.FenceAsync(journalId, recoverer, cancellationToken);
    public Task<IReadOnlyList<JournalRecord>> ReadAllAsync(string journalId, CancellationToken cancellationToken) => Inner.ReadAllAsync(journalId, cancellationToken);
    public virtual Task<IReadOnlyList<JournalRecord>> ReadBatchesAsync(string journalId, IReadOnlyList<long> batches, CancellationToken cancellationToken) => Inner.ReadBatchesAsync(journalId, batches, cancellationToken);
    public Task RemoveAsync(string journalId, CancellationToken cancellationToken) => Inner.RemoveAsync(journalId, cancellationToken);
    public Task<LiabilityTotals> ReadLiabilityAsync(CancellationToken cancellationToken) => Inner.ReadLiabilityAsync(cancellationToken);
    public Task RecordErasureAsync(string erasureKey, long sequence, CancellationToken cancellationToken) => Inner.RecordErasureAsync(erasureKey, sequence, cancellationToken);
    public Task<long> ErasureFloorAsync(string erasureKey, CancellationToken cancellationToken) => Inner.ErasureFloorAsync(erasureKey, cancellationToken);
}

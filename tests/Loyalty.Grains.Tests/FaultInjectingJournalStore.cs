using Loyalty.Domain.Customers;
using Loyalty.Grains.Journal;
using Loyalty.TestKit;

namespace Loyalty.Grains.Tests;

/// <summary>The memory journal, slowed and broken on demand: appends can fail before storing (not stored) or after
/// (stored, but the caller saw an error: the ambiguous case the writer must resolve).</summary>
public sealed class FaultInjectingJournalStore : DelegatingJournalStore
{
    private int _failBefore;
    private int _failAfter;
    private int _appends;

    public TimeSpan AppendDelay { get; set; }
    public int Appends => Volatile.Read(ref _appends);
    public override bool Durable => false;

    /// <summary>Every record stored, in order (tests).</summary>
    public List<JournalRecord> Records { get; } = [];

    /// <summary>While set, every append waits for it before storing anything (a storage request that does not
    /// answer yet); <see cref="Held"/> counts the appends waiting.</summary>
    public TaskCompletionSource? Hold { get; set; }

    private int _held;

    public int HeldAppends => Volatile.Read(ref _held);

    private readonly System.Collections.Concurrent.ConcurrentQueue<JournalRecord> _readBack = new();

    /// <summary>Every record read back by <see cref="ReadBatchesAsync"/> (a reactivation before its checkpoint).</summary>
    public IReadOnlyCollection<JournalRecord> ReadBack => _readBack;

    public override async Task<IReadOnlyList<JournalRecord>> ReadBatchesAsync(string journalId, IReadOnlyList<long> batches, CancellationToken cancellationToken)
    {
        var records = await Inner.ReadBatchesAsync(journalId, batches, cancellationToken);
        foreach (var record in records)
        {
            _readBack.Enqueue(record);
        }
        return records;
    }

    public void FailNextAppends(int count, bool afterStoring = false)
    {
        Volatile.Write(ref _failBefore, afterStoring ? 0 : count);
        Volatile.Write(ref _failAfter, afterStoring ? count : 0);
    }

    public override async Task AppendAsync(string journalId, long batch, IReadOnlyList<JournalRecord> records, EncodedRecords? encoded,
        IReadOnlyCollection<string> mark, IReadOnlyCollection<string> unmark, LiabilityTotals? liability, CancellationToken cancellationToken)
    {
        if (AppendDelay > TimeSpan.Zero)
        {
            await Task.Delay(AppendDelay, cancellationToken);
        }
        if (Hold is { } hold)
        {
            Interlocked.Increment(ref _held);
            try
            {
                await hold.Task;
            }
            finally
            {
                Interlocked.Decrement(ref _held);
            }
        }
        Interlocked.Increment(ref _appends);
        if (Interlocked.Decrement(ref _failBefore) >= 0)
        {
            throw new IOException("injected journal failure (not stored)");
        }
        Interlocked.Exchange(ref _failBefore, 0);
        await Inner.AppendAsync(journalId, batch, records, encoded, mark, unmark, liability, cancellationToken);
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


    /// <summary>Records of the customer the journal holds now (after truncation of checkpointed batches).</summary>
    public int Held(string customerId) => Inner.RecordsOf(customerId);
}

using Loyalty.Domain.Customers;
using Loyalty.Grains.Journal;

namespace Loyalty.Grains.Customers;

/// <summary>
/// When a customer's checkpoint is due: after <see cref="JournalOptions.CheckpointEveryRecords"/> journal records, or
/// once the state has been dirty for <see cref="JournalOptions.CheckpointAfter"/>, and always on deactivation. Never
/// on the acknowledgement path: the grain starts the checkpoint in the background.
/// </summary>
public sealed class CheckpointPolicy(JournalOptions options, TimeProvider time)
{
    private int _records;
    private DateTimeOffset? _dirtySince;

    public bool Dirty => _records > 0;

    /// <summary>Records since the last checkpoint.</summary>
    public int Records => _records;

    /// <summary>A record was applied; true when that makes a checkpoint due by count.</summary>
    public bool Recorded()
    {
        _dirtySince ??= time.GetUtcNow();
        _records++;
        return _records >= options.CheckpointEveryRecords;
    }

    /// <summary>True when the state has been dirty for long enough.</summary>
    public bool DueByAge() => _dirtySince is { } since && time.GetUtcNow() - since >= options.CheckpointAfter;

    /// <summary>A checkpoint took the state with <paramref name="included"/> of the records counted so far.</summary>
    public void Taken(int included)
    {
        _records = Math.Max(0, _records - included);
        _dirtySince = _records > 0 ? time.GetUtcNow() : null;
    }

    /// <summary>Replayed records at activation count as dirty: they are in the journal, not in the checkpoint.</summary>
    public void Replayed(int records)
    {
        if (records > 0)
        {
            _records += records;
            _dirtySince ??= time.GetUtcNow();
        }
    }
}

/// <summary>The silo's checkpoint writes in flight, at most <see cref="JournalOptions.MaxConcurrentCheckpoints"/>: the
/// journal appends that callers wait for, and the activation reads of customers arriving, keep most of storage.</summary>
public sealed class CheckpointSlots(JournalOptions options)
{
    private readonly SemaphoreSlim _slots = new(options.MaxConcurrentCheckpoints, options.MaxConcurrentCheckpoints);
    private int _waiting;

    /// <summary>Slots taken: checkpoints under way.</summary>
    public int Writing => options.MaxConcurrentCheckpoints - _slots.CurrentCount;

    /// <summary>Checkpoints waiting for a slot (a gauge for operators: a long queue means checkpoints lag behind).</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    public async ValueTask<Slot> EnterAsync(CancellationToken cancellationToken = default)
    {
        if (!_slots.Wait(0, CancellationToken.None))
        {
            Interlocked.Increment(ref _waiting);
            JournalMetrics.CheckpointWaiting(1);
            try
            {
                await _slots.WaitAsync(cancellationToken);
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
                JournalMetrics.CheckpointWaiting(-1);
            }
        }
        return new Slot(this, _buffers.TryPop(out var buffers) ? buffers : new Loyalty.Domain.Customers.SnapshotLists());
    }

    /// <summary>One set of lists per slot for the snapshots checkpoints take: a customer at its bound remembers 3,000
    /// ids (216 KB), and a checkpoint is due at ~500 ledger entries (~94 KB); a fresh copy of each per checkpoint was a
    /// large object every time, most of the background gen2 collections of busy customers. A slot's lists are the
    /// snapshot's until the checkpoint ends.</summary>
    private readonly System.Collections.Concurrent.ConcurrentStack<Loyalty.Domain.Customers.SnapshotLists> _buffers = new();

    public readonly struct Slot(CheckpointSlots owner, Loyalty.Domain.Customers.SnapshotLists buffers) : IDisposable
    {
        /// <summary>The lists this checkpoint's snapshot keeps its remembered ids and ledger in (see
        /// <see cref="Loyalty.Domain.Customers.CustomerState.Snapshot(Loyalty.Domain.Customers.SnapshotLists)"/>).
        /// Emptied and reused once the slot is given back: the snapshot must not be read after that.</summary>
        public Loyalty.Domain.Customers.SnapshotLists Buffers => buffers;

        public void Dispose()
        {
            buffers.Clear();
            owner._buffers.Push(buffers);
            owner._slots.Release();
        }
    }
}

/// <summary>Writes a checkpoint: first the ledger entries not yet in the webhook outbox are queued there, then the
/// entries that leave the state go to the archive (both idempotent by sequence), then the state itself. Used by the
/// grain and by recovery.</summary>
public static class CheckpointWriter
{
    /// <summary>Trims <paramref name="snapshot"/> to the kept ledger tail (archiving the rest) and stores it; returns the
    /// ledger sequence archived through, so the live state can drop the same entries. <paramref name="noticesQueued"/>:
    /// entries through this sequence are known to be in the outbox already.</summary>
    public static async Task<long> WriteAsync(CustomerState snapshot, ILedgerArchive archive, int ledgerKept, Func<CustomerState, Task> store, string reason,
        Webhooks.WebhookOutbox outbox, long noticesQueued = 0)
    {
        // Before the state that holds them is stored: once it is, the journal may forget the records they came from.
        await outbox.QueueThroughAsync(snapshot, noticesQueued);
        var (entries, through) = snapshot.LedgerToArchive(ledgerKept);
        if (entries.Count > 0)
        {
            // Only journaled (stored) entries are in a snapshot, so a row written here is committed history: the same
            // in every later state, whoever writes it.
            await archive.AppendAsync(snapshot.CustomerId, entries);
            snapshot.TrimArchivedLedger(through);
        }
        await store(snapshot);
        JournalMetrics.Checkpointed(reason, entries.Count > 0);
        return snapshot.LedgerArchivedThrough;
    }
}

namespace Loyalty.Grains.Journal;

/// <summary>
/// Which small batches of one journal share which page row (<see cref="AzureTableJournalStore"/>). A batch whose records
/// deflate to one property goes into the open shared row, in the slot of its batch number, until the row has
/// <see cref="Slots"/> batches or <see cref="MaxBytes"/>; a batch too large for that gets rows of its own and closes the
/// open row, so row keys stay in batch order. A shared row is deleted once every batch stored in it is covered; the open
/// row is closed then, so the next batch starts a new one.
/// </summary>
/// <remarks>Why: a row per batch left thousands of rows in the journal's partition at moderate rates (2,435 at 45 s of the
/// open loop at 10,000 events/s), each deleted with an operation of its own, and the emulator looks a row up by scanning
/// its partition, so every append and delete cost more the more rows the partition held.</remarks>
public sealed class SharedPages
{
    /// <summary>Batches per shared row at most (one binary property each).</summary>
    public const int Slots = 32;

    /// <summary>Stored bytes per shared row at most: an entity holds 1 MiB, and a merge rewrites the whole entity.</summary>
    public const int MaxBytes = 256 * 1024;

    private readonly object _lock = new();
    private readonly Dictionary<long, Row> _rowOf = [];
    private readonly List<Row> _ready = [];
    /// <summary>Rows handed out by <see cref="TakeReady"/> and not yet deleted.</summary>
    private readonly List<Row> _taken = [];
    private Row? _open;

    private sealed class Row(long first)
    {
        public long First { get; } = first;
        public int Bytes;
        public bool Closed;
        public bool Queued;
        public readonly HashSet<long> Batches = [];
        public readonly HashSet<long> Deleted = [];

        public bool Done => Closed && !Queued && Batches.IsSubsetOf(Deleted);
    }

    /// <summary>Places a batch of <paramref name="bytes"/> stored bytes: the first batch of its shared row and its slot.
    /// A batch number tried again (its earlier request was not stored) takes its slot again.</summary>
    public (long First, int Slot) Place(long batch, int bytes)
    {
        lock (_lock)
        {
            if (_rowOf.TryGetValue(batch, out var earlier) && earlier != _open)
            {
                Forget(earlier, batch);
            }
            var row = _open;
            if (row is null || batch < row.First || batch - row.First >= Slots || row.Bytes + bytes > MaxBytes && !row.Batches.Contains(batch))
            {
                CloseOpen();
                row = _open = new Row(batch);
            }
            row.Batches.Add(batch);
            row.Bytes += bytes;
            _rowOf[batch] = row;
            return (row.First, (int)(batch - row.First));
        }
    }

    /// <summary>A batch in rows of its own follows: no later batch goes into the open row.</summary>
    public void Close()
    {
        lock (_lock)
        {
            CloseOpen();
        }
    }

    /// <summary>The batch's request was not stored: its row does not wait for it to be deleted.</summary>
    public void NotStored(long batch)
    {
        lock (_lock)
        {
            if (_rowOf.TryGetValue(batch, out var row))
            {
                Forget(row, batch);
            }
        }
    }

    /// <summary>The shared row and slot that hold <paramref name="batch"/>, if it went into one here.</summary>
    public bool Holds(long batch, out long first, out int slot)
    {
        lock (_lock)
        {
            if (_rowOf.TryGetValue(batch, out var row))
            {
                (first, slot) = (row.First, (int)(batch - row.First));
                return true;
            }
        }
        (first, slot) = (0, 0);
        return false;
    }

    /// <summary>The batch's records are all covered: true if it is in a shared row here (which is deleted once every
    /// batch in it is), false if it has rows of its own or was appended elsewhere.</summary>
    public bool Delete(long batch)
    {
        lock (_lock)
        {
            if (!_rowOf.TryGetValue(batch, out var row))
            {
                return false;
            }
            row.Deleted.Add(batch);
            if (row == _open && row.Batches.IsSubsetOf(row.Deleted))
            {
                // Covered whole while still open: it goes now rather than wait for more traffic (an erased customer's
                // records must not outlive the checkpoints that cover them), and the next batch opens a new row.
                CloseOpen();
            }
            else
            {
                ReadyIfDone(row);
            }
            return true;
        }
    }

    /// <summary>The shared rows (by first batch) to delete now; <see cref="Deleted"/> or <see cref="Requeue"/> follows.</summary>
    public IReadOnlyList<long> TakeReady()
    {
        lock (_lock)
        {
            var firsts = _ready.Select(r => r.First).ToList();
            _taken.AddRange(_ready);
            _ready.Clear();
            return firsts;
        }
    }

    /// <summary>The rows were deleted: their batches are forgotten.</summary>
    public void Deleted(IReadOnlyList<long> firsts)
    {
        lock (_lock)
        {
            foreach (var row in Taken(firsts))
            {
                foreach (var batch in row.Batches)
                {
                    _rowOf.Remove(batch);
                }
            }
        }
    }

    /// <summary>Deleting the rows failed: they are handed out again next time.</summary>
    public void Requeue(IReadOnlyList<long> firsts)
    {
        lock (_lock)
        {
            foreach (var row in Taken(firsts))
            {
                row.Queued = false;
                ReadyIfDone(row);
            }
        }
    }

    /// <summary>Takes the rows handed out with these first batches off the handed-out list.</summary>
    private List<Row> Taken(IReadOnlyList<long> firsts)
    {
        var rows = _taken.Where(r => firsts.Contains(r.First)).ToList();
        _taken.RemoveAll(rows.Contains);
        return rows;
    }

    private void Forget(Row row, long batch)
    {
        row.Batches.Remove(batch);
        row.Deleted.Remove(batch);
        _rowOf.Remove(batch);
        ReadyIfDone(row);
    }

    private void CloseOpen()
    {
        if (_open is { } open)
        {
            open.Closed = true;
            _open = null;
            ReadyIfDone(open);
        }
    }

    private void ReadyIfDone(Row row)
    {
        if (row.Done && row.Batches.Count > 0)
        {
            row.Queued = true;
            _ready.Add(row);
        }
    }
}

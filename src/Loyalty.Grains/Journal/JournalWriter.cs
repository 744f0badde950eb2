using System.Diagnostics;
using System.Threading.Channels;
using Loyalty.Domain.Customers;
using Microsoft.Extensions.Logging;

namespace Loyalty.Grains.Journal;

/// <summary>How the journal batches and when customers checkpoint (<c>Loyalty:Journal</c>).</summary>
public sealed record JournalOptions
{
    /// <summary>A customer's state is checkpointed after this many journal records...</summary>
    public int CheckpointEveryRecords { get; init; } = 200;
    /// <summary>...or once it has been dirty this long (and always on deactivation).</summary>
    public TimeSpan CheckpointAfter { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Records waiting for the journal beyond which new work is refused (RESOURCE_EXHAUSTED, retry later)
    /// instead of queued past what the journal can write before callers give up.</summary>
    public int MaxQueuedRecords { get; init; } = 20_000;
    /// <summary>How often fully checkpointed batches are deleted from the journal.</summary>
    public TimeSpan TruncateEvery { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Checkpoint writes a silo runs at once. Checkpoints are off the answer path, so they take their turn
    /// rather than crowd storage: with many dirty customers they fall behind <see cref="CheckpointAfter"/> (the journal
    /// keeps the records meanwhile) instead of starving journal appends and activation reads.</summary>
    public int MaxConcurrentCheckpoints { get; init; } = 4;
    /// <summary>Bytes of stored records a silo keeps until checkpoints cover them (for a customer that reactivates here
    /// before its checkpoint) beyond which new work is refused like a full backlog: a saturated engine runs fewer
    /// checkpoints than its traffic calls for, and without a bound what they have not covered yet only grows. 0 (the
    /// default): an eighth of the memory available to the process, at least 64 MiB. A silo keeps about
    /// <see cref="CheckpointAfter"/> of its traffic uncovered by design (24 MB a second at 60,000 events a second).</summary>
    public long MaxUncoveredBytes { get; init; }

    /// <summary>The bound in effect: <see cref="MaxUncoveredBytes"/>, or its default for this process.</summary>
    public long UncoveredBytesBound => MaxUncoveredBytes > 0
        ? MaxUncoveredBytes
        : Math.Max(64L << 20, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 8);
    /// <summary>Keep the points-liability totals (each record carries what it changed; the journal's head sums them).
    /// Off only to measure what tracking costs: the report is then incomplete.</summary>
    public bool TrackLiability { get; init; } = true;
    /// <summary>Under concurrent load, the least time from the start of one append to the start of the next (durable
    /// stores). When records arrived while an append was being stored, the next append waits for the rest of this
    /// interval, and the records that arrive meanwhile share it: at moderate rates the writer stores a few larger
    /// batches instead of many small ones, each a request the engine and the storage pay for (and, on Azure, a billed
    /// transaction against the partition's target). It never delays a caller that waits for each answer before the
    /// next call (nothing arrives while its append is stored), a journal that was quiet, appends already longer than the
    /// interval, or records the last batch had no room for. 0: every append starts as soon as the last is done.</summary>
    public TimeSpan MinAppendInterval { get; init; } = TimeSpan.FromMilliseconds(10);

    public static JournalOptions Default { get; } = new();

    /// <summary>Refuses settings that would break the write path, naming the key.</summary>
    public JournalOptions Validated()
    {
        if (CheckpointEveryRecords < 1)
        {
            throw new InvalidOperationException($"Loyalty:Journal:CheckpointEveryRecords must be at least 1, not {CheckpointEveryRecords}");
        }
        if (CheckpointAfter < TimeSpan.FromMilliseconds(100))
        {
            throw new InvalidOperationException($"Loyalty:Journal:CheckpointAfter must be at least 100 ms, not {CheckpointAfter}");
        }
        if (MaxQueuedRecords < 100)
        {
            throw new InvalidOperationException($"Loyalty:Journal:MaxQueuedRecords must be at least 100, not {MaxQueuedRecords}");
        }
        if (MaxConcurrentCheckpoints < 1)
        {
            throw new InvalidOperationException($"Loyalty:Journal:MaxConcurrentCheckpoints must be at least 1, not {MaxConcurrentCheckpoints}");
        }
        if (MaxUncoveredBytes != 0 && MaxUncoveredBytes < 64 * 1024)
        {
            throw new InvalidOperationException($"Loyalty:Journal:MaxUncoveredBytes must be 0 (an eighth of the memory available) or at least 65536, not {MaxUncoveredBytes}");
        }
        if (MinAppendInterval < TimeSpan.Zero || MinAppendInterval > TimeSpan.FromSeconds(1))
        {
            throw new InvalidOperationException($"Loyalty:Journal:MinAppendInterval must be from 0 to 1 s, not {MinAppendInterval}");
        }
        if (TruncateEvery < TimeSpan.FromMilliseconds(100))
        {
            throw new InvalidOperationException($"Loyalty:Journal:TruncateEvery must be at least 100 ms, not {TruncateEvery}");
        }
        return this;
    }
}

/// <summary>The silo's journal as a customer grain sees it.</summary>
public interface ICustomerJournal
{
    /// <summary>Completes once the record is stored (group commit with other customers' records); throws
    /// <see cref="EventsNotCommittedException"/> if it is certainly not stored.</summary>
    Task AppendAsync(JournalRecord record);

    /// <summary>Records of this silo's journal for the customer that no checkpoint covers yet, after <paramref name="after"/>,
    /// in order (read back from the journal).</summary>
    Task<IReadOnlyList<JournalRecord>> UncoveredAsync(string customerId, long after, CancellationToken cancellationToken);

    /// <summary>The customer's checkpoint now includes every record through <paramref name="through"/>.</summary>
    void Covered(string customerId, long through);

    /// <summary>After a failed append, the customer's later appends fail until its grain has rebuilt its state from
    /// storage and calls this (nothing may be stored on top of a record that was not).</summary>
    void Reset(string customerId);

    /// <summary>True when the journal cannot take more now (admission control).</summary>
    bool Saturated { get; }
}

/// <summary>
/// The silo's journal writer: packs the records of every customer on this silo into one storage request at a time
/// (group commit across customers: while one request is in flight the next batch gathers) and completes each record's
/// task only after the request that holds it succeeded. After a failed request it asks the store whether the batch
/// landed, so every record is known to be stored or known not to be; records queued behind a failed batch fail too
/// (they were applied on top of it). It also remembers which records no checkpoint covers yet: they are what a customer
/// reactivated on this silo replays, and batches are deleted once every record in them is covered.
/// </summary>
public sealed class JournalWriter : ICustomerJournal, ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>How long a stopping writer keeps trying to write what is queued when storage does not answer.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);

    /// <summary>How often an idle writer touches its journal's head.</summary>
    public static readonly TimeSpan HeartbeatEvery = TimeSpan.FromSeconds(1);
    private readonly IJournalStore _store;
    private readonly JournalOptions _options;
    private readonly ILogger<JournalWriter> _logger;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _index = new();
    private readonly Dictionary<string, List<UncoveredRecord>> _uncovered = new(StringComparer.Ordinal);
    /// <summary>Emptied lists of <see cref="_uncovered"/>, for the next customers that need one. A customer's list
    /// empties at every checkpoint and grew again from nothing: each doubling a new array that lived until the next
    /// checkpoint, so young collections copied them (a tenth of what they promoted in memory <c>batch</c> with 10,000
    /// customers). At most <see cref="SpareListsKept"/> lists of at most <see cref="SpareListCapacity"/> records (one
    /// checkpoint's worth at the default 200) are kept: 24 MB at most.</summary>
    private readonly Stack<List<UncoveredRecord>> _spareLists = new();
    internal const int SpareListsKept = 4_096;
    /// <summary>Lists larger than this (a customer that went long without a checkpoint) are not kept as spares.</summary>
    internal const int SpareListCapacity = 256;
    private readonly Dictionary<long, int> _outstanding = [];
    private readonly List<long> _deletable = [];
    private int _backlog;
    private long _uncoveredBytes;
    private readonly long _uncoveredBound;
    private readonly HashSet<string> _poisoned = new(StringComparer.Ordinal);
    // Owner marks (durable stores only): customers with a mark row in the journal, and covered ones whose mark may go.
    private readonly HashSet<string> _marked = new(StringComparer.Ordinal);
    /// <summary>Covered customers whose mark is still stored, with the mark row it is in (hashed once, not at every
    /// append that looks at them).</summary>
    private readonly Dictionary<string, int> _unmarkPending = new(StringComparer.Ordinal);
    private readonly HashSet<string> _batchMarks = new(StringComparer.Ordinal);
    private readonly List<string> _batchUnmarks = [];
    /// <summary>The store's mark rows this batch's marks and unmarks rewrite (<see cref="IJournalStore.MarkRowOf"/>), and
    /// their bytes: they count against <see cref="IJournalStore.MaxBatchBytes"/> with the records.</summary>
    private readonly HashSet<int> _batchRows = [];
    private int _markBytes;
    /// <summary>Mark rows one append may rewrite: the entities of a transaction less the head and up to 4 pages (2.5 MiB
    /// of records in pages of 960,000 bytes that no record spans). Any number of marks may share a row.</summary>
    private const int MarkRowsPerBatch = AzureTableJournalStore.MaxEntitiesPerBatch - 1 - 4;
    private long _batch;
    /// <summary>When the last batch of records started (<see cref="Stopwatch"/> ticks).</summary>
    private long _lastAppendStarted;
    /// <summary>Records arrived while the last batch of a durable store was stored: the next one keeps to
    /// <see cref="JournalOptions.MinAppendInterval"/>.</summary>
    private bool _paceNext;
    /// <summary>The liability totals of every stored batch of this journal (its head holds the same).</summary>
    private LiabilityTotals _liability = new();
    private Exception? _fenced;
    private readonly TaskCompletionSource<Exception> _fencedNews = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _unresolvedAtStop;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private Task _truncating = Task.CompletedTask;

    /// <param name="Queued">When the record was handed over (<see cref="Stopwatch"/> timestamp).</param>
    private sealed record Pending(JournalRecord Record, TaskCompletionSource Done, long Queued);

    /// <summary>A stored record no checkpoint covers yet: where it is (its batch) and its size, not its bytes. A customer
    /// that reactivates here before its checkpoint (its deactivation's checkpoint failed, or it was broken) reads its
    /// records back from the journal (<see cref="UncoveredAsync"/>). Keeping every record's bytes instead, for up to a
    /// checkpoint's interval, made them most of what young collections promoted and a pinned allocation per record on
    /// the writer's thread (5 % of the engine's CPU in durable <c>game</c>), for a path that is rarely taken.</summary>
    private readonly record struct UncoveredRecord(long Sequence, long Batch, int Bytes);

    public JournalWriter(IJournalStore store, JournalOptions options, ILocalSiloDetails silo, ILogger<JournalWriter> logger)
        : this(store, options, IdOf(silo.SiloAddress), logger)
    {
    }

    public JournalWriter(IJournalStore store, JournalOptions options, string journalId, ILogger<JournalWriter> logger)
    {
        _store = store;
        _options = options;
        _uncoveredBound = options.UncoveredBytesBound;
        _logger = logger;
        JournalId = journalId;
    }

    /// <summary>A silo incarnation's journal id (address and generation): a restarted silo gets a new journal.</summary>
    public static string IdOf(SiloAddress silo) => "j-" + silo.ToParsableString().Replace('@', '-');

    /// <summary>The silo a journal id belongs to.</summary>
    public static SiloAddress? SiloOf(string journalId)
    {
        if (!journalId.StartsWith("j-", StringComparison.Ordinal))
        {
            return null;
        }
        var text = journalId[2..];
        var dash = text.LastIndexOf('-');
        try
        {
            return dash < 0 ? null : SiloAddress.FromParsableString(text[..dash] + "@" + text[(dash + 1)..]);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public string JournalId { get; }

    /// <summary>Completes when recovery took (or removed) this journal: the silo was taken for dead and can acknowledge
    /// nothing more, so its host stops it (a new start gets a new journal).</summary>
    public Task<Exception> Fenced => _fencedNews.Task;

    public bool Saturated => Volatile.Read(ref _backlog) >= _options.MaxQueuedRecords || UncoveredBytes >= _uncoveredBound;

    /// <summary>Bytes of stored records no checkpoint covers yet, kept by this writer.</summary>
    public long UncoveredBytes => Interlocked.Read(ref _uncoveredBytes);

    /// <summary>Records given to the writer and not yet answered (queued or in an append in flight).</summary>
    public int Backlog => Volatile.Read(ref _backlog);

    /// <summary>Opens before grains can be called and closes after they have all deactivated (and checkpointed).</summary>
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(JournalWriter), ServiceLifecycleStage.RuntimeStorageServices, StartAsync, StopAsync);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _store.OpenAsync(JournalId, JournalId, cancellationToken);
        _loop = Task.Run(() => ExecuteAsync(_stopping.Token), CancellationToken.None);
        _truncating = Task.Run(() => TruncateLoop(_stopping.Token), CancellationToken.None);
        _opened.TrySetResult();
    }

    public Task AppendAsync(JournalRecord record)
    {
        if (_fenced is { } fenced)
        {
            return Task.FromException(new EventsNotCommittedException("This silo's journal was taken over by recovery; nothing was applied. Retry.", fenced));
        }
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_poisoned)
        {
            if (_poisoned.Count > 0 && _poisoned.Contains(record.CustomerId))
            {
                return Task.FromException(new EventsNotCommittedException("An earlier write of this customer failed; nothing was applied. Retry."));
            }
            Interlocked.Increment(ref _backlog);
            if (!_queue.Writer.TryWrite(new Pending(record, done, Stopwatch.GetTimestamp())))
            {
                Interlocked.Decrement(ref _backlog);
                return Task.FromException(new EventsNotCommittedException("The journal is closed (the silo is stopping); nothing was applied. Retry."));
            }
        }
        return done.Task;
    }

    private async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var reader = _queue.Reader;
        var batch = new List<Pending>(256);
        var records = new List<JournalRecord>(256);
        // The batch's records encoded back to back: one buffer reused batch after batch (a store takes its pages as
        // spans of it, and is done with it when its append completes).
        var encoded = new EncodedRecords();
        // Records taken from the queue and not yet in a batch, in their order: those the last batch had no room for.
        var carried = new Queue<Pending>();
        var deferred = new Queue<Pending>();
        var deferredCustomers = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            // Ends when the queue is completed at stop, after everything queued was written. While idle, an empty
            // append every second is the writer's heartbeat: recovery tells a live journal of a silo it does not
            // know (another process sharing the storage) from a dead one by its head advancing.
            Task<bool>? waiting = null;
            while (true)
            {
                if (carried.Count == 0)
                {
                    waiting ??= reader.WaitToReadAsync(CancellationToken.None).AsTask();
                    // Pending unmarks go out soon (another silo may be waiting to activate that customer).
                    var idle = UnmarksPending ? TimeSpan.FromMilliseconds(10) : HeartbeatEvery;
                    if (_store.Durable && await Task.WhenAny(waiting, Task.Delay(idle, CancellationToken.None)) != waiting)
                    {
                        if (_fenced is null)
                        {
                            await Flush([], [], EncodedRecords.None, 0, CancellationToken.None);
                        }
                        continue;
                    }
                    var more = await waiting;
                    waiting = null;
                    if (!more)
                    {
                        break;
                    }
                }
                if (carried.Count == 0)
                {
                    await Paced();
                }
                batch.Clear();
                records.Clear();
                encoded.Clear();
                _batchMarks.Clear();
                _batchRows.Clear();
                _markBytes = 0;
                deferredCustomers.Clear();
                var bytes = 0;
                while (batch.Count < 50_000 && deferred.Count < MaxDeferred && (carried.TryDequeue(out var next) || reader.TryRead(out next)))
                {
                    var mark = _store.Durable ? MarkCost(next.Record.CustomerId) : (Row: -1, Bytes: 0);
                    if (mark.Row == NoRoom || deferredCustomers.Contains(next.Record.CustomerId))
                    {
                        // The batch has no mark row left for this customer: it waits for the next batch, and so does
                        // every later record of it (a customer's records keep their order). Customers whose rows the
                        // batch rewrites anyway (or who have their mark) may still join it.
                        deferred.Enqueue(next);
                        deferredCustomers.Add(next.Record.CustomerId);
                        continue;
                    }
                    int size;
                    try
                    {
                        size = encoded.Add(next.Record);
                    }
                    catch (Exception e)
                    {
                        Done(next, e);
                        continue;
                    }
                    if (size > AzureTableJournalStore.PageBytes || (batch.Count > 0 && bytes + _markBytes + size + mark.Bytes > _store.MaxBatchBytes))
                    {
                        encoded.RemoveLast();
                        if (batch.Count == 0)
                        {
                            Done(next, new EventsNotCommittedException($"This request is too large for one journal record ({size} bytes); send fewer events per call."));
                            continue;
                        }
                        deferred.Enqueue(next); // it opens the next batch
                        break;
                    }
                    bytes += size;
                    batch.Add(next);
                    records.Add(next.Record);
                    if (_store.Durable)
                    {
                        Mark(next.Record.CustomerId, mark);
                    }
                }
                // What this batch did not look at follows what it put off.
                while (carried.TryDequeue(out var rest))
                {
                    deferred.Enqueue(rest);
                }
                (carried, deferred) = (deferred, carried);
                if (batch.Count == 0)
                {
                    continue;
                }
                await Flush(batch, records, encoded, bytes, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        var stopping = new EventsNotCommittedException("The silo is stopping; nothing was applied. Retry.");
        foreach (var p in carried)
        {
            Done(p, stopping);
        }
        FailQueued(stopping);
    }

    /// <summary>When records arrived while the last batch was stored, waits until
    /// <see cref="JournalOptions.MinAppendInterval"/> has passed since it started. Records keep arriving meanwhile and
    /// go in the batch that follows.</summary>
    private Task Paced()
    {
        if (!_paceNext)
        {
            return Task.CompletedTask;
        }
        var left = _options.MinAppendInterval - Stopwatch.GetElapsedTime(_lastAppendStarted);
        return left >= TimeSpan.FromMilliseconds(1) ? Task.Delay(left, CancellationToken.None) : Task.CompletedTask;
    }

    private async Task Flush(List<Pending> batch, List<JournalRecord> records, EncodedRecords encoded, int bytes, CancellationToken stoppingToken)
    {
        var number = _batch + 1;
        var started = Stopwatch.GetTimestamp();
        if (batch.Count > 0)
        {
            _lastAppendStarted = started;
        }
        bool stored;
        Exception? failure = null;
        ChooseUnmarks(records, bytes);
        var liability = LiabilityAfter(records);
        try
        {
            await _store.AppendAsync(JournalId, number, records, encoded, _batchMarks, _batchUnmarks, liability, CancellationToken.None);
            stored = true;
        }
        catch (Exception e)
        {
            failure = e;
            stored = await Resolve(number, e, stoppingToken);
        }
        MarksSettled(stored);
        if (stored)
        {
            _batch = number;
            if (liability is not null)
            {
                _liability = liability;
            }
            long added = 0;
            lock (_index)
            {
                for (var i = 0; i < records.Count; i++)
                {
                    var record = records[i];
                    record.Liability = null; // summed into the head just stored; the record stays until a checkpoint
                    if (!_uncovered.TryGetValue(record.CustomerId, out var list))
                    {
                        _uncovered[record.CustomerId] = list = _spareLists.TryPop(out var spare) ? spare : [];
                    }
                    list.Add(new UncoveredRecord(record.Sequence, number, encoded.SizeOf(i)));
                    added += encoded.SizeOf(i);
                    // A checkpoint that finished while this record was being stored covered only earlier records: the
                    // customer has an uncovered record again, so its mark must not go (a chaos run lost an
                    // acknowledged event that way: the mark went, the silo died, the customer started elsewhere from
                    // the checkpoint without recovering this journal).
                    _unmarkPending.Remove(record.CustomerId);
                }
                _outstanding[number] = records.Count;
            }
            Interlocked.Add(ref _uncoveredBytes, added);
            JournalMetrics.Uncovered(added);
            if (records.Count > 0)
            {
                JournalMetrics.Appended(records.Count, EventsIn(records), bytes, Stopwatch.GetElapsedTime(started));
            }
            else
            {
                JournalMetrics.Request("heartbeat");
            }
            // Records that arrived while this batch was stored (concurrent callers; looked at before its callers hear,
            // so a caller's next call is not one of them) may wait to share the next batch. Only a durable store's
            // appends are requests worth sparing.
            _paceNext = _store.Durable && _options.MinAppendInterval > TimeSpan.Zero && batch.Count > 0 && _queue.Reader.TryPeek(out _);
            foreach (var p in batch)
            {
                JournalMetrics.Committed(Stopwatch.GetElapsedTime(p.Queued));
                Done(p, null);
            }
            return;
        }
        _logger.LogError(failure, "Journal {JournalId} batch {Batch} of {Records} records was not stored; failing it and everything queued behind it", JournalId, number, records.Count);
        JournalMetrics.Failed();
        var error = _fenced is { } fenced
            ? new EventsNotCommittedException("This silo's journal was taken over by recovery; nothing was applied. Retry.", fenced)
            : _unresolvedAtStop
                ? new EventsNotCommittedException("The silo stopped before storage confirmed these events; they may or may not be applied. Retrying with the same ids is safe.", failure!)
                : new EventsNotCommittedException("The journal write failed; these events were not applied. Retrying with the same ids is safe.", failure!);
        lock (_poisoned)
        {
            foreach (var p in batch)
            {
                _poisoned.Add(p.Record.CustomerId);
            }
            while (_queue.Reader.TryRead(out var queued))
            {
                _poisoned.Add(queued.Record.CustomerId);
                Done(queued, error);
            }
        }
        foreach (var p in batch)
        {
            Done(p, error);
        }
    }

    /// <summary>The journal's liability totals with this batch's changes, or null when it has none.</summary>
    private LiabilityTotals? LiabilityAfter(List<JournalRecord> records)
    {
        LiabilityTotals? next = null;
        foreach (var record in records)
        {
            if (record.Liability is { } change)
            {
                (next ??= _liability.Copy()).Add(change);
            }
        }
        next?.Compact();
        return next;
    }

    private bool UnmarksPending
    {
        get
        {
            lock (_index)
            {
                return _unmarkPending.Count > 0;
            }
        }
    }

    private const int NoRoom = -2;

    /// <summary>Records a batch puts off (no mark row left for them) before it stops looking for more that fit.</summary>
    private const int MaxDeferred = 4_096;

    /// <summary>What the customer's record adds to this batch's mark rows: nothing when it has its mark (row -1); the
    /// key when its row is already rewritten by this batch; the row as stored and the key when the row is new to the
    /// batch; <see cref="NoRoom"/> when it would need a row and the batch has all it may rewrite.</summary>
    private (int Row, int Bytes) MarkCost(string customerId)
    {
        lock (_index)
        {
            if (_marked.Contains(customerId) || _batchMarks.Contains(customerId))
            {
                return (-1, 0);
            }
        }
        var row = _store.MarkRowOf(customerId);
        if (_batchRows.Contains(row))
        {
            return (row, MarkBuckets.KeyBytes);
        }
        return _batchRows.Count < MarkRowsPerBatch ? (row, _store.MarkRowBytes(JournalId, row) + MarkBuckets.KeyBytes) : (NoRoom, 0);
    }

    /// <summary>The customer has a record in this batch: it needs its mark (or keeps the one it has).</summary>
    private void Mark(string customerId, (int Row, int Bytes) cost)
    {
        lock (_index)
        {
            _unmarkPending.Remove(customerId);
            if (cost.Row >= 0 && !_marked.Contains(customerId) && _batchMarks.Add(customerId))
            {
                _batchRows.Add(cost.Row);
                _markBytes += cost.Bytes;
            }
        }
    }

    /// <summary>Covered customers whose mark goes with this batch (never one that has a record in it).</summary>
    private void ChooseUnmarks(List<JournalRecord> records, int recordBytes)
    {
        _batchUnmarks.Clear();
        if (!_store.Durable)
        {
            return;
        }
        lock (_index)
        {
            HashSet<string>? inBatch = null;
            // Once the batch's rows are taken (or its bytes), only unmarks in those rows still fit: look a little further
            // for them.
            var lookFurther = UnmarksBeyondFullRows;
            foreach (var (customer, row) in _unmarkPending)
            {
                var newRow = !_batchRows.Contains(row);
                var cost = newRow ? _store.MarkRowBytes(JournalId, row) : 0;
                if (newRow && (_batchRows.Count >= MarkRowsPerBatch || recordBytes + _markBytes + cost > _store.MaxBatchBytes))
                {
                    if (--lookFurther <= 0)
                    {
                        break;
                    }
                    continue;
                }
                // A checkpoint may have finished after this batch took the customer's next record: that record is not
                // covered, so the mark stays.
                inBatch ??= records.Select(r => r.CustomerId).ToHashSet(StringComparer.Ordinal);
                if (!inBatch.Contains(customer))
                {
                    _batchUnmarks.Add(customer);
                    _batchRows.Add(row);
                    _markBytes += cost;
                }
            }
        }
    }

    /// <summary>Pending unmarks looked at after the batch's mark rows are all taken.</summary>
    private const int UnmarksBeyondFullRows = 2_000;

    private void MarksSettled(bool stored)
    {
        if (!_store.Durable)
        {
            return;
        }
        lock (_index)
        {
            if (stored)
            {
                _marked.UnionWith(_batchMarks);
                foreach (var customer in _batchUnmarks)
                {
                    _marked.Remove(customer);
                    _unmarkPending.Remove(customer);
                }
            }
            _batchMarks.Clear();
            _batchUnmarks.Clear();
            _batchRows.Clear();
            _markBytes = 0;
        }
    }

    public void Reset(string customerId)
    {
        lock (_poisoned)
        {
            _poisoned.Remove(customerId);
        }
    }

    /// <summary>After a failed append: did the batch land? Retries until storage answers, or the journal is fenced.</summary>
    private async Task<bool> Resolve(long number, Exception failure, CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            try
            {
                return await _store.ResolveAsync(JournalId, number, CancellationToken.None);
            }
            catch (JournalFencedException e)
            {
                _fenced = e;
                _logger.LogCritical(e, "Journal {JournalId} was taken by recovery: this silo was declared dead and acknowledges nothing more", JournalId);
                _fencedNews.TrySetResult(e);
                return false;
            }
            catch (Exception e)
            {
                if (stoppingToken.IsCancellationRequested)
                {
                    // The silo is stopping and storage does not answer: the callers are told the outcome is unknown
                    // (a retry with the same ids is safe either way); recovery replays the batch if it landed.
                    _logger.LogError(e, "Journal {JournalId}: stopping without knowing whether batch {Batch} was stored", JournalId, number);
                    _unresolvedAtStop = true;
                    return false;
                }
                _logger.LogWarning(e, "Journal {JournalId}: cannot yet tell whether batch {Batch} was stored (after {Failure}); asking again", JournalId, number, failure.Message);
                try
                {
                    await Task.Delay(delay, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                }
                delay = TimeSpan.FromMilliseconds(Math.Min(2000, delay.TotalMilliseconds * 2));
            }
        }
    }

    private void FailQueued(Exception error)
    {
        while (_queue.Reader.TryRead(out var p))
        {
            Done(p, error);
        }
    }

    private void Done(Pending p, Exception? error)
    {
        Interlocked.Decrement(ref _backlog);
        if (error is null)
        {
            p.Done.TrySetResult();
        }
        else
        {
            p.Done.TrySetException(error);
        }
    }

    private static int EventsIn(List<JournalRecord> records)
    {
        var events = 0;
        foreach (var r in records)
        {
            events += r.Command.Events?.Count ?? 1;
        }
        return events;
    }

    /// <summary>The customer's stored records after <paramref name="after"/> that no checkpoint covers, in sequence order,
    /// read back from the journal. Every one of them must be there (their batches are not deleted while they are
    /// uncovered): a missing one is an error, never a customer rebuilt without it.</summary>
    public async Task<IReadOnlyList<JournalRecord>> UncoveredAsync(string customerId, long after, CancellationToken cancellationToken)
    {
        UncoveredRecord[] found;
        lock (_index)
        {
            found = _uncovered.TryGetValue(customerId, out var list) ? [.. list.Where(r => r.Sequence > after)] : [];
        }
        if (found.Length == 0)
        {
            return [];
        }
        var batches = new List<long>(found.Length);
        foreach (var r in found)
        {
            if (batches.Count == 0 || batches[^1] != r.Batch)
            {
                batches.Add(r.Batch);
            }
        }
        if (_store.Durable)
        {
            JournalMetrics.Request("read-uncovered", batches.Count);
        }
        var stored = await _store.ReadBatchesAsync(JournalId, batches, cancellationToken);
        var bySequence = new Dictionary<long, JournalRecord>();
        foreach (var record in stored)
        {
            if (record.Sequence > after && string.Equals(record.CustomerId, customerId, StringComparison.Ordinal))
            {
                bySequence[record.Sequence] = record;
            }
        }
        var records = new List<JournalRecord>(found.Length);
        foreach (var r in found)
        {
            records.Add(bySequence.TryGetValue(r.Sequence, out var record)
                ? record
                : throw new InvalidOperationException($"journal {JournalId} batch {r.Batch} does not hold record {customerId}#{r.Sequence}, which no checkpoint covers"));
        }
        return records;
    }

    public void Covered(string customerId, long through)
    {
        lock (_index)
        {
            if (!_uncovered.TryGetValue(customerId, out var list))
            {
                return;
            }
            var n = 0;
            long released = 0;
            while (n < list.Count && list[n].Sequence <= through)
            {
                released += list[n].Bytes;
                var batch = list[n].Batch;
                if (--_outstanding[batch] == 0)
                {
                    _outstanding.Remove(batch);
                    _deletable.Add(batch);
                }
                n++;
            }
            list.RemoveRange(0, n);
            Interlocked.Add(ref _uncoveredBytes, -released);
            JournalMetrics.Uncovered(-released);
            if (list.Count == 0)
            {
                _uncovered.Remove(customerId);
                if (_spareLists.Count < SpareListsKept && list.Capacity <= SpareListCapacity)
                {
                    _spareLists.Push(list);
                }
                if (_marked.Contains(customerId))
                {
                    _unmarkPending.TryAdd(customerId, _store.MarkRowOf(customerId));
                }
            }
        }
    }

    /// <summary>Emptied lists kept for the next customers that need one (tests).</summary>
    public int SpareLists
    {
        get
        {
            lock (_index)
            {
                return _spareLists.Count;
            }
        }
    }

    /// <summary>Customers with records no checkpoint covers (tests, shutdown).</summary>
    public int UncoveredCustomers
    {
        get
        {
            lock (_index)
            {
                return _uncovered.Count;
            }
        }
    }

    private async Task TruncateLoop(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(_options.TruncateEvery, stoppingToken);
            await TruncateAsync(stoppingToken);
        }
    }

    /// <summary>Batches deleted in one request while truncating (most batches are one page row; a transaction holds 100).
    /// Small, because an append that arrives while a delete is being served waits for it: the emulator serves one
    /// request at a time and removes rows one by one (about 1.2 ms each at 5,000 events/s), so deletes of 50 held the
    /// appends behind them for 40–130 ms and were behind 110 of the 121 appends over 40 ms of an open-loop run; at 8
    /// they take 5–20 ms (docs/benchmarks.md, 2026-12-06 tenth session). On Azure a delete costs a partition little
    /// whatever its size, and 8 still keeps deleting to about one request per eight appends.</summary>
    public const int TruncateChunk = 8;

    /// <summary>Deletes batches every record of which a checkpoint covers, <see cref="TruncateChunk"/> at a time, the
    /// requests spread over <see cref="JournalOptions.TruncateEvery"/>. Deleting is garbage collection, and the appends
    /// callers wait for share the journal's partition with it (its throughput on Azure; the emulator serves one request
    /// at a time): after a wave of checkpoints thousands of batches come due at once, and deleting them back to back
    /// put hundreds of events of the open loop past 250 ms.</summary>
    public async Task TruncateAsync(CancellationToken cancellationToken)
    {
        List<long> batches;
        lock (_index)
        {
            if (_deletable.Count == 0)
            {
                return;
            }
            batches = [.. _deletable];
            _deletable.Clear();
        }
        batches.Sort();
        var chunks = (batches.Count + TruncateChunk - 1) / TruncateChunk;
        var spacing = chunks > 1 ? _options.TruncateEvery / chunks : TimeSpan.Zero;
        for (var done = 0; done < batches.Count; done += TruncateChunk)
        {
            var chunk = batches.GetRange(done, Math.Min(TruncateChunk, batches.Count - done));
            try
            {
                if (done > 0 && spacing > TimeSpan.Zero)
                {
                    await Task.Delay(spacing, cancellationToken);
                }
                await _store.DeleteBatchesAsync(JournalId, chunk, cancellationToken);
                JournalMetrics.Truncated();
            }
            catch (Exception e)
            {
                if (!cancellationToken.IsCancellationRequested)
                {
                    _logger.LogWarning(e, "Journal {JournalId}: deleting {Count} checkpointed batches failed; trying again later", JournalId, batches.Count - done);
                }
                lock (_index)
                {
                    _deletable.AddRange(batches.Skip(done));
                }
                cancellationToken.ThrowIfCancellationRequested();
                return;
            }
        }
    }

    /// <summary>On a clean stop every customer has checkpointed (deactivation): the journal is removed. What is still
    /// uncovered stays for recovery.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        try
        {
            // What is queued is written; a journal that cannot reach storage stops asking after a while.
            await _loop.WaitAsync(StopGrace, cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
        }
        await _stopping.CancelAsync();
        try
        {
            await _loop.WaitAsync(StopGrace, CancellationToken.None);
        }
        catch (TimeoutException)
        {
            _logger.LogError("Journal {JournalId}: the writer did not stop in time; what it did not confirm stays for recovery", JournalId);
        }
        try
        {
            await _truncating;
        }
        catch (OperationCanceledException)
        {
        }
        await TruncateAsync(cancellationToken);
        if (_fenced is not null || !_opened.Task.IsCompletedSuccessfully)
        {
            return;
        }
        if (UncoveredCustomers == 0)
        {
            try
            {
                await _store.RemoveAsync(JournalId, cancellationToken);
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "Journal {JournalId} could not be removed at stop; recovery will find it empty", JournalId);
            }
        }
        else
        {
            _logger.LogWarning("Journal {JournalId} stops with {Customers} customers not checkpointed; recovery replays them", JournalId, UncoveredCustomers);
        }
    }
}

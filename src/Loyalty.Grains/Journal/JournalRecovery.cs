using Loyalty.Domain.Customers;
using Loyalty.Grains.Customers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Loyalty.Grains.Journal;

/// <summary>
/// Rebuilds the customers of dead silos from their journals before anyone serves them again (docs/journal.md).
/// Every silo keeps an activation gate: closed at start and whenever the cluster membership shows a silo dead whose
/// journal is still in the directory; open once every such journal is recovered. Customer activations wait on it.
/// Recovery first takes the journal's head (so a silo declared dead but still running can append nothing more), then
/// replays each customer's records after its checkpoint and writes the checkpoint (ETag-guarded), then deletes the
/// journal. Recovering a journal twice (two silos at once) is harmless: replay starts after the checkpoint.
/// </summary>
public sealed class JournalRecovery : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly IJournalStore _store;
    private readonly JournalWriter _writer;
    private readonly IClusterMembershipService _membership;
    private readonly IServiceProvider _services;
    private readonly ProgramVersions _programs;
    private readonly EngineLimits _limits;
    private readonly ILedgerArchive _archive;
    private readonly Webhooks.WebhookOutbox _outbox;
    private readonly ILogger<JournalRecovery> _logger;
    private readonly object _lock = new();
    private TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private Task _watching = Task.CompletedTask;
    private readonly SemaphoreSlim _scan = new(1, 1);
    /// <summary>Deaths the membership announced: a scan that began before the latest one may not open the gate.</summary>
    private long _deathNews;
    /// <summary>Scans asked for by membership news; one waiting is enough (it reads the latest state).</summary>
    private readonly System.Threading.Channels.Channel<bool> _rescan =
        System.Threading.Channels.Channel.CreateBounded<bool>(new System.Threading.Channels.BoundedChannelOptions(1) { FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite });

    public JournalRecovery(IJournalStore store, JournalWriter writer, IClusterMembershipService membership, IServiceProvider services,
        ProgramVersions programs, EngineLimits limits, ILedgerArchive archive, Webhooks.WebhookOutbox outbox, ILogger<JournalRecovery> logger)
    {
        _outbox = outbox;
        _store = store;
        _writer = writer;
        _membership = membership;
        _services = services;
        _programs = programs;
        _limits = limits;
        _archive = archive;
        _logger = logger;
        if (!store.Durable)
        {
            _gate.TrySetResult();
        }
    }

    /// <summary>Completes when no known dead journal waits for recovery.</summary>
    public Task Ready
    {
        get
        {
            lock (_lock)
            {
                return _gate.Task;
            }
        }
    }

    private IReadOnlyList<JournalInfo> _journals = [];
    private DateTime _journalsAt;
    private Task<IReadOnlyList<JournalInfo>>? _listing;
    private MembershipVersion _journalsVersion;
    private static readonly TimeSpan DirectoryFresh = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan HeldTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Before a customer activates here: if another silo's journal holds records of it that no checkpoint covers
    /// (its owner mark), wait until that silo has checkpointed them, or recover that journal if its silo is dead.
    /// True when it had to wait or recover (the caller reads the checkpoint again).
    /// </summary>
    public async Task<bool> SettleAsync(string customerId, CancellationToken cancellationToken)
    {
        if (!_store.Durable)
        {
            return false;
        }
        var journals = await JournalsAsync(cancellationToken);
        var waited = false;
        // A silo the membership does not know gets longer: its journal is recovered only once its head stood still.
        var until = DateTime.UtcNow + HeldTimeout;
        var unknownUntil = until + HeadWatch.SilentFor;
        foreach (var journal in journals)
        {
            if (journal.JournalId == _writer.JournalId)
            {
                continue;
            }
            while (await _store.HasMarkAsync(journal.JournalId, customerId, cancellationToken))
            {
                waited = true;
                var silo = JournalWriter.SiloOf(journal.JournalId);
                if (silo is null || _membership.CurrentSnapshot.GetSiloStatus(silo) == SiloStatus.Dead)
                {
                    await _scan.WaitAsync(cancellationToken);
                    try
                    {
                        await RecoverAsync(journal.JournalId, cancellationToken);
                    }
                    finally
                    {
                        _scan.Release();
                    }
                    break;
                }
                if (DateTime.UtcNow > (_membership.CurrentSnapshot.GetSiloStatus(silo) == SiloStatus.None ? unknownUntil : until))
                {
                    throw new EventsNotCommittedException($"Customer {customerId} still has records in journal {journal.JournalId} that its silo has not checkpointed yet; nothing was applied. Retry.");
                }
                // Its silo is finishing the customer's checkpoint (it moved), or is unknown and being watched.
                await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
            }
        }
        return waited;
    }

    /// <summary>The journal directory, read again when the membership changed or it is a few seconds old. Activations
    /// arriving together share one read (thousands of cold customers at once must not each list the directory).</summary>
    private async Task<IReadOnlyList<JournalInfo>> JournalsAsync(CancellationToken cancellationToken)
    {
        var snapshot = _membership.CurrentSnapshot;
        Task<IReadOnlyList<JournalInfo>> refresh;
        lock (_lock)
        {
            if (DateTime.UtcNow - _journalsAt <= DirectoryFresh && _journalsVersion == snapshot.Version)
            {
                return _journals;
            }
            // Started off the lock: its end (which takes the lock) cannot run before it is published here.
            refresh = _listing ??= Task.Run(() => List(snapshot.Version));
        }
        return await refresh.WaitAsync(cancellationToken);

        async Task<IReadOnlyList<JournalInfo>> List(MembershipVersion version)
        {
            try
            {
                var journals = await _store.ListAsync(_stopping.Token);
                lock (_lock)
                {
                    _journals = journals;
                    _journalsAt = DateTime.UtcNow;
                    _journalsVersion = version;
                }
                return journals;
            }
            finally
            {
                lock (_lock)
                {
                    _listing = null;
                }
            }
        }
    }

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(JournalRecovery), ServiceLifecycleStage.BecomeActive, Start, Stop);

    private Task Start(CancellationToken cancellationToken)
    {
        if (_store.Durable)
        {
            _watching = Task.Run(() => Watch(_stopping.Token), CancellationToken.None);
        }
        return Task.CompletedTask;
    }

    private async Task Stop(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        try
        {
            await _watching.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task Watch(CancellationToken stopping)
    {
        await ScanUntilDone(stopping);
        // On every membership change, and every few seconds for journals of silos the membership never knew.
        var periodic = Task.Run(async () =>
        {
            while (!stopping.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(5), stopping);
                await ScanUntilDone(stopping);
            }
        }, CancellationToken.None);
        // Scans run on their own loop, so that news of a death closes the gate at once even while a scan (a recovery
        // can take seconds) is still running.
        var scanner = Task.Run(async () =>
        {
            await foreach (var _ in _rescan.Reader.ReadAllAsync(stopping))
            {
                await ScanUntilDone(stopping);
            }
        }, CancellationToken.None);
        try
        {
            var known = _membership.CurrentSnapshot;
            await foreach (var update in _membership.MembershipUpdates.WithCancellation(stopping))
            {
                // A silo just declared dead: close the gate before any I/O, so none of its customers activates here
                // between this news and the end of the recovery.
                if (update.Members.Any(m => m.Value.Status == SiloStatus.Dead && known.GetSiloStatus(m.Key) != SiloStatus.Dead))
                {
                    lock (_lock)
                    {
                        _deathNews++;
                    }
                    Close();
                }
                known = update;
                _rescan.Writer.TryWrite(true);
            }
            await periodic;
            await scanner;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    private async Task ScanUntilDone(CancellationToken stopping)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (await ScanAsync(stopping))
                {
                    return;
                }
                // A journal of a silo the membership does not know is being watched: look again shortly.
                await Task.Delay(TimeSpan.FromMilliseconds(500), stopping);
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                _logger.LogError(e, "Journal recovery failed; customers wait and recovery is tried again");
                await Task.Delay(delay, stopping);
                delay = TimeSpan.FromMilliseconds(Math.Min(5000, delay.TotalMilliseconds * 2));
            }
        }
    }

    /// <summary>Finds journals whose owner is dead (or unknown to the membership) and recovers them, closing the gate
    /// meanwhile; false while a journal of an unknown silo is still being watched (the gate stays closed).</summary>
    public async Task<bool> ScanAsync(CancellationToken cancellationToken)
    {
        await _scan.WaitAsync(cancellationToken);
        try
        {
            long news;
            lock (_lock)
            {
                news = _deathNews;
            }
            var snapshot = _membership.CurrentSnapshot;
            var journals = await _store.ListAsync(cancellationToken);
            lock (_lock)
            {
                _journals = journals;
                _journalsAt = DateTime.UtcNow;
                _journalsVersion = snapshot.Version;
            }
            var dead = new List<JournalInfo>();
            var undecided = false;
            foreach (var journal in journals.Where(j => j.JournalId != _writer.JournalId))
            {
                switch (Liveness(journal, snapshot))
                {
                    case false:
                        dead.Add(journal);
                        break;
                    case null:
                        undecided = true;
                        break;
                }
            }
            if (dead.Count > 0 || undecided)
            {
                Close();
                foreach (var journal in dead)
                {
                    await RecoverAsync(journal.JournalId, cancellationToken);
                    _watched.Forget(journal.JournalId);
                }
            }
            if (undecided)
            {
                return false;
            }
            lock (_lock)
            {
                // A death announced since this scan began is the next scan's to recover (it is queued): stay closed.
                if (_deathNews == news)
                {
                    _gate.TrySetResult();
                }
            }
            return true;
        }
        finally
        {
            _scan.Release();
        }
    }

    private void Close()
    {
        lock (_lock)
        {
            if (_gate.Task.IsCompleted)
            {
                _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    private readonly HeadWatch _watched = new(HeadWatch.SilentFor);

    /// <summary>True: alive; false: dead, recover it; null: not known yet. A silo the membership knows is alive unless
    /// declared dead. A silo it does not know (a previous incarnation, a process of another cluster sharing the storage)
    /// is alive while its journal's head advances (the writer's heartbeat) and dead once it stood still (<see cref="HeadWatch"/>).</summary>
    private bool? Liveness(JournalInfo journal, ClusterMembershipSnapshot snapshot)
    {
        if (JournalWriter.SiloOf(journal.JournalId) is not { } silo)
        {
            return false;
        }
        var status = snapshot.GetSiloStatus(silo);
        if (status == SiloStatus.Dead)
        {
            return false;
        }
        if (status != SiloStatus.None)
        {
            return true;
        }
        return _watched.Alive(journal);
    }

    /// <summary>Fences the journal, brings every customer in it up to date in storage, and deletes it.</summary>
    public async Task RecoverAsync(string journalId, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        if (await _store.FenceAsync(journalId, _writer.JournalId, cancellationToken))
        {
            var records = await _store.ReadAllAsync(journalId, cancellationToken);
            var storage = _services.GetRequiredKeyedService<IGrainStorage>(CustomerGrain.StorageName);
            var customers = 0;
            foreach (var customer in records.GroupBy(r => r.CustomerId, StringComparer.Ordinal))
            {
                if (await RecoverCustomerAsync(storage, customer.Key, [.. customer], cancellationToken))
                {
                    customers++;
                }
            }
            _logger.LogWarning("Recovered journal {JournalId}: {Records} records, {Customers} customers brought up to date in {Elapsed}",
                journalId, records.Count, customers, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        }
        await _store.RemoveAsync(journalId, cancellationToken);
    }

    /// <param name="records">The customer's records in append order.</param>
    private async Task<bool> RecoverCustomerAsync(IGrainStorage storage, string customerId, List<JournalRecord> records, CancellationToken cancellationToken)
    {
        var grainId = GrainId.Create(CustomerGrain.GrainTypeName, customerId);
        // Everything before the last erase is void. A customer created again after it continues the sequence (the erase
        // leaves a tombstone at its sequence), so records of an erased incarnation are never replayed onto a new one.
        var erased = records.FindLastIndex(r => r.Command.Kind == CommandKind.Erase);
        if (erased >= 0)
        {
            var erase = records[erased];
            records = records[(erased + 1)..];
            if (records.Count == 0)
            {
                // The silo may have died between storing the erase and deleting: finish the erase, unless the customer
                // was created again since (on another silo), which the checkpoint's position shows.
                await _store.RecordErasureAsync(Erasures.Key(_limits, customerId), erase.Sequence, cancellationToken);
                var gone = new GrainState<CustomerState>();
                await storage.ReadStateAsync(CustomerGrain.StateName, grainId, gone);
                if (gone.RecordExists && (gone.State?.JournalSeq ?? 0) > erase.Sequence)
                {
                    return false;
                }
                await _archive.DeleteAllAsync(customerId, cancellationToken);
                await _outbox.ForgetAsync(customerId);
                if (gone.RecordExists)
                {
                    await storage.ClearStateAsync(CustomerGrain.StateName, grainId, gone);
                }
                return true;
            }
        }
        for (var attempt = 0; ; attempt++)
        {
            var stored = new GrainState<CustomerState>();
            await storage.ReadStateAsync(CustomerGrain.StateName, grainId, stored);
            var state = stored.State ?? new CustomerState();
            // Records at or below the customer's last erasure belong to the erased incarnation: never replayed.
            var floor = await _store.ErasureFloorAsync(Erasures.Key(_limits, customerId), cancellationToken);
            if (floor > state.JournalSeq)
            {
                state = new CustomerState { JournalSeq = floor };
            }
            state.NoticesQueuedThrough ??= state.LedgerSeq;
            var after = state.JournalSeq;
            var todo = records.Where(r => r.Sequence > after).ToList();
            if (todo.Count == 0)
            {
                return false;
            }
            if (state.Exists && todo[0].Sequence != after + 1)
            {
                _logger.LogError("Customer {CustomerId}: the journal continues at record {First} but the checkpoint is at {After}; replaying what there is",
                    customerId, todo[0].Sequence, after);
            }
            foreach (var record in todo)
            {
                state = CustomerCommands.Replay(state, record, await _programs.GetAsync(record.ProgramVersion), _limits);
            }
            try
            {
                await CheckpointWriter.WriteAsync(state, _archive, _limits.LedgerKept, s =>
                {
                    stored.State = s;
                    return storage.WriteStateAsync(CustomerGrain.StateName, grainId, stored);
                }, "recovery", _outbox);
                return true;
            }
            catch (InconsistentStateException) when (attempt < 5)
            {
                // Written meanwhile (another recovering silo): read again and replay what is still missing.
            }
        }
    }
}

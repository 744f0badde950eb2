using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Rules;
using Loyalty.Grains.Customers;
using Loyalty.Grains.Journal;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Orleans.Storage;

namespace Loyalty.Grains;

/// <summary>
/// A thin shell over the domain: each request becomes a command applied to the live state by
/// <see cref="CustomerCommands"/> in arrival order, and, when it changed something, a journal record. The answer waits
/// for the silo's journal writer to store that record (group commit across customers); the customer's state entity
/// is only a checkpoint, written in the background (<see cref="CheckpointPolicy"/>). Reads answer from the live state
/// once every record it includes is stored. Reentrant so that later requests apply while earlier records are in flight.
/// </summary>
[Reentrant]
[GrainType(GrainTypeName)]
public sealed class CustomerGrain : Grain, ICustomerGrain, IRemindable
{
    public const string GrainTypeName = "customer";
    public const string StorageName = "loyalty";
    public const string StateName = "customer";
    public const string DueReminder = "due-work";
    private const int EventsPerRecord = 64;
    /// <summary>Ledger entries beyond those kept in state that make a checkpoint due whatever the record count: a
    /// backstop for records that carry many entries (a command of 64 events). Ordinary traffic (about three entries an
    /// event) reaches it at ~160 records, still before <see cref="JournalOptions.CheckpointEveryRecords"/> but with about
    /// half the checkpoints of the earlier 256 (~85 records). 16 + 480 entries fit one block of the ledger
    /// (<see cref="LedgerList.BlockSize"/>, 512), which a busy customer's ledger takes at once. Durable `batch` +19–23 % and durable `game` on disk +7 and
    /// +25 % in alternated runs (docs/benchmarks.md, thirteenth session of 2026-12-06); 600, tried on 2026-12-05 before
    /// checkpoints took their snapshot after the pending append, had cost durable `game` ~11 %.</summary>
    private const int LedgerTailBeforeCheckpoint = 480;
    /// <summary>Period of the due-work reminder: if a wake-up finds nothing due yet (clock skew), it tries again.</summary>
    private static readonly TimeSpan ReminderPeriod = TimeSpan.FromHours(1);

    private readonly IPersistentState<CustomerState> _checkpoint;
    private readonly IProgramCatalog _programs;
    private readonly ProgramVersions _versions;
    private readonly TimeProvider _time;
    private readonly EngineLimits _limits;
    private readonly BudgetLeases _budgets;
    private readonly ILedgerArchive _archive;
    private readonly IJournalStore _journalStore;
    private readonly LedgerReader _ledger;
    private readonly ICustomerJournal _journal;
    private readonly JournalRecovery _recovery;
    private readonly CheckpointPolicy _policy;
    private readonly CheckpointSlots _slots;
    private readonly RewardFeedPublisher _feed;
    private int _feedPartition = -1;
    private readonly Webhooks.WebhookOutbox _outbox;
    private readonly JournalOptions _options;
    private readonly ILogger<CustomerGrain> _logger;
    private readonly DueWorkScheduler _due;
    private readonly CustomerWatchers _watchers = new();
    // Serializes "reserve campaign budget, then apply" so requests keep their arrival order while a reservation waits.
    private readonly SemaphoreSlim _applying = new(1, 1);

    private CustomerState _live = new();  // every applied record, stored or in flight
    private long _appliedSeq;             // journal sequence of the last record applied to _live
    private long _storedSeq;              // ... of the last record known stored
    private long _storedLedgerSeq;        // ledger sequence through which entries are stored
    private Task _lastAppend = Task.CompletedTask;
    private Task? _reloading;
    private Task? _checkpointing;         // the background checkpoint, waiting for its turn or writing
    private Task? _checkpointWrite;       // the last checkpoint write started (finished or not)
    private int _checkpointEpoch;         // moved on by QuietCheckpoints: a background checkpoint still waiting gives way
    private IGrainTimer? _checkpointTimer;
    private bool _broken;
    private long _rewardsToldThrough;
    private long _noticesQueued;          // ledger sequence through which entries are known to be in the webhook outbox
    private LiabilityShare _share;        // what the live state adds to the points liability (as of _shareLedgerSeq)
    private long _shareLedgerSeq;
    private bool _queuing;
    private bool _queueAgain;
    private int _incarnation;             // bumped by an erase: a hand-over begun before it records nothing after it
    private Task _handOver = Task.CompletedTask;

    public CustomerGrain(
        [PersistentState(StateName, StorageName)] IPersistentState<CustomerState> checkpoint,
        IProgramCatalog programs,
        ProgramVersions versions,
        EngineClock clock,
        EngineLimits limits,
        BudgetLeases budgets,
        ILedgerArchive archive,
        ICustomerJournal journal,
        IJournalStore journalStore,
        JournalRecovery recovery,
        JournalOptions options,
        CheckpointSlots slots,
        RewardFeedPublisher feed,
        Webhooks.WebhookOutbox outbox,
        ILogger<CustomerGrain> logger)
    {
        _checkpoint = checkpoint;
        _programs = programs;
        _versions = versions;
        _time = clock.Time;
        _limits = limits;
        _budgets = budgets;
        _archive = archive;
        _ledger = new LedgerReader(archive);
        _journal = journal;
        _journalStore = journalStore;
        _recovery = recovery;
        _options = options;
        _slots = slots;
        _feed = feed;
        _outbox = outbox;
        _policy = new CheckpointPolicy(options, TimeProvider.System);
        _logger = logger;
        var self = this.AsReference<ICustomerGrain>();
        _due = new DueWorkScheduler(_time, () => self.CatchUp(), logger);
    }

    // Orleans decodes the key's bytes into a new string on each call: once per activation, not per record and reward.
    private string Id => _id ??= this.GetPrimaryKeyString();
    private string? _id;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A dead silo's customers are rebuilt from its journal before they answer anywhere else: wait for that, then
        // read the checkpoint again (recovery may have just written it). Then, if another silo's journal still holds
        // records of this customer (its owner mark), wait for that silo's checkpoint or recover its dead journal.
        var reread = false;
        if (!_recovery.Ready.IsCompleted)
        {
            await _recovery.Ready.WaitAsync(cancellationToken);
            reread = true;
        }
        reread |= await _recovery.SettleAsync(Id, cancellationToken);
        if (reread)
        {
            await _checkpoint.ReadStateAsync(cancellationToken);
        }
        JournalMetrics.Read();
        await LoadAsync();
        LoyaltyMetrics.CustomerActivated();
        // Catch up at once on what fell due while the customer was not active.
        _due.Schedule(_live);
    }

    /// <summary>Live state = the checkpoint + this silo's records no checkpoint covers yet.</summary>
    private async Task LoadAsync()
    {
        if (_checkpoint.State.JournalSeq < 0)
        {
            // Released after the last read or write (see Released): an activation rehydrated from another silo's
            // copy of this slot holds no checkpoint, so storage is read again.
            await _checkpoint.ReadStateAsync();
            JournalMetrics.Read();
        }
        var state = _checkpoint.State.Snapshot(); // a storage may hand out an object it keeps
        _checkpoint.State = Released;
        // A checkpoint from before webhooks: its history is not sent.
        state.NoticesQueuedThrough ??= state.LedgerSeq;
        var replayed = 0;
        foreach (var record in await _journal.UncoveredAsync(Id, state.JournalSeq, CancellationToken.None))
        {
            state = CustomerCommands.Replay(state, record, await _versions.GetAsync(record.ProgramVersion), _limits);
            replayed++;
        }
        _live = state;
        _appliedSeq = _storedSeq = state.JournalSeq;
        _storedLedgerSeq = state.LedgerSeq;
        _rewardsToldThrough = state.LedgerSeq;
        _noticesQueued = state.NoticesQueuedThrough ?? state.LedgerSeq;
        _share = LiabilityShare.Of(state);
        _shareLedgerSeq = state.LedgerSeq;
        _policy.Replayed(replayed);
    }

    /// <summary>What the checkpoint slot holds between a read or write and the next: the grain does not keep the stored
    /// state beside its live one. Kept, every customer's state was held twice (the slot kept the last snapshot written
    /// until the next checkpoint), and each checkpoint's copy lived long enough to be promoted to the oldest generation
    /// before it died there. Never written: a checkpoint always sets the slot to its snapshot first; its negative
    /// sequence tells <see cref="LoadAsync"/> to read storage again.</summary>
    private static readonly CustomerState Released = new() { JournalSeq = -1 }; // never changed: only read and replaced

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        LoyaltyMetrics.CustomerDeactivated();
        _due.Dispose();
        _checkpointTimer?.Dispose();
        if (_broken)
        {
            return;
        }
        await QuietCheckpoints();
        // The last checkpoint: retried while the deactivation may take, so the next activation (on any silo) finds
        // every record in the checkpoint rather than in this silo's journal.
        for (var attempt = 0; _policy.Dirty && !_broken && !cancellationToken.IsCancellationRequested; attempt++)
        {
            try
            {
                await CheckpointAsync("deactivation", background: false);
            }
            catch (Exception ex) when (attempt < 5 && ex is not InconsistentStateException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100 << attempt), cancellationToken);
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Customer {CustomerId}: no checkpoint at deactivation; its journal records stay for recovery", Id);
                break;
            }
        }
        // While inactive, a reminder wakes the customer when its next due work falls due (the timer only runs while
        // active). Best effort: a customer that is not woken catches up on its next activation anyway.
        if (!_broken && _due.ReminderDelay(_live) is { } dueIn)
        {
            try
            {
                await this.RegisterOrUpdateReminder(DueReminder, dueIn, ReminderPeriod, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _logger.LogWarning(ex, "Could not register the due-work reminder for customer {CustomerId}", Id);
            }
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != DueReminder)
        {
            return;
        }
        await CatchUp();
        if (DueWork.NextDue(_live) is null && await this.GetReminder(DueReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    public Task<string> Location() => Task.FromResult(RuntimeIdentity);

    // ---- commands ------------------------------------------------------------------------------------------------

    // Without debug logging, the call's task is the apply's own: no second asynchronous step per call.
    public ValueTask<EventResult[]> Apply(LoyaltyEvent[] events) =>
        new(_logger.IsEnabled(LogLevel.Debug) ? ApplyAndLog(events) : ApplyInRecords(events, null, false));

    private async Task<EventResult[]> ApplyAndLog(LoyaltyEvent[] events)
    {
        var results = await ApplyInRecords(events, null, false);
        // Ids and outcomes only: event payloads and profiles (names, birth years) are personal data and never logged.
        foreach (var r in results)
        {
            _logger.LogDebug("Event {EventId} for customer {CustomerId}: {Outcome}, {Points} points, program {ProgramVersion}",
                r.EventId, Id, r.Outcome, r.PointsDelta, r.ProgramVersion);
        }
        return results;
    }

    /// <summary>Applies live events (<paramref name="importId"/> null) or imported history in records of at most
    /// <see cref="EventsPerRecord"/> events, in arrival order, and answers once the last record is stored: every answer
    /// waits for the record holding the state it reports, a duplicate of an in-flight event included.</summary>
    /// <remarks>The usual call (live events in one record, nothing to wait for before applying, no campaign budget) is
    /// answered by the task that handles its record once stored (<see cref="Stored"/>), which carries the results: no
    /// asynchronous step of its own, whose state machine and continuation on the grain's scheduler were several objects
    /// and a scheduled work item per call.</remarks>
    private Task<EventResult[]> ApplyInRecords(LoyaltyEvent[] events, string? importId, bool earnPoints)
    {
        if (importId is not null || events.Length is 0 or > EventsPerRecord || !ReadyNow || !_applying.Wait(0))
        {
            return ApplyInRecordsAsync(events, importId, earnPoints);
        }
        Task before;
        EventResult[] results;
        try
        {
            var program = _programs.Current;
            if (BudgetedApply.HasBudgets(program, events))
            {
                _applying.Release();
                return ApplyInRecordsAsync(events, importId, earnPoints);
            }
            before = _lastAppend;
            results = ApplyAndJournal(CustomerCommand.Of(events), program, _time.GetUtcNow()).Events!;
        }
        catch (Exception e)
        {
            _applying.Release();
            return Task.FromException<EventResult[]>(e);
        }
        _applying.Release();
        return ReferenceEquals(_lastAppend, before)
            ? Answer(before, results)            // nothing to store: answered once what it reports is stored
            : (Task<EventResult[]>)_lastAppend!; // this call's record: its Stored answers with the results
    }

    private async Task<EventResult[]> Answer(Task stored, EventResult[] results)
    {
        await stored;
        _due.Schedule(_live);
        return results;
    }

    private async Task<EventResult[]> ApplyInRecordsAsync(LoyaltyEvent[] events, string? importId, bool earnPoints)
    {
        EventResult[]? results = null;
        await _applying.WaitAsync();
        try
        {
            await ReadyToApply();
            var program = _programs.Current;
            var now = _time.GetUtcNow();
            for (var start = 0; start < events.Length; start += EventsPerRecord)
            {
                var chunk = events.Length <= EventsPerRecord ? events : events[start..Math.Min(events.Length, start + EventsPerRecord)];
                var outcome = importId is not null
                    ? ApplyAndJournal(new CustomerCommand { Kind = CommandKind.ImportHistory, Id = importId, EarnPoints = earnPoints, Events = chunk }, program, now)
                    : BudgetedApply.HasBudgets(program, chunk)
                    ? await ApplyBudgeted(chunk, program, now)
                    : ApplyAndJournal(CustomerCommand.Of(chunk), program, now);
                if (chunk == events)
                {
                    results = outcome.Events!;
                }
                else
                {
                    outcome.Events!.CopyTo(results ??= new EventResult[events.Length], start);
                }
            }
        }
        finally
        {
            _applying.Release();
        }
        await _lastAppend;
        _due.Schedule(_live);
        return results ?? [];
    }

    /// <summary>Live events that rules with a campaign budget may reward: they reserve it first, and the record keeps
    /// the budget's answers. (Events without such rules apply straight away, without an asynchronous step.)</summary>
    private async Task<CommandOutcome> ApplyBudgeted(LoyaltyEvent[] chunk, Domain.Programs.ActiveProgram program, DateTimeOffset now)
    {
        var command = CustomerCommand.Of(chunk);
        var reserved = await BudgetedApply.ReserveAsync(_live, chunk, program, now, _limits, _budgets);
        try
        {
            // The reservation awaited: apply only to the state as it is now, nothing in between.
            await ReadyToApply();
            var recording = new RecordingBudgetGate(reserved.Gate);
            var outcome = ApplyCommand(command, program, now, recording);
            Journal(command, program.Version, now, outcome, recording.Answers);
            return outcome;
        }
        finally
        {
            reserved.Release();
        }
    }

    private CommandOutcome ApplyAndJournal(CustomerCommand command, Domain.Programs.ActiveProgram program, DateTimeOffset now)
    {
        var outcome = ApplyCommand(command, program, now, null);
        Journal(command, program.Version, now, outcome, null);
        return outcome;
    }

    public Task<OperationResult?> Redeem(string redemptionId, string rewardId) =>
        Operate(new CustomerCommand { Kind = CommandKind.Redeem, Id = redemptionId, RewardId = rewardId });

    public Task<OperationResult?> Reserve(string reservationId, long points, TimeSpan ttl) =>
        Operate(new CustomerCommand { Kind = CommandKind.Reserve, Id = reservationId, Points = points, TtlTicks = ttl.Ticks });

    public Task<OperationResult?> Confirm(string reservationId, string note) =>
        Operate(new CustomerCommand { Kind = CommandKind.Confirm, Id = reservationId, Text = note });

    public Task<OperationResult?> Cancel(string reservationId) =>
        Operate(new CustomerCommand { Kind = CommandKind.Cancel, Id = reservationId });

    public Task<OperationResult?> Adjust(string adjustmentId, long points, string reason) =>
        Operate(new CustomerCommand { Kind = CommandKind.Adjust, Id = adjustmentId, Points = points, Text = reason });

    public Task<OperationResult?> GrantGoodwill(string grantId, string rewardId, string reason) =>
        Operate(new CustomerCommand { Kind = CommandKind.Goodwill, Id = grantId, RewardId = rewardId, Text = reason });

    public Task<OperationResult?> ImportMember(string importId, MemberImport member) =>
        Operate(new CustomerCommand { Kind = CommandKind.ImportMember, Id = importId, Member = member });

    public Task<EventResult[]> ImportHistory(string importId, LoyaltyEvent[] events, bool earnPoints) =>
        ApplyInRecords(events, importId, earnPoints);

    public async Task CatchUp()
    {
        if (_broken)
        {
            return;
        }
        await Operate(CustomerCommand.CatchUp);
    }

    /// <summary>Runs an operation in arrival order and answers after the record that holds it is stored.</summary>
    private async Task<OperationResult?> Operate(CustomerCommand command)
    {
        CommandOutcome outcome;
        await _applying.WaitAsync();
        try
        {
            await ReadyToApply();
            outcome = ApplyAndJournal(command, _programs.Current, _time.GetUtcNow());
        }
        finally
        {
            _applying.Release();
        }
        await _lastAppend;
        _due.Schedule(_live);
        return outcome.Operation;
    }

    private CommandOutcome ApplyCommand(CustomerCommand command, Domain.Programs.ActiveProgram program, DateTimeOffset now, IBudgetGate? budgets)
    {
        try
        {
            return CustomerCommands.Apply(_live, command, program, now, _limits, budgets);
        }
        catch (Exception ex)
        {
            // The live state may be half-changed: rebuild it from what is stored before anything else applies.
            _logger.LogError(ex, "Applying a {Kind} command for customer {CustomerId} failed; rebuilding the state from storage", command.Kind, Id);
            StartReload();
            throw new EventsNotCommittedException("Applying this request failed; nothing was stored. Retrying with the same ids is safe.", ex);
        }
    }

    /// <summary>Appends the record of a command that changed the state; the caller's answer waits for it.</summary>
    private void Journal(CustomerCommand command, string programVersion, DateTimeOffset now, CommandOutcome outcome, IReadOnlyList<bool>? budgetAnswers)
    {
        if (!outcome.Changed)
        {
            return;
        }
        var sequence = NextSequence();
        _appliedSeq = sequence;
        _live.JournalSeq = sequence;
        var ledgerSeq = _live.LedgerSeq;
        var append = _journal.AppendAsync(new JournalRecord(Id, sequence, now, programVersion, command, budgetAnswers) { Liability = ChangeInLiability() });
        _lastAppend = Stored(append, sequence, ledgerSeq, outcome.Events);
        // Also when the ledger tail grows long (large batches): the checkpoint moves it to the archive.
        if (_policy.Recorded() || _live.Ledger.Count > _limits.LedgerKept + LedgerTailBeforeCheckpoint)
        {
            StartCheckpoint("records");
        }
        else
        {
            _checkpointTimer ??= this.RegisterGrainTimer(CheckpointIfAged, _options.CheckpointAfter, _options.CheckpointAfter);
        }
    }

    /// <summary>The next journal sequence. A customer's first record (no checkpoint, nothing journaled) starts from the
    /// wall clock in ticks rather than 1: a customer created again after an erase then never reuses a sequence of the
    /// erased incarnation, whose records another silo's journal may still hold for a while (recovery also skips records
    /// at or below the erasure's sequence, remembered under a keyed hash). No storage read on activation is needed.</summary>
    private long NextSequence() => _appliedSeq == 0 ? Math.Max(1, DateTime.UtcNow.Ticks) : _appliedSeq + 1;

    /// <summary>What the command just applied changed in the points liability (its record carries it to the journal's
    /// head, which sums it in the same request that stores the record: counted once, and only if stored).</summary>
    private LiabilityChange? ChangeInLiability()
    {
        if (!_options.TrackLiability || _live.LedgerSeq == _shareLedgerSeq && _live.Exists == _share.Exists)
        {
            return null; // no ledger entry and no tier change: the share is what it was
        }
        var share = LiabilityShare.Of(_live);
        var change = LiabilityChange.Of(_share, share, _live, _shareLedgerSeq);
        _share = share;
        _shareLedgerSeq = _live.LedgerSeq;
        return change;
    }

    /// <summary>Runs on the grain once the journal has (or has not) stored record <paramref name="sequence"/>; answers
    /// with the results of the events it holds (<paramref name="results"/>; null for an operation).</summary>
    private async Task<EventResult[]?> Stored(Task append, long sequence, long ledgerSeq, EventResult[]? results)
    {
        try
        {
            await append;
        }
        catch (Exception ex)
        {
            // Not stored, and neither is anything applied after it: rebuild from what is stored.
            StartReload();
            throw ex as EventsNotCommittedException
                ?? new EventsNotCommittedException("The journal write failed; these events were not applied. Retrying with the same ids is safe.", ex);
        }
        if (sequence > _storedSeq)
        {
            _storedSeq = sequence;
            _storedLedgerSeq = Math.Max(_storedLedgerSeq, ledgerSeq);
            _watchers.Tell(Id, _live, _storedLedgerSeq);
            PublishRewards();
            QueueNotices();
        }
        if (sequence == _appliedSeq)
        {
            // Nothing applied after this record: everything is stored, so a completed task stands for the last append
            // from here. Holding this one would keep its results (summary, grants) alive until the customer's next
            // event, and with them a young reference in the grain: every young collection copied the last results of
            // every customer active since the one before (a third of the young survivors with 10,000 customers).
            _lastAppend = Task.CompletedTask;
        }
        _due.Schedule(_live);
        return results;
    }

    private void StartReload()
    {
        if (_reloading is null && !_broken)
        {
            _reloading = ReloadAsync();
        }
    }

    /// <summary>Rebuilds the live state from the checkpoint and this silo's stored records, once every append in flight
    /// has settled. Nothing applies meanwhile (<see cref="ReadyToApply"/>).</summary>
    private async Task ReloadAsync()
    {
        await Task.Yield();
        try
        {
            await Settled(_lastAppend);
            await QuietCheckpoints();
            await _checkpoint.ReadStateAsync();
            JournalMetrics.Read();
            _policy.Taken(int.MaxValue);
            await LoadAsync();
            _lastAppend = Task.CompletedTask;
            _journal.Reset(Id);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Reloading customer {CustomerId} failed; deactivating", Id);
            Break();
        }
        finally
        {
            _reloading = null;
        }
    }

    private static async Task Settled(Task task) => await Succeeded(task);

    /// <summary>Waits for <paramref name="task"/> and tells whether it succeeded; a failure is not thrown (its callers
    /// were told).</summary>
    private static async Task<bool> Succeeded(Task task)
    {
        try
        {
            await task;
            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <summary>Waits for this silo's program to be the cluster's active version, waits out a reload in progress,
    /// and refuses to apply on a broken activation.</summary>
    private Task ReadyToApply() => ReadyNow ? Task.CompletedTask : WaitUntilReadyToApply();

    /// <summary>Ready to apply without waiting: the program loaded, no reload in progress, not broken.</summary>
    private bool ReadyNow => _programs.Ready.IsCompleted && _reloading is null && !_broken;

    private async Task WaitUntilReadyToApply()
    {
        if (!_programs.Ready.IsCompleted)
        {
            try
            {
                await _programs.Ready.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException e)
            {
                throw new EventsNotCommittedException("This silo has not loaded the active program yet; nothing was applied. Retry.", e);
            }
        }
        while (_reloading is { } reloading)
        {
            await reloading;
        }
        ThrowIfBroken();
    }

    private void ThrowIfBroken()
    {
        if (_broken)
        {
            throw new EventsNotCommittedException("This customer's activation is being replaced after a storage problem; nothing was applied. Retry.");
        }
    }

    /// <summary>This activation writes nothing more and goes away; the next activation starts from storage.</summary>
    private void Break()
    {
        _broken = true;
        DeactivateOnIdle();
    }

    // ---- checkpoints ---------------------------------------------------------------------------------------------

    private Task CheckpointIfAged(CancellationToken cancellationToken)
    {
        if (_policy.DueByAge())
        {
            StartCheckpoint("dirty");
        }
        if (!_policy.Dirty)
        {
            _checkpointTimer?.Dispose();
            _checkpointTimer = null;
        }
        return Task.CompletedTask;
    }

    private void StartCheckpoint(string reason)
    {
        if (_checkpointing is null)
        {
            _checkpointing = Background(reason);
        }

        async Task Background(string why)
        {
            await Task.Yield();
            try
            {
                await CheckpointAsync(why, background: true);
            }
            catch (Exception ex)
            {
                JournalMetrics.CheckpointFailed();
                _logger.LogWarning(ex, "Checkpoint of customer {CustomerId} failed; the journal keeps its records and it is tried again", Id);
            }
            finally
            {
                _checkpointing = null;
            }
        }
    }

    /// <summary>Waits for a checkpoint write in flight to finish (writes never overlap: each needs the last ETag), and
    /// makes a background checkpoint that has not taken its snapshot yet give way rather than write later. Callers hold
    /// the apply gate or are a reload, which a waiting checkpoint needs to go on: waiting for it would deadlock.</summary>
    private async Task QuietCheckpoints()
    {
        _checkpointEpoch++;
        // A finished write is done: its task ends after the journal is told what it covers.
        while (_checkpointWrite is { IsCompleted: false } writing)
        {
            await Settled(writing);
        }
    }

    /// <summary>Writes the state as of every stored record, then lets the journal forget the records it includes. A
    /// background checkpoint gives way (writes nothing) when a reload, an erase or a deactivation came first.</summary>
    private async Task CheckpointAsync(string reason, bool background)
    {
        var epoch = _checkpointEpoch;
        // Taken before the snapshot, so that a checkpoint that waited for its turn includes what applied meanwhile.
        // The slot's lists hold the snapshot's remembered ids and ledger: the snapshot is not read once this method returns.
        using var slot = await _slots.EnterAsync();
        if (background)
        {
            await BackgroundCheckpointAsync(epoch, reason, slot.Buffers);
            return;
        }
        Task write;
        await _applying.WaitAsync();
        try
        {
            await ReadyToApply();
            await _lastAppend; // the snapshot holds stored records only
            write = WriteCheckpointAsync(_live.Snapshot(slot.Buffers), _policy.Records, reason);
            _checkpointWrite = write;
        }
        finally
        {
            _applying.Release();
        }
        await write;
    }

    /// <summary>A background checkpoint started in <paramref name="epoch"/> writes nothing once a reload, an erase or a
    /// deactivation came (they move the epoch), a reload is under way or the activation broke.</summary>
    private bool GivesWay(int epoch) => epoch != _checkpointEpoch || _reloading is not null || _broken;

    /// <summary>A checkpoint that does not hold the customer up: it first waits, without a snapshot, for what the customer
    /// applied so far to be stored; then takes the snapshot and writes it once the records it holds are stored (at once,
    /// unless the customer applied more meanwhile), while the customer goes on applying. Holding the apply gate until
    /// then stopped the customer for one or two journal appends at every checkpoint, and every event behind it on a
    /// stream waited too (streams answer in order).
    /// Taking the snapshot first held its copies of the customer's lists (ledger tail, remembered ids, rewards: 50-100 KB)
    /// through that wait, long enough for the young collections meanwhile to copy them: a third of what they carried over
    /// with 10,000 busy customers (docs/benchmarks.md, twelfth session). Gives way when the epoch moved, a reload started
    /// or the activation broke meanwhile, and writes nothing if an append was not stored (the reload it starts covers it).</summary>
    private async Task BackgroundCheckpointAsync(int epoch, string reason, SnapshotLists buffers)
    {
        // Not stored: its callers were told, and the customer rebuilds from storage.
        if (GivesWay(epoch) || !await Succeeded(_lastAppend))
        {
            return;
        }
        CustomerState snapshot;
        int included;
        Task stored;
        await _applying.WaitAsync();
        try
        {
            if (GivesWay(epoch))
            {
                return;
            }
            snapshot = _live.Snapshot(buffers);
            included = _policy.Records;
            stored = _lastAppend; // usually stored already: then neither this wait nor the gate below holds it up
        }
        finally
        {
            _applying.Release();
        }
        if (!await Succeeded(stored))
        {
            return;
        }
        Task write;
        await _applying.WaitAsync();
        try
        {
            if (GivesWay(epoch))
            {
                return;
            }
            write = WriteCheckpointAsync(snapshot, included, reason);
            _checkpointWrite = write;
        }
        finally
        {
            _applying.Release();
        }
        await write;
    }

    private async Task WriteCheckpointAsync(CustomerState snapshot, int included, string reason)
    {
        await Task.Yield();
        try
        {
            var archivedThrough = await CheckpointWriter.WriteAsync(snapshot, _archive, _limits.LedgerKept, async s =>
            {
                _checkpoint.State = s;
                try
                {
                    await _checkpoint.WriteStateAsync();
                }
                finally
                {
                    if (ReferenceEquals(_checkpoint.State, s))
                    {
                        _checkpoint.State = Released;
                    }
                }
            }, reason, _outbox, _noticesQueued);
            _live.TrimArchivedLedger(archivedThrough);
            _noticesQueued = Math.Max(_noticesQueued, snapshot.NoticesQueuedThrough ?? 0);
            _live.NoticesQueuedThrough = Math.Max(_live.NoticesQueuedThrough ?? 0, _noticesQueued);
        }
        catch (Exception ex) when (IsEtagConflict(ex))
        {
            // Another activation wrote this customer (e.g. during a cluster membership change): this one is stale.
            _logger.LogWarning(ex, "Customer {CustomerId} was written elsewhere; deactivating this stale activation", Id);
            Break();
            throw;
        }
        _policy.Taken(included);
        _journal.Covered(Id, snapshot.JournalSeq);
    }

    private static bool IsEtagConflict(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is InconsistentStateException)
            {
                return true;
            }
        }
        return false;
    }

    // ---- erase ---------------------------------------------------------------------------------------------------

    public async Task<bool> Erase()
    {
        await _applying.WaitAsync();
        try
        {
            await ReadyToApply();
            await Settled(_lastAppend);
            await ReadyToApply();
            var existed = _live.Exists;
            if (!existed && _appliedSeq == 0)
            {
                DeactivateOnIdle();
                return false; // never seen: nothing to erase, nothing to write
            }
            await QuietCheckpoints();
            // The erase record tells recovery that every earlier record of this customer is void; the checkpoint and
            // the archive are deleted; the writer drops the earlier records from its index and deletes their batches.
            var sequence = _appliedSeq + 1;
            var erasedAt = _time.GetUtcNow();
            await _journal.AppendAsync(new JournalRecord(Id, sequence, erasedAt, _programs.Current.Version, CustomerCommand.Erase, null)
            {
                Liability = _options.TrackLiability ? LiabilityChange.Erasure(_share, erasedAt) : null,
            });
            // The customer's journal sequence goes on from the erase (it never restarts): a record of the erased
            // incarnation can never be taken for one of a customer created again under the id, by recovery included.
            _live = new CustomerState { JournalSeq = sequence };
            _share = LiabilityShare.None;
            _shareLedgerSeq = 0;
            _appliedSeq = _storedSeq = sequence;
            _storedLedgerSeq = 0;
            _noticesQueued = 0;
            _live.NoticesQueuedThrough = 0;
            _lastAppend = Task.CompletedTask;
            await _archive.DeleteAllAsync(Id);
            _incarnation++;
            await Settled(_handOver);   // its notices are stored before they are forgotten, not after
            await _outbox.ForgetAsync(Id);
            // Remembered before the checkpoint goes, under a keyed hash of the id: the position the erase reached.
            await _journalStore.RecordErasureAsync(Erasures.Key(_limits, Id), sequence, CancellationToken.None);
            await _checkpoint.ClearStateAsync();
            JournalMetrics.Checkpointed("erase", false);
            _policy.Taken(int.MaxValue);
            _journal.Covered(Id, sequence);
            _due.Dispose();
            _checkpointTimer?.Dispose();
            _checkpointTimer = null;
            if (await this.GetReminder(DueReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
            _logger.LogInformation("Customer {CustomerId} erased", Id);
            DeactivateOnIdle();
            return existed;
        }
        finally
        {
            // A checkpoint started while the erase awaited storage (the dirty-age timer runs meanwhile) waits for the
            // gate with the epoch the erase began with: moved on again, it gives way instead of writing the erased
            // customer's row back.
            _checkpointEpoch++;
            _applying.Release();
        }
    }

    // ---- reads: the live state once everything in it is stored --------------------------------------------------

    private async Task<CustomerState> StoredState()
    {
        while (true)
        {
            if (_reloading is { } reloading)
            {
                await reloading;
            }
            ThrowIfBroken();
            if (_appliedSeq == _storedSeq)
            {
                return _live;
            }
            await Settled(_lastAppend);
        }
    }

    public async Task<CustomerView?> Get() =>
        CustomerView.Of(await StoredState(), _programs.Current, _time.GetUtcNow());

    public async Task<Eligibility?> Eligible()
    {
        var state = await StoredState();
        return state.Exists ? Eligibility.Of(state, _programs.Current, _time.GetUtcNow()) : null;
    }

    public async Task<InteractionPage?> ListInteractions(int pageSize, string? pageToken)
    {
        var state = await StoredState();
        return state.Exists ? InteractionPage.Of(state, pageSize, pageToken) : null;
    }

    public async Task<EventResult[]> Simulate(string programJson, LoyaltyEvent[] events, bool asNewCustomer)
    {
        var program = Domain.Programs.ProgramLoader.Parse(programJson, "draft program");
        var copy = asNewCustomer ? new CustomerState() : (await StoredState()).Snapshot();
        var now = _time.GetUtcNow();
        return [.. events.Select(e => CustomerEngine.Apply(copy, e, program, now, _limits))];
    }

    public async Task<LedgerEntry[]?> Watch(ICustomerWatcher watcher, long since, int max, int maxWatchers)
    {
        var state = await StoredState();
        if (!state.Exists)
        {
            _watchers.Remove(watcher);
            if (_watchers.Count == 0 && _appliedSeq == 0)
            {
                DeactivateOnIdle();   // a watch on an id never seen keeps nothing alive
            }
            return null;
        }
        if (!_watchers.Has(watcher) && _watchers.DropExpired() >= maxWatchers)
        {
            throw new TooManyWatchersException($"customer {Id} already has {_watchers.Count} watchers, the most one customer serves");
        }
        _watchers.Renew(watcher, _storedLedgerSeq);
        return await _ledger.After(state, since, _storedLedgerSeq, max);
    }

    public Task Unwatch(ICustomerWatcher watcher)
    {
        _watchers.Remove(watcher);
        return Task.CompletedTask;
    }

    public async Task<LedgerPage?> ListLedger(int pageSize, string? pageToken)
    {
        var state = await StoredState();
        if (!state.Exists)
        {
            return null;
        }
        var size = pageSize <= 0 ? 20 : Math.Min(pageSize, 1000);
        var before = long.MaxValue;
        if (!string.IsNullOrEmpty(pageToken) && !LedgerPage.TryParseToken(pageToken, out before))
        {
            throw new ArgumentException("page_token is not a token this API issued", nameof(pageToken));
        }
        var page = await _ledger.Before(state, before, size);
        var more = page.Count == size && page[^1].Sequence > 1;
        return new LedgerPage(page, more ? LedgerPage.Token(page[^1].Sequence) : "");
    }

    public async Task<string?> Export()
    {
        var state = (await StoredState()).Snapshot();
        if (!state.Exists)
        {
            return null;
        }
        var archived = await _ledger.Archived(state);
        var export = new System.Text.Json.Nodes.JsonObject
        {
            ["customerId"] = state.CustomerId,
            ["exportedAt"] = _time.GetUtcNow().ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["state"] = System.Text.Json.JsonSerializer.SerializeToNode(state, Domain.DomainJson.Options),
            ["archivedLedger"] = System.Text.Json.JsonSerializer.SerializeToNode(archived, Domain.DomainJson.Options),
        };
        return export.ToJsonString();
    }

    /// <summary>Sends rewards granted by stored records to the program-wide feed (fire and forget: the feed is live
    /// and at most once).</summary>
    private void PublishRewards()
    {
        var through = _storedLedgerSeq;
        if (through <= _rewardsToldThrough)
        {
            return;
        }
        var partition = _feedPartition < 0 ? _feedPartition = RewardFeed.PartitionOf(Id) : _feedPartition;
        if (_feed.Watched(partition))   // nobody watching: not even a look at the entries
        {
            foreach (ref readonly var entry in _live.LedgerBetween(_rewardsToldThrough, through))   // usually one or two entries
            {
                if (entry.Kind == "reward" && _live.RewardWithCode(entry.NoteValue) is { } reward)
                {
                    _feed.Publish(partition, new RewardNotice(Id, reward));
                }
            }
        }
        _rewardsToldThrough = through;
    }

    /// <summary>Hands stored ledger entries to the webhook outbox at once (one hand-over in flight at a time, each from
    /// the last confirmed one, so a customer's entries are stored in order). Best effort: if it fails, the next
    /// checkpoint queues them, and nothing is checkpointed before it has.</summary>
    private void QueueNotices()
    {
        if (!_outbox.Enabled)
        {
            return;
        }
        if (_queuing)
        {
            _queueAgain = true;
            return;
        }
        var from = _noticesQueued;
        var through = _storedLedgerSeq;
        if (through <= from)
        {
            return;
        }
        List<LedgerEntry> entries = [.. _live.LedgerBetween(from, through)];
        _queuing = true;
        _handOver = Queue(entries, from, through, _live.Ledger, _incarnation);

        async Task Queue(List<LedgerEntry> toQueue, long after, long upTo, IReadOnlyList<LedgerEntry> held, int incarnation)
        {
            try
            {
                await _outbox.QueueAsync(Id, toQueue, after, held);
                if (incarnation == _incarnation)
                {
                    _noticesQueued = Math.Max(_noticesQueued, upTo);
                }
            }
            catch (Exception ex)
            {
                _logger.LogDebug(ex, "Customer {CustomerId}: webhook notices not queued now; the next checkpoint queues them", Id);
            }
            _queuing = false;
            if (_queueAgain)
            {
                _queueAgain = false;
                QueueNotices();
            }
        }
    }
}

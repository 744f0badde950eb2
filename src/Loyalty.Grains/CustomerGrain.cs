using System.Diagnostics;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Orleans.Storage;

namespace Loyalty.Grains;

/// <summary>
/// A thin shell around <see cref="CustomerEngine"/>: applies events to the live state in arrival order and
/// acknowledges only after a storage write that contains them. Reentrant so that events arriving while a write
/// is in flight are applied and then committed together by the next single write (group commit); at most one
/// write is ever in flight.
/// </summary>
[Reentrant]
[GrainType("customer")]
public sealed class CustomerGrain : Grain, ICustomerGrain, IRemindable
{
    public const string StorageName = "loyalty";
    public const string StateName = "customer";

    private readonly IPersistentState<CustomerState> _state;
    private readonly IProgramCatalog _programs;
    private readonly TimeProvider _time;
    private readonly EngineLimits _limits;
    private readonly ILogger<CustomerGrain> _logger;
    private readonly BudgetLeases _budgets;
    private readonly ILedgerArchive _archive;
    // Serializes "reserve campaign budget, then apply" so events keep their arrival order while a reservation waits.
    private readonly SemaphoreSlim _applying = new(1, 1);

    private CustomerState _live = new();     // every applied event, written or not
    private CustomerState _durable = new();  // what storage holds
    private long _version;                   // bumped by every call that changed _live
    private long _written;                   // highest version known to be in storage
    private int _eventsSinceWrite;
    private Task? _writing;
    private Task? _reloading;
    private bool _broken;
    private readonly List<(long From, long To)> _lost = [];  // versions dropped by a failed write: (From, To]
    // Due work (activation, expiry, tier period ends) runs on a TimeProvider timer, so an injected clock drives it.
    private ITimer? _dueTimer;
    private readonly CustomerWatchers _watchers = new();
    private long _rewardsToldThrough = -1;
    private long _durableSeqAtActivation;   // ledger sequence through which granted rewards went to the feed
    private long _dueTimerAt;
    private static readonly TimeSpan MaxTimerDelay = TimeSpan.FromHours(1);
    private const int EventsPerChunk = 64;
    private const int UncommittedLedgerEntries = 256;

    public CustomerGrain(
        [PersistentState(StateName, StorageName)] IPersistentState<CustomerState> state,
        IProgramCatalog programs,
        EngineClock clock,
        EngineLimits limits,
        BudgetLeases budgets,
        ILedgerArchive archive,
        ILogger<CustomerGrain> logger)
    {
        _archive = archive;
        _budgets = budgets;
        _state = state;
        _programs = programs;
        _time = clock.Time;
        _limits = limits;
        _logger = logger;
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _durable = _state.State;
        _live = _durable.Snapshot();
        _durableSeqAtActivation = _durable.LedgerSeq;
        LoyaltyMetrics.CustomerActivated();
        // Catch up at once on what fell due while the customer was not active.
        ScheduleDueWork();
        return Task.CompletedTask;
    }

    public const string DueReminder = "due-work";

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        LoyaltyMetrics.CustomerDeactivated();
        _dueTimer?.Dispose();
        _dueTimer = null;
        // While inactive, a reminder wakes the customer when its next due work falls due (the timer only runs while
        // active). Best effort: a customer that is not woken catches up on its next activation anyway.
        if (!_broken && DueWork.NextDue(_durable) is { } next)
        {
            try
            {
                var dueIn = next - _time.GetUtcNow();
                await this.RegisterOrUpdateReminder(DueReminder, dueIn < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : dueIn, ReminderPeriod, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _logger.LogWarning(ex, "Could not register the due-work reminder for customer {CustomerId}", this.GetPrimaryKeyString());
            }
        }
    }

    /// <summary>Period of the due-work reminder: if a wake-up finds nothing due yet (clock skew), it tries again.</summary>
    private static readonly TimeSpan ReminderPeriod = TimeSpan.FromHours(1);

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

    /// <summary>Sends the rewards stored by the last write to the program-wide feed (fire and forget: the feed is live
    /// and at most once).</summary>
    private void PublishRewards(CustomerState stored, long toldThrough)
    {
        _rewardsToldThrough = stored.LedgerSeq;
        if (toldThrough < 0)
        {
            toldThrough = _durableSeqAtActivation;
        }
        List<RewardNotice>? notices = null;
        // Newest entries are last: walk back only over what was not told yet (usually one or two entries).
        var first = stored.Ledger.Count;
        while (first > 0 && stored.Ledger[first - 1].Sequence > toldThrough)
        {
            first--;
        }
        for (var i = first; i < stored.Ledger.Count; i++)
        {
            var entry = stored.Ledger[i];
            if (entry.Kind == "reward" && FindReward(stored, entry.Note) is { } reward)
            {
                (notices ??= []).Add(new RewardNotice(stored.CustomerId, reward));
            }
        }
        if (notices is not null)
        {
            try
            {
                _ = GrainFactory.GetGrain<IRewardFeedGrain>(RewardFeed.PartitionOf(stored.CustomerId)).Publish([.. notices]);
            }
            catch (Exception ex)
            {
                _logger.LogDebug(ex, "Reward feed publish failed for customer {CustomerId}", stored.CustomerId);
            }
        }
    }

    private static GrantedReward? FindReward(CustomerState state, string code)
    {
        for (var i = state.Rewards.Count - 1; i >= 0; i--)
        {
            if (state.Rewards[i].Code == code)
            {
                return state.Rewards[i];
            }
        }
        return null;
    }

    public async Task<LedgerEntry[]> Watch(ICustomerWatcher watcher, long since, int max)
    {
        _watchers.Renew(watcher, _durable.LedgerSeq);
        var size = Math.Clamp(max, 1, 1000);
        var state = _durable;
        if (since >= state.LedgerSeq)
        {
            return [];
        }
        // Oldest first: the archive below the state's tail, then the tail.
        var oldestInState = state.Ledger.Count > 0 ? state.Ledger[0].Sequence : state.LedgerSeq + 1;
        var result = new List<LedgerEntry>(size);
        if (since + 1 < oldestInState)
        {
            // The archive pages newest first below a sequence: read the window (since, since + size] from its top.
            var top = Math.Min(oldestInState, since + size + 1);
            var page = await _archive.ReadAsync(state.CustomerId, top, (int)(top - since - 1));
            result.AddRange(page.Where(e => e.Sequence > since).OrderBy(e => e.Sequence));
        }
        foreach (var entry in state.Ledger)
        {
            if (result.Count >= size)
            {
                break;
            }
            if (entry.Sequence > since && (result.Count == 0 || entry.Sequence > result[^1].Sequence))
            {
                result.Add(entry);
            }
        }
        return [.. result];
    }

    public Task Unwatch(ICustomerWatcher watcher)
    {
        _watchers.Remove(watcher);
        return Task.CompletedTask;
    }

    public Task<string> Location() => Task.FromResult(RuntimeIdentity);

    public async Task CatchUp()
    {
        if (_reloading is { } reloading)
        {
            await reloading;
        }
        if (_broken)
        {
            return;
        }
        await _applying.WaitAsync();
        bool changed;
        try
        {
            await ReadyToApply();
            changed = DueWork.Advance(_live, _programs.Current, _time.GetUtcNow());
        }
        finally
        {
            _applying.Release();
        }
        if (changed)
        {
            _version++;
            _eventsSinceWrite++;
        }
        await EnsureWritten(_version);
        ScheduleDueWork();
    }

    /// <summary>Arms the due-work timer for the next due instant of the live state (at most an hour ahead; it re-arms).</summary>
    private void ScheduleDueWork()
    {
        var next = DueWork.NextDue(_live);
        if (next is null)
        {
            _dueTimer?.Dispose();
            _dueTimer = null;
            _dueTimerAt = 0;
            return;
        }
        if (_dueTimer is not null && _dueTimerAt == next.Value.UtcTicks)
        {
            return;
        }
        _dueTimerAt = next.Value.UtcTicks;
        var delay = next.Value - _time.GetUtcNow();
        delay = delay < TimeSpan.Zero ? TimeSpan.Zero : delay > MaxTimerDelay ? MaxTimerDelay : delay;
        if (_dueTimer is null)
        {
            var self = this.AsReference<ICustomerGrain>();
            var logger = _logger;
            // The callback runs outside the grain: it calls the grain like any client, so the work is scheduled on it.
            _dueTimer = _time.CreateTimer(_ => self.CatchUp().ContinueWith(
                t => logger.LogWarning(t.Exception, "Due work for a customer failed; it runs again on the next call or activation"),
                TaskContinuationOptions.OnlyOnFaulted), null, delay, Timeout.InfiniteTimeSpan);
        }
        else
        {
            _dueTimer.Change(delay, Timeout.InfiniteTimeSpan);
        }
    }

    public async Task<EventResult[]> Apply(LoyaltyEvent[] events)
    {
        if (_reloading is { } reloading)
        {
            await reloading;
        }
        ThrowIfBroken();
        await _applying.WaitAsync();
        EventResult[] results;
        var timeChanged = false;
        var committedInBatch = 0;
        try
        {
            await ReadyToApply();
            var program = _programs.Current;
            var now = _time.GetUtcNow();
            timeChanged = DueWork.Advance(_live, program, now);
            results = new EventResult[events.Length];
            for (var start = 0; start < events.Length; start += EventsPerChunk)
            {
                var chunk = events[start..Math.Min(events.Length, start + EventsPerChunk)];
                var chunkResults = BudgetedApply.HasBudgets(program, chunk)
                    ? await BudgetedApply.ApplyAsync(() => _live, chunk, program, now, _limits, _budgets, ReadyToApply)
                    : chunk.Select(e => CustomerEngine.Apply(_live, e, program, now, _limits)).ToArray();
                chunkResults.CopyTo(results, start);
                // Only committed ledger entries are archived (see WriteAsync): a large batch for one customer is
                // committed in steps, so the entries waiting for the archive stay few and the state stays small.
                if (start + EventsPerChunk < events.Length && _live.LedgerSeq - _durable.LedgerSeq > UncommittedLedgerEntries)
                {
                    _version++;
                    _eventsSinceWrite += results.Take(start + chunk.Length).Count(r => r is not null && r.Changed) - committedInBatch;
                    committedInBatch = results.Take(start + chunk.Length).Count(r => r is not null && r.Changed);
                    await EnsureWritten(_version);
                }
            }
        }
        catch (EventsNotCommittedException)
        {
            throw;
        }
        catch (Exception ex) when (ex is not OrleansException and not TimeoutException)
        {
            // The live state may be half-changed. Never write it: fail everything not yet stored and let the
            // next activation start again from storage.
            _logger.LogError(ex, "Applying events {EventIds} for customer {CustomerId} failed; deactivating",
                string.Join(",", events.Take(5).Select(e => e.EventId)), this.GetPrimaryKeyString());
            Break();
            throw new EventsNotCommittedException("Applying these events failed; nothing was stored. Retrying with the same event ids is safe.", ex);
        }
        finally
        {
            _applying.Release();
        }
        var applied = results.Count(r => r.Changed) - committedInBatch;
        if (applied > 0 || timeChanged)
        {
            _version++;
            _eventsSinceWrite += applied;
        }
        // Every answer waits for the write holding the state it reports, including a duplicate of an
        // event whose own write is still in flight.
        await EnsureWritten(_version);
        ScheduleDueWork();
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            // Ids and outcomes only: event payloads and profiles (names, birth years) are personal data and never logged.
            foreach (var r in results)
            {
                _logger.LogDebug("Event {EventId} for customer {CustomerId}: {Outcome}, {Points} points, program {ProgramVersion}",
                    r.EventId, this.GetPrimaryKeyString(), r.Outcome, r.PointsDelta, r.ProgramVersion);
            }
        }
        return results;
    }

    public Task<OperationResult?> Redeem(string redemptionId, string rewardId) =>
        Operate(now => CustomerOperations.Redeem(_live, redemptionId, rewardId, _programs.Current, now, _limits));

    public Task<OperationResult?> Reserve(string reservationId, long points, TimeSpan ttl) =>
        Operate(now => CustomerOperations.Reserve(_live, reservationId, points, ttl, now, _limits));

    public Task<OperationResult?> Confirm(string reservationId, string note) =>
        Operate(now => CustomerOperations.Confirm(_live, reservationId, note, _programs.Current, now, _limits));

    public Task<OperationResult?> Cancel(string reservationId) =>
        Operate(now => CustomerOperations.Cancel(_live, reservationId, now));

    public Task<OperationResult?> Adjust(string adjustmentId, long points, string reason) =>
        Operate(now => CustomerOperations.Adjust(_live, adjustmentId, points, reason, _programs.Current, now, _limits));

    public Task<OperationResult?> GrantGoodwill(string grantId, string rewardId, string reason) =>
        Operate(now => CustomerOperations.Goodwill(_live, grantId, rewardId, reason, _programs.Current, now, _limits));

    /// <summary>Runs an operation on the live state in arrival order and answers after the write that holds it.</summary>
    private async Task<OperationResult?> Operate(Func<DateTimeOffset, OperationResult> operation)
    {
        await _applying.WaitAsync();
        OperationResult result;
        var timeChanged = false;
        try
        {
            await ReadyToApply();
            if (!_live.Exists)
            {
                return null;
            }
            var now = _time.GetUtcNow();
            timeChanged = DueWork.Advance(_live, _programs.Current, now);
            result = operation(now);
        }
        finally
        {
            _applying.Release();
        }
        if (result.Outcome == OperationOutcome.Applied || timeChanged)
        {
            _version++;
            _eventsSinceWrite++;
        }
        await EnsureWritten(_version);
        ScheduleDueWork();
        return result;
    }

    public async Task<string?> Export()
    {
        var state = _durable;
        if (!state.Exists)
        {
            return null;
        }
        var archived = new List<LedgerEntry>();
        var before = state.Ledger.Count > 0 ? state.Ledger[0].Sequence : state.LedgerSeq + 1;
        while (before > 1)
        {
            var page = await _archive.ReadAsync(state.CustomerId, before, 1000);
            if (page.Count == 0)
            {
                break;
            }
            archived.AddRange(page);
            before = page[^1].Sequence;
        }
        archived.Reverse();
        var export = new System.Text.Json.Nodes.JsonObject
        {
            ["customerId"] = state.CustomerId,
            ["exportedAt"] = _time.GetUtcNow().ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["state"] = System.Text.Json.JsonSerializer.SerializeToNode(state, Loyalty.Domain.DomainJson.Options),
            ["archivedLedger"] = System.Text.Json.JsonSerializer.SerializeToNode(archived, Loyalty.Domain.DomainJson.Options),
        };
        return export.ToJsonString();
    }

    public async Task<bool> Erase()
    {
        await _applying.WaitAsync();
        try
        {
            await ReadyToApply();
            while (_writing is { } writing)
            {
                try
                {
                    await writing;
                }
                catch (Exception)
                {
                    // A failed write is handled by its callers; erasing goes on.
                }
            }
            var existed = _durable.Exists || _live.Exists;
            var customerId = this.GetPrimaryKeyString();
            await _archive.DeleteAllAsync(customerId);
            await _state.ClearStateAsync();
            _state.State = new CustomerState();
            _durable = _state.State;
            _live = _durable.Snapshot();
            MarkUnwrittenLost();
            _version++;
            _written = _version;
            _dueTimer?.Dispose();
            _dueTimer = null;
            if (await this.GetReminder(DueReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
            _logger.LogInformation("Customer {CustomerId} erased", customerId);
            DeactivateOnIdle();
            return existed;
        }
        finally
        {
            _applying.Release();
        }
    }

    public Task<EventResult[]> Simulate(string programJson, LoyaltyEvent[] events, bool asNewCustomer)
    {
        var program = Loyalty.Domain.Programs.ProgramLoader.Parse(programJson, "draft program");
        var copy = asNewCustomer ? new CustomerState() : _durable.Snapshot();
        var now = _time.GetUtcNow();
        return Task.FromResult(events.Select(e => CustomerEngine.Apply(copy, e, program, now, _limits)).ToArray());
    }

    public Task<CustomerView?> Get() =>
        Task.FromResult(CustomerView.Of(_durable, _programs.Current, _time.GetUtcNow()));

    public Task<Loyalty.Domain.Rules.Eligibility?> Eligible() =>
        Task.FromResult(_durable.Exists ? Loyalty.Domain.Rules.Eligibility.Of(_durable, _programs.Current, _time.GetUtcNow()) : null);

    public async Task<LedgerPage?> ListLedger(int pageSize, string? pageToken)
    {
        if (!_durable.Exists)
        {
            return null;
        }
        var size = pageSize <= 0 ? 20 : Math.Min(pageSize, 1000);
        var before = long.MaxValue;
        if (!string.IsNullOrEmpty(pageToken) && !LedgerPage.TryParseToken(pageToken, out before))
        {
            throw new ArgumentException("page_token is not a token this API issued", nameof(pageToken));
        }
        var state = _durable;
        var page = new List<LedgerEntry>(size);
        for (var i = state.Ledger.Count - 1; i >= 0 && page.Count < size; i--)
        {
            if (state.Ledger[i].Sequence < before)
            {
                page.Add(state.Ledger[i]);
            }
        }
        // Older entries than the state holds come from the archive (entries archived but not yet trimmed are
        // skipped there: the archive is asked only for what lies below the state's oldest entry).
        var oldestInState = state.Ledger.Count > 0 ? state.Ledger[0].Sequence : state.LedgerSeq + 1;
        if (page.Count < size && oldestInState > 1)
        {
            page.AddRange(await _archive.ReadAsync(state.CustomerId, Math.Min(before, oldestInState), size - page.Count));
        }
        var more = page.Count == size && page[^1].Sequence > 1;
        return new LedgerPage(page, more ? LedgerPage.Token(page[^1].Sequence) : "");
    }

    public Task<InteractionPage?> ListInteractions(int pageSize, string? pageToken) =>
        Task.FromResult(_durable.Exists ? InteractionPage.Of(_durable, pageSize, pageToken) : null);

    private async Task EnsureWritten(long target)
    {
        while (true)
        {
            foreach (var (from, to) in _lost)
            {
                if (target > from && target <= to)
                {
                    throw new EventsNotCommittedException(
                        $"The storage write for customer {this.GetPrimaryKeyString()} failed; these events may not have been applied. Retrying with the same event ids is safe.");
                }
            }
            if (_written >= target)
            {
                return;
            }
            ThrowIfBroken();
            var writing = _writing ??= WriteAsync();
            await writing;
            if (ReferenceEquals(_writing, writing))
            {
                _writing = null; // in case the write completed synchronously
            }
        }
    }

    private async Task WriteAsync()
    {
        var version = _version;
        var events = _eventsSinceWrite;
        var snapshot = _live.Snapshot();
        var started = Stopwatch.GetTimestamp();
        try
        {
            // Older ledger entries go to their own rows before the write that drops them from the state. Only entries
            // of the stored state are archived: they are committed history, the same in every later state, so a row
            // written by a stale activation (one that lost the etag race but is still running) holds the same entry
            // as a row written by the current one, and a write that then fails leaves nothing uncommitted behind.
            var (archive, through) = _durable.LedgerToArchive(_limits.LedgerKept);
            if (archive.Count > 0)
            {
                await _archive.AppendAsync(snapshot.CustomerId, archive);
                snapshot.TrimArchivedLedger(through);
                _live.TrimArchivedLedger(through);
            }
            _state.State = snapshot;
            await _state.WriteStateAsync();
            var toldThrough = _rewardsToldThrough;
            _durable = snapshot;
            _watchers.Tell(snapshot.CustomerId, snapshot);
            PublishRewards(snapshot, toldThrough);
            _written = version;
            _eventsSinceWrite -= events;
            LoyaltyMetrics.RecordWrite(events, Stopwatch.GetElapsedTime(started));

        }
        catch (Exception ex) when (IsEtagConflict(ex))
        {
            // Another activation wrote this customer (e.g. during a cluster membership change): this one is stale.
            _logger.LogWarning(ex, "Customer {CustomerId} was written elsewhere; deactivating this stale activation", this.GetPrimaryKeyString());
            Break();
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Storage write failed for customer {CustomerId}; reloading state and failing {Events} events",
                this.GetPrimaryKeyString(), _eventsSinceWrite);
            var reload = ReloadAsync();
            _reloading = reload;
            try
            {
                await reload;
            }
            finally
            {
                if (_reloading == reload)
                {
                    _reloading = null;
                }
            }
        }
        finally
        {
            _writing = null;
        }
    }

    private async Task ReloadAsync()
    {
        // Nothing applies while we reload (Apply waits on _reloading), so every version up to now is lost.
        MarkUnwrittenLost();
        try
        {
            await _state.ReadStateAsync();
            _durable = _state.State;
            _live = _durable.Snapshot();
            // The reloaded state is exactly what storage holds: later calls that change nothing need no write.
            _version++;
            _written = _version;
        }
        catch (Exception ex)
        {
            // The stored state is unknown: stop serving from this activation; the next call reactivates.
            _logger.LogError(ex, "Reloading customer {CustomerId} failed; deactivating", this.GetPrimaryKeyString());
            Break();
            throw new EventsNotCommittedException("Customer state could not be reloaded after a failed write; retry.", ex);
        }
    }

    /// <summary>Every version not known to be stored fails; this activation writes nothing more and goes away.</summary>
    private void Break()
    {
        _broken = true;
        MarkUnwrittenLost();
        _lost.Add((_written, long.MaxValue));
        DeactivateOnIdle();
    }

    private void MarkUnwrittenLost()
    {
        _lost.Add((_written, _version));
        if (_lost.Count > 32)
        {
            _lost.RemoveAt(0);
        }
        _eventsSinceWrite = 0;
    }

    /// <summary>Waits for this silo's program to be the cluster's active version, waits out a reload in progress,
    /// and refuses to apply on a broken activation.</summary>
    private async Task ReadyToApply()
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
}

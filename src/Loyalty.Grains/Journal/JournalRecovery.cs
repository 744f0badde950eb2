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
    private readonly ILogger<JournalRecovery> _logger;
    private readonly object _lock = new();
    private TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private Task _watching = Task.CompletedTask;
    private readonly SemaphoreSlim _scan = new(1, 1);

    public JournalRecovery(IJournalStore store, JournalWriter writer, IClusterMembershipService membership, IServiceProvider services,
        ProgramVersions programs, EngineLimits limits, ILedgerArchive archive, ILogger<JournalRecovery> logger)
    {
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

    /// <summary>Journals recovered by this silo (tests, logs).</summary>
    public int Recovered { get; private set; }

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
        try
        {
            await foreach (var _ in _membership.MembershipUpdates.WithCancellation(stopping))
            {
                await ScanUntilDone(stopping);
            }
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
                await ScanAsync(stopping);
                return;
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                _logger.LogError(e, "Journal recovery failed; customers wait and recovery is tried again");
                await Task.Delay(delay, stopping);
                delay = TimeSpan.FromMilliseconds(Math.Min(5000, delay.TotalMilliseconds * 2));
            }
        }
    }

    /// <summary>Finds journals whose owner is dead (or unknown to the membership) and recovers them, closing the gate meanwhile.</summary>
    public async Task ScanAsync(CancellationToken cancellationToken)
    {
        await _scan.WaitAsync(cancellationToken);
        try
        {
            var journals = await _store.ListAsync(cancellationToken);
            var snapshot = _membership.CurrentSnapshot;
            var dead = journals.Where(j => j.JournalId != _writer.JournalId && IsDead(j.JournalId, snapshot)).ToList();
            if (dead.Count > 0)
            {
                lock (_lock)
                {
                    if (_gate.Task.IsCompleted)
                    {
                        _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }
                }
                foreach (var journal in dead)
                {
                    await RecoverAsync(journal.JournalId, cancellationToken);
                }
            }
            lock (_lock)
            {
                _gate.TrySetResult();
            }
        }
        finally
        {
            _scan.Release();
        }
    }

    private static bool IsDead(string journalId, ClusterMembershipSnapshot snapshot)
    {
        if (JournalWriter.SiloOf(journalId) is not { } silo)
        {
            return true;
        }
        var status = snapshot.GetSiloStatus(silo);
        return status is SiloStatus.Dead or SiloStatus.None;
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
                if (await RecoverCustomerAsync(storage, customer.Key, [.. customer.OrderBy(r => r.Sequence)], cancellationToken))
                {
                    customers++;
                }
            }
            _logger.LogWarning("Recovered journal {JournalId}: {Records} records, {Customers} customers brought up to date in {Elapsed}",
                journalId, records.Count, customers, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        }
        await _store.RemoveAsync(journalId, cancellationToken);
        Recovered++;
    }

    private async Task<bool> RecoverCustomerAsync(IGrainStorage storage, string customerId, List<JournalRecord> records, CancellationToken cancellationToken)
    {
        var grainId = GrainId.Create(CustomerGrain.GrainTypeName, customerId);
        for (var attempt = 0; ; attempt++)
        {
            var stored = new GrainState<CustomerState>();
            await storage.ReadStateAsync(CustomerGrain.StateName, grainId, stored);
            var state = stored.State ?? new CustomerState();
            var after = state.JournalSeq;
            var todo = records.Where(r => r.Sequence > after).ToList();
            if (todo.Count == 0)
            {
                return false;
            }
            if (todo[0].Sequence != after + 1)
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
                }, "recovery");
                return true;
            }
            catch (InconsistentStateException) when (attempt < 5)
            {
                // Written meanwhile (another recovering silo): read again and replay what is still missing.
            }
        }
    }
}

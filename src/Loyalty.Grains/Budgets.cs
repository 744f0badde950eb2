using System.Collections.Concurrent;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;
using Loyalty.Domain.Rules;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Loyalty.Grains;

/// <summary>
/// One campaign budget (a rule, a period, a unit: grants or points) across the whole cluster. It hands units to silos
/// in leases (chunks), so it sees one call per chunk, never one per event. Units leased and not used come back when
/// the silo stops. It never leases more than the limit: the budget can be under-spent by what silos still hold, never
/// over-spent.
/// </summary>
public interface IBudgetGrain : IGrainWithStringKey
{
    /// <summary>Leases up to <paramref name="want"/> units under <paramref name="limit"/>; 0 when the budget is used up.</summary>
    Task<long> Lease(long want, long limit);

    Task Return(long units);

    Task<BudgetStatus> Status();
}

[GenerateSerializer, Immutable, Alias("loyalty.BudgetStatus")]
public sealed record BudgetStatus([property: Id(0)] long Leased, [property: Id(1)] long Limit);

public sealed class BudgetState
{
    public long Leased { get; set; }
    public long Limit { get; set; }
}

[GrainType("budget")]
public sealed class BudgetGrain([PersistentState("budget", CustomerGrain.StorageName)] IPersistentState<BudgetState> state) : Grain, IBudgetGrain
{
    public async Task<long> Lease(long want, long limit)
    {
        state.State.Limit = limit;
        var remaining = limit - state.State.Leased;
        if (remaining <= 0 || want <= 0)
        {
            return 0;
        }
        // Large chunks while plenty is left, smaller ones near the end so no silo sits on the last units.
        var grant = Math.Min(want, Math.Max(1, remaining / 4));
        state.State.Leased += grant;
        try
        {
            await state.WriteStateAsync(); // durable before handed out: a crash never leases the same units twice
        }
        catch
        {
            state.State.Leased -= grant;
            DeactivateOnIdle(); // the stored etag may have moved; start again from storage
            throw;
        }
        return grant;
    }

    public async Task Return(long units)
    {
        if (units > 0)
        {
            var before = state.State.Leased;
            state.State.Leased = Math.Max(0, before - units);
            try
            {
                await state.WriteStateAsync();
            }
            catch
            {
                state.State.Leased = before;
                DeactivateOnIdle();
                throw;
            }
        }
    }

    public Task<BudgetStatus> Status() => Task.FromResult(new BudgetStatus(state.State.Leased, state.State.Limit));
}

/// <summary>This silo's leased budget units. Customer grains reserve from here synchronously when units are at hand;
/// only an empty local lease costs a call to the budget grain.</summary>
public sealed class BudgetLeases(IGrainFactory grains, ILogger<BudgetLeases> logger) : IHostedService
{
    public const long Chunk = 32;
    private readonly ConcurrentDictionary<string, Local> _leases = new();

    private sealed class Local
    {
        public long Units;
        public long Used;
        public long ExhaustedUntilTicks;
        public Task<bool>? Refill;
    }

    /// <summary>Units used from leases on this silo, per budget key (for tests and metrics).</summary>
    public IReadOnlyDictionary<string, long> Used => _leases.ToDictionary(kv => kv.Key, kv => Interlocked.Read(ref kv.Value.Used));

    public async Task<bool> ReserveAsync(string key, long units, long limit)
    {
        if (units <= 0)
        {
            return true;
        }
        var local = _leases.GetOrAdd(key, _ => new Local());
        while (true)
        {
            Task<bool> refill;
            TaskCompletionSource<bool>? mine = null;
            lock (local)
            {
                if (local.Units >= units)
                {
                    local.Units -= units;
                    local.Used += units;
                    return true;
                }
                if (local.ExhaustedUntilTicks > DateTime.UtcNow.Ticks)
                {
                    return false;
                }
                // One refill at a time per key; the others wait for it. The refill is published here, under the lock,
                // before it starts, and cleared by itself when it ends, so a finished refill is never left behind as
                // the current one, however fast the budget grain answers. (Assigning the refill's own task after
                // starting it left a completed task in place when it finished synchronously: every reservation after
                // it spun on that task forever.)
                if (local.Refill is null)
                {
                    mine = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                    local.Refill = mine.Task;
                }
                refill = local.Refill;
            }
            if (mine is not null)
            {
                await RefillAsync(key, local, Math.Max(Chunk, units), limit, mine);
            }
            if (!await refill)
            {
                return false;
            }
        }
    }

    public void Release(string key, long units)
    {
        if (units > 0 && _leases.TryGetValue(key, out var local))
        {
            lock (local)
            {
                local.Units += units;
                local.Used -= units;
            }
        }
    }

    /// <summary>Asks the budget grain for units; ends <paramref name="done"/> (true if any were granted) after
    /// clearing the key's current refill. Never throws: a failure is <paramref name="done"/>'s exception.</summary>
    private async Task RefillAsync(string key, Local local, long want, long limit, TaskCompletionSource<bool> done)
    {
        try
        {
            var granted = await grains.GetGrain<IBudgetGrain>(key).Lease(want, limit);
            lock (local)
            {
                local.Units += granted;
                if (granted == 0)
                {
                    // Spent: stop asking for a moment (units may come back from stopping silos).
                    local.ExhaustedUntilTicks = DateTime.UtcNow.AddSeconds(1).Ticks;
                }
                local.Refill = null;
            }
            done.SetResult(granted > 0);
        }
        catch (Exception e)
        {
            lock (local)
            {
                local.Refill = null;
            }
            done.SetException(e);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Gives unused units back so other silos can spend them.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var (key, local) in _leases)
        {
            long units;
            lock (local)
            {
                units = local.Units;
                local.Units = 0;
            }
            try
            {
                await grains.GetGrain<IBudgetGrain>(key).Return(units);
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Could not return {Units} units of budget {Budget}; they stay unspent", units, key);
            }
        }
    }
}

/// <summary>Records what budgeted rules would need (dry run), always saying yes.</summary>
internal sealed class RecordingBudget : IBudgetGate
{
    public Dictionary<RuleDefinition, (long Grants, long Points)> Needs { get; } = [];

    public bool TryConsume(RuleDefinition rule, int grants, long points)
    {
        Needs[rule] = Needs.TryGetValue(rule, out var n) ? (n.Grants + grants, n.Points + points) : (grants, points);
        return true;
    }
}

/// <summary>Spends what was reserved from the silo's leases; refuses what could not be reserved.</summary>
internal sealed class ReservedBudget : IBudgetGate
{
    public Dictionary<RuleDefinition, (long Grants, long Points)> Left { get; } = [];

    public bool TryConsume(RuleDefinition rule, int grants, long points)
    {
        if (!Left.TryGetValue(rule, out var left) || left.Grants < grants || left.Points < Math.Max(0, points))
        {
            return false;
        }
        Left[rule] = (left.Grants - grants, left.Points - Math.Max(0, points));
        return true;
    }
}

/// <summary>Applies a batch for one customer with campaign budgets enforced across the cluster.</summary>
internal static class BudgetedApply
{
    public static bool HasBudgets(ActiveProgram program, LoyaltyEvent[] events)
    {
        // Every live event asks: loops, not lambdas (a closure and enumerators per call).
        foreach (var e in events)
        {
            if (e.Payload is not null && program.RulesByKind.TryGetValue(e.Payload.Kind, out var rules))
            {
                foreach (var rule in rules)
                {
                    if (rule.Limits.Budget is not null)
                    {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /// <summary>What was reserved for one apply, and how to give back what it did not use.</summary>
    public sealed record Reservation(IBudgetGate Gate, Action Release);

    /// <summary>Dry-runs the events on a copy to learn what budgeted rules would fire and reserves that from the silo's
    /// leases. The caller then applies for real (same state, events, program and time, so the same rules fire) with
    /// only the reserved budget available, and releases what was not used.</summary>
    public static async Task<Reservation> ReserveAsync(CustomerState live, LoyaltyEvent[] events, ActiveProgram program,
        DateTimeOffset now, EngineLimits limits, BudgetLeases leases)
    {
        var recording = new RecordingBudget();
        var dry = live.Snapshot();
        CustomerCommands.Apply(dry, CustomerCommand.Of(events), program, now, limits, recording);
        var reserved = new ReservedBudget();
        try
        {
            await Reserve(recording, reserved, program, now, leases);
        }
        catch (Exception e)
        {
            Release(reserved, program, now, leases);
            // Nothing was applied yet: the caller may retry.
            throw new EventsNotCommittedException("The campaign budget could not be reached; nothing was applied. Retrying with the same event ids is safe.", e);
        }
        return new Reservation(reserved, () => Release(reserved, program, now, leases));
    }

    private static async Task Reserve(RecordingBudget recording, ReservedBudget reserved, ActiveProgram program, DateTimeOffset now, BudgetLeases leases)
    {
        foreach (var (rule, need) in recording.Needs)
        {
            var budget = rule.Limits.Budget!;
            var grantsKey = RuleEngine.BudgetKey(program, rule, now, "grants");
            var pointsKey = RuleEngine.BudgetKey(program, rule, now, "points");
            var grants = budget.MaxGrants is not null ? need.Grants : long.MaxValue / 4;
            if (budget.MaxGrants is { } g && !await leases.ReserveAsync(grantsKey, need.Grants, g))
            {
                continue;
            }
            bool pointsReserved;
            try
            {
                pointsReserved = budget.MaxPoints is not { } p || await leases.ReserveAsync(pointsKey, Math.Max(0, need.Points), p);
            }
            catch
            {
                if (budget.MaxGrants is not null)
                {
                    leases.Release(grantsKey, need.Grants);
                }
                throw;
            }
            if (!pointsReserved)
            {
                if (budget.MaxGrants is not null)
                {
                    leases.Release(grantsKey, need.Grants);
                }
                continue;
            }
            reserved.Left[rule] = (grants, budget.MaxPoints is null ? long.MaxValue / 4 : Math.Max(0, need.Points));
        }
    }

    /// <summary>Gives back what was reserved and not spent.</summary>
    private static void Release(ReservedBudget reserved, ActiveProgram program, DateTimeOffset now, BudgetLeases leases)
    {
        foreach (var (rule, left) in reserved.Left)
        {
            var budget = rule.Limits.Budget!;
            if (budget.MaxGrants is not null)
            {
                leases.Release(RuleEngine.BudgetKey(program, rule, now, "grants"), left.Grants);
            }
            if (budget.MaxPoints is not null)
            {
                leases.Release(RuleEngine.BudgetKey(program, rule, now, "points"), left.Points);
            }
        }
        reserved.Left.Clear();
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Loyalty.Domain.Customers;

/// <summary>Ledger movements the liability report counts per day (indexes into <see cref="LiabilityTotals.Days"/>).
/// Stored data: never renumber.</summary>
public enum LiabilityFlow
{
    /// <summary>Points earned straight into the balance ("earn").</summary>
    Earned = 0,
    /// <summary>Points earned into pending ("pending").</summary>
    EarnedPending = 1,
    /// <summary>Pending points that became spendable ("activate"; moves points, issues none).</summary>
    Activated = 2,
    /// <summary>Points that expired ("expire", negative).</summary>
    Expired = 3,
    /// <summary>Points spent on rewards and confirmed reservations ("spend", negative).</summary>
    Spent = 4,
    /// <summary>Points taken back by refunds ("reverse", negative).</summary>
    Reversed = 5,
    /// <summary>Operator adjustments ("adjust", signed).</summary>
    Adjusted = 6,
    /// <summary>Opening balances and history points brought in by an import ("import").</summary>
    Imported = 7,
    /// <summary>Balances removed by erasing customers (negative).</summary>
    Erased = 8,
}

/// <summary>What one customer adds to the points liability at a moment: their balance, tier and spendable points by
/// expiry month (UTC).</summary>
public readonly record struct LiabilityShare(bool Exists, long Available, long Pending, string Tier, IReadOnlyList<KeyValuePair<int, long>> Expiring)
{
    public static LiabilityShare None { get; } = new(false, 0, 0, "", []);

    public bool HasBalance => Available > 0 || Pending > 0;

    public static LiabilityShare Of(CustomerState state)
    {
        if (!state.Exists)
        {
            return None;
        }
        List<KeyValuePair<int, long>>? expiring = null;
        foreach (var lot in state.Lots)
        {
            if (lot.IsPending || lot.ExpiresTicks == 0 || lot.Points == 0)
            {
                continue;
            }
            var month = LiabilityTotals.MonthOf(lot.ExpiresTicks);
            expiring ??= [];
            var i = expiring.Count - 1;
            while (i >= 0 && expiring[i].Key != month)
            {
                i--;
            }
            if (i < 0)
            {
                expiring.Add(new(month, lot.Points));
            }
            else
            {
                expiring[i] = new(month, expiring[i].Value + lot.Points);
            }
        }
        return new LiabilityShare(true, state.PointsAvailable, state.PointsPending, state.Tier, expiring ?? (IReadOnlyList<KeyValuePair<int, long>>)[]);
    }

    public bool SameAs(LiabilityShare other)
    {
        if (Exists != other.Exists || Available != other.Available || Pending != other.Pending || Tier != other.Tier
            || Expiring.Count != other.Expiring.Count)
        {
            return false;
        }
        // Runs for every record: loops, not a lambda and enumerators per call. Months are unique in a share.
        for (var i = 0; i < Expiring.Count; i++)
        {
            var found = false;
            for (var j = 0; j < other.Expiring.Count && !found; j++)
            {
                found = other.Expiring[j].Equals(Expiring[i]);
            }
            if (!found)
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>
/// What one journal record changed in the points liability: the customer's share taken out and put back (both
/// <see cref="LiabilityShare.None"/> when it did not change) and the points its new ledger entries moved, by day and
/// flow. One is made per record, so it holds no tables: the journal's head adds it to its running
/// <see cref="LiabilityTotals"/> (<see cref="LiabilityTotals.Add(LiabilityChange)"/>), which has them.
/// </summary>
public sealed class LiabilityChange
{
    private LiabilityFlowPoints _first;
    private List<LiabilityFlowPoints>? _more;

    private LiabilityChange(LiabilityShare before, LiabilityShare after)
    {
        Before = before;
        After = after;
    }

    /// <summary>The share before the command, taken out (<see cref="LiabilityShare.None"/> when it did not change).</summary>
    public LiabilityShare Before { get; }

    /// <summary>The share after the command, put in (<see cref="LiabilityShare.None"/> when it did not change).</summary>
    public LiabilityShare After { get; }

    /// <summary>How many ledger movements the change holds.</summary>
    public int FlowCount { get; private set; }

    public LiabilityFlowPoints Flow(int index) =>
        (uint)index >= (uint)FlowCount ? throw new ArgumentOutOfRangeException(nameof(index)) : index == 0 ? _first : _more![index - 1];

    /// <summary>The change one command made: <paramref name="before"/> out, <paramref name="after"/> in, and the ledger
    /// entries after <paramref name="ledgerBefore"/>. Null when it changed nothing the report counts.</summary>
    public static LiabilityChange? Of(LiabilityShare before, LiabilityShare after, CustomerState state, long ledgerBefore)
    {
        LiabilityChange? change = before.SameAs(after) ? null : new LiabilityChange(before, after);
        foreach (var entry in state.LedgerBetween(ledgerBefore))
        {
            if (LiabilityTotals.FlowOf(entry) is { } flow && LiabilityTotals.PointsOf(entry, flow) is var points and not 0)
            {
                (change ??= new LiabilityChange(LiabilityShare.None, LiabilityShare.None)).AddFlow(LiabilityTotals.DayOf(entry.At), flow, points);
            }
        }
        return change;
    }

    /// <summary>What erasing a customer removes: their share, and their balance as an erased flow on <paramref name="at"/>.</summary>
    public static LiabilityChange? Erasure(LiabilityShare before, DateTimeOffset at)
    {
        if (!before.Exists)
        {
            return null;
        }
        var change = new LiabilityChange(before, LiabilityShare.None);
        change.AddFlow(LiabilityTotals.DayOf(at), LiabilityFlow.Erased, -(before.Available + before.Pending));
        return change;
    }

    private void AddFlow(int day, LiabilityFlow flow, long points)
    {
        if (points == 0)
        {
            return;
        }
        var item = new LiabilityFlowPoints(day, flow, points);
        if (FlowCount == 0)
        {
            _first = item;
        }
        else
        {
            (_more ??= new List<LiabilityFlowPoints>(2)).Add(item);
        }
        FlowCount++;
    }
}

/// <summary>Points of one <see cref="LiabilityFlow"/> on one UTC day (days since 1970-01-01).</summary>
public readonly record struct LiabilityFlowPoints(int Day, LiabilityFlow Flow, long Points);

/// <summary>Points outstanding per tier.</summary>
public sealed class TierLiability
{
    [JsonPropertyName("n")] public long Customers { get; set; }
    [JsonPropertyName("b")] public long CustomersWithBalance { get; set; }
    [JsonPropertyName("a")] public long Available { get; set; }
    [JsonPropertyName("p")] public long Pending { get; set; }

    [JsonIgnore] public bool IsZero => Customers == 0 && CustomersWithBalance == 0 && Available == 0 && Pending == 0;
}

/// <summary>
/// Sums that make the points-liability report: outstanding points (total, per tier, by expiry month) and the ledger's
/// movements per day. The same type is a change (what one journal record did: the difference of the customer's
/// <see cref="LiabilityShare"/> before and after, and its new ledger entries) and a running total (a journal's sum of
/// changes, or every journal's). Everything is an integer sum, so totals add up exactly in any order.
/// </summary>
public sealed class LiabilityTotals
{
    public static readonly int FlowKinds = Enum.GetValues<LiabilityFlow>().Length;

    [JsonPropertyName("n")] public long Customers { get; set; }
    [JsonPropertyName("b")] public long CustomersWithBalance { get; set; }
    [JsonPropertyName("a")] public long Available { get; set; }
    [JsonPropertyName("p")] public long Pending { get; set; }
    [JsonPropertyName("t")] public Dictionary<string, TierLiability> Tiers { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Spendable points by the UTC month they expire in (<see cref="MonthOf"/>); points that never expire are not here.</summary>
    [JsonPropertyName("x")] public SortedDictionary<int, long> Expiring { get; set; } = [];
    /// <summary>Per UTC day (days since 1970-01-01): the points of each <see cref="LiabilityFlow"/>, indexed by its value.</summary>
    [JsonPropertyName("d")] public SortedDictionary<int, long[]> Days { get; set; } = [];

    [JsonIgnore]
    public bool IsZero => Customers == 0 && CustomersWithBalance == 0 && Available == 0 && Pending == 0
        && Tiers.Values.All(t => t.IsZero) && Expiring.Values.All(v => v == 0) && Days.Values.All(d => d.All(v => v == 0));

    /// <summary>Month index of an instant: year × 12 + month − 1 (UTC).</summary>
    public static int MonthOf(long utcTicks)
    {
        var d = new DateTime(utcTicks, DateTimeKind.Utc);
        return d.Year * 12 + d.Month - 1;
    }

    public static DateOnly FirstDayOfMonth(int month) => new(month / 12, month % 12 + 1, 1);

    public static int DayOf(DateTimeOffset at) => (int)(at.UtcTicks / TimeSpan.TicksPerDay - DateTime.UnixEpoch.Ticks / TimeSpan.TicksPerDay);

    public static DateOnly DateOfDay(int day) => DateOnly.FromDateTime(DateTime.UnixEpoch.AddDays(day));

    /// <summary>Adds (<paramref name="sign"/> = 1) or removes (−1) a customer's share.</summary>
    public void AddShare(LiabilityShare share, int sign)
    {
        if (!share.Exists)
        {
            return;
        }
        Customers += sign;
        Available += sign * share.Available;
        Pending += sign * share.Pending;
        var withBalance = share.HasBalance ? sign : 0;
        CustomersWithBalance += withBalance;
        if (!Tiers.TryGetValue(share.Tier, out var tier))
        {
            Tiers[share.Tier] = tier = new TierLiability();
        }
        tier.Customers += sign;
        tier.CustomersWithBalance += withBalance;
        tier.Available += sign * share.Available;
        tier.Pending += sign * share.Pending;
        foreach (var (month, points) in share.Expiring)
        {
            Expiring[month] = Expiring.GetValueOrDefault(month) + sign * points;
        }
    }

    public void AddFlow(int day, LiabilityFlow flow, long points)
    {
        if (points == 0)
        {
            return;
        }
        if (!Days.TryGetValue(day, out var flows))
        {
            Days[day] = flows = new long[FlowKinds];
        }
        flows[(int)flow] += points;
    }

    /// <summary>The flow a ledger entry counts as, if it moves points.</summary>
    public static LiabilityFlow? FlowOf(LedgerEntry entry) => entry.Kind switch
    {
        "earn" => LiabilityFlow.Earned,
        "pending" => LiabilityFlow.EarnedPending,
        "activate" => LiabilityFlow.Activated,
        "expire" => LiabilityFlow.Expired,
        "spend" => LiabilityFlow.Spent,
        "reverse" => LiabilityFlow.Reversed,
        "adjust" => LiabilityFlow.Adjusted,
        "import" => LiabilityFlow.Imported,
        _ => null,
    };

    /// <summary>Points a flow entry moves: for activations the points that became spendable, otherwise the change of
    /// the balance (available + pending).</summary>
    internal static long PointsOf(LedgerEntry entry, LiabilityFlow flow) =>
        flow == LiabilityFlow.Activated ? entry.Points : entry.Points + entry.PendingPoints;

    /// <summary>Adds one record's change. Call <see cref="Compact"/> once after the last of a batch: entries that
    /// sum to zero are dropped then, not after each record.</summary>
    public void Add(LiabilityChange change)
    {
        AddShare(change.Before, -1);
        AddShare(change.After, 1);
        for (var i = 0; i < change.FlowCount; i++)
        {
            var flow = change.Flow(i);
            AddFlow(flow.Day, flow.Flow, flow.Points);
        }
    }

    public void Add(LiabilityTotals other)
    {
        Customers += other.Customers;
        CustomersWithBalance += other.CustomersWithBalance;
        Available += other.Available;
        Pending += other.Pending;
        foreach (var (name, t) in other.Tiers)
        {
            if (!Tiers.TryGetValue(name, out var tier))
            {
                Tiers[name] = tier = new TierLiability();
            }
            tier.Customers += t.Customers;
            tier.CustomersWithBalance += t.CustomersWithBalance;
            tier.Available += t.Available;
            tier.Pending += t.Pending;
        }
        foreach (var (month, points) in other.Expiring)
        {
            Expiring[month] = Expiring.GetValueOrDefault(month) + points;
        }
        foreach (var (day, flows) in other.Days)
        {
            if (!Days.TryGetValue(day, out var mine))
            {
                Days[day] = mine = new long[FlowKinds];
            }
            for (var k = 0; k < Math.Min(flows.Length, mine.Length); k++)
            {
                mine[k] += flows[k];
            }
        }
        Compact();
    }

    /// <summary>Drops entries that sum to zero (a tier nobody holds, a month whose points all went).</summary>
    public void Compact()
    {
        // Runs for every journal record summed: look first, allocate only when something goes.
        List<string>? tiers = null;
        foreach (var (name, tier) in Tiers)
        {
            if (tier.IsZero)
            {
                (tiers ??= []).Add(name);
            }
        }
        tiers?.ForEach(name => Tiers.Remove(name));
        List<int>? months = null;
        foreach (var (month, points) in Expiring)
        {
            if (points == 0)
            {
                (months ??= []).Add(month);
            }
        }
        months?.ForEach(month => Expiring.Remove(month));
    }

    public LiabilityTotals Copy()
    {
        var copy = new LiabilityTotals();
        copy.Add(this);
        return copy;
    }

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, DomainJson.Options);

    public static LiabilityTotals FromJson(ReadOnlySpan<byte> json) =>
        json.Length == 0 ? new LiabilityTotals() : JsonSerializer.Deserialize<LiabilityTotals>(json, DomainJson.Options) ?? new LiabilityTotals();
}

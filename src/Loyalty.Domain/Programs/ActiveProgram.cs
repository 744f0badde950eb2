using System.Collections.Frozen;
using System.Collections.Immutable;

namespace Loyalty.Domain.Programs;

/// <summary>A validated program ready for evaluation: resolved time zone, lookups, and its version.</summary>
public sealed class ActiveProgram
{
    public ActiveProgram(LoyaltyProgram definition, string version, string definitionJson)
    {
        Definition = definition;
        Version = version;
        DefinitionJson = definitionJson;
        TimeZone = TimeZoneInfo.FindSystemTimeZoneById(definition.TimeZone);
        CategoryMultipliers = definition.Earning.Purchase.CategoryMultipliers
            .ToFrozenDictionary(kv => kv.Key.ToLowerInvariant(), kv => kv.Value);
        RankBonuses = [.. definition.Earning.MatchResult.RankBonuses.OrderBy(b => b.MaxRank)];
        Tiers = [.. definition.Tiers.Levels];
        Rewards = definition.Rewards.ToFrozenDictionary(r => r.Id);
        FiringKeys = definition.Rules.Select(r => r.Id).Concat(definition.Rewards.Select(r => "reward/" + r.Id)).ToFrozenSet();
        RulesByKind = Events.EventKinds.All.ToFrozenDictionary(
            kind => kind,
            kind => definition.Rules.Where(r => r.When.Contains(kind) || r.When.Contains("any")).ToImmutableArray());
    }

    public FrozenDictionary<string, Rules.RewardDefinition> Rewards { get; }
    /// <summary>Keys under which per-customer limits are remembered: rule ids and "reward/" + reward ids.</summary>
    public FrozenSet<string> FiringKeys { get; }
    /// <summary>Rules that listen to each event kind, in program order. An immutable array: every event reads its kind's
    /// rules, and a <c>foreach</c> over it boxes no enumerator (through <c>IReadOnlyList</c> it did, once per event).</summary>
    public FrozenDictionary<string, ImmutableArray<Rules.RuleDefinition>> RulesByKind { get; }

    public LoyaltyProgram Definition { get; }
    /// <summary>Content hash of the definition: the same file always has the same version.</summary>
    public string Version { get; }
    public string DefinitionJson { get; }
    public TimeZoneInfo TimeZone { get; }
    public FrozenDictionary<string, decimal> CategoryMultipliers { get; }
    public IReadOnlyList<RankBonus> RankBonuses { get; }
    public IReadOnlyList<TierLevel> Tiers { get; }

    /// <summary>The program-local calendar day of an instant, as a day number.</summary>
    public int LocalDay(DateTimeOffset instant) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(instant, TimeZone).DateTime).DayNumber;

    public DateOnly LocalDate(DateTimeOffset instant) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(instant, TimeZone).DateTime);

    /// <summary>The instant the program-local day <paramref name="date"/> begins (its local midnight; if a clock change
    /// skips midnight, the first local time that exists).</summary>
    public DateTimeOffset StartOfLocalDay(DateOnly date)
    {
        var local = date.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified);
        while (TimeZone.IsInvalidTime(local))
        {
            local = local.AddMinutes(15);
        }
        return new DateTimeOffset(TimeZoneInfo.ConvertTimeToUtc(local, TimeZone), TimeSpan.Zero);
    }

    /// <summary>When points that became spendable at <paramref name="earned"/> expire under the program's policy, as UTC
    /// ticks; 0 = never.</summary>
    public long ExpiryTicks(DateTimeOffset earned)
    {
        var expiry = Definition.Points.Expiry;
        var day = LocalDate(earned);
        DateOnly lastDay;
        switch (expiry.Policy)
        {
            case ExpiryPolicy.Rolling:
                lastDay = day.AddMonths(expiry.Months);
                break;
            case ExpiryPolicy.EndOfMonth:
                var month = new DateOnly(day.Year, day.Month, 1).AddMonths(expiry.Months);
                lastDay = month.AddMonths(1).AddDays(-1);
                break;
            case ExpiryPolicy.EndOfYear:
                lastDay = new DateOnly(day.Year + expiry.Years, 12, 31);
                break;
            default:
                return 0;
        }
        return StartOfLocalDay(lastDay.AddDays(1)).UtcTicks;
    }

    public decimal CategoryMultiplier(string category) =>
        CategoryMultipliers.TryGetValue(category, out var m) ? m : 1m;

    // Loops by index: a lambda over the name and an enumerator of the list were two objects of every event's earn.
    public TierLevel TierByName(string? name)
    {
        for (var i = 0; i < Tiers.Count; i++)
        {
            if (Tiers[i].Name == name)
            {
                return Tiers[i];
            }
        }
        return Tiers[0];
    }

    /// <summary>The highest tier whose threshold the qualifying points reach.</summary>
    public TierLevel TierFor(long qualifyingPoints)
    {
        var tier = Tiers[0];
        for (var i = 0; i < Tiers.Count; i++)
        {
            if (qualifyingPoints >= Tiers[i].QualifyingPoints)
            {
                tier = Tiers[i];
            }
        }
        return tier;
    }

    public int TierRank(string? name)
    {
        for (var i = 0; i < Tiers.Count; i++)
        {
            if (Tiers[i].Name == name)
            {
                return i;
            }
        }
        return 0;
    }
}

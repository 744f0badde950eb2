namespace Loyalty.Domain.Programs;

/// <summary>A loyalty program as written in its JSON file. Amounts of points are whole numbers;
/// multipliers and rates are decimals so that 1.25 means exactly 1.25.</summary>
public sealed record LoyaltyProgram
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    /// <summary>ISO 4217 code every purchase must be in.</summary>
    public required string Currency { get; init; }
    /// <summary>Minor units in one currency unit (100 for EUR cents).</summary>
    public int MinorUnitsPerUnit { get; init; } = 100;
    /// <summary>IANA time zone in which days (aggregates, windows) are counted.</summary>
    public string TimeZone { get; init; } = "UTC";
    public required EarningRules Earning { get; init; }
    public required TierRules Tiers { get; init; }
    public HistoryRules History { get; init; } = new();
    /// <summary>Pending points, expiry and refunds of spent points.</summary>
    public PointsRules Points { get; init; } = new();
    /// <summary>The rewards catalogue.</summary>
    public List<Rules.RewardDefinition> Rewards { get; init; } = [];
    /// <summary>Reward rules, evaluated in order on every event after base earning.</summary>
    public List<Rules.RuleDefinition> Rules { get; init; } = [];
}

public sealed record EarningRules
{
    public PurchaseEarning Purchase { get; init; } = new();
    public GameSessionEarning GameSession { get; init; } = new();
    public MatchResultEarning MatchResult { get; init; } = new();
    public AchievementEarning Achievement { get; init; } = new();
    public SupportEarning Support { get; init; } = new();
}

public sealed record PurchaseEarning
{
    /// <summary>Points per whole currency unit of line value, before category and tier multipliers.</summary>
    public decimal PointsPerCurrencyUnit { get; init; }
    /// <summary>Multiplier per category (lower case); categories not listed use 1.</summary>
    public Dictionary<string, decimal> CategoryMultipliers { get; init; } = [];
}

public sealed record GameSessionEarning
{
    /// <summary>Points per whole played minute at difficulty 1; scaled linearly by difficulty.</summary>
    public decimal PointsPerMinute { get; init; }
    /// <summary>Highest difficulty a game server may report.</summary>
    public int MaxDifficulty { get; init; } = 10;
}

public sealed record MatchResultEarning
{
    /// <summary>Bonus for finishing at or above a rank; the first matching entry (by ascending max rank) wins.</summary>
    public List<RankBonus> RankBonuses { get; init; } = [];
}

public sealed record RankBonus
{
    public int MaxRank { get; init; }
    public long Points { get; init; }
}

public sealed record AchievementEarning
{
    /// <summary>Points for an achievement not listed in <see cref="Points"/>. Each achievement pays once.</summary>
    public long DefaultPoints { get; init; }
    public Dictionary<string, long> Points { get; init; } = [];
}

public sealed record SupportEarning
{
    /// <summary>Bonus when a case is resolved by a human agent (once per case).</summary>
    public long ResolvedByHuman { get; init; }
    /// <summary>Bonus when a case is resolved by a bot (once per case).</summary>
    public long ResolvedByBot { get; init; }
}

public sealed record TierRules
{
    /// <summary>Qualifying points are those earned in the last N program-local days.</summary>
    public int QualifyingWindowDays { get; init; } = 365;
    /// <summary>Ascending by qualifying points; the first level must need 0 points.</summary>
    public List<TierLevel> Levels { get; init; } = [];
    /// <summary>Length of a tier period in months: a tier reached (or renewed) is kept until the period ends, and only
    /// then can it go down. Null: tiers never go down.</summary>
    public int? PeriodMonths { get; init; }
    /// <summary>At the end of a period without requalifying: "oneTier" (down one level) or "toQualifying" (straight to
    /// the tier the qualifying points reach).</summary>
    public string Downgrade { get; init; } = TierDowngrade.OneTier;
    /// <summary>Days after a period's end in which the customer can still requalify before the downgrade.</summary>
    public int GraceDays { get; init; }
    /// <summary>Customers with a care profile (aged <see cref="CareAge"/> or more, or with accessibility needs) are never
    /// downgraded; their period renews.</summary>
    public bool ProtectCareProfiles { get; init; }
    public int CareAge { get; init; } = 65;
}

public static class TierDowngrade
{
    public const string OneTier = "oneTier";
    public const string ToQualifying = "toQualifying";
}

public sealed record PointsRules
{
    /// <summary>Purchase points (and the rule points a purchase earns) stay pending this many days (a return window)
    /// before they can be spent; 0 = available at once.</summary>
    public int PendingDays { get; init; }
    public ExpiryRules Expiry { get; init; } = new();
    /// <summary>When a refund reverses more points than are available: "negative" (the balance goes below zero and
    /// later earnings pay it back) or "pendingFirst" (take other pending points first, then go below zero).</summary>
    public string RefundAfterSpend { get; init; } = RefundPolicy.Negative;
}

public static class RefundPolicy
{
    public const string Negative = "negative";
    public const string PendingFirst = "pendingFirst";
}

/// <summary>When points expire, evaluated in the program's time zone. Points are kept in lots (one per expiry date);
/// spends use the oldest lots first.</summary>
public sealed record ExpiryRules
{
    /// <summary>"none", "rolling" (N months after the day earned, at the end of that day), "endOfMonth" (at the end of
    /// the month N months after the month earned) or "endOfYear" (at the end of the year N years after the year earned).</summary>
    public string Policy { get; init; } = ExpiryPolicy.None;
    /// <summary>N for "rolling" and "endOfMonth".</summary>
    public int Months { get; init; } = 12;
    /// <summary>N for "endOfYear" (0 = the end of the year the points were earned).</summary>
    public int Years { get; init; }
}

public static class ExpiryPolicy
{
    public const string None = "none";
    public const string Rolling = "rolling";
    public const string EndOfMonth = "endOfMonth";
    public const string EndOfYear = "endOfYear";
}

public sealed record TierLevel
{
    public required string Name { get; init; }
    public long QualifyingPoints { get; init; }
    /// <summary>Multiplies every point earned while the customer holds this tier.</summary>
    public decimal EarnMultiplier { get; init; } = 1m;
}

public sealed record HistoryRules
{
    /// <summary>Window of the per-category spend and purchase counts.</summary>
    public int AffinityWindowDays { get; init; } = 90;
    /// <summary>Window of game minutes and support contact totals.</summary>
    public int ActivityWindowDays { get; init; } = 30;
}

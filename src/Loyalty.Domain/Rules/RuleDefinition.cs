namespace Loyalty.Domain.Rules;

/// <summary><c>when</c> event kinds + <c>if</c> condition → <c>then</c> effects, within limits.</summary>
public sealed record RuleDefinition
{
    public required string Id { get; init; }
    public string Description { get; init; } = "";
    /// <summary>Event kinds (purchase, refund, game_session, match_result, achievement, support_case,
    /// profile_update) or "any".</summary>
    public required List<string> When { get; init; }
    /// <summary>Null means always.</summary>
    public Condition? If { get; init; }
    public required List<Effect> Then { get; init; }
    public RuleLimits Limits { get; init; } = new();
}

public sealed record RuleLimits
{
    /// <summary>At most this many firings per customer within <see cref="PeriodDays"/> (rolling); null = no cap.</summary>
    public int? MaxPerCustomer { get; init; }
    public int PeriodDays { get; init; } = 3650;
    /// <summary>Support-case events: at most this many firings per case and customer, whatever the event ids (default 1:
    /// a case pays its reward once, however many "resolved" events arrive for it). Only on rules for support_case.</summary>
    public int MaxPerCase { get; init; } = 1;
    /// <summary>Minimum time between two firings for one customer.</summary>
    public double? CooldownHours { get; init; }
    /// <summary>Program-local dates (inclusive) outside which the rule does not fire.</summary>
    public DateOnly? StartDate { get; init; }
    public DateOnly? EndDate { get; init; }
    /// <summary>A campaign budget across all customers; null = unlimited.</summary>
    public CampaignBudget? Budget { get; init; }
}

/// <summary>At most this many grants and/or points from one rule across all customers per period.</summary>
public sealed record CampaignBudget
{
    public long? MaxGrants { get; init; }
    public long? MaxPoints { get; init; }
    /// <summary>Length of a budget period in program-local days; null = one period for the whole campaign.</summary>
    public int? PeriodDays { get; init; }
}

/// <summary>What a rule does. Exactly one member is set.</summary>
public sealed record Effect
{
    /// <summary>A fixed number of points.</summary>
    public long? AddPoints { get; init; }
    /// <summary>Points per whole currency unit of the purchase value.</summary>
    public decimal? PointsPerCurrencyUnit { get; init; }
    /// <summary>Points per played minute times difficulty (game sessions).</summary>
    public decimal? PointsPerMinuteTimesDifficulty { get; init; }
    /// <summary>The event's base points multiplied: 2 doubles them (adds the base once more).</summary>
    public decimal? MultiplyBasePoints { get; init; }
    /// <summary>Grants a catalogue reward.</summary>
    public string? GrantReward { get; init; }
    /// <summary>Virtual currency per played minute times difficulty, for a currency reward.</summary>
    public ScaledCurrency? GrantCurrencyPerMinuteTimesDifficulty { get; init; }
    /// <summary>Grants a perk for a number of days (null = permanently).</summary>
    public PerkGrant? GrantPerk { get; init; }
}

public sealed record ScaledCurrency
{
    public required string Reward { get; init; }
    public decimal PerMinuteTimesDifficulty { get; init; } = 1m;
}

public sealed record PerkGrant
{
    public required string Perk { get; init; }
    public int? Days { get; init; }
}

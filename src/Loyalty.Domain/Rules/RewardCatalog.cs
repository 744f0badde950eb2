using System.Text.Json.Serialization;

namespace Loyalty.Domain.Rules;

/// <summary>One reward a rule can grant. Exactly one of the kind-specific parts is set.</summary>
public sealed record RewardDefinition
{
    public required string Id { get; init; }
    public string Description { get; init; } = "";
    public CouponReward? Coupon { get; init; }
    public GameItemReward? GameItem { get; init; }
    public CurrencyReward? Currency { get; init; }
    public PerkReward? Perk { get; init; }
    /// <summary>Points a customer pays to redeem it from the catalogue; null when it cannot be bought.</summary>
    public long? PointsPrice { get; init; }
    /// <summary>At most this many grants of this reward per customer within <see cref="PeriodDays"/>, whichever
    /// rules grant it; null = no cap.</summary>
    public int? MaxPerCustomer { get; init; }
    public int PeriodDays { get; init; } = 3650;

    [JsonIgnore]
    public string Kind => Coupon is not null ? "coupon" : GameItem is not null ? "game_item" : Currency is not null ? "currency" : "perk";
}

public sealed record CouponReward
{
    /// <summary>A fixed value off, in minor units; or a percentage off (exactly one of the two).</summary>
    public long? ValueMinor { get; init; }
    public int? Percent { get; init; }
    /// <summary>Categories the coupon applies to; empty means any.</summary>
    public List<string> Categories { get; init; } = [];
    public int ValidityDays { get; init; } = 30;
    /// <summary>First part of every code of this coupon, e.g. "BABY" gives BABY-7KQ2-MX9D-4HTR.</summary>
    public string CodePrefix { get; init; } = "LOY";
}

public sealed record GameItemReward
{
    public required string GameId { get; init; }
    public required string ItemId { get; init; }
}

public sealed record CurrencyReward
{
    public required string GameId { get; init; }
    /// <summary>A fixed amount of virtual currency (rules may instead scale it by effort).</summary>
    public long Amount { get; init; }
}

public sealed record PerkReward
{
    public required string Name { get; init; }
    /// <summary>How long the perk is held; null means permanently.</summary>
    public int? DurationDays { get; init; }
}

using System.Text.Json.Serialization;

namespace Loyalty.Domain.Events;

/// <summary>One thing that happened to a customer. Mirrors the public <c>loyalty.v1.Event</c>;
/// values are carried as received so that validation can name what is wrong.</summary>
public sealed record LoyaltyEvent
{
    public required string EventId { get; init; }
    public required string CustomerId { get; init; }
    public DateTimeOffset? OccurredAt { get; init; }
    public string Source { get; init; } = "";
    public EventPayload? Payload { get; init; }
}

public static class EventKinds
{
    public static readonly IReadOnlyList<string> All =
        ["purchase", "refund", "game_session", "match_result", "achievement", "support_case", "profile_update"];
}

[JsonPolymorphic(TypeDiscriminatorPropertyName = "$k")]
[JsonDerivedType(typeof(Purchase), "purchase")]
[JsonDerivedType(typeof(Refund), "refund")]
[JsonDerivedType(typeof(GameSession), "game_session")]
[JsonDerivedType(typeof(MatchResult), "match_result")]
[JsonDerivedType(typeof(Achievement), "achievement")]
[JsonDerivedType(typeof(SupportCase), "support_case")]
[JsonDerivedType(typeof(ProfileUpdate), "profile_update")]
public abstract record EventPayload
{
    /// <summary>The snake_case name used in the API and in field paths.</summary>
    [JsonIgnore]
    public abstract string Kind { get; }
}

public sealed record LineItem(string Sku, string Category, int Quantity, long UnitPriceMinor);

public sealed record Purchase(string OrderId, string Currency, IReadOnlyList<LineItem> Lines) : EventPayload
{
    /// <summary>Loyalty coupons the customer used at checkout.</summary>
    public IReadOnlyList<string> CouponCodes { get; init; } = [];

    [JsonIgnore]
    public override string Kind => "purchase";
}

public sealed record Refund(string OrderId, IReadOnlyList<LineItem> Lines) : EventPayload
{
    [JsonIgnore]
    public override string Kind => "refund";
}

public sealed record GameSession(string GameId, int DurationSeconds, int Difficulty, long Score) : EventPayload
{
    [JsonIgnore]
    public override string Kind => "game_session";
}

public sealed record MatchResult(string GameId, string MatchId, int Rank, int Participants) : EventPayload
{
    [JsonIgnore]
    public override string Kind => "match_result";
}

public sealed record Achievement(string GameId, string AchievementId) : EventPayload
{
    [JsonIgnore]
    public override string Kind => "achievement";
}

public enum SupportStatus { Unspecified = 0, Opened = 1, Escalated = 2, Resolved = 3 }

public enum SupportChannel { Unspecified = 0, Bot = 1, Human = 2 }

public sealed record SupportCase(
    string CaseId, SupportStatus Status, SupportChannel Channel, int? Satisfaction, int BotTurns, int WaitSeconds) : EventPayload
{
    [JsonIgnore]
    public override string Kind => "support_case";
}

/// <summary>Null fields are left as they are.</summary>
public sealed record ProfileUpdate(string? DisplayName, int? BirthYear, bool? AccessibilityNeeds, string? TimeZone) : EventPayload
{
    [JsonIgnore]
    public override string Kind => "profile_update";
}

namespace Loyalty.Domain.Customers;

public enum EventOutcome { Unspecified = 0, Applied = 1, Duplicate = 2, Rejected = 3 }

public sealed record CustomerSummary(string CustomerId, long PointsAvailable, long PointsPending, long PointsLifetime, string Tier)
{
    public static CustomerSummary Of(CustomerState s) =>
        new(s.CustomerId, s.PointsAvailable, s.PointsPending, s.PointsLifetime, s.Tier);
}

/// <summary>What applying one event did.</summary>
/// <param name="ErrorField">The offending field path when the event was malformed.</param>
/// <param name="Customer">The customer after this event; null when the customer does not exist.</param>
public sealed record EventResult(
    string EventId,
    EventOutcome Outcome,
    long PointsDelta,
    string? Error,
    string? ErrorField,
    CustomerSummary? Customer,
    string ProgramVersion)
{
    /// <summary>Rewards this event unlocked (empty for duplicates and rejections).</summary>
    public IReadOnlyList<GrantedReward> Rewards { get; init; } = [];
    /// <summary>Rules that held but did not fire, and why.</summary>
    public IReadOnlyList<Rules.RuleDecline> Declined { get; init; } = [];
    /// <summary>Perks this event granted or extended.</summary>
    public IReadOnlyList<HeldPerk> Perks { get; init; } = [];

    /// <summary>True when the event changed the state (and so needs a storage write before the answer).</summary>
    public bool Changed => Outcome == EventOutcome.Applied;
}

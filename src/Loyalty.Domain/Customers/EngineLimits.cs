namespace Loyalty.Domain.Customers;

/// <summary>Bounds on what one customer's state remembers. These are part of the engine's guarantees
/// (documented in the README) and come from configuration (<c>Loyalty:Limits</c>).</summary>
public sealed record EngineLimits
{
    /// <summary>How long an event id is remembered, measured on its occurred_at. Older events are rejected.</summary>
    public TimeSpan DedupeWindow { get; init; } = TimeSpan.FromDays(30);
    /// <summary>How many event ids are remembered per customer (the most recent by occurred_at).</summary>
    public int DedupeMaxIds { get; init; } = 5_000;
    /// <summary>How many recent interactions ListInteractions can page through.</summary>
    public int InteractionsKept { get; init; } = 200;
    /// <summary>How many orders are kept for refunds.</summary>
    public int OrdersKept { get; init; } = 200;
    /// <summary>How many paid achievements and resolved cases are remembered.</summary>
    public int OnceOnlyKept { get; init; } = 500;

    public static EngineLimits Default { get; } = new();
}

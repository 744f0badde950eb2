namespace Loyalty.Domain.Customers;

/// <summary>Bounds on what one customer's state remembers. These are part of the engine's guarantees
/// (documented in the README) and come from configuration (<c>Loyalty:Limits</c>). The defaults keep the
/// largest possible state (every bound full, every string at its maximum length) inside one Azure Table entity.</summary>
public sealed record EngineLimits
{
    /// <summary>How long an event id is remembered, measured on its occurred_at. Older events are rejected.</summary>
    public TimeSpan DedupeWindow { get; init; } = TimeSpan.FromDays(30);
    /// <summary>How many event ids are remembered per customer (the most recent by occurred_at).</summary>
    public int DedupeMaxIds { get; init; } = 3_000;
    /// <summary>How many recent interactions ListInteractions can page through.</summary>
    public int InteractionsKept { get; init; } = 32;
    /// <summary>How many orders are kept for refunds.</summary>
    public int OrdersKept { get; init; } = 200;
    /// <summary>How long (program-local days after the purchase) an order is kept for refunds; a refund of an older
    /// order is rejected as unknown.</summary>
    public int OrdersKeptDays { get; init; } = 90;
    /// <summary>How many order lines (all kept orders together) are kept for refunds.</summary>
    public int OrderLinesKept { get; init; } = 1_000;
    /// <summary>How many (day, category) spend buckets are kept for category affinity.</summary>
    public int CategoryBucketsKept { get; init; } = 250;
    /// <summary>How many paid achievements and resolved cases are remembered.</summary>
    public int OnceOnlyKept { get; init; } = 200;

    /// <summary>How many ledger entries stay in the customer's state; older ones live in the ledger archive.</summary>
    public int LedgerKept { get; init; } = 16;
    /// <summary>How many granted rewards are kept on the customer (the newest).</summary>
    public int RewardsKept { get; init; } = 100;
    /// <summary>Granted rewards are forgotten this many days after they expired or were revoked.</summary>
    public int RewardsKeptAfterExpiryDays { get; init; } = 30;
    /// <summary>Secret key for reward codes: codes are an HMAC of customer, event, rule and reward, so they are
    /// unguessable and the same on every silo and in every replay. Set it in production (Loyalty:RewardCodeSecret).</summary>
    public string RewardCodeSecret { get; init; } = "loyalty-development-secret";

    /// <summary>How long a customer with no calls stays active in memory.</summary>
    public TimeSpan IdleCustomerDeactivation { get; init; } = TimeSpan.FromMinutes(3);

    public static EngineLimits Default { get; } = new();
}

using Loyalty.Domain.Programs;
using Loyalty.Domain.Rules;

namespace Loyalty.Domain.Customers;

public enum OperationOutcome { Applied = 1, Duplicate = 2, Refused = 3 }

/// <summary>What a redemption or an adjustment did. <see cref="Reward"/> is the issued reward (for a duplicate
/// redemption, the one issued the first time, while it is still among the kept rewards).</summary>
public sealed record OperationResult(OperationOutcome Outcome, long PointsDelta, string? Reason, GrantedReward? Reward, CustomerSummary? Customer);

/// <summary>Operations on points that are not events: redeeming catalogue rewards and operator adjustments. Both are
/// idempotent by their id, remembered with the event ids (same window and bounds), so a retry never spends twice.</summary>
public static class CustomerOperations
{
    private const string RedeemPrefix = "redeem/";
    private const string AdjustPrefix = "adjust/";
    private const string GoodwillPrefix = "goodwill/";
    /// <summary>The rule id goodwill grants carry (they come from an agent, not a rule).</summary>
    public const string GoodwillRule = "goodwill";
    private const string ReservePrefix = "reserve/";
    private const string ConfirmPrefix = "confirm/";
    /// <summary>Open reservations per customer (keeps the state bounded).</summary>
    public const int MaxHolds = 20;

    public static OperationResult Redeem(CustomerState state, string redemptionId, string rewardId, ActiveProgram program, DateTimeOffset now, EngineLimits limits)
    {
        DueWork.Advance(state, program, now);
        var key = RedeemPrefix + redemptionId;
        if (state.FindSeen(key) is { } seen)
        {
            var original = state.RewardGrantedBy(StoredKey.Of(key));
            return new OperationResult(OperationOutcome.Duplicate, seen.PointsDelta, null, original, CustomerSummary.Of(state));
        }
        if (!program.Rewards.TryGetValue(rewardId, out var reward))
        {
            return Refused($"reward_id: '{rewardId}' is not in the catalogue", state);
        }
        if (reward.PointsPrice is not { } price)
        {
            return Refused($"reward_id: '{rewardId}' cannot be bought with points", state);
        }
        if (Spendable(state, now) < price)
        {
            return Refused($"insufficient points: '{rewardId}' costs {price}, {Spendable(state, now)} spendable", state);
        }
        PointsBook.Spend(state, price, "spend", StoredKey.Of(key), program, now, rewardId);
        var code = RuleEngine.Code(limits.RewardCodeSecret, reward.Coupon?.CodePrefix ?? "LOY", state.CustomerId, key, "redeem", reward.Id, 0);
        DateTimeOffset? expires = reward.Coupon is { } coupon ? now.AddDays(coupon.ValidityDays)
            : reward.Perk is { DurationDays: { } days } ? now.AddDays(days) : null;
        var granted = new GrantedReward(reward.Id, "", reward.Kind, code, reward.Description, reward.Coupon?.ValueMinor ?? 0,
            reward.Coupon?.Percent ?? 0, reward.Currency?.Amount ?? 0, now, expires, StoredKey.Of(key), program.Version);
        state.AddReward(granted with { Description = "" }, limits.RewardsKept);
        PointsBook.Notice(state, "reward", StoredKey.Of(key), "", reward.Id, code, program.Version, now);
        Remember(state, key, -price, now, limits);
        return new OperationResult(OperationOutcome.Applied, -price, null, granted, CustomerSummary.Of(state));
    }

    /// <summary>Points that can be spent now: available minus live holds.</summary>
    public static long Spendable(CustomerState state, DateTimeOffset now) =>
        state.PointsAvailable - state.Holds.Where(h => h.UntilTicks > now.UtcTicks).Sum(h => h.Points);

    /// <summary>Holds points for a checkout until now + ttl; idempotent by reservation id. Expired holds release
    /// themselves (they stop counting at their end and are dropped at the next change).</summary>
    public static OperationResult Reserve(CustomerState state, string reservationId, long points, TimeSpan ttl, DateTimeOffset now, EngineLimits limits)
    {
        var key = StoredKey.Of(ReservePrefix + reservationId);
        state.Holds.RemoveAll(h => h.UntilTicks <= now.UtcTicks);
        if (state.FindSeen(ReservePrefix + reservationId) is not null)
        {
            return new OperationResult(OperationOutcome.Duplicate, 0, null, null, CustomerSummary.Of(state));
        }
        if (Spendable(state, now) < points)
        {
            return Refused($"insufficient points: {points} asked, {Spendable(state, now)} spendable", state);
        }
        if (state.Holds.Count >= MaxHolds)
        {
            return Refused($"{MaxHolds} reservations are already open; confirm or cancel one first", state);
        }
        state.Holds.Add(new PointsHold(key, points, (now + ttl).UtcTicks));
        Remember(state, ReservePrefix + reservationId, 0, now, limits);
        return new OperationResult(OperationOutcome.Applied, 0, null, null, CustomerSummary.Of(state));
    }

    /// <summary>Spends a live hold (a "spend" ledger entry); idempotent by reservation id.</summary>
    public static OperationResult Confirm(CustomerState state, string reservationId, string note, ActiveProgram program, DateTimeOffset now, EngineLimits limits)
    {
        DueWork.Advance(state, program, now);
        var confirmKey = ConfirmPrefix + reservationId;
        if (state.FindSeen(confirmKey) is { } seen)
        {
            return new OperationResult(OperationOutcome.Duplicate, seen.PointsDelta, null, null, CustomerSummary.Of(state));
        }
        var key = StoredKey.Of(ReservePrefix + reservationId);
        var hold = state.Holds.Find(h => h.ReservationKey == key);
        if (hold is null || hold.UntilTicks <= now.UtcTicks)
        {
            state.Holds.RemoveAll(h => h.UntilTicks <= now.UtcTicks);
            return Refused($"reservation '{reservationId}' is unknown, cancelled or expired", state);
        }
        if (state.PointsAvailable < hold.Points)
        {
            return Refused($"reservation '{reservationId}' holds {hold.Points} points but only {state.PointsAvailable} are left (points expired or were reversed meanwhile)", state);
        }
        state.Holds.Remove(hold);
        PointsBook.Spend(state, hold.Points, "spend", StoredKey.Of(confirmKey), program, now, note);
        Remember(state, confirmKey, -hold.Points, now, limits);
        return new OperationResult(OperationOutcome.Applied, -hold.Points, null, null, CustomerSummary.Of(state));
    }

    /// <summary>Releases a hold; cancelling one that is gone (confirmed, expired, unknown) changes nothing.</summary>
    public static OperationResult Cancel(CustomerState state, string reservationId, DateTimeOffset now)
    {
        var key = StoredKey.Of(ReservePrefix + reservationId);
        var removed = state.Holds.RemoveAll(h => h.ReservationKey == key || h.UntilTicks <= now.UtcTicks) > 0;
        return new OperationResult(removed ? OperationOutcome.Applied : OperationOutcome.Duplicate, 0, null, null, CustomerSummary.Of(state));
    }

    /// <summary>The rule for an operator's adjustment, wherever it comes from (API, support console): a non-zero
    /// amount within ±1,000,000,000 and a reason of 1..200 characters without control characters.</summary>
    public static Events.FieldError? CheckAdjustment(long points, string? reason)
    {
        if (points is 0 or > 1_000_000_000 or < -1_000_000_000)
        {
            return new Events.FieldError("points", "must be non-zero and within ±1000000000");
        }
        return CheckReason(reason);
    }

    /// <summary>An agent's or operator's reason: required, 1..200 characters without control characters.</summary>
    public static Events.FieldError? CheckReason(string? reason) =>
        string.IsNullOrWhiteSpace(reason) || reason.Length > 200 || reason.Any(char.IsControl)
            ? new Events.FieldError("reason", "is required: 1..200 characters without control characters")
            : null;

    public static OperationResult Adjust(CustomerState state, string adjustmentId, long points, string reason, ActiveProgram program, DateTimeOffset now, EngineLimits limits)
    {
        DueWork.Advance(state, program, now);
        var key = AdjustPrefix + adjustmentId;
        if (state.FindSeen(key) is { } seen)
        {
            return new OperationResult(OperationOutcome.Duplicate, seen.PointsDelta, null, null, CustomerSummary.Of(state));
        }
        if (points < 0 && state.PointsAvailable + points < 0)
        {
            return Refused($"points: taking {-points} would leave a negative balance ({state.PointsAvailable} available)", state);
        }
        if (points > 0)
        {
            PointsBook.Earn(state, points, "adjust", StoredKey.Of(key), "", "", null, program, now, reason);
        }
        else
        {
            PointsBook.Spend(state, -points, "adjust", StoredKey.Of(key), program, now, reason);
        }
        Remember(state, key, points, now, limits);
        return new OperationResult(OperationOutcome.Applied, points, null, null, CustomerSummary.Of(state));
    }

    /// <summary>An agent's goodwill: a catalogue reward issued free, with a mandatory reason (on the ledger), idempotent
    /// by grant id. The catalogue's per-customer cap counts goodwill like any other grant, so an agent cannot hand out
    /// a capped reward more often than the program allows.</summary>
    public static OperationResult Goodwill(CustomerState state, string grantId, string rewardId, string reason, ActiveProgram program, DateTimeOffset now, EngineLimits limits)
    {
        DueWork.Advance(state, program, now);
        var key = GoodwillPrefix + grantId;
        if (state.FindSeen(key) is not null)
        {
            var original = state.RewardGrantedBy(StoredKey.Of(key));
            return new OperationResult(OperationOutcome.Duplicate, 0, null, original is { } kept ? Described(kept, program) : null, CustomerSummary.Of(state));
        }
        if (!program.Rewards.TryGetValue(rewardId, out var reward))
        {
            return Refused($"reward_id: '{rewardId}' is not in the catalogue", state);
        }
        if (!RuleEngine.Allowed(state, RuleEngine.RewardKey(reward), reward.MaxPerCustomer, reward.PeriodDays, null, now))
        {
            return Refused($"reward_id: '{rewardId}' was already granted {reward.MaxPerCustomer} time(s) in {reward.PeriodDays} days (the catalogue's cap)", state);
        }
        RuleEngine.Record(state, RuleEngine.RewardKey(reward), reward.MaxPerCustomer, reward.PeriodDays, null, now);
        var code = RuleEngine.Code(limits.RewardCodeSecret, reward.Coupon?.CodePrefix ?? "LOY", state.CustomerId, key, GoodwillRule, reward.Id, 0);
        DateTimeOffset? expires = reward.Coupon is { } coupon ? now.AddDays(coupon.ValidityDays)
            : reward.Perk is { DurationDays: { } days } ? now.AddDays(days) : null;
        var granted = new GrantedReward(reward.Id, GoodwillRule, reward.Kind, code, reward.Description, reward.Coupon?.ValueMinor ?? 0,
            reward.Coupon?.Percent ?? 0, reward.Currency?.Amount ?? 0, now, expires, StoredKey.Of(key), program.Version);
        state.AddReward(granted with { Description = "" }, limits.RewardsKept);
        if (reward.Perk is { } perk)
        {
            RuleEngine.HoldPerk(state, perk.Name, perk.DurationDays, GoodwillRule, now);
        }
        PointsBook.Notice(state, "reward", StoredKey.Of(key), GoodwillRule, reward.Id, $"{code}: {reason}", program.Version, now);
        Remember(state, key, 0, now, limits);
        return new OperationResult(OperationOutcome.Applied, 0, null, granted, CustomerSummary.Of(state));
    }

    private static GrantedReward Described(GrantedReward reward, ActiveProgram program) =>
        program.Rewards.TryGetValue(reward.RewardId, out var definition) ? reward with { Description = definition.Description } : reward;

    private static void Remember(CustomerState state, string key, long delta, DateTimeOffset now, EngineLimits limits)
    {
        state.EventsApplied++;
        CustomerEngine.RememberId(state, key, now.UtcTicks, delta, now - limits.DedupeWindow, limits);
    }

    private static OperationResult Refused(string reason, CustomerState state) =>
        new(OperationOutcome.Refused, 0, reason, null, CustomerSummary.Of(state));
}

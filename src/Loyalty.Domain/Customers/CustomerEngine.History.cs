using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Customers;

public static partial class CustomerEngine
{
    /// <summary>
    /// Applies a past event brought in by a history import. It counts toward the program's windows (category affinity,
    /// qualifying points, activity) on the day it happened, exactly as if it had arrived on time, and marks achievements
    /// and resolved cases as paid. It earns points only when <paramref name="earnPoints"/> (as "import" entries, dated
    /// when it happened, expiring as they would have), and never fires rules: no reward, coupon, perk or campaign budget.
    /// Deduplicated by event id against the customer's imported history and the ids it remembers; not subject to the
    /// deduplication window. Import a customer's history in time order: each event is evaluated with the tier its
    /// earlier history reached (upgrades only; tier periods are settled as of the import, not replayed).
    /// </summary>
    public static EventResult ApplyHistory(CustomerState state, LoyaltyEvent e, ActiveProgram program, DateTimeOffset now, EngineLimits limits,
        bool earnPoints, HistoryKeys keys)
    {
        if (EventValidator.Validate(e, program, now) is { } invalid)
        {
            return Reject(state, e, program, invalid.ToString(), invalid.Field);
        }
        if (state.Exists && !string.Equals(state.CustomerId, e.CustomerId, StringComparison.Ordinal))
        {
            return Reject(state, e, program, $"event.customer_id: '{e.CustomerId}' is not this customer", "event.customer_id");
        }
        var historyKey = CustomerImports.HistoryKey(e.EventId);
        if (keys.Contains(historyKey) || state.FindSeen(e.EventId) is not null)
        {
            return new EventResult(e.EventId, EventOutcome.Duplicate, 0, null, null, Summary(state), program.Version);
        }
        if (keys.Count >= CustomerImports.MaxHistoryEvents)
        {
            return Reject(state, e, program, $"event: this customer already has {CustomerImports.MaxHistoryEvents} imported history events, the most kept", null);
        }

        DueWork.Advance(state, program, now);
        var created = !state.Exists;
        if (created)
        {
            state.CustomerId = e.CustomerId;
            state.FirstSeen = now;
            state.Tier = program.Tiers[0].Name;
            state.HistoryOnly = true;
        }
        var occurred = e.OccurredAt!.Value;
        var day = program.LocalDay(occurred);
        var eventKey = StoredKey.Of(e.EventId);
        // Coupons of a past purchase were the old system's: none is marked used here.
        var outcome = ApplyPayload(state, e.Payload is Purchase bought ? bought with { CouponCodes = [] } : e.Payload, eventKey, program, day, now, limits);
        if (outcome.Refusal is { } refusal)
        {
            if (created)
            {
                state.CustomerId = "";
                state.FirstSeen = null;
                state.Tier = "";
                state.HistoryOnly = false;
            }
            return Reject(state, e, program, refusal, null);
        }
        if (e.Payload is Purchase && day <= program.LocalDay(now) - limits.OrdersKeptDays)
        {
            // Past the refund horizon: the order is not kept (it would only crowd out recent ones).
            state.Orders.RemoveAll(o => o.EventKey == eventKey);
        }

        long booked = 0;
        if (outcome.Points != 0)
        {
            AddQualifying(state, outcome.QualifyingDay ?? day, outcome.Points);
            if (earnPoints)
            {
                var orderKey = e.Payload switch { Purchase p => StoredKey.Of(p.OrderId), Refund r => StoredKey.Of(r.OrderId), _ => "" };
                if (outcome.Points > 0)
                {
                    DateTimeOffset? pendingUntil = e.Payload is Purchase && program.Definition.Points.PendingDays > 0
                        && occurred.AddDays(program.Definition.Points.PendingDays) > now ? occurred.AddDays(program.Definition.Points.PendingDays) : null;
                    PointsBook.Earn(state, outcome.Points, CustomerImports.LedgerKind, eventKey, "", orderKey, pendingUntil, program, occurred, "imported history");
                }
                else
                {
                    PointsBook.Reverse(state, -outcome.Points, eventKey, "", orderKey, program, now);
                }
                booked = outcome.Points;
            }
        }
        // Windows and tier as of the day it happened: buckets older than that day's windows go (they are older than
        // today's too), newer ones stay for later history; reads and the next live event trim to today.
        TrimWindows(state, program, day);
        // A member import's tier is the source system's word: history moves the tier only of customers without one.
        var tierBefore = state.Tier;
        var qualified = program.TierFor(state.Qualifying.Where(d => d.Day <= day).Sum(d => d.Points));
        if (state.MemberImport is null && program.TierRank(qualified.Name) > program.TierRank(state.Tier))
        {
            state.Tier = qualified.Name;
            TierLifecycle.StartPeriod(state, program, occurred);
            TierLifecycle.Record(state, tierBefore, state.Tier, occurred, eventKey, QualifyingPoints(state), "qualified (imported history)", program.Version);
        }
        // Points dated in the past may be due already (activation, expiry): settle them now.
        DueWork.Advance(state, program, now);
        keys.Add(historyKey);
        if (state.LastEventAt is not { } last || last < occurred)
        {
            state.LastEventAt = occurred;
        }
        return new EventResult(e.EventId, EventOutcome.Applied, booked, null, null, Summary(state), program.Version);
    }
}

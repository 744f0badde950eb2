using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Customers;

/// <summary>
/// What happens to a customer with the passing of time alone: pending points activate, points expire, reservations
/// lapse, tier periods end. Computed from the state, so it is the same whether a timer, a reminder, the next event or
/// a read notices it first; every change is dated when it fell due.
/// </summary>
public static class DueWork
{
    /// <summary>Brings the state up to <paramref name="now"/>. Returns whether anything that must be stored changed.</summary>
    public static bool Advance(CustomerState state, ActiveProgram program, DateTimeOffset now)
    {
        if (!state.Exists)
        {
            return false;
        }
        PointsBook.EnsureLots(state);
        if (NextDue(state) is not { } next || next > now)
        {
            // The common case on every event: nothing fell due. Only a change of the program's tier settings can matter.
            return TierLifecycle.Advance(state, program, now);
        }
        return AdvanceDue(state, program, now);
    }

    /// <summary>Something fell due (its own method: the lambdas here capture <paramref name="now"/>, and a closure over a
    /// parameter is allocated on entry to the method, which every event enters).</summary>
    private static bool AdvanceDue(CustomerState state, ActiveProgram program, DateTimeOffset now)
    {
        var changed = PointsBook.WarnExpiring(state, program, now);
        changed |= PointsBook.Advance(state, program, now);
        // Points that just became spendable may already be within the notice window: announce them in the same pass.
        changed |= PointsBook.WarnExpiring(state, program, now);
        changed |= TierLifecycle.Advance(state, program, now);
        changed |= state.Holds.RemoveAll(h => h.UntilTicks <= now.UtcTicks) > 0;
        // Perks that ran out go, with a notice.
        foreach (var perk in state.Perks.Where(p => p.UntilTicks is { } until && until <= now.UtcTicks).OrderBy(p => p.UntilTicks).ToList())
        {
            state.Perks.Remove(perk);
            PointsBook.Notice(state, "perk_expired", "", perk.RuleId, perk.Name, $"{perk.Name} ended", program.Version,
                new DateTimeOffset(perk.UntilTicks!.Value, TimeSpan.Zero));
            changed = true;
        }
        return changed;
    }

    /// <summary>The next instant something falls due, if anything ever will.</summary>
    public static DateTimeOffset? NextDue(CustomerState state)
    {
        long next = long.MaxValue;
        if (PointsBook.NextDue(state) is { } lot)
        {
            next = lot;
        }
        if (TierLifecycle.NextDue(state) is { } tier && tier < next)
        {
            next = tier;
        }
        foreach (var hold in state.Holds)
        {
            next = Math.Min(next, hold.UntilTicks);
        }
        foreach (var perk in state.Perks)
        {
            if (perk.UntilTicks is { } until)
            {
                next = Math.Min(next, until);
            }
        }
        return next == long.MaxValue ? null : new DateTimeOffset(next, TimeSpan.Zero);
    }
}

/// <summary>
/// Tiers go up on the event that qualifies, and down only at the end of a tier period (<see cref="TierRules.PeriodMonths"/>):
/// a customer whose qualifying points no longer reach their tier then gets <see cref="TierRules.GraceDays"/> to requalify,
/// after which they go down one tier or to the tier they qualify for. Customers with a care profile can be protected.
/// </summary>
public static class TierLifecycle
{
    private const int HistoryKept = 20;

    /// <summary>A new tier was reached (or, in grace, the tier was requalified for) at <paramref name="now"/>: a new period
    /// starts, ending with the same local day N months later. At a period boundary (<paramref name="atBoundary"/>: a
    /// local midnight) the next period ends exactly N months later, so periods do not drift.</summary>
    public static void StartPeriod(CustomerState state, ActiveProgram program, DateTimeOffset now, bool atBoundary = false)
    {
        state.GraceUntilTicks = 0;
        state.TierPeriodEndTicks = program.TierRank(state.Tier) > 0 && program.Definition.Tiers.PeriodMonths is { } months
            ? program.StartOfLocalDay(program.LocalDate(now).AddMonths(months).AddDays(atBoundary ? 0 : 1)).UtcTicks
            : 0;
    }

    /// <summary>After an event: a customer in grace who qualifies again for their tier keeps it for a new period.</summary>
    public static void AfterEvent(CustomerState state, ActiveProgram program, DateTimeOffset now)
    {
        if (state.GraceUntilTicks != 0 && CustomerEngine.QualifyingPoints(state) >= program.TierByName(state.Tier).QualifyingPoints)
        {
            StartPeriod(state, program, now);
        }
    }

    public static long? NextDue(CustomerState state) =>
        state.GraceUntilTicks != 0 ? state.GraceUntilTicks : state.TierPeriodEndTicks != 0 ? state.TierPeriodEndTicks : null;

    public static bool Advance(CustomerState state, ActiveProgram program, DateTimeOffset now)
    {
        var changed = false;
        var tiers = program.Definition.Tiers;
        if (tiers.PeriodMonths is null || program.TierRank(state.Tier) == 0)
        {
            changed = state.TierPeriodEndTicks != 0 || state.GraceUntilTicks != 0;
            state.TierPeriodEndTicks = 0;
            state.GraceUntilTicks = 0;
            return changed;
        }
        if (state.TierPeriodEndTicks == 0)
        {
            // A tier held from before the program had tier periods: its first period starts now.
            StartPeriod(state, program, now);
            return true;
        }
        while (NextDue(state) is { } due && due <= now.UtcTicks && program.TierRank(state.Tier) > 0)
        {
            changed = true;
            var at = new DateTimeOffset(due, TimeSpan.Zero);
            CustomerEngine.TrimWindows(state, program, program.LocalDay(at));
            var qualifying = CustomerEngine.QualifyingPoints(state);
            if (qualifying >= program.TierByName(state.Tier).QualifyingPoints || IsProtected(state, program, at))
            {
                StartPeriod(state, program, at, atBoundary: true);
                continue;
            }
            if (state.GraceUntilTicks == 0 && tiers.GraceDays > 0)
            {
                state.GraceUntilTicks = program.StartOfLocalDay(program.LocalDate(at).AddDays(tiers.GraceDays)).UtcTicks;
                continue;
            }
            var rank = program.TierRank(state.Tier);
            var target = tiers.Downgrade == TierDowngrade.ToQualifying
                ? program.TierFor(qualifying).Name
                : program.Tiers[rank - 1].Name;
            Record(state, state.Tier, target, at, "", qualifying, "period ended without requalifying", program.Version);
            state.Tier = target;
            StartPeriod(state, program, at, atBoundary: true);
        }
        return changed;
    }

    /// <summary>Aged <see cref="TierRules.CareAge"/> or more in the program's calendar year, or with accessibility needs,
    /// when the program protects care profiles.</summary>
    public static bool IsProtected(CustomerState state, ActiveProgram program, DateTimeOffset at)
    {
        var tiers = program.Definition.Tiers;
        if (!tiers.ProtectCareProfiles)
        {
            return false;
        }
        var profile = state.Profile;
        return profile.AccessibilityNeeds || profile.BirthYear > 0 && program.LocalDate(at).Year - profile.BirthYear >= tiers.CareAge;
    }

    public static void Record(CustomerState state, string from, string to, DateTimeOffset at, string eventKey, long qualifying, string reason,
        string programVersion)
    {
        PointsBook.Notice(state, "tier", eventKey, "", to, $"{from} → {to}: {reason}", programVersion, at);
        state.TierHistory.Add(new TierChange(from, to, at, eventKey, qualifying) { Reason = reason });
        if (state.TierHistory.Count > HistoryKept)
        {
            state.TierHistory.RemoveRange(0, state.TierHistory.Count - HistoryKept);
        }
    }
}

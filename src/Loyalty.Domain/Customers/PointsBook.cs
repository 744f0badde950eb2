using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Customers;

/// <summary>
/// Every change of a customer's points goes through here: it moves points between lots and writes the ledger entry,
/// so that available + pending always equals the sum of the ledger and every point has an age (for expiry).
/// </summary>
public static class PointsBook
{
    /// <summary>Pending lots kept apart per order; beyond this, lots due the same day are merged (refunds of the merged
    /// orders then take from pending points in general).</summary>
    public const int PendingLotsKept = 200;
    /// <summary>Spendable lots; beyond this, the two oldest are merged (the earlier expiry wins, which never keeps a
    /// point longer than the program says).</summary>
    public const int SpendableLotsKept = 400;

    /// <summary>Adds earned points: pending until <paramref name="pendingUntil"/> when given, spendable otherwise.
    /// <paramref name="kind"/> is "earn" or "adjust" (a pending earning is written as "pending").</summary>
    public static void Earn(CustomerState state, long points, string kind, string eventKey, string ruleId, string orderKey,
        DateTimeOffset? pendingUntil, ActiveProgram program, DateTimeOffset now, string note = "")
    {
        if (points <= 0)
        {
            return;
        }
        state.PointsLifetime += points;
        if (pendingUntil is { } due)
        {
            AddPending(state, new PointsLot(points, now.UtcTicks, 0, due.UtcTicks, orderKey));
            state.PointsPending += points;
            Write(state, "pending", 0, points, eventKey, ruleId, program.Version, now, note);
            return;
        }
        AddSpendable(state, points, now, program);
        state.PointsAvailable += points;
        Write(state, kind, points, 0, eventKey, ruleId, program.Version, now, note);
    }

    /// <summary>Adds points brought in by an import: spendable at once until <paramref name="expiresTicks"/> (0: never),
    /// written on the ledger as <paramref name="kind"/>.</summary>
    public static void Open(CustomerState state, long points, long expiresTicks, string kind, string eventKey, string programVersion,
        DateTimeOffset now, string note)
    {
        if (points <= 0)
        {
            return;
        }
        var repay = Math.Min(state.Debt, points);
        state.Debt -= repay;
        if (points > repay)
        {
            var index = state.Lots.FindLastIndex(l => !l.IsPending && l.EarnedTicks <= now.UtcTicks);
            state.Lots.Insert(index + 1, new PointsLot(points - repay, now.UtcTicks, expiresTicks, 0, ""));
        }
        state.PointsAvailable += points;
        Write(state, kind, points, 0, eventKey, "", programVersion, now, note);
    }

    /// <summary>Spends points (a redemption, a confirmed reservation, a negative adjustment): the oldest spendable lots
    /// first. The caller has checked that enough are available.</summary>
    public static void Spend(CustomerState state, long points, string kind, string eventKey, ActiveProgram program, DateTimeOffset now, string note)
    {
        var left = points;
        for (var i = 0; i < state.Lots.Count && left > 0; i++)
        {
            var lot = state.Lots[i];
            if (lot.IsPending)
            {
                continue;
            }
            var take = Math.Min(lot.Points, left);
            left -= take;
            state.Lots[i] = lot with { Points = lot.Points - take };
        }
        if (left > 0)
        {
            throw new InvalidOperationException($"spending {points} points with only {points - left} in spendable lots");
        }
        state.Lots.RemoveAll(l => l.Points == 0);
        state.PointsAvailable -= points;
        Write(state, kind, -points, 0, eventKey, "", program.Version, now, note);
    }

    /// <summary>Takes back points a refund reverses: first the order's own pending points, then spendable points
    /// (newest first), then, under the "pendingFirst" policy, other pending points; what is still missing leaves the
    /// balance below zero (<see cref="CustomerState.Debt"/>), paid back by later earnings.</summary>
    public static void Reverse(CustomerState state, long points, string eventKey, string ruleId, string orderKey, ActiveProgram program, DateTimeOffset now)
    {
        if (points <= 0)
        {
            return;
        }
        var left = points;
        long fromPending = 0;
        if (orderKey.Length > 0)
        {
            fromPending += TakeFrom(state, ref left, l => l.IsPending && l.OrderKey == orderKey);
        }
        var fromAvailable = TakeFrom(state, ref left, l => !l.IsPending);
        if (program.Definition.Points.RefundAfterSpend == RefundPolicy.PendingFirst)
        {
            fromPending += TakeFrom(state, ref left, l => l.IsPending);
        }
        state.Debt += left;
        fromAvailable += left;
        state.Lots.RemoveAll(l => l.Points == 0);
        state.PointsPending -= fromPending;
        state.PointsAvailable -= fromAvailable;
        Write(state, "reverse", -fromAvailable, -fromPending, eventKey, ruleId, program.Version, now, "");
    }

    /// <summary>Does what has fallen due by <paramref name="now"/>, in time order: pending lots activate, lots expire.
    /// Each entry carries the instant it fell due, not the instant it was noticed. Returns whether anything changed.</summary>
    public static bool Advance(CustomerState state, ActiveProgram program, DateTimeOffset now)
    {
        var changed = false;
        var nowTicks = now.UtcTicks;
        while (true)
        {
            var next = NextLotDue(state);
            if (next is not { } due || due.Ticks > nowTicks)
            {
                break;
            }
            changed = true;
            var at = new DateTimeOffset(due.Ticks, TimeSpan.Zero);
            var lot = state.Lots[due.Index];
            state.Lots.RemoveAt(due.Index);
            if (lot.IsPending)
            {
                state.PointsPending -= lot.Points;
                state.PointsAvailable += lot.Points;
                AddSpendable(state, lot.Points, at, program);
                Write(state, "activate", lot.Points, -lot.Points, "", "", program.Version, at, "");
            }
            else
            {
                state.PointsAvailable -= lot.Points;
                Write(state, "expire", -lot.Points, 0, "", "", program.Version, at, "");
            }
        }
        return changed;
    }

    /// <summary>The next instant a lot activates or expires, or enters the expiring-soon window (UTC ticks), if any.</summary>
    public static long? NextDue(CustomerState state)
    {
        var next = NextLotDue(state)?.Ticks;
        foreach (var lot in state.Lots)
        {
            if (!lot.IsPending && !lot.Warned && lot.ExpiresTicks != 0)
            {
                var warn = lot.ExpiresTicks - ExpiringNotice.Ticks;
                next = next is null ? warn : Math.Min(next.Value, warn);
            }
        }
        return next;
    }

    /// <summary>How long before their expiry points are announced as expiring (an "expiring" notice).</summary>
    public static readonly TimeSpan ExpiringNotice = TimeSpan.FromDays(30);

    /// <summary>Writes "expiring" notices for lots entering the notice window (one per expiry instant).</summary>
    public static bool WarnExpiring(CustomerState state, ActiveProgram program, DateTimeOffset now)
    {
        var changed = false;
        var due = state.Lots.Where(l => !l.IsPending && !l.Warned && l.ExpiresTicks != 0 && l.ExpiresTicks - ExpiringNotice.Ticks <= now.UtcTicks)
            .GroupBy(l => l.ExpiresTicks).OrderBy(g => g.Key).ToList();
        foreach (var group in due)
        {
            var at = new DateTimeOffset(group.Key, TimeSpan.Zero);
            var points = group.Sum(l => l.Points);
            if (group.Key > now.UtcTicks)
            {
                Notice(state, "expiring", "", "", at.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                    $"{points} points expire at {at:yyyy-MM-dd HH:mm} UTC", program.Version, new DateTimeOffset(Math.Max(group.Key - ExpiringNotice.Ticks, 0), TimeSpan.Zero));
            }
            for (var i = 0; i < state.Lots.Count; i++)
            {
                if (state.Lots[i].ExpiresTicks == group.Key && !state.Lots[i].IsPending)
                {
                    state.Lots[i] = state.Lots[i] with { Warned = true };
                }
            }
            changed = true;
        }
        return changed;
    }

    /// <summary>A notice: an entry that changes no points (a reward, a perk, a tier change, points expiring soon).</summary>
    public static void Notice(CustomerState state, string kind, string eventKey, string ruleId, string reference, string note, string programVersion, DateTimeOffset at) =>
        Notice(state, kind, eventKey, ruleId, reference, InlineKey.Of(note), programVersion, at);

    /// <inheritdoc cref="Notice(CustomerState, string, string, string, string, string, string, DateTimeOffset)"/>
    public static void Notice(CustomerState state, string kind, string eventKey, string ruleId, string reference, InlineKey note, string programVersion, DateTimeOffset at) =>
        state.AddToLedger(new LedgerEntry(++state.LedgerSeq, kind, 0, state.PointsAvailable + state.PointsPending, eventKey, ruleId,
            programVersion, at) { NoteValue = note, Ref = reference });

    /// <summary>Spendable points expiring within <paramref name="horizon"/> of now, by expiry instant (earliest first).</summary>
    public static IReadOnlyList<ExpiringPoints> ExpiringWithin(CustomerState state, DateTimeOffset now, TimeSpan horizon)
    {
        var until = (now + horizon).UtcTicks;
        return state.Lots.Where(l => !l.IsPending && l.ExpiresTicks != 0 && l.ExpiresTicks > now.UtcTicks && l.ExpiresTicks <= until)
            .GroupBy(l => l.ExpiresTicks).OrderBy(g => g.Key)
            .Select(g => new ExpiringPoints(new DateTimeOffset(g.Key, TimeSpan.Zero), g.Sum(l => l.Points))).ToList();
    }

    /// <summary>State written before points were kept in lots has a balance but no lots: give it one lot that never
    /// expires (and a debt for a negative balance), so the books agree with the balance.</summary>
    public static void EnsureLots(CustomerState state)
    {
        long spendable = 0, pending = 0;
        foreach (var lot in state.Lots)
        {
            if (lot.IsPending)
            {
                pending += lot.Points;
            }
            else
            {
                spendable += lot.Points;
            }
        }
        if (spendable - state.Debt == state.PointsAvailable && pending == state.PointsPending)
        {
            return;
        }
        state.Lots.RemoveAll(l => l.IsPending);
        if (state.PointsPending > 0)
        {
            state.Lots.Add(new PointsLot(state.PointsPending, 0, 0, (state.LastEventAt ?? DateTimeOffset.UnixEpoch).UtcTicks, ""));
        }
        state.Lots.RemoveAll(l => !l.IsPending);
        state.Debt = 0;
        if (state.PointsAvailable > 0)
        {
            state.Lots.Insert(0, new PointsLot(state.PointsAvailable, 0, 0, 0, ""));
        }
        else
        {
            state.Debt = -state.PointsAvailable;
        }
    }

    private static long TakeFrom(CustomerState state, ref long left, Func<PointsLot, bool> match)
    {
        long taken = 0;
        for (var i = state.Lots.Count - 1; i >= 0 && left > 0; i--)
        {
            var lot = state.Lots[i];
            if (!match(lot))
            {
                continue;
            }
            var take = Math.Min(lot.Points, left);
            state.Lots[i] = lot with { Points = lot.Points - take };
            left -= take;
            taken += take;
        }
        return taken;
    }

    private static void AddPending(CustomerState state, PointsLot lot)
    {
        var same = state.Lots.FindIndex(l => l.IsPending && l.OrderKey == lot.OrderKey && l.PendingUntilTicks == lot.PendingUntilTicks);
        if (same >= 0)
        {
            state.Lots[same] = state.Lots[same] with { Points = state.Lots[same].Points + lot.Points };
            return;
        }
        state.Lots.Add(lot);
        if (state.Lots.Count(l => l.IsPending) <= PendingLotsKept)
        {
            return;
        }
        // Too many orders waiting: merge the two oldest pending lots due on the same instant-day, dropping their
        // order link (a refund then takes from pending points in general), or failing that the two oldest.
        var pendingLots = state.Lots.Where(l => l.IsPending).OrderBy(l => l.PendingUntilTicks).ToList();
        var first = pendingLots[0];
        var second = pendingLots[1];
        state.Lots.Remove(first);
        state.Lots.Remove(second);
        state.Lots.Add(new PointsLot(first.Points + second.Points, first.EarnedTicks, 0, second.PendingUntilTicks, ""));
    }

    /// <summary>Adds spendable points earned at <paramref name="at"/>: first they pay back a debt, the rest joins the
    /// lot with the same expiry if it is the newest, or starts a new lot.</summary>
    private static void AddSpendable(CustomerState state, long points, DateTimeOffset at, ActiveProgram program)
    {
        var repay = Math.Min(state.Debt, points);
        state.Debt -= repay;
        points -= repay;
        if (points == 0)
        {
            return;
        }
        var expires = program.ExpiryTicks(at);
        var last = state.Lots.FindLastIndex(l => !l.IsPending);
        if (last >= 0 && state.Lots[last].ExpiresTicks == expires && state.Lots[last].EarnedTicks <= at.UtcTicks)
        {
            state.Lots[last] = state.Lots[last] with { Points = state.Lots[last].Points + points };
            return;
        }
        AddLot(state, points, at, expires);
    }

    /// <summary>A new spendable lot (its own method: the lambda over <paramref name="at"/> makes a closure on entry to
    /// the method that holds it, and most earns join the newest lot instead).</summary>
    private static void AddLot(CustomerState state, long points, DateTimeOffset at, long expires)
    {
        // Lots stay in the order they became spendable (a late catch-up may activate points dated before the newest lot).
        var lot = new PointsLot(points, at.UtcTicks, expires, 0, "");
        var index = state.Lots.FindLastIndex(l => !l.IsPending && l.EarnedTicks <= at.UtcTicks);
        state.Lots.Insert(index + 1, lot);
        if (state.Lots.Count(l => !l.IsPending) > SpendableLotsKept)
        {
            var a = state.Lots.FindIndex(l => !l.IsPending);
            var b = state.Lots.FindIndex(a + 1, l => !l.IsPending);
            var merged = state.Lots[a] with
            {
                Points = state.Lots[a].Points + state.Lots[b].Points,
                ExpiresTicks = Earliest(state.Lots[a].ExpiresTicks, state.Lots[b].ExpiresTicks),
            };
            state.Lots.RemoveAt(b);
            state.Lots[a] = merged;
        }
    }

    private static long Earliest(long a, long b) => a == 0 ? b : b == 0 ? a : Math.Min(a, b);

    private static (long Ticks, int Index)? NextLotDue(CustomerState state)
    {
        (long Ticks, int Index)? next = null;
        for (var i = 0; i < state.Lots.Count; i++)
        {
            var lot = state.Lots[i];
            var due = lot.IsPending ? lot.PendingUntilTicks : lot.ExpiresTicks;
            if (due != 0 && (next is null || due < next.Value.Ticks))
            {
                next = (due, i);
            }
        }
        return next;
    }

    private static void Write(CustomerState state, string kind, long points, long pendingPoints, string eventKey, string ruleId,
        string programVersion, DateTimeOffset at, string note)
    {
        if (points == 0 && pendingPoints == 0)
        {
            return;
        }
        state.AddToLedger(new LedgerEntry(++state.LedgerSeq, kind, points, state.PointsAvailable + state.PointsPending, eventKey, ruleId,
            programVersion, at) { Note = note, PendingPoints = pendingPoints });
    }
}

using Loyalty.Domain.Customers;

namespace Loyalty.Domain.Tests;

/// <summary>One journal record's liability change (<see cref="LiabilityChange"/>) and what it adds to a journal's totals.</summary>
public class LiabilityChangeTests
{
    private static readonly DateTimeOffset Day1 = new(2026, 3, 14, 10, 0, 0, TimeSpan.Zero);

    private static LiabilityShare Share(long available, long pending, string tier, params (int Month, long Points)[] expiring) =>
        new(true, available, pending, tier, [.. expiring.Select(e => KeyValuePair.Create(e.Month, e.Points))]);

    private static CustomerState WithLedger(params LedgerEntry[] entries)
    {
        var state = new CustomerState { CustomerId = "c-1", FirstSeen = Day1 };
        foreach (var e in entries)
        {
            state.Ledger.Add(e);
            state.LedgerSeq = e.Sequence;
        }
        return state;
    }

    private static LedgerEntry Entry(long seq, string kind, long points, DateTimeOffset at, long pending = 0) =>
        new(seq, kind, points, 0, $"e-{seq}", "r", "v1", at) { PendingPoints = pending };

    [Fact]
    public void A_command_that_moved_nothing_the_report_counts_has_no_change()
    {
        var share = Share(100, 0, "Gold", (24_315, 100));
        // The same share, its months in another order, and a ledger entry that moves no points (a reward notice).
        var same = new LiabilityShare(true, 100, 0, "Gold", [KeyValuePair.Create(24_315, 100L)]);
        var state = WithLedger(Entry(1, "reward", 0, Day1));

        Assert.Null(LiabilityChange.Of(share, same, state, ledgerBefore: 0));
        Assert.True(Share(5, 0, "Gold", (1, 2), (3, 4)).SameAs(Share(5, 0, "Gold", (3, 4), (1, 2))));
        Assert.False(Share(5, 0, "Gold", (1, 2), (3, 4)).SameAs(Share(5, 0, "Gold", (1, 2), (3, 5))));
        Assert.False(Share(5, 0, "Gold", (1, 2)).SameAs(Share(5, 0, "Silver", (1, 2))));
    }

    [Fact]
    public void A_change_moves_the_share_and_counts_each_ledger_movement_on_its_day()
    {
        var before = Share(100, 0, "Silver", (24_315, 100));
        var after = Share(130, 20, "Gold", (24_315, 100), (24_320, 30));
        var state = WithLedger(
            Entry(1, "earn", 999, Day1.AddDays(-3)),                 // before ledgerBefore: not this command's
            Entry(2, "earn", 30, Day1),
            Entry(3, "pending", 0, Day1, pending: 20),
            Entry(4, "tier", 0, Day1),                               // moves no points
            Entry(5, "earn", 5, Day1.AddDays(1)),
            Entry(6, "expire", -5, Day1.AddDays(1)));

        var change = LiabilityChange.Of(before, after, state, ledgerBefore: 1)!;

        Assert.Equal(before, change.Before);
        Assert.Equal(after, change.After);
        Assert.Equal(4, change.FlowCount);
        var day = LiabilityTotals.DayOf(Day1);
        Assert.Equal(new LiabilityFlowPoints(day, LiabilityFlow.Earned, 30), change.Flow(0));
        Assert.Equal(new LiabilityFlowPoints(day, LiabilityFlow.EarnedPending, 20), change.Flow(1));
        Assert.Equal(new LiabilityFlowPoints(day + 1, LiabilityFlow.Expired, -5), change.Flow(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => change.Flow(4));

        // Added to totals that hold the share before: the totals hold the share after, and the movements.
        var totals = new LiabilityTotals();
        totals.AddShare(before, 1);
        totals.Add(change);
        totals.Compact();
        Assert.Equal(1, totals.Customers);
        Assert.Equal(130, totals.Available);
        Assert.Equal(20, totals.Pending);
        Assert.Equal(["Gold"], totals.Tiers.Keys); // Silver, now held by nobody, is dropped
        Assert.Equal(130, totals.Tiers["Gold"].Available);
        Assert.Equal([KeyValuePair.Create(24_315, 100L), KeyValuePair.Create(24_320, 30L)], totals.Expiring);
        Assert.Equal(30, totals.Days[day][(int)LiabilityFlow.Earned]);
        Assert.Equal(5, totals.Days[day + 1][(int)LiabilityFlow.Earned]);
        Assert.Equal(-5, totals.Days[day + 1][(int)LiabilityFlow.Expired]);
        Assert.Equal(totals.ToJson(), Copy(totals).ToJson());
    }

    [Fact]
    public void Ledger_movements_alone_leave_the_share_where_it_is()
    {
        var share = Share(50, 0, "Gold");
        var state = WithLedger(Entry(1, "earn", 10, Day1), Entry(2, "spend", -10, Day1));

        var change = LiabilityChange.Of(share, share, state, ledgerBefore: 0)!;

        Assert.False(change.Before.Exists);
        Assert.False(change.After.Exists);
        var totals = new LiabilityTotals();
        totals.Add(change);
        totals.Compact();
        Assert.Equal(0, totals.Customers);
        Assert.Empty(totals.Tiers);
        Assert.Equal(10, totals.Days[LiabilityTotals.DayOf(Day1)][(int)LiabilityFlow.Earned]);
        Assert.Equal(-10, totals.Days[LiabilityTotals.DayOf(Day1)][(int)LiabilityFlow.Spent]);
    }

    [Fact]
    public void Erasing_takes_the_share_out_and_counts_the_balance_as_erased()
    {
        var share = Share(70, 30, "Gold", (24_315, 70));
        var totals = new LiabilityTotals();
        totals.AddShare(share, 1);

        totals.Add(LiabilityChange.Erasure(share, Day1)!);
        totals.Compact();

        Assert.Null(LiabilityChange.Erasure(LiabilityShare.None, Day1));
        Assert.Equal(0, totals.Customers);
        Assert.Equal(0, totals.Available + totals.Pending);
        Assert.Empty(totals.Tiers);
        Assert.Empty(totals.Expiring);
        Assert.Equal(-100, totals.Days[LiabilityTotals.DayOf(Day1)][(int)LiabilityFlow.Erased]);
    }

    private static LiabilityTotals Copy(LiabilityTotals totals) => LiabilityTotals.FromJson(totals.ToJson());
}

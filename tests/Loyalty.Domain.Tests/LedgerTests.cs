using Loyalty.Domain.Customers;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

public sealed class LedgerTests
{
    [Fact]
    public void Every_change_of_points_is_a_ledger_entry_and_the_balance_is_their_sum()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("bib", "baby", 2, 1000), Line("ball", "sports", 1, 2000)));   // 20.00 x2 + 20.00 x1.5 = 70
        customer.Earn(Game(600, 3));                                                                // 10 min x 3 = 30
        customer.Earn(Refund("o-1", Line("bib", "baby", 1, 1000)));                                 // -20
        customer.Earn(Support("k-1", Loyalty.Domain.Events.SupportStatus.Opened, Loyalty.Domain.Events.SupportChannel.Bot)); // 0: no entry

        var ledger = customer.State.Ledger;
        Assert.Equal([1L, 2, 3], ledger.Select(e => e.Sequence));
        Assert.Equal(["earn", "earn", "reverse"], ledger.Select(e => e.Kind));
        Assert.Equal([70L, 30, -20], ledger.Select(e => e.Points));
        Assert.Equal([70L, 100, 80], ledger.Select(e => e.BalanceAfter));
        Assert.Equal(customer.State.PointsAvailable + customer.State.PointsPending, ledger.Sum(e => e.Points));
        // Lifetime is what was ever earned: the refund lowered available points (80), not lifetime (100).
        Assert.Equal(100, customer.State.PointsLifetime);
        Assert.Equal(customer.State.PointsLifetime, ledger.Where(e => e.Kind == "earn").Sum(e => e.Points));
        Assert.All(ledger, e => Assert.Equal(Sample.Program.Version, e.ProgramVersion));
    }

    /// <summary>The archive writes entries by hand; the domain's serializer options define their stored form. Both must
    /// give the same bytes: for real entries of every kind, and for nulls, unusual text and extreme numbers.</summary>
    [Fact]
    public void Ledger_entries_written_by_hand_are_the_bytes_the_serializer_writes()
    {
        const string odd = LedgerSamples.Odd;
        var at = LedgerSamples.OddInstant;
        var entries = LedgerSamples.Applied();
        entries.Add(new LedgerEntry(long.MaxValue, odd, long.MinValue, long.MaxValue, odd, odd, odd, at) { Note = odd, PendingPoints = -1, Ref = odd });
        entries.Add(new LedgerEntry(0, null!, 0, 0, null!, null!, null!, default) { Note = null!, Ref = null! });
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using var writer = new System.Text.Json.Utf8JsonWriter(buffer, DomainJson.WriterOptions);
        foreach (var entry in entries)
        {
            buffer.ResetWrittenCount();
            writer.Reset(buffer);
            LedgerJson.Write(writer, entry);
            writer.Flush();
            var serialized = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(entry, DomainJson.Options);
            Assert.Equal(System.Text.Encoding.UTF8.GetString(serialized), System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
            Assert.True(buffer.WrittenSpan.SequenceEqual(serialized));
        }
    }

    /// <summary>A busy customer's ledger list goes straight to the room a checkpoint's tail needs instead of doubling
    /// through 128 and 256 (each doubling copied every entry); a customer with few entries keeps a small list.</summary>
    [Fact]
    public void A_ledger_doubles_while_small_and_then_grows_by_whole_blocks_that_fit_the_checkpoint_tail()
    {
        var state = new CustomerState();
        var capacities = new List<int>();
        for (var i = 1; i <= 1100; i++)
        {
            state.AddToLedger(new LedgerEntry(i, "earn", 1, i, $"e-{i}", "", "v1", DateTimeOffset.UnixEpoch));
            if (capacities.Count == 0 || capacities[^1] != state.Ledger.Capacity)
            {
                capacities.Add(state.Ledger.Capacity);
            }
        }
        Assert.Equal([4, 8, 16, 32, 64, LedgerList.BlockSize, 2 * LedgerList.BlockSize, 3 * LedgerList.BlockSize], capacities);
        Assert.Equal(Enumerable.Range(1, 1100).Select(i => (long)i), state.Ledger.Select(e => e.Sequence));
        Assert.True(LedgerList.BlockSize >= new EngineLimits().LedgerKept + 480, "the kept entries and the tail that makes a checkpoint due fit one block");

        // Entries booked through the points book take the same way.
        var customer = new TestCustomer();
        for (var i = 0; i < 70; i++)
        {
            customer.Earn(Game(600, 1));
        }
        Assert.True(customer.State.Ledger.Count > LedgerList.SmallUpTo);
        Assert.Equal(LedgerList.BlockSize, customer.State.Ledger.Capacity);
    }

    /// <summary>The entries a checkpoint archives are read in place (a copy of ~480 entries was a large object per
    /// checkpoint): the same entries as the ledger holds, and a read after the ledger changed is refused.</summary>
    [Fact]
    public void Entries_to_archive_are_a_view_of_the_ledger_that_refuses_reads_after_it_changed()
    {
        var state = new CustomerState();
        for (var i = 1; i <= 500; i++)
        {
            state.AddToLedger(new LedgerEntry(i, "earn", i, i, $"e-{i}", "", "v1", DateTimeOffset.UnixEpoch));
        }
        state.TrimArchivedLedger(100);   // earlier checkpoints archived 1..100

        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var (entries, through) = state.LedgerToArchive(keep: 16);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;

        Assert.Equal(484, through);
        Assert.True(allocated < 1_000, $"taking the entries allocated {allocated:N0} bytes");
        Assert.Equal(Enumerable.Range(101, 384).Select(i => (long)i), entries.Select(e => e.Sequence));
        Assert.Equal(state.LedgerBetween(100, 484).ToArray(), entries);
        Assert.Equal("e-101", entries[0].EventKey);
        Assert.Equal(484, entries[^1].Sequence);
        Assert.Throws<ArgumentOutOfRangeException>(() => entries[384]);

        state.TrimArchivedLedger(through);
        Assert.Throws<InvalidOperationException>(() => entries[0]);
        Assert.Equal(16, state.Ledger.Count);
        Assert.Empty(state.LedgerToArchive(keep: 16).Entries);
    }

    [Fact]
    public void The_entries_between_two_sequences_are_those_a_scan_of_the_whole_ledger_finds()
    {
        var customer = new TestCustomer();
        for (var n = 1; n <= 12; n++)
        {
            customer.Earn(Game(60 * n, 1));
        }
        var state = customer.State;
        Assert.Equal(12, state.Ledger.Count);
        for (long after = -1; after <= 13; after++)
        {
            for (long through = after - 1; through <= 14; through++)
            {
                var scanned = state.Ledger.Where(e => e.Sequence > after && e.Sequence <= through).Select(e => e.Sequence);
                Assert.Equal(scanned, state.LedgerBetween(after, through).ToArray().Select(e => e.Sequence));
            }
            Assert.Equal(state.Ledger.Where(e => e.Sequence > after), state.LedgerBetween(after).ToArray());
        }
        // After the oldest entries went to the archive, only the kept ones are between any two sequences.
        state.TrimArchivedLedger(5);
        Assert.Equal([6L, 7], state.LedgerBetween(2, 7).ToArray().Select(e => e.Sequence));
        Assert.Empty(state.LedgerBetween(2, 5).ToArray());
    }

    [Fact]
    public void Rule_points_are_entries_of_their_own_naming_the_rule()
    {
        var customer = new TestCustomer(program: Sample.Full);
        var result = customer.Apply(Support("k-1", Loyalty.Domain.Events.SupportStatus.Resolved, Loyalty.Domain.Events.SupportChannel.Human, satisfaction: 5));
        Assert.Equal(300, result.PointsDelta);
        Assert.Equal([("", 100L), ("human-care-thanks", 200L)], customer.State.Ledger.Where(e => e.Points != 0).Select(e => (e.RuleId, e.Points)));
        Assert.Equal(300, customer.State.Ledger[^1].BalanceAfter);
        // The rewards the rules granted are notices in the same history (no points).
        Assert.All(customer.State.Ledger.Where(e => e.Points == 0), e => Assert.Equal("reward", e.Kind));
        Assert.Equal(result.Rewards.Select(r => r.Code), customer.State.Ledger.Where(e => e.Kind == "reward").Select(e => e.Note));
    }

    [Fact]
    public void Duplicates_and_rejections_write_no_entry()
    {
        var customer = new TestCustomer();
        var e = customer.Event(Game(120, 1));
        customer.Apply(e);
        customer.Apply(e);
        customer.Apply(Refund("unknown", Line("x", "y", 1, 1)));
        Assert.Single(customer.State.Ledger);
    }
}

using System.Text.Json;
using Loyalty.Domain.Customers;

namespace Loyalty.Domain.Tests;

public class LedgerListTests
{
    private static LedgerEntry Entry(long sequence) =>
        new(sequence, "earn", sequence % 7, sequence, $"e-{sequence}", "", "v1", DateTimeOffset.UnixEpoch) { Ref = sequence % 3 == 0 ? "r" + sequence : "" };

    [Fact]
    public void Adds_and_trims_from_the_front_keep_the_same_entries_as_a_list_across_block_boundaries()
    {
        var random = new Random(11);
        var ledger = new LedgerList();
        var list = new List<LedgerEntry>();
        long next = 1;
        for (var step = 0; step < 3_000; step++)
        {
            // Bursts of adds (up to several blocks), trims by sequence or by count, now and then everything.
            var adds = random.Next(4) == 0 ? random.Next(1, 3 * LedgerList.BlockSize) : random.Next(0, 40);
            for (var i = 0; i < adds; i++)
            {
                var entry = Entry(next++);
                ledger.Add(entry);
                list.Add(entry);
            }
            switch (random.Next(6))
            {
                case 0 when list.Count > 0:
                    var through = list[random.Next(list.Count)].Sequence;
                    ledger.RemoveThrough(through);
                    list.RemoveAll(e => e.Sequence <= through);
                    break;
                case 1:
                    var count = random.Next(list.Count + 1);
                    ledger.RemoveFirst(count);
                    list.RemoveRange(0, count);
                    break;
                case 2 when random.Next(20) == 0:
                    ledger.Clear();
                    list.Clear();
                    break;
            }
            Assert.Equal(list.Count, ledger.Count);
            Assert.Equal(list, ledger);
            if (list.Count > 0)
            {
                var at = random.Next(list.Count);
                Assert.Equal(list[at], ledger[at]);
                Assert.Equal(list[^1], ledger[^1]);
                var length = random.Next(list.Count - at + 1);
                Assert.Equal(list.GetRange(at, length), ledger.Slice(at, length).ToArray());
            }
            var enumerated = new List<LedgerEntry>();
            foreach (ref readonly var entry in ledger)
            {
                enumerated.Add(entry);
            }
            Assert.Equal(list, enumerated);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => ledger[ledger.Count]);
        Assert.Throws<ArgumentOutOfRangeException>(() => ledger.RemoveFirst(ledger.Count + 1));
    }

    [Fact]
    public void A_copy_has_the_same_entries_and_does_not_change_with_the_original()
    {
        var ledger = new LedgerList();
        for (var i = 1; i <= 1_300; i++)
        {
            ledger.Add(Entry(i));
        }
        ledger.RemoveThrough(700);
        var copy = ledger.Copy();
        var into = new LedgerList();
        into.Add(Entry(99_999));
        into.CopyFrom(ledger);
        Assert.Equal(ledger, copy);
        Assert.Equal(ledger, into);

        ledger.RemoveThrough(1_250);
        ledger.Add(Entry(1_301));
        Assert.Equal(Enumerable.Range(701, 600).Select(i => (long)i), copy.Select(e => e.Sequence));
        Assert.Equal(copy, into);
    }

    [Fact]
    public void A_state_with_a_ledger_of_several_blocks_reads_back_equal_from_its_stored_form()
    {
        var state = new CustomerState { CustomerId = "c-1" };
        for (var i = 1; i <= 1_200; i++)
        {
            state.AddToLedger(Entry(i));
        }
        state.TrimArchivedLedger(100);
        var read = JsonSerializer.Deserialize<CustomerState>(JsonSerializer.Serialize(state, DomainJson.Options), DomainJson.Options)!;
        Assert.Equal(state.Ledger, read.Ledger);
        Assert.Equal(1_100, read.Ledger.Count);
        Assert.Equal(state.LedgerBetween(500, 900).ToArray(), read.LedgerBetween(500, 900).ToArray());
    }

    /// <summary>The point of the blocks: a customer whose ledger grows and is trimmed again and again (a checkpoint
    /// archiving it each time) takes the blocks other trims gave back, instead of new arrays.</summary>
    [Fact]
    public void A_ledger_trimmed_and_grown_again_reuses_blocks_rather_than_allocating_new_ones()
    {
        var ledger = new LedgerList();
        long next = 1;
        void Cycle()
        {
            for (var i = 0; i < 4 * LedgerList.BlockSize; i++)
            {
                ledger.Add(new LedgerEntry(next++, "earn", 1, next, "e", "", "v1", DateTimeOffset.UnixEpoch));   // no string of its own
            }
            ledger.RemoveThrough(next - 17);   // a checkpoint keeps the newest 16
        }
        Cycle();
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        for (var round = 0; round < 50; round++)
        {
            Cycle();
        }
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        // New blocks every round would be 50 × 4 × ~97 KB ≈ 19 MB. Other tests running at the same time may take pooled
        // blocks now and then, hence the margin.
        Assert.True(allocated < 2_000_000, $"50 rounds allocated {allocated:N0} bytes");
        Assert.Equal(16, ledger.Count);
    }
}

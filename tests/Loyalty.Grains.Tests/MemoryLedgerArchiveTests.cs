using Loyalty.Domain.Customers;

namespace Loyalty.Grains.Tests;

/// <summary>The memory provider's ledger archive keeps entries encoded, in blocks; what it answers must be what was
/// appended, whatever the order or repetition of the appends.</summary>
public sealed class MemoryLedgerArchiveTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    private static LedgerEntry Entry(long sequence) =>
        new(sequence, "earn", sequence * 10, sequence * 100, "e" + sequence, "rule", "v1", At.AddMinutes(sequence)) { Note = "n" + sequence };

    private static List<LedgerEntry> Entries(long from, long to) => [.. Enumerable.Range((int)from, (int)(to - from + 1)).Select(i => Entry(i))];

    private static async Task<List<long>> All(MemoryLedgerArchive archive, string customer) =>
        [.. (await archive.ReadAsync(customer, long.MaxValue, int.MaxValue)).Select(e => e.Sequence)];

    [Fact]
    public async Task Entries_appended_in_runs_read_back_whole_newest_first_and_page_by_sequence()
    {
        var archive = new MemoryLedgerArchive();
        await archive.AppendAsync("c", Entries(1, 8));
        await archive.AppendAsync("c", Entries(9, 20));
        await archive.AppendAsync("c", Entries(21, 21));

        Assert.Equal(Enumerable.Range(1, 21).Reverse().Select(i => (long)i), await All(archive, "c"));
        var page = await archive.ReadAsync("c", 10, 4);
        Assert.Equal([9L, 8, 7, 6], page.Select(e => e.Sequence));
        Assert.Equal(Entry(7), page[2]); // every member survives the stored form
        Assert.Empty(await archive.ReadAsync("c", 1, 10));
        Assert.Empty(await archive.ReadAsync("other", long.MaxValue, 10));
    }

    [Fact]
    public async Task An_append_run_again_after_a_crash_adds_nothing_twice()
    {
        var archive = new MemoryLedgerArchive();
        await archive.AppendAsync("c", Entries(1, 10));
        await archive.AppendAsync("c", Entries(5, 14)); // overlaps what is stored
        await archive.AppendAsync("c", Entries(1, 10));

        Assert.Equal(Enumerable.Range(1, 14).Reverse().Select(i => (long)i), await All(archive, "c"));
        Assert.Equal(14, await archive.DeleteAllAsync("c"));
        Assert.Empty(await All(archive, "c"));
        Assert.Equal(0, await archive.DeleteAllAsync("c"));
    }

    [Fact]
    public async Task Entries_that_fill_a_gap_or_come_out_of_order_are_merged_in_sequence()
    {
        var archive = new MemoryLedgerArchive();
        await archive.AppendAsync("c", Entries(1, 3));
        await archive.AppendAsync("c", Entries(8, 10));
        await archive.AppendAsync("c", [Entry(5), Entry(4)]); // a gap below what is stored, out of order
        await archive.AppendAsync("c", [Entry(12), Entry(11)]);

        Assert.Equal([12L, 11, 10, 9, 8, 5, 4, 3, 2, 1], await All(archive, "c"));
        Assert.Equal(10, await archive.DeleteAllAsync("c"));
    }
}

using System.Buffers;
using System.Text.Json;
using Loyalty.Domain.Customers;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

/// <summary>The archive's binary form of ledger entries: what is read back is what was written, to the byte of its JSON
/// (offsets and texts included), and it is much smaller than the JSON.</summary>
public sealed class LedgerBinaryTests
{
    private static byte[] Run(IEnumerable<LedgerEntry> entries, LedgerBinary.Writer? writer = null)
    {
        writer ??= new LedgerBinary.Writer();
        writer.Reset();
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        buffer.Write([LedgerBinary.Version1]);
        foreach (var entry in entries)
        {
            writer.Write(buffer, entry);
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static string Json(IEnumerable<LedgerEntry> entries) => JsonSerializer.Serialize(entries.ToList(), DomainJson.Options);

    [Fact]
    public void Entries_of_every_kind_with_unusual_text_times_and_numbers_read_back_as_written()
    {
        const string odd = LedgerSamples.Odd;
        var longKey = new string('k', 41);   // past what a key keeps inline
        var at = LedgerSamples.OddInstant;
        var entries = LedgerSamples.Applied();
        entries.AddRange(
        [
            new LedgerEntry(entries[^1].Sequence + 5, "spend", -250, 0, "redeem-1", "", "v2", at) { Note = "coupon", PendingPoints = 0, Ref = "gift" },
            new LedgerEntry(entries[^1].Sequence + 6, "pending", 0, 0, "redeem-1", "", "v2", at.AddDays(-3)) { PendingPoints = 40, Ref = "gift" },
            new LedgerEntry(entries[^1].Sequence + 7, "activate", 40, 40, longKey, "rule-ü", "v2", at.ToOffset(TimeSpan.FromHours(5.75))) { PendingPoints = -40 },
            new LedgerEntry(entries[^1].Sequence + 8, "custom-kind", 1, 41, odd, odd, odd, at.ToOffset(TimeSpan.FromHours(14))) { Note = odd, Ref = odd },
            new LedgerEntry(long.MaxValue, odd, long.MinValue, long.MaxValue, odd, odd, odd, DateTimeOffset.MaxValue) { Note = longKey, PendingPoints = long.MinValue, Ref = odd },
            new LedgerEntry(1, "tier", 0, long.MinValue, "", "", "", DateTimeOffset.MinValue) { Ref = "Gold" },
        ]);
        foreach (var kind in LedgerKinds.All)
        {
            entries.Add(new LedgerEntry(entries.Count + 10, kind, 3, 3, $"e-{kind}", "r", "v", at));
        }

        var read = LedgerBinary.Read(Run(entries));

        Assert.Equal(entries, read);
        Assert.Equal(Json(entries), Json(read));
        Assert.Equal(entries.Select(e => e.At.Offset), read.Select(e => e.At.Offset));
        Assert.Equal(entries.Select(e => e.EventKeyValue.IsString), read.Select(e => e.EventKeyValue.IsString));
        // Texts that repeat the entry before's come back as the same text, not as what came before them.
        Assert.Equal(["gift", "gift", ""], read.Skip(entries.Count - LedgerKinds.All.Count - 6).Take(3).Select(e => e.Ref));
    }

    [Fact]
    public void A_missing_text_reads_back_empty()
    {
        var entry = new LedgerEntry(3, "earn", 1, 1, null!, null!, null!, default) { Note = null!, Ref = null! };
        var read = Assert.Single(LedgerBinary.Read(Run([entry])));
        Assert.Equal(("", "", "", "", ""), (read.EventKey, read.RuleId, read.ProgramVersion, read.Note, read.Ref));
        Assert.Equal(entry with { RuleId = "", ProgramVersion = "", Ref = "" }, read);
    }

    [Fact]
    public void Each_run_stands_alone_after_a_reset_and_a_run_of_game_entries_is_a_fraction_of_its_json()
    {
        var customer = new TestCustomer();
        for (var i = 0; i < 256; i++)
        {
            customer.Earn(Game(60 * (1 + i % 3), 1 + i % 2));
        }
        var entries = customer.State.Ledger.ToList();
        var writer = new LedgerBinary.Writer();
        var first = Run(entries.Take(100), writer);
        var second = Run(entries.Skip(100), writer);   // the same writer: the second run starts from nothing

        Assert.Equal(entries, [.. LedgerBinary.Read(first), .. LedgerBinary.Read(second)]);
        var json = System.Text.Encoding.UTF8.GetByteCount(Json(entries));
        var binary = first.Length + second.Length;
        Assert.True(binary * 4 < json, $"{binary} bytes against {json} bytes of JSON");
    }

    [Fact]
    public void A_run_in_another_format_or_cut_short_is_refused()
    {
        var run = Run([new LedgerEntry(1, "earn", 5, 5, "e-1", "r", "v", DateTimeOffset.UnixEpoch)]);
        Assert.Throws<FormatException>(() => LedgerBinary.Read([]));
        Assert.Throws<FormatException>(() => LedgerBinary.Read([2, .. run[1..]]));
        Assert.ThrowsAny<Exception>(() => LedgerBinary.Read(run.AsSpan(0, run.Length - 2)));
        Assert.Throws<FormatException>(() => LedgerBinary.Read([LedgerBinary.Version1, 2, 200]));   // no such kind
    }
}

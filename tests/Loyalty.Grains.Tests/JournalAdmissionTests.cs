using Loyalty.Domain.Customers;
using Loyalty.Grains.Journal;
using Loyalty.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace Loyalty.Grains.Tests;

/// <summary>The writer's admission bounds: its backlog, and the stored records no checkpoint covers yet.</summary>
public sealed class JournalAdmissionTests
{
    private sealed class MemoryStore : DelegatingJournalStore
    {
        public override bool Durable => false;
    }

    private static JournalRecord Record(string customer, long sequence) =>
        new(customer, sequence, DateTimeOffset.UnixEpoch.AddDays(20_000), "v1",
            new CustomerCommand { Kind = CommandKind.Adjust, Id = $"a{sequence}", Points = sequence, Text = new string('x', 900) }, null);

    [Fact]
    public async Task Records_no_checkpoint_covers_saturate_the_journal_past_their_bound_until_checkpoints_cover_them()
    {
        var options = new JournalOptions { MaxUncoveredBytes = 64 * 1024 }.Validated();
        var writer = new JournalWriter(new MemoryStore(), options, "j-admission", NullLogger<JournalWriter>.Instance);
        await writer.StartAsync(default);
        try
        {
            // About 1 KB a record: the first 60 stay under 64 KiB, all of them stored and acknowledged.
            for (var i = 1; i <= 60; i++)
            {
                await writer.AppendAsync(Record($"c{i % 3}", i));
            }
            Assert.InRange(writer.UncoveredBytes, 50 * 1024, 64 * 1024 - 1);
            Assert.False(writer.Saturated);
            for (var i = 61; i <= 80; i++)
            {
                await writer.AppendAsync(Record($"c{i % 3}", i));
            }
            Assert.True(writer.UncoveredBytes >= 64 * 1024);
            Assert.True(writer.Saturated, "past the bound of uncovered bytes the journal must refuse new work");

            // Checkpoints of two of the three customers cover their records: back under the bound.
            writer.Covered("c1", long.MaxValue);
            writer.Covered("c2", 70);
            Assert.False(writer.Saturated);
            writer.Covered("c2", long.MaxValue);
            writer.Covered("c0", long.MaxValue);
            Assert.Equal(0, writer.UncoveredBytes);
        }
        finally
        {
            await writer.StopAsync(default);
        }
    }

    [Fact]
    public async Task A_list_emptied_by_a_checkpoint_is_lent_to_the_next_customer_and_each_reads_back_only_its_own_records()
    {
        var writer = new JournalWriter(new MemoryStore(), JournalOptions.Default.Validated(), "j-spares", NullLogger<JournalWriter>.Instance);
        await writer.StartAsync(default);
        try
        {
            for (var i = 1; i <= 40; i++)
            {
                await writer.AppendAsync(Record("a", i));
            }
            await writer.AppendAsync(Record("b", 1));
            writer.Covered("a", 39);
            Assert.Equal(0, writer.SpareLists); // one record of a is still uncovered: its list stays
            writer.Covered("a", long.MaxValue);
            Assert.Equal(1, writer.SpareLists);

            for (var i = 101; i <= 105; i++)
            {
                await writer.AppendAsync(Record("c", i));
            }
            Assert.Equal(0, writer.SpareLists); // c took a's list
            Assert.Equal([101L, 102, 103, 104, 105], (await writer.UncoveredAsync("c", 0, default)).Select(r => r.Sequence));
            Assert.Equal([1L], (await writer.UncoveredAsync("b", 0, default)).Select(r => r.Sequence));
            Assert.Empty(await writer.UncoveredAsync("a", 0, default));
            Assert.Equal(2, writer.UncoveredCustomers);
        }
        finally
        {
            await writer.StopAsync(default);
        }
    }

    [Fact]
    public void The_bound_is_validated_and_named_and_by_default_an_eighth_of_the_memory_available()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new JournalOptions { MaxUncoveredBytes = 1000 }.Validated());
        Assert.Contains("Loyalty:Journal:MaxUncoveredBytes", error.Message, StringComparison.Ordinal);
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        Assert.Equal(Math.Max(64L << 20, available / 8), JournalOptions.Default.Validated().UncoveredBytesBound);
        Assert.Equal(100_000, new JournalOptions { MaxUncoveredBytes = 100_000 }.UncoveredBytesBound);
    }
}

using Loyalty.TestKit;
using System.Collections.Concurrent;
using System.Diagnostics;
using Loyalty.Domain.Customers;
using Loyalty.Grains.Journal;
using Microsoft.Extensions.Logging.Abstractions;

namespace Loyalty.Grains.Tests;

/// <summary>Deleting the batches checkpoints cover: garbage collection that must not crowd out the appends callers wait for.</summary>
public sealed class JournalTruncationTests
{
    private sealed class RecordingStore : DelegatingJournalStore
    {
        public override bool Durable => false;

        public ConcurrentQueue<long> Appended { get; } = new();

        public ConcurrentQueue<(TimeSpan At, long[] Batches)> Deletes { get; } = new();

        public Stopwatch Clock { get; } = Stopwatch.StartNew();

        public override async Task AppendAsync(string journalId, long batch, IReadOnlyList<JournalRecord> records, EncodedRecords? encoded,
            IReadOnlyCollection<string> mark, IReadOnlyCollection<string> unmark, LiabilityTotals? liability, CancellationToken cancellationToken)
        {
            await base.AppendAsync(journalId, batch, records, encoded, mark, unmark, liability, cancellationToken);
            Appended.Enqueue(batch);
        }

        public override Task DeleteBatchesAsync(string journalId, IReadOnlyList<long> batches, CancellationToken cancellationToken)
        {
            Deletes.Enqueue((Clock.Elapsed, [.. batches]));
            return base.DeleteBatchesAsync(journalId, batches, cancellationToken);
        }
    }

    private static JournalRecord Record(string customer, long sequence) =>
        new(customer, sequence, DateTimeOffset.UnixEpoch.AddDays(20_000), "v1",
            new CustomerCommand { Kind = CommandKind.Adjust, Id = $"a{sequence}", Points = sequence, Text = "t" }, null);

    [Fact]
    public async Task Batches_that_come_due_together_are_deleted_in_chunks_spread_over_the_round()
    {
        var store = new RecordingStore();
        var options = new JournalOptions { TruncateEvery = TimeSpan.FromSeconds(1) }.Validated();
        var writer = new JournalWriter(store, options, "j-truncate", NullLogger<JournalWriter>.Instance);
        await writer.StartAsync(default);
        try
        {
            // One batch per append (each waits for the last), then a checkpoint covers them all at once (as a wave of
            // checkpoints does).
            for (var i = 1; i <= 240; i++)
            {
                await writer.AppendAsync(Record("c", i));
            }
            Assert.Equal(240, store.Appended.Count);
            writer.Covered("c", 240);

            var deadline = Stopwatch.StartNew();
            while (store.Deletes.Sum(d => d.Batches.Length) < 240 && deadline.Elapsed < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(50);
            }
            var deletes = store.Deletes.ToList();
            Assert.Equal(store.Appended.Order(), deletes.SelectMany(d => d.Batches)); // each once, oldest first
            // Requests of at most TruncateChunk batches, spread over the round rather than back to back.
            Assert.Equal((240 + JournalWriter.TruncateChunk - 1) / JournalWriter.TruncateChunk, deletes.Count);
            Assert.All(deletes, d => Assert.InRange(d.Batches.Length, 1, JournalWriter.TruncateChunk));
            Assert.True(deletes[^1].At - deletes[0].At >= TimeSpan.FromMilliseconds(750),
                $"the deletes were {(deletes[^1].At - deletes[0].At).TotalMilliseconds:0} ms apart from first to last");
        }
        finally
        {
            await writer.StopAsync(default);
        }
    }
}

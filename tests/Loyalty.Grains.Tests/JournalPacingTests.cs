using Loyalty.TestKit;
using System.Collections.Concurrent;
using System.Diagnostics;
using Loyalty.Domain.Customers;
using Loyalty.Grains.Journal;
using Microsoft.Extensions.Logging.Abstractions;

namespace Loyalty.Grains.Tests;

/// <summary>
/// The writer's pacing (<see cref="JournalOptions.MinAppendInterval"/>): records that arrive while an append is being
/// stored wait for the interval and share the next append instead of taking requests of their own; a caller that
/// waits for each answer, a quiet journal and the memory store are never held back.
/// </summary>
public sealed class JournalPacingTests
{
    /// <summary>Notes when each append of records started and how many records it carried, and can hold the next one.</summary>
    private sealed class TimedStore(bool durable) : DelegatingJournalStore
    {
        public ConcurrentQueue<(long Started, int Records)> Appends { get; } = new();
        public TaskCompletionSource? Gate { get; set; }
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override bool Durable => durable;

        public override async Task AppendAsync(string journalId, long batch, IReadOnlyList<JournalRecord> records, EncodedRecords? encoded,
            IReadOnlyCollection<string> mark, IReadOnlyCollection<string> unmark, LiabilityTotals? liability, CancellationToken cancellationToken)
        {
            if (records.Count > 0)
            {
                Appends.Enqueue((Stopwatch.GetTimestamp(), records.Count));
                if (Gate is { } gate)
                {
                    Gate = null;
                    Entered.TrySetResult();
                    await gate.Task;
                }
            }
            await base.AppendAsync(journalId, batch, records, encoded, mark, unmark, liability, cancellationToken);
        }
    }

    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private static JournalRecord Record(string customer, long sequence) =>
        new(customer, sequence, DateTimeOffset.UnixEpoch.AddDays(20_000), "v1",
            new CustomerCommand { Kind = CommandKind.Adjust, Id = $"a{sequence}", Points = sequence, Text = "test" }, null);

    /// <summary>Runs <paramref name="test"/> against a started writer on a fresh store, and stops the writer after.</summary>
    private static async Task WithWriter(bool durable, Func<JournalWriter, TimedStore, Task> test)
    {
        var store = new TimedStore(durable);
        var writer = new JournalWriter(store, new JournalOptions { MinAppendInterval = Interval }.Validated(), "j-pacing", NullLogger<JournalWriter>.Instance);
        await writer.StartAsync(default);
        try
        {
            await test(writer, store);
        }
        finally
        {
            await writer.StopAsync(default);
        }
    }

    /// <summary>Holds the first append until twenty more records are queued behind it, then lets it finish; returns
    /// every record's task.</summary>
    private static async Task<Task[]> TwentyArriveDuringTheFirstAppend(JournalWriter writer, TimedStore store)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.Gate = gate;
        var first = writer.AppendAsync(Record("c0", 1));
        await store.Entered.Task;
        var later = Enumerable.Range(1, 20).Select(i => writer.AppendAsync(Record($"c{i}", 1))).ToArray();
        gate.SetResult();
        return [first, .. later];
    }

    [Fact]
    public async Task Records_arriving_while_an_append_is_stored_wait_for_the_interval_and_share_one_append()
    {
        await WithWriter(durable: true, async (writer, store) =>
        {
            await Task.WhenAll(await TwentyArriveDuringTheFirstAppend(writer, store));
            var appends = store.Appends.ToArray();
            Assert.Equal(2, appends.Length);
            Assert.Equal([1, 20], appends.Select(a => a.Records));
            var apart = Stopwatch.GetElapsedTime(appends[0].Started, appends[1].Started);
            Assert.True(apart >= Interval - TimeSpan.FromMilliseconds(20), $"the second append started {apart.TotalMilliseconds:F0} ms after the first");
        });
    }

    [Fact]
    public async Task A_caller_that_waits_for_each_answer_is_never_held_back()
    {
        await WithWriter(durable: true, async (writer, store) =>
        {
            // Nothing arrives while each of these appends is stored: held to the interval, five would take four seconds.
            var clock = Stopwatch.StartNew();
            for (var i = 1; i <= 5; i++)
            {
                await writer.AppendAsync(Record("c0", i));
            }
            Assert.True(clock.Elapsed < Interval, $"five appends one after another took {clock.Elapsed.TotalMilliseconds:F0} ms");
            Assert.Equal(5, store.Appends.Count);

            // After paced appends, a journal quiet for the interval appends at once.
            await Task.WhenAll(await TwentyArriveDuringTheFirstAppend(writer, store));
            await Task.Delay(Interval + TimeSpan.FromMilliseconds(100));
            clock.Restart();
            await writer.AppendAsync(Record("c0", 7));
            Assert.True(clock.Elapsed < Interval / 2, $"an append after a quiet interval took {clock.Elapsed.TotalMilliseconds:F0} ms");
        });
    }

    [Fact]
    public async Task The_memory_store_is_not_paced()
    {
        await WithWriter(durable: false, async (writer, store) =>
        {
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(await TwentyArriveDuringTheFirstAppend(writer, store));
            Assert.True(clock.Elapsed < Interval, $"the records arriving during the first append waited {clock.Elapsed.TotalMilliseconds:F0} ms");
            Assert.Equal(21, store.Appends.Sum(a => a.Records));
        });
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1001)]
    public void The_interval_is_validated_and_named(int milliseconds)
    {
        var error = Assert.Throws<InvalidOperationException>(() => new JournalOptions { MinAppendInterval = TimeSpan.FromMilliseconds(milliseconds) }.Validated());
        Assert.Contains("Loyalty:Journal:MinAppendInterval", error.Message, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromMilliseconds(10), JournalOptions.Default.Validated().MinAppendInterval);
        Assert.Equal(TimeSpan.Zero, new JournalOptions { MinAppendInterval = TimeSpan.Zero }.Validated().MinAppendInterval);
    }
}

using Loyalty.Domain.Customers;
using Loyalty.Grains.Customers;
using Loyalty.Grains.Journal;

namespace Loyalty.Grains.Tests;

public sealed class CheckpointSlotsTests
{
    [Fact]
    public async Task At_most_the_configured_number_of_checkpoints_run_at_once_and_the_rest_wait_their_turn()
    {
        var slots = new CheckpointSlots(new JournalOptions { MaxConcurrentCheckpoints = 3 });
        var running = 0;
        var most = 0;
        var release = new TaskCompletionSource();
        var started = 0;
        var writes = Enumerable.Range(0, 10).Select(_ => Task.Run(async () =>
        {
            using var slot = await slots.EnterAsync();
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            Interlocked.Increment(ref started);
            await release.Task;
            Interlocked.Decrement(ref running);
        })).ToList();

        // Three start; seven wait.
        while (Volatile.Read(ref started) < 3 || slots.Waiting < 7)
        {
            await Task.Delay(10);
        }
        Assert.Equal(3, Volatile.Read(ref started));
        Assert.Equal(7, slots.Waiting);

        release.SetResult();
        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(3, most);
        Assert.Equal(10, started);
        Assert.Equal(0, slots.Waiting);
    }

    /// <summary>Each slot lends lists for its snapshot's remembered ids and ledger; a slot given back empties them, and
    /// the next checkpoint reuses them (no new large lists per checkpoint). Slots held at once never share lists.</summary>
    [Fact]
    public async Task A_slot_lends_its_own_lists_for_a_snapshot_and_empties_them_when_given_back()
    {
        var slots = new CheckpointSlots(new JournalOptions { MaxConcurrentCheckpoints = 2 });
        SnapshotLists first;
        using (var a = await slots.EnterAsync())
        using (var b = await slots.EnterAsync())
        {
            Assert.NotSame(a.Buffers, b.Buffers);
            first = a.Buffers;
            first.Seen.Add(SeenEvent.Of("evt-1", 1, 1));
            first.Ledger.Add(new LedgerEntry(1, "earn", 1, 1, "evt-1", "", "v1", DateTimeOffset.UnixEpoch));
            b.Buffers.Seen.Add(SeenEvent.Of("evt-2", 2, 2));
        }
        Assert.Empty(first.Seen);
        Assert.Empty(first.Ledger);
        using var again = await slots.EnterAsync();
        Assert.Empty(again.Buffers.Seen);
        using var other = await slots.EnterAsync();
        Assert.Contains(first, new[] { again.Buffers, other.Buffers });
        Assert.NotSame(again.Buffers, other.Buffers);
    }

    [Fact]
    public void A_setting_of_zero_slots_is_refused_naming_the_key()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new JournalOptions { MaxConcurrentCheckpoints = 0 }.Validated());
        Assert.Contains("Loyalty:Journal:MaxConcurrentCheckpoints", error.Message, StringComparison.Ordinal);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}

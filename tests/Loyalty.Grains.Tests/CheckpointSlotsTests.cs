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

    /// <summary>Each slot lends a list for its snapshot's remembered ids; a slot given back empties its list, and the
    /// next checkpoint reuses it (no new large list per checkpoint). Slots held at once never share a list.</summary>
    [Fact]
    public async Task A_slot_lends_its_own_list_for_remembered_ids_and_empties_it_when_given_back()
    {
        var slots = new CheckpointSlots(new JournalOptions { MaxConcurrentCheckpoints = 2 });
        List<Loyalty.Domain.Customers.SeenEvent> first;
        using (var a = await slots.EnterAsync())
        using (var b = await slots.EnterAsync())
        {
            Assert.NotSame(a.SeenBuffer, b.SeenBuffer);
            first = a.SeenBuffer;
            first.Add(Loyalty.Domain.Customers.SeenEvent.Of("evt-1", 1, 1));
            b.SeenBuffer.Add(Loyalty.Domain.Customers.SeenEvent.Of("evt-2", 2, 2));
        }
        Assert.Empty(first);
        using var again = await slots.EnterAsync();
        Assert.Empty(again.SeenBuffer);
        using var other = await slots.EnterAsync();
        Assert.Contains(first, new[] { again.SeenBuffer, other.SeenBuffer });
        Assert.NotSame(again.SeenBuffer, other.SeenBuffer);
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

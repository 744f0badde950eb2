using Loyalty.Grains.Journal;

namespace Loyalty.Grains.Tests;

public sealed class HeadWatchTests
{
    private static readonly DateTime T0 = new(2026, 12, 4, 12, 0, 0, DateTimeKind.Utc);

    /// <summary>A read of the head that began <paramref name="from"/> s and ended <paramref name="to"/> s after T0.</summary>
    private static JournalInfo Head(long batch, double from, double to) =>
        new("j-x", "x", batch) { HeadReadFrom = T0.AddSeconds(from), HeadReadTo = T0.AddSeconds(to) };

    [Fact]
    public void A_head_first_seen_is_undecided_a_moving_head_is_alive_and_a_head_still_for_the_whole_time_is_dead()
    {
        var watch = new HeadWatch(TimeSpan.FromSeconds(8));
        Assert.Null(watch.Alive(Head(5, 0, 0.1)));
        Assert.Null(watch.Alive(Head(6, 1, 1.1)));       // moved once: maybe the last append of a writer just killed
        Assert.True(watch.Alive(Head(7, 2, 2.1)));       // moved twice: alive, and still counted from this read on
        Assert.Null(watch.Alive(Head(7, 5, 5.1)));
        Assert.Null(watch.Alive(Head(7, 10.0, 10.2)));   // 7.9 s between the reads: not yet
        Assert.False(watch.Alive(Head(7, 10.2, 10.3)));  // 8.1 s
        Assert.False(watch.Alive(new JournalInfo("j-gone", "y", -1) { HeadReadFrom = T0, HeadReadTo = T0 })); // no head
    }

    [Fact]
    public void Standing_still_is_measured_between_the_reads_of_the_head_not_to_when_a_slow_listing_ends()
    {
        // The head was read quickly at 0 s and again at 1 s, but a listing that read many other heads after it took
        // until 20 s. The head stood still for at most 1 s: not dead, however late the scan looks at the answer.
        var watch = new HeadWatch(TimeSpan.FromSeconds(8));
        Assert.Null(watch.Alive(Head(3, 0, 0.05)));
        Assert.Null(watch.Alive(Head(3, 1, 1.05)));
        // A read that took 10 s saw the same batch: the head had it at some moment of those 10 s, maybe the first.
        Assert.Null(watch.Alive(Head(3, 2, 12)));
        Assert.False(watch.Alive(Head(3, 8.1, 8.2)));
    }

    [Fact]
    public void The_append_a_killed_writer_had_in_flight_landing_after_its_death_does_not_make_it_alive()
    {
        // Seen at start, then its last append lands (one move), then nothing more: dead 8 s after that append.
        var watch = new HeadWatch(TimeSpan.FromSeconds(8));
        Assert.Null(watch.Alive(Head(41, 0, 0.1)));
        Assert.Null(watch.Alive(Head(42, 0.5, 0.6)));
        Assert.Null(watch.Alive(Head(42, 5, 5.1)));
        Assert.False(watch.Alive(Head(42, 8.7, 8.8)));
        // A writer that keeps appending stays alive whatever it did before.
        var live = new HeadWatch(TimeSpan.FromSeconds(8));
        Assert.Null(live.Alive(Head(1, 0, 0.1)));
        Assert.Null(live.Alive(Head(2, 1, 1.1)));
        Assert.True(live.Alive(Head(3, 2, 2.1)));
        Assert.True(live.Alive(Head(4, 3, 3.1)));
    }

    [Fact]
    public void A_forgotten_journal_starts_over()
    {
        var watch = new HeadWatch(TimeSpan.FromSeconds(8));
        Assert.Null(watch.Alive(Head(3, 0, 0)));
        watch.Forget("j-x");
        Assert.Null(watch.Alive(Head(3, 20, 20)));
    }
}

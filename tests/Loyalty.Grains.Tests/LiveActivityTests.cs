using Microsoft.Extensions.Time.Testing;

namespace Loyalty.Grains.Tests;

public sealed class LiveActivityTests
{
    /// <summary>One silo's view, as the console draws it.</summary>
    private static LiveActivity.Snapshot Read(LiveActivity live, int seconds, int minutes) =>
        LiveActivity.Merge(live.Now, seconds, minutes, [live.Report("silo-1")]);

    private static readonly DateTimeOffset Start = new(2026, 11, 25, 12, 0, 30, TimeSpan.Zero);

    [Fact]
    public void Events_are_counted_per_second_by_source_and_rewards_per_minute()
    {
        var time = new FakeTimeProvider(Start);
        var live = new LiveActivity(new EngineClock(time));
        live.Applied("purchase", 2);
        live.Applied("refund", 0);
        live.Applied("match_result", 1);
        time.Advance(TimeSpan.FromSeconds(1));
        live.Applied("support_case", 1);
        live.Applied("profile_update", 0);
        live.Granted(3);   // goodwill

        var read = Read(live, seconds: 3, minutes: 2);
        Assert.Equal([Start.AddSeconds(-1), Start, Start.AddSeconds(1)], read.Seconds.Select(s => s.At));
        Assert.Equal(new LiveActivity.Second(Start, 2, 1, 0, 0), read.Seconds[1]);
        Assert.Equal(new LiveActivity.Second(Start.AddSeconds(1), 0, 0, 1, 1), read.Seconds[2]);
        Assert.Equal(0, read.Seconds[0].Shop);
        Assert.Equal([0L, 2 + 1 + 1 + 3], read.Minutes.Select(m => m.Rewards));
        Assert.Equal(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero), read.Minutes[^1].At);
    }

    [Fact]
    public void Old_counts_fall_out_of_the_rings_instead_of_being_reread_as_new()
    {
        var time = new FakeTimeProvider(Start);
        var live = new LiveActivity(new EngineClock(time));
        live.Applied("purchase", 1);
        // Exactly one ring length later the same slots are reused: the old counts must not show as current.
        time.Advance(TimeSpan.FromSeconds(LiveActivity.SecondsKept));
        live.Applied("game_session", 0);
        var read = Read(live, seconds: LiveActivity.SecondsKept, minutes: LiveActivity.MinutesKept);
        Assert.Equal(0, read.Seconds.Sum(s => s.Shop));
        Assert.Equal(1, read.Seconds.Sum(s => s.Game));
        time.Advance(TimeSpan.FromMinutes(LiveActivity.MinutesKept));
        read = Read(live, seconds: 10, minutes: LiveActivity.MinutesKept);
        Assert.Equal(0, read.Minutes.Sum(m => m.Rewards));   // the reward an hour ago is gone
        Assert.All(read.Seconds, s => Assert.Equal(0, s.Shop + s.Game + s.Support + s.Profile));
    }

    [Fact]
    public void A_read_asks_for_at_most_what_the_rings_hold()
    {
        var live = new LiveActivity(new EngineClock(new FakeTimeProvider(Start)));
        var read = Read(live, seconds: 100_000, minutes: -5);
        Assert.Equal(LiveActivity.SecondsKept, read.Seconds.Count);
        Assert.Single(read.Minutes);
    }

    [Fact]
    public void Reports_of_several_silos_add_up_second_by_second_and_minute_by_minute()
    {
        var time = new FakeTimeProvider(Start);
        var a = new LiveActivity(new EngineClock(time));
        var b = new LiveActivity(new EngineClock(time));
        a.Applied("purchase", 1);
        b.Applied("purchase", 0);
        b.Applied("achievement", 2);
        var early = b.Report("silo-b");   // b's report from this second; a reports a second later
        time.Advance(TimeSpan.FromSeconds(1));
        a.Applied("support_case", 0);
        b.Applied("support_case", 0);        // after b's report: not in the sum yet
        var merged = LiveActivity.Merge(time.GetUtcNow(), 3, 2, [a.Report("silo-a"), early]);

        Assert.Equal(["silo-a", "silo-b"], merged.Silos);
        Assert.Equal(new LiveActivity.Second(Start, 2, 1, 0, 0), merged.Seconds[1]);
        Assert.Equal(new LiveActivity.Second(Start.AddSeconds(1), 0, 0, 1, 0), merged.Seconds[2]);
        Assert.Equal([0L, 3], merged.Minutes.Select(m => m.Rewards));
        // The same report twice is the same silo twice: reports are absolute, the grain keeps one per silo.
        Assert.Equal(merged.Seconds, LiveActivity.Merge(time.GetUtcNow(), 3, 2, [a.Report("silo-a"), early]).Seconds);
    }
}

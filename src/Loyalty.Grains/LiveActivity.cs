namespace Loyalty.Grains;

/// <summary>
/// What the console's live view draws: events applied per second by source (the last five minutes) and rewards
/// granted per minute (the last hour), as answered by this silo's API. Fixed-size rings keyed by the engine clock, so
/// memory never grows and an idle period reads as zeros.
/// </summary>
public sealed class LiveActivity(EngineClock clock)
{
    public static readonly string[] Sources = ["shop", "game", "support", "profile"];
    public const int SecondsKept = 300;
    public const int MinutesKept = 60;

    private readonly Lock _gate = new();
    private readonly long[] _secondStamps = new long[SecondsKept];
    private readonly long[,] _events = new long[SecondsKept, 4];
    private readonly long[] _minuteStamps = new long[MinutesKept];
    private readonly long[] _rewards = new long[MinutesKept];

    public sealed record Second(DateTimeOffset At, long Shop, long Game, long Support, long Profile);
    public sealed record Minute(DateTimeOffset At, long Rewards);
    public sealed record Snapshot(DateTimeOffset Now, string Silo, IReadOnlyList<Second> Seconds, IReadOnlyList<Minute> Minutes);

    /// <summary>Counts one applied event of <paramref name="kind"/> and the rewards it granted.</summary>
    public void Applied(string kind, int rewards)
    {
        var source = Array.IndexOf(Sources, LoyaltyMetrics.SourceOf(kind));
        var now = clock.GetUtcNow().ToUnixTimeSeconds();
        lock (_gate)
        {
            if (source >= 0)
            {
                var slot = SecondSlot(now);
                _events[slot, source]++;
            }
            if (rewards > 0)
            {
                _rewards[MinuteSlot(now / 60)] += rewards;
            }
        }
    }

    /// <summary>Counts rewards granted outside an event (an agent's goodwill).</summary>
    public void Granted(int rewards)
    {
        var minute = clock.GetUtcNow().ToUnixTimeSeconds() / 60;
        lock (_gate)
        {
            _rewards[MinuteSlot(minute)] += rewards;
        }
    }

    /// <summary>The last <paramref name="seconds"/> seconds and <paramref name="minutes"/> minutes, oldest first,
    /// ending with the current (still filling) second and minute.</summary>
    public Snapshot Read(string silo, int seconds = 120, int minutes = 30)
    {
        seconds = Math.Clamp(seconds, 1, SecondsKept);
        minutes = Math.Clamp(minutes, 1, MinutesKept);
        var now = clock.GetUtcNow();
        var second = now.ToUnixTimeSeconds();
        var series = new List<Second>(seconds);
        var perMinute = new List<Minute>(minutes);
        lock (_gate)
        {
            for (var t = second - seconds + 1; t <= second; t++)
            {
                var slot = (int)(t % SecondsKept);
                var live = _secondStamps[slot] == t;
                series.Add(new Second(DateTimeOffset.FromUnixTimeSeconds(t),
                    live ? _events[slot, 0] : 0, live ? _events[slot, 1] : 0, live ? _events[slot, 2] : 0, live ? _events[slot, 3] : 0));
            }
            for (var m = second / 60 - minutes + 1; m <= second / 60; m++)
            {
                var slot = (int)(m % MinutesKept);
                perMinute.Add(new Minute(DateTimeOffset.FromUnixTimeSeconds(m * 60), _minuteStamps[slot] == m ? _rewards[slot] : 0));
            }
        }
        return new Snapshot(now, silo, series, perMinute);
    }

    private int SecondSlot(long second)
    {
        var slot = (int)(second % SecondsKept);
        if (_secondStamps[slot] != second)
        {
            _secondStamps[slot] = second;
            for (var s = 0; s < Sources.Length; s++)
            {
                _events[slot, s] = 0;
            }
        }
        return slot;
    }

    private int MinuteSlot(long minute)
    {
        var slot = (int)(minute % MinutesKept);
        if (_minuteStamps[slot] != minute)
        {
            _minuteStamps[slot] = minute;
            _rewards[slot] = 0;
        }
        return slot;
    }
}

namespace Loyalty.Grains;

/// <summary>
/// What the console's live view draws: events applied per second by source (the last five minutes) and rewards
/// granted per minute (the last hour), as answered by this silo's API. Fixed-size rings keyed by the engine clock, so
/// memory never grows and an idle period reads as zeros. Each silo reports its rings to the <see cref="ILiveGrain"/>
/// every few seconds, so any silo can show the whole cluster (<see cref="Merge"/>).
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
    public sealed record Snapshot(DateTimeOffset Now, IReadOnlyList<string> Silos, IReadOnlyList<Second> Seconds, IReadOnlyList<Minute> Minutes);

    public DateTimeOffset Now => clock.GetUtcNow();

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

    /// <summary>This silo's last <paramref name="seconds"/> seconds and <paramref name="minutes"/> minutes, ending with
    /// the current (still filling) ones: absolute counts, so a repeated or lost report never skews a sum.</summary>
    public LiveReport Report(string silo, int seconds = SecondsKept, int minutes = MinutesKept)
    {
        seconds = Math.Clamp(seconds, 1, SecondsKept);
        minutes = Math.Clamp(minutes, 1, MinutesKept);
        var second = clock.GetUtcNow().ToUnixTimeSeconds();
        var events = new long[seconds * Sources.Length];
        var rewards = new long[minutes];
        var firstSecond = second - seconds + 1;
        var firstMinute = second / 60 - minutes + 1;
        lock (_gate)
        {
            for (var i = 0; i < seconds; i++)
            {
                var t = firstSecond + i;
                var slot = (int)(t % SecondsKept);
                if (_secondStamps[slot] == t)
                {
                    for (var s = 0; s < Sources.Length; s++)
                    {
                        events[i * Sources.Length + s] = _events[slot, s];
                    }
                }
            }
            for (var i = 0; i < minutes; i++)
            {
                var m = firstMinute + i;
                var slot = (int)(m % MinutesKept);
                rewards[i] = _minuteStamps[slot] == m ? _rewards[slot] : 0;
            }
        }
        return new LiveReport(silo, firstSecond, events, firstMinute, rewards);
    }

    /// <summary>Sums reports (one per silo) over the last <paramref name="seconds"/> seconds and <paramref name="minutes"/>
    /// minutes up to <paramref name="now"/>, oldest first; a second or minute no report covers counts as zero.</summary>
    public static Snapshot Merge(DateTimeOffset now, int seconds, int minutes, IReadOnlyCollection<LiveReport> reports)
    {
        seconds = Math.Clamp(seconds, 1, SecondsKept);
        minutes = Math.Clamp(minutes, 1, MinutesKept);
        var second = now.ToUnixTimeSeconds();
        var series = new List<Second>(seconds);
        for (var t = second - seconds + 1; t <= second; t++)
        {
            var counts = new long[Sources.Length];
            foreach (var report in reports)
            {
                var i = t - report.FirstSecond;
                if (i >= 0 && (i + 1) * Sources.Length <= report.Events.Length)
                {
                    for (var s = 0; s < Sources.Length; s++)
                    {
                        counts[s] += report.Events[i * Sources.Length + s];
                    }
                }
            }
            series.Add(new Second(DateTimeOffset.FromUnixTimeSeconds(t), counts[0], counts[1], counts[2], counts[3]));
        }
        var perMinute = new List<Minute>(minutes);
        for (var m = second / 60 - minutes + 1; m <= second / 60; m++)
        {
            var sum = 0L;
            foreach (var report in reports)
            {
                var i = m - report.FirstMinute;
                if (i >= 0 && i < report.Rewards.Length)
                {
                    sum += report.Rewards[i];
                }
            }
            perMinute.Add(new Minute(DateTimeOffset.FromUnixTimeSeconds(m * 60), sum));
        }
        return new Snapshot(now, [.. reports.Select(r => r.Silo).Order(StringComparer.Ordinal)], series, perMinute);
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

/// <summary>One silo's live counts: events per second by source (flattened, <see cref="LiveActivity.Sources"/> per
/// second from <see cref="FirstSecond"/>, Unix seconds) and rewards per minute from <see cref="FirstMinute"/>.</summary>
[GenerateSerializer, Immutable, Alias("loyalty.LiveReport")]
public sealed record LiveReport(
    [property: Id(0)] string Silo,
    [property: Id(1)] long FirstSecond,
    [property: Id(2)] long[] Events,
    [property: Id(3)] long FirstMinute,
    [property: Id(4)] long[] Rewards);

/// <summary>The cluster's live counts: the latest report of every silo (in memory only: these are gauges for people
/// watching, not records; a lost activation refills within one report interval because reports are absolute).</summary>
public interface ILiveGrain : IGrainWithIntegerKey
{
    Task Report(LiveReport report);

    /// <summary>The latest report of every silo except <paramref name="except"/> (the caller adds its own, fresher).</summary>
    Task<LiveReport[]> Others(string except);
}

[GrainType("live")]
public sealed class LiveGrain(EngineClock clock) : Grain, ILiveGrain
{
    private readonly Dictionary<string, (LiveReport Report, DateTimeOffset At)> _latest = new(StringComparer.Ordinal);

    public Task Report(LiveReport report)
    {
        _latest[report.Silo] = (report, clock.GetUtcNow());
        return Task.CompletedTask;
    }

    public Task<LiveReport[]> Others(string except)
    {
        // A silo that stopped reporting keeps its counts until they are older than anything a reader asks for.
        var cutoff = clock.GetUtcNow().AddMinutes(-LiveActivity.MinutesKept);
        foreach (var gone in _latest.Where(kv => kv.Value.At < cutoff).Select(kv => kv.Key).ToList())
        {
            _latest.Remove(gone);
        }
        return Task.FromResult(_latest.Where(kv => kv.Key != except).Select(kv => kv.Value.Report).ToArray());
    }
}

/// <summary>Reports this silo's live counts to the <see cref="ILiveGrain"/> every <see cref="Interval"/>.</summary>
public sealed class LiveReporter(LiveActivity activity, IGrainFactory grains, Orleans.Runtime.ILocalSiloDetails silo, EngineClock clock,
    Microsoft.Extensions.Logging.ILogger<LiveReporter> logger) : Microsoft.Extensions.Hosting.BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    public string Silo => silo.SiloAddress.ToString();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, clock.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await grains.GetGrain<ILiveGrain>(0).Report(activity.Report(Silo));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Gauges only: the next report replaces this one.
                    Microsoft.Extensions.Logging.LoggerExtensions.LogDebug(logger, e, "Live report failed; retrying in {Interval}", Interval);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}

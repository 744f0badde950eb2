using System.Diagnostics.Metrics;

namespace Loyalty.Grains;

/// <summary>Engine metrics (OpenTelemetry naming); exported by the host.</summary>
public static class LoyaltyMetrics
{
    public const string MeterName = "Loyalty.Engine";
    private static readonly Meter Meter = new(MeterName);

    /// <summary>Bucket bounds for durations in seconds, from half a millisecond (a publish on memory storage) to 10 s (a
    /// call's deadline). Without them the exporter uses its defaults, which are meant for milliseconds (5, 10, 25 ...
    /// 10,000): every duration here fell into the first bucket, and no quantile could be read off /metrics.</summary>
    public static InstrumentAdvice<double> Seconds { get; } = new()
    {
        HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10],
    };

    /// <summary>Bucket bounds for what may take minutes to hours (a webhook delivery retried up to
    /// Loyalty:Webhooks:RetryFor), in seconds.</summary>
    public static InstrumentAdvice<double> LongSeconds { get; } = new()
    {
        HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
    };

    private static readonly Counter<long> Events = Meter.CreateCounter<long>(
        "loyalty.events", unit: "{event}", description: "Events answered, by source (shop, game, support, profile) and outcome");
    private static readonly Histogram<double> PublishDuration = Meter.CreateHistogram<double>(
        "loyalty.publish.duration", unit: "s", description: "Time to answer a publish call (one event, a batch, or one event of a stream)",
        tags: null, advice: Seconds);
    private static readonly Counter<long> RewardsGranted = Meter.CreateCounter<long>(
        "loyalty.rewards.granted", unit: "{reward}", description: "Rewards granted, by kind");
    private static readonly Counter<long> PointsIssued = Meter.CreateCounter<long>(
        "loyalty.points.issued", unit: "{point}", description: "Points earned by applied events and positive adjustments");
    private static readonly Counter<long> PointsRedeemed = Meter.CreateCounter<long>(
        "loyalty.points.redeemed", unit: "{point}", description: "Points spent on redemptions and confirmed reservations");
    private static readonly Counter<long> Refused = Meter.CreateCounter<long>(
        "loyalty.access.refused", unit: "{call}", description: "Calls refused before they did anything, by reason (unauthenticated, permission_denied, rate_limited, too_many_streams); not stored in the audit log");
    private static long _activeCustomers;
    private static readonly ObservableUpDownCounter<long> ActiveCustomers = Meter.CreateObservableUpDownCounter(
        "loyalty.customers.active", () => Interlocked.Read(ref _activeCustomers), unit: "{customer}", description: "Customer grains active on this silo");

    private static readonly ObservableCounter<double> ProcessCpu = Meter.CreateObservableCounter(
        "process.cpu.time", () => System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds, unit: "s",
        description: "CPU time used by this silo's process (user + system)");


    public static void AccessRefused(string reason) => Refused.Add(1, new KeyValuePair<string, object?>("loyalty.reason", reason));

    public static void CustomerActivated() => Interlocked.Increment(ref _activeCustomers);

    public static void CustomerDeactivated() => Interlocked.Decrement(ref _activeCustomers);

    /// <summary>The source family of an event kind: shop, game, support or profile.</summary>
    public static string SourceOf(string kind) => kind switch
    {
        "purchase" or "refund" => "shop",
        "game_session" or "match_result" or "achievement" => "game",
        "support_case" => "support",
        "profile_update" => "profile",
        _ => "unknown",
    };

    public static void EventAnswered(string kind, string outcome, long points, IReadOnlyList<string> rewardKinds)
    {
        Events.Add(1, new KeyValuePair<string, object?>("loyalty.source", SourceOf(kind)), new KeyValuePair<string, object?>("loyalty.outcome", outcome));
        if (outcome == "applied")
        {
            if (points > 0)
            {
                PointsIssued.Add(points);
            }
            for (var i = 0; i < rewardKinds.Count; i++)   // per event: no enumerator object
            {
                RewardsGranted.Add(1, new KeyValuePair<string, object?>("loyalty.reward.kind", rewardKinds[i]));
            }
        }
    }

    public static void Published(string method, TimeSpan duration) =>
        PublishDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("rpc.method", method));

    public static void Redeemed(long points) => PointsRedeemed.Add(points);

    public static void Adjusted(long points)
    {
        if (points > 0)
        {
            PointsIssued.Add(points);
        }
    }

}

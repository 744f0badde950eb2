using System.Diagnostics.Metrics;

namespace Loyalty.Grains;

/// <summary>Engine metrics (OpenTelemetry naming); exported by the host.</summary>
public static class LoyaltyMetrics
{
    public const string MeterName = "Loyalty.Engine";
    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Events = Meter.CreateCounter<long>(
        "loyalty.events", unit: "{event}", description: "Events answered, by source (shop, game, support, profile) and outcome");
    private static readonly Histogram<double> PublishDuration = Meter.CreateHistogram<double>(
        "loyalty.publish.duration", unit: "s", description: "Time to answer a publish call (one event, a batch, or one event of a stream)");
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

    public static void EventAnswered(string kind, string outcome, long points, IEnumerable<string> rewardKinds)
    {
        Events.Add(1, new KeyValuePair<string, object?>("loyalty.source", SourceOf(kind)), new KeyValuePair<string, object?>("loyalty.outcome", outcome));
        if (outcome == "applied")
        {
            if (points > 0)
            {
                PointsIssued.Add(points);
            }
            foreach (var kindOfReward in rewardKinds)
            {
                RewardsGranted.Add(1, new KeyValuePair<string, object?>("loyalty.reward.kind", kindOfReward));
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

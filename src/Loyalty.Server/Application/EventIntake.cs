using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Grains;

namespace Loyalty.Server.Application;

/// <summary>
/// Events coming in, once for every front end (the gRPC ingestion service and the support console's case
/// resolutions): the grain call and the counting of every answered event in the metrics (source, outcome, points,
/// rewards) and the console's live view. So an event recorded in the console counts exactly as one sent to the API.
/// </summary>
public sealed class EventIntake(IGrainFactory grains, LiveActivity live)
{
    /// <summary>The event kind of a domain event (metrics, live view).</summary>
    public static string KindOf(LoyaltyEvent e) => e.Payload switch
    {
        Purchase => "purchase",
        Refund => "refund",
        GameSession => "game_session",
        MatchResult => "match_result",
        Achievement => "achievement",
        SupportCase => "support_case",
        ProfileUpdate => "profile_update",
        _ => "unknown",
    };

    /// <summary>Applies one validated event and counts its answer.</summary>
    public async Task<EventResult> ApplyAsync(LoyaltyEvent e)
    {
        var result = (await grains.Customer(e.CustomerId).Apply([e]))[0];
        Answered(KindOf(e), result.Outcome switch
        {
            EventOutcome.Applied => "applied",
            EventOutcome.Duplicate => "duplicate",
            EventOutcome.Rejected => "rejected",
            _ => "unknown",
        }, result.PointsDelta, result.Rewards.Select(r => r.Kind).ToList());
        return result;
    }

    /// <summary>Counts an answered event: <paramref name="outcome"/> is applied, duplicate, rejected or not_applied.</summary>
    public void Answered(string kind, string outcome, long points, IReadOnlyList<string> rewardKinds)
    {
        if (outcome == "applied")
        {
            live.Applied(kind, rewardKinds.Count);
        }
        LoyaltyMetrics.EventAnswered(kind, outcome, points, rewardKinds);
    }
}

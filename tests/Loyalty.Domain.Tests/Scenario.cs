using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

/// <summary>A customer's morning touching every kind of event, with fixed ids and times: the state it leaves
/// is the one stored in <c>golden/customer-state-v1.json</c>.</summary>
internal static class Scenario
{
    public const string CustomerId = "c-golden";

    private static LoyaltyEvent At(int minutesAgo, string id, EventPayload payload) => new()
    {
        EventId = id,
        CustomerId = CustomerId,
        OccurredAt = Sample.Now.AddMinutes(-minutesAgo),
        Source = "scenario",
        Payload = payload,
    };

    /// <summary>Points under the sample program at Bronze: 89 - 31 + 6 + 0 + 100 + 0 + 20 + 25 = 209.</summary>
    public static IReadOnlyList<LoyaltyEvent> Events { get; } =
    [
        // 25.00 x 2 + 3.99 x 2 + 20.99 x 1.5 = 89.465 -> 89 (lines: wheels 50, bib 8, ball 31)
        At(60, "evt-1", Buy("o-1", Line("stroller-wheel", "baby", 2, 1250), Line("bib", "baby", 1, 399), Line("ball", "sports", 1, 2099))),
        At(50, "evt-2", Refund("o-1", Line("ball", "sports", 1, 2099))),                    // -31
        At(40, "evt-3", Game(150, 3)),                                                      // 2 min x 3 = 6
        At(35, "evt-4", Support("k-1", SupportStatus.Opened, SupportChannel.Human)),        // 0
        At(30, "evt-5", Support("k-1", SupportStatus.Resolved, SupportChannel.Human, 4)),   // 100
        At(20, "evt-6", Profile(name: "Ada", birthYear: 1990, access: true, timeZone: "Europe/Paris")),  // 0
        At(15, "evt-7", Match(2, 8)),                                                       // 20
        At(10, "evt-8", Achieved("first-win")),                                             // 25
    ];

    public static (CustomerState State, List<EventResult> Results) Run()
    {
        var state = new CustomerState();
        var results = Events.Select(e => CustomerEngine.Apply(state, e, Sample.Program, Sample.Now, EngineLimits.Default)).ToList();
        return (state, results);
    }
}

using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;

namespace Loyalty.TestKit;

/// <summary>
/// Events that fill every bound of a customer's state with strings of the maximum length the API accepts:
/// the largest state a client can make the engine store.
/// </summary>
public static class WorstCase
{
    public static string Padded(string prefix, int i) => $"{prefix}-{i:D6}-".PadRight(128, 'x');

    public static string CustomerId(string seed) => ("worst-" + seed + "-").PadRight(128, 'w');

    public static List<LoyaltyEvent> Events(string customerId, DateTimeOffset now, EngineLimits limits)
    {
        var events = new List<LoyaltyEvent>();
        var source = Padded("source", 0);
        var total = limits.DedupeMaxIds + limits.OrdersKept + 2 * limits.OnceOnlyKept + limits.InteractionsKept;
        // Distinct occurred_at per event, all inside the dedupe window, so the dedupe table fills up.
        var start = now.AddSeconds(-total - 60);
        var n = 0;
        LoyaltyEvent Next(EventPayload payload) => new()
        {
            EventId = Padded("event", n),
            CustomerId = customerId,
            OccurredAt = start.AddSeconds(n++),
            Source = source,
            Payload = payload,
        };

        var linesPerOrder = Math.Max(1, limits.OrderLinesKept / limits.OrdersKept);
        for (var o = 0; o < limits.OrdersKept; o++)
        {
            var lines = Enumerable.Range(0, linesPerOrder)
                .Select(l => new LineItem(Padded("sku", o * 100 + l), Padded("category", o * 100 + l), 1_000, 1_000_000))
                .ToArray();
            events.Add(Next(new Purchase(Padded("order", o), "EUR", lines)));
        }
        for (var a = 0; a < limits.OnceOnlyKept; a++)
        {
            events.Add(Next(new Achievement(Padded("game", a), Padded("achievement", a))));
            events.Add(Next(new SupportCase(Padded("case", a), SupportStatus.Resolved, SupportChannel.Human, 5, 100, 1000)));
        }
        events.Add(Next(new ProfileUpdate(Padded("name", 0), 1950, true, "America/Argentina/ComodRivadavia")));
        while (n < total)
        {
            events.Add(Next(new GameSession(Padded("game", n), 86_400, 10, long.MaxValue)));
        }
        return events;
    }
}

using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;

namespace Loyalty.TestKit;

/// <summary>
/// Events that fill every bound of a customer's state with strings of the maximum length the API accepts, made of
/// a chosen filler (ASCII, CJK, characters JSON escapes, surrogate pairs): the largest state a client can make the
/// engine store.
/// </summary>
public static class WorstCase
{
    /// <summary>Fillers that cost the most bytes per character in stored JSON.</summary>
    public static readonly string[] Fillers = ["x", "中", "\"", "\\", "é", "😀", "\u00A0", "<"];

    public static string Padded(string prefix, int i, string fill = "x")
    {
        var text = $"{prefix}-{i:D6}-";
        while (text.Length + fill.Length <= EventValidator.MaxShortText)
        {
            text += fill;
        }
        // Ids may not end in a space (a no-break space filler still fills everything before the last character).
        return char.IsWhiteSpace(text[^1]) ? text[..^1] + "x" : text;
    }

    public static string CustomerId(string seed) => Padded("worst-" + seed, 0);

    public static List<LoyaltyEvent> Events(string customerId, DateTimeOffset now, EngineLimits limits, string fill = "x")
    {
        var events = new List<LoyaltyEvent>();
        var source = Padded("source", 0, fill);
        var total = limits.DedupeMaxIds + limits.OrdersKept + 2 * limits.OnceOnlyKept + limits.InteractionsKept;
        // Distinct occurred_at per event, all inside the dedupe window, so the dedupe table fills up.
        var start = now.AddSeconds(-total - 60);
        var n = 0;
        LoyaltyEvent Next(EventPayload payload) => new()
        {
            EventId = Padded("event", n, fill),
            CustomerId = customerId,
            OccurredAt = start.AddSeconds(n++),
            Source = source,
            Payload = payload,
        };

        var linesPerOrder = Math.Max(1, limits.OrderLinesKept / limits.OrdersKept);
        for (var o = 0; o < limits.OrdersKept; o++)
        {
            var lines = Enumerable.Range(0, linesPerOrder)
                .Select(l => new LineItem(Padded("sku", o * 100 + l, fill), Padded("category", o * 100 + l, fill), 1_000, 1_000_000))
                .ToArray();
            events.Add(Next(new Purchase(Padded("order", o, fill), "EUR", lines)));
        }
        for (var a = 0; a < limits.OnceOnlyKept; a++)
        {
            events.Add(Next(new Achievement(Padded("game", a, fill), Padded("achievement", a, fill))));
            events.Add(Next(new SupportCase(Padded("case", a, fill), SupportStatus.Resolved, SupportChannel.Human, 5, 100, 1000)));
        }
        events.Add(Next(new ProfileUpdate(Padded("name", 0, fill), 1950, true, "America/Argentina/ComodRivadavia")));
        while (n < total)
        {
            events.Add(Next(new GameSession(Padded("game", n, fill), 86_400, 10, long.MaxValue)));
        }
        return events;
    }
}

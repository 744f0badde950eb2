using Google.Protobuf.WellKnownTypes;
using Loyalty.Contracts.V1;

namespace Loyalty.Server.Tests;

internal static class Events
{
    public static string NewCustomer() => "c-" + Guid.NewGuid().ToString("N")[..12];

    public static Timestamp Now(int minutesOffset = 0) => Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(minutesOffset));

    public static Event Base(string customer, string? eventId = null) => new()
    {
        EventId = eventId ?? Guid.NewGuid().ToString("N"),
        CustomerId = customer,
        OccurredAt = Now(),
        Source = "test",
    };

    public static Event Purchase(string customer, string orderId, params LineItem[] lines)
    {
        var e = Base(customer);
        e.Purchase = new Purchase { OrderId = orderId, Currency = "EUR" };
        e.Purchase.Lines.AddRange(lines);
        return e;
    }

    public static LineItem Line(string sku, string category, int quantity, long unitPriceMinor) =>
        new() { Sku = sku, Category = category, Quantity = quantity, UnitPriceMinor = unitPriceMinor };

    public static Event Game(string customer, int minutes, int difficulty, string? eventId = null)
    {
        var e = Base(customer, eventId);
        e.GameSession = new GameSession { GameId = "chess", DurationSeconds = minutes * 60, Difficulty = difficulty, Score = 1 };
        return e;
    }

    public static Event Support(string customer, SupportStatus status, SupportChannel channel, int? satisfaction = null)
    {
        var e = Base(customer);
        e.SupportCase = new SupportCase { CaseId = "case-" + e.EventId[..6], Status = status, Channel = channel };
        if (satisfaction is { } rating)
        {
            e.SupportCase.Satisfaction = rating;
        }
        return e;
    }

    public static PublishRequest Req(Event e) => new() { Event = e };
}

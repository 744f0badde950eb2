using Loyalty.Domain.Events;

namespace Loyalty.Grains.Tests;

/// <summary>Builders for events at a given instant.</summary>
internal static class TestEvents
{
    public static string NewCustomer() => "c-" + Guid.NewGuid().ToString("N")[..12];

    public static LoyaltyEvent Game(string customer, string eventId, DateTimeOffset at, int minutes = 1, int difficulty = 1) => new()
    {
        EventId = eventId,
        CustomerId = customer,
        OccurredAt = at,
        Source = "game-server-1",
        Payload = new GameSession("chess", minutes * 60, difficulty, 100),
    };

    public static LoyaltyEvent Purchase(string customer, string eventId, DateTimeOffset at, string orderId, params LineItem[] lines) => new()
    {
        EventId = eventId,
        CustomerId = customer,
        OccurredAt = at,
        Source = "shop-eu-1",
        Payload = new Purchase(orderId, "EUR", lines),
    };
}

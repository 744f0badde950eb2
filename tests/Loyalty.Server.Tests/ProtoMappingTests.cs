using Loyalty.Server.Services;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Tests;

/// <summary>Events parsed off the wire share one instance of their few-valued text, which customers keep.</summary>
public sealed class ProtoMappingTests
{
    private static string Fresh(string text) => new(text.AsSpan());

    private static V1.Event Game(string id) => new()
    {
        EventId = id, CustomerId = "c-1", Source = Fresh("game-server-eu"),
        GameSession = new V1.GameSession { GameId = Fresh("arena"), DurationSeconds = 60, Difficulty = 1 },
    };

    private static V1.Event Purchase(string id)
    {
        var e = new V1.Event { EventId = id, CustomerId = "c-1", Source = Fresh("web-shop"), Purchase = new V1.Purchase { OrderId = id, Currency = Fresh("EUR") } };
        e.Purchase.Lines.Add(new V1.LineItem { Sku = Fresh("sku-1"), Category = Fresh("baby"), Quantity = 1, UnitPriceMinor = 100 });
        return e;
    }

    [Fact]
    public void Source_game_category_and_currency_are_shared_between_events()
    {
        var (g1, g2) = (ProtoMapping.ToDomain(Game("e-1")), ProtoMapping.ToDomain(Game("e-2")));
        Assert.Same(g1.Source, g2.Source);
        Assert.Same(((Domain.Events.GameSession)g1.Payload!).GameId, ((Domain.Events.GameSession)g2.Payload!).GameId);

        var (p1, p2) = (ProtoMapping.ToDomain(Purchase("o-1")), ProtoMapping.ToDomain(Purchase("o-2")));
        var (b1, b2) = ((Domain.Events.Purchase)p1.Payload!, (Domain.Events.Purchase)p2.Payload!);
        Assert.Same(p1.Source, p2.Source);
        Assert.Same(b1.Currency, b2.Currency);
        Assert.Same(b1.Lines[0].Category, b2.Lines[0].Category);
        Assert.Equal("baby", b1.Lines[0].Category);
        // Ids are not pooled: each event keeps its own.
        Assert.NotSame(b1.Lines[0].Sku, b2.Lines[0].Sku);
        Assert.Equal("web-shop", p2.Source);
    }
}

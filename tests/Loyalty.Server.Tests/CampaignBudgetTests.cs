using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>Scenario 6 end to end: the sample's launch campaign hands out exactly 1,000 gifts. Its own storage, so no
/// other test spends the budget.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
public sealed class CampaignBudgetTests : IAsyncLifetime
{
    private AzuriteProcess _azurite = null!;
    private ServerProcess _server = null!;

    public async Task InitializeAsync()
    {
        _azurite = await AzuriteProcess.StartAsync();
        _server = await ServerProcess.StartAsync(_azurite.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _azurite.DisposeAsync();
    }

    [Fact]
    public async Task The_launch_campaign_grants_exactly_1000_gifts_and_tells_the_rest_why_not()
    {
        var first = new PublishBatchRequest();
        for (var i = 0; i < 1000; i++)
        {
            first.Events.Add(Purchase(NewCustomer(), "o-1", Line("lamp", "home", 1, 2500))); // 25.00 >= 20.00
        }
        var granted = await _server.Ingestion.PublishBatchAsync(first);
        var gifts = granted.Results.SelectMany(r => r.Rewards).Where(g => g.RewardId == "launch-gift").ToList();
        Assert.Equal(1000, gifts.Count);
        Assert.All(gifts, g =>
        {
            Assert.Equal((500L, "coupon", "launch-campaign"), (g.ValueMinor, g.Kind, g.RuleId));
            Assert.Matches("^LAUNCH-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$", g.Code);
        });
        Assert.Equal(1000, gifts.Select(g => g.Code).Distinct().Count());
        Assert.All(granted.Results, r => Assert.Equal(25, r.PointsDelta));

        var late = await _server.Ingestion.PublishAsync(Req(Purchase(NewCustomer(), "o-1", Line("lamp", "home", 1, 2500))));
        Assert.Equal(Outcome.Applied, late.Outcome);
        Assert.Equal(25, late.PointsDelta);
        Assert.DoesNotContain(late.Rewards, g => g.RewardId == "launch-gift");
        var decline = Assert.Single(late.Declined);
        Assert.Equal(("launch-campaign", "the campaign budget of 1000 grants is used up"), (decline.RuleId, decline.Reason));
    }
}

using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;
using Loyalty.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Loyalty.Grains.Tests;

/// <summary>Two silos, the sample program (its launch campaign has a budget of 1,000 grants), memory storage.</summary>
public sealed class TwoSiloFixture : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public ActiveProgram Program { get; } = ProgramLoader.LoadFile(RepoPaths.SampleProgram);

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureHost(host => host.Services.AddLoyaltySerialization());
        builder.ConfigureSilo((_, silo) => silo.AddLoyalty(Program, new LoyaltyStorageOptions { Provider = "Memory" }));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

public sealed class BudgetTests(TwoSiloFixture fixture) : IClassFixture<TwoSiloFixture>
{
    [Fact]
    public async Task Five_thousand_qualifying_customers_on_two_silos_get_exactly_the_1000_grants_of_the_budget()
    {
        var now = DateTimeOffset.UtcNow;
        var customers = Enumerable.Range(0, 5000).Select(i => $"budget-{i:D5}-{Guid.NewGuid():N}"[..24]).ToArray();
        using var gate = new SemaphoreSlim(64);
        var results = await Task.WhenAll(customers.Select(async c =>
        {
            await gate.WaitAsync();
            try
            {
                var e = new LoyaltyEvent
                {
                    EventId = "order-1", CustomerId = c, OccurredAt = now, Source = "shop",
                    Payload = new Purchase("o-1", "EUR", [new LineItem("tv", "electronics", 1, 2500)]),
                };
                return (await fixture.Cluster.Client.GetGrain<ICustomerGrain>(c).Apply([e]))[0];
            }
            finally
            {
                gate.Release();
            }
        }));

        Assert.All(results, r => Assert.Equal(EventOutcome.Applied, r.Outcome));
        var granted = results.Count(r => r.Rewards.Any(g => g.RewardId == "launch-gift"));
        Assert.Equal(1000, granted);
        var declined = results.Where(r => r.Declined.Any(d => d.RuleId == "launch-campaign")).ToList();
        Assert.Equal(4000, declined.Count);
        Assert.All(declined, r => Assert.Contains("campaign budget of 1000 grants is used up", r.Declined[0].Reason, StringComparison.Ordinal));
        Assert.All(results, r => Assert.Equal(25, r.PointsDelta)); // the budget never touches base points

        // Both silos spent units from their own leases; the budget grain never leased more than the limit.
        var silos = fixture.Cluster.Silos.ToList();
        Assert.Equal(2, silos.Count);
        var used = silos.Select(s => fixture.Cluster.GetSiloServiceProvider(s.SiloAddress).GetRequiredService<BudgetLeases>().Used.Values.Sum()).ToList();
        Assert.All(used, u => Assert.True(u > 0, $"a silo spent no budget: {string.Join(", ", used)}"));
        Assert.Equal(1000, used.Sum());
        var key = Loyalty.Domain.Rules.RuleEngine.BudgetKey(fixture.Program, fixture.Program.Definition.Rules.Single(r => r.Id == "launch-campaign"), now, "grants");
        var status = await fixture.Cluster.Client.GetGrain<IBudgetGrain>(key).Status();
        Assert.Equal((1000L, 1000L), (status.Leased, status.Limit));
    }
}

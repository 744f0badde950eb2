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
    public async Task Twice_as_many_qualifying_customers_as_grants_on_two_silos_get_exactly_the_1000_grants_of_the_budget()
    {
        var now = DateTimeOffset.UtcNow;
        var customers = Enumerable.Range(0, 2000).Select(i => $"budget-{i:D5}-{Guid.NewGuid():N}"[..24]).ToArray();
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
        Assert.Equal(customers.Length - 1000, declined.Count);
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

/// <summary>The silo's local budget leases against a budget grain that answers at once (as a fast store or a local
/// call can: the answer completes before the caller awaits it).</summary>
public sealed class BudgetLeaseTests
{
    [Fact]
    public async Task A_budget_grain_that_answers_synchronously_refills_the_lease_and_never_spins()
    {
        var budget = new InstantBudget(limit: 200);
        var leases = new BudgetLeases(InstantGrains.For(budget), Microsoft.Extensions.Logging.Abstractions.NullLogger<BudgetLeases>.Instance);
        // 100 units need several refills (the grain hands out at most a quarter of what is left, and 32 at a time is
        // asked for): each must start anew. Before, the first refill's finished task stayed current and this spun.
        // (On a pool thread: a spinning reservation never returns to its caller.)
        var reserve = Task.Run(() => leases.ReserveAsync("k", 100, 200));
        Assert.Same(reserve, await Task.WhenAny(reserve, Task.Delay(TimeSpan.FromSeconds(10))));
        Assert.True(await reserve);
        Assert.Equal(3, budget.Calls);   // 50 + 37 + 28 units
        // Until the budget is spent, then refused (not spinning) for good measure.
        var all = Task.Run(() => leases.ReserveAsync("k", 2000, 200));
        Assert.Same(all, await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(10))));
        Assert.False(await all);
        Assert.Equal(100, leases.Used["k"]);
    }

    [Fact]
    public async Task A_budget_grain_that_fails_synchronously_fails_the_reservation_and_the_next_one_asks_again()
    {
        var budget = new InstantBudget(limit: 1000) { FailNext = true };
        var leases = new BudgetLeases(InstantGrains.For(budget), Microsoft.Extensions.Logging.Abstractions.NullLogger<BudgetLeases>.Instance);
        await Assert.ThrowsAsync<InvalidOperationException>(() => leases.ReserveAsync("k", 10, 1000));
        // The failed refill is not left behind as the current one: the next reservation asks the grain again.
        Assert.True(await leases.ReserveAsync("k", 10, 1000));
    }

    private sealed class InstantBudget(long limit) : IBudgetGrain
    {
        private long _leased;
        public int Calls;
        public bool FailNext;

        public Task<long> Lease(long want, long limit1)
        {
            Calls++;
            if (FailNext)
            {
                FailNext = false;
                return Task.FromException<long>(new InvalidOperationException("storage said no"));
            }
            var remaining = limit - _leased;
            var grant = remaining <= 0 ? 0 : Math.Min(want, Math.Max(1, remaining / 4));
            _leased += grant;
            return Task.FromResult(grant);
        }

        public Task Return(long units) => Task.CompletedTask;

        public Task<BudgetStatus> Status() => Task.FromResult(new BudgetStatus(_leased, limit));
    }

    /// <summary>An IGrainFactory whose every GetGrain answers the one budget grain given.</summary>
    public class InstantGrains : System.Reflection.DispatchProxy
    {
        private IBudgetGrain _budget = null!;

        public static IGrainFactory For(IBudgetGrain budget)
        {
            var factory = Create<IGrainFactory, InstantGrains>();
            ((InstantGrains)(object)factory)._budget = budget;
            return factory;
        }

        protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args) =>
            targetMethod?.Name == nameof(IGrainFactory.GetGrain) ? _budget : throw new NotSupportedException(targetMethod?.Name);
    }
}

using System.Collections.Concurrent;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.TestingHost;
using Xunit.Abstractions;
using static Loyalty.Grains.Tests.TestEvents;

namespace Loyalty.Grains.Tests;

/// <summary>Three silos on a real Azurite, membership tuned to notice a killed silo within seconds, and a program with
/// a return window, expiry and negative balances after refunds of spent points.</summary>
public sealed class ChaosClusterFixture : AzuriteClusterFixture
{
    protected override int SiloCount => 3;

    protected override ActiveProgram LoadProgram() =>
        DueWorkClusterFixture.ProgramWithPoints("""{ "pendingDays": 2, "refundAfterSpend": "negative", "expiry": { "policy": "rolling", "months": 1 } }""");

    protected override void ConfigureSilo(ISiloBuilder silo) =>
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromMilliseconds(500);
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 1;
            o.TableRefreshTimeout = TimeSpan.FromSeconds(1);
        });

    protected override void ConfigureBuilder(InProcessTestClusterBuilder builder) =>
        builder.ConfigureClient(client => client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5)));
}

/// <summary>Conservation under chaos: random traffic on 200 customers (purchases, refunds, games, redemptions,
/// reservations, adjustments, erasures; pending points activate and lots expire as the clock runs) while silos are killed
/// and new ones start; every operation is retried with its own id until acknowledged, as a client must. Afterwards the
/// books are exact, and the points-liability totals equal the sum over every customer.</summary>
[Trait("Needs", "Azurite")]
public sealed class ChaosTests(ChaosClusterFixture fixture, ITestOutputHelper output) : IClassFixture<ChaosClusterFixture>
{
    private sealed record Acked(string Key, long Delta);

    [Fact]
    public async Task Points_are_conserved_while_silos_are_killed_and_restarted()
    {
        var customers = Enumerable.Range(0, 200).Select(i => $"chaos-{Guid.NewGuid():N}"[..20] + i).ToArray();
        var acked = new ConcurrentDictionary<string, ConcurrentBag<Acked>>();
        var orders = new ConcurrentDictionary<string, ConcurrentBag<string>>();
        var retries = 0;
        var erased = new ConcurrentDictionary<string, bool>();
        var stop = new CancellationTokenSource();
        var seq = 0;

        // A client retries until acknowledged, but not forever: a customer that answers nothing for a minute while
        // silos come and go is stuck (as with a deadlock), and the test says so rather than waiting for good.
        async Task<T> UntilAcknowledged<T>(Func<Task<T>> call)
        {
            var giveUp = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                try
                {
                    return await call();
                }
                catch (Exception ex) when ((ex is OrleansException or TimeoutException or EventsNotCommittedException or OperationCanceledException
                    or ObjectDisposedException or InvalidOperationException) && DateTime.UtcNow < giveUp)
                {
                    Interlocked.Increment(ref retries);
                    await Task.Delay(50);
                }
            }
        }

        async Task Worker(int worker)
        {
            var random = new Random(worker);
            while (!stop.IsCancellationRequested)
            {
                var customer = customers[random.Next(customers.Length)];
                var grain = fixture.Client.GetGrain<ICustomerGrain>(customer);
                var n = Interlocked.Increment(ref seq);
                var now = fixture.Time.GetUtcNow();
                var record = acked.GetOrAdd(customer, _ => []);
                switch (random.Next(8))
                {
                    case 0 or 1:
                    {
                        var order = $"o-{n}";
                        var e = Purchase(customer, $"e-{n}", now, order, new LineItem("bib", "baby", random.Next(1, 4), random.Next(100, 20_000)),
                            new LineItem("ball", "sports", 1, 999));
                        var r = (await UntilAcknowledged(() => grain.Apply([e]).AsTask()))[0];
                        record.Add(new Acked(e.EventId, r.PointsDelta));
                        if (r.Outcome != EventOutcome.Rejected)
                        {
                            orders.GetOrAdd(customer, _ => []).Add(order);
                        }
                        break;
                    }
                    case 2:
                    {
                        var e = Game(customer, $"e-{n}", now, minutes: random.Next(1, 120), difficulty: random.Next(1, 4));
                        var r = (await UntilAcknowledged(() => grain.Apply([e]).AsTask()))[0];
                        record.Add(new Acked(e.EventId, r.PointsDelta));
                        break;
                    }
                    case 3 when orders.TryGetValue(customer, out var bought) && !bought.IsEmpty:
                    {
                        var order = bought.ElementAt(random.Next(bought.Count));
                        var e = new LoyaltyEvent
                        {
                            EventId = $"e-{n}", CustomerId = customer, OccurredAt = now, Source = "shop",
                            Payload = new Refund(order, [new LineItem("bib", "baby", 1, 1)]),
                        };
                        var r = (await UntilAcknowledged(() => grain.Apply([e]).AsTask()))[0];
                        record.Add(new Acked(e.EventId, r.PointsDelta));
                        break;
                    }
                    case 4:
                    {
                        var r = await UntilAcknowledged(() => grain.Redeem($"r-{n}", "free-shipping"));
                        if (r is not null)
                        {
                            record.Add(new Acked($"redeem/r-{n}", r.PointsDelta));
                        }
                        break;
                    }
                    case 6:
                    {
                        // A reservation: held points stay in the balance (and the liability) until confirmed or lapsed.
                        await UntilAcknowledged(() => grain.Reserve($"h-{n}", random.Next(1, 30), TimeSpan.FromHours(random.Next(1, 24))));
                        break;
                    }
                    case 7 when random.Next(40) == 0:
                    {
                        // Erasure removes the customer's points from the liability; later traffic may create them anew.
                        // Their acknowledged operations are no longer checked one by one.
                        erased[customer] = true;
                        await UntilAcknowledged(grain.Erase);
                        break;
                    }
                    default:
                    {
                        var points = random.Next(-100, 200);
                        var r = await UntilAcknowledged(() => grain.Adjust($"a-{n}", points == 0 ? 1 : points, "chaos"));
                        if (r is not null)
                        {
                            record.Add(new Acked($"adjust/a-{n}", r.PointsDelta));
                        }
                        break;
                    }
                }
            }
        }

        var workers = Enumerable.Range(0, 16).Select(w => Task.Run(() => Worker(w))).ToArray();
        // The clock runs fast (12 hours every 250 ms): pending points activate and lots expire during the run.
        var clock = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(250);
                fixture.Time.Advance(TimeSpan.FromHours(12));
            }
        });
        // Traffic flows for a while and for a number of operations before each step: the cores are shared with the other
        // test assemblies, and on a busy machine a fixed delay alone may see hardly any traffic.
        async Task Flow(TimeSpan atLeast, int operations)
        {
            var from = Volatile.Read(ref seq);
            var until = DateTime.UtcNow + atLeast;
            var cap = DateTime.UtcNow.AddSeconds(30);
            while ((DateTime.UtcNow < until || Volatile.Read(ref seq) - from < operations) && DateTime.UtcNow < cap)
            {
                await Task.Delay(100);
            }
        }
        var killed = 0;
        var joined = new List<string>();
        for (var round = 0; round < 3; round++)
        {
            await Flow(TimeSpan.FromSeconds(3), 400);
            var victims = fixture.Cluster.GetActiveSilos().Skip(1).ToList();
            var victim = victims[round % victims.Count];
            if (round == 1)
            {
                // A graceful stop: the silo leaves the cluster and its customers move on.
                output.WriteLine($"stopping {victim.SiloAddress} gracefully at {seq} operations");
                await fixture.Cluster.StopSiloAsync(victim);
            }
            else
            {
                output.WriteLine($"killing {victim.SiloAddress} at {seq} operations");
                await fixture.Cluster.KillSiloAsync(victim);
            }
            killed++;
            await Flow(TimeSpan.FromSeconds(1.5), 100);
            var started = await fixture.Cluster.StartAdditionalSiloAsync();
            joined.Add(started.SiloAddress.ToString());
            output.WriteLine($"started {started.SiloAddress}");
        }
        await Flow(TimeSpan.FromSeconds(2), 300);
        stop.Cancel();
        await Task.WhenAll(workers);
        await clock;

        // Check every customer: the ledger adds up to the balance, every acknowledged operation is there exactly
        // with the points it reported, and nothing else is.
        long operations = 0, entries = 0;
        // Forty days on: every lot earned early in the run expires and every pending point activates as customers
        // catch up below, so the totals are checked after expiry and activation too.
        fixture.Time.Advance(TimeSpan.FromDays(40));
        // The liability report must equal the sum over every customer exactly, a killed silo's journal included.
        var sums = new LiabilityTotals();
        var expiring = new Dictionary<int, long>();
        foreach (var customer in customers)
        {
            var grain = fixture.Client.GetGrain<ICustomerGrain>(customer);
            await UntilAcknowledged(async () => { await grain.CatchUp(); return true; });
            if (await UntilAcknowledged(grain.Get) is not { } seen)
            {
                continue;
            }
            sums.Customers++;
            sums.Available += seen.Summary.PointsAvailable;
            sums.Pending += seen.Summary.PointsPending;
            sums.CustomersWithBalance += seen.Summary.PointsAvailable > 0 || seen.Summary.PointsPending > 0 ? 1 : 0;
            var tier = sums.Tiers.TryGetValue(seen.Summary.Tier, out var t) ? t : sums.Tiers[seen.Summary.Tier] = new TierLiability();
            tier.Customers++;
            tier.Available += seen.Summary.PointsAvailable;
            tier.Pending += seen.Summary.PointsPending;
            var exported = System.Text.Json.JsonSerializer.Deserialize<CustomerState>(System.Text.Json.Nodes.JsonNode.Parse((await UntilAcknowledged(grain.Export))!)!["state"]!.ToJsonString(), Loyalty.Domain.DomainJson.Options)!;
            foreach (var lot in exported.Lots.Where(l => !l.IsPending && l.ExpiresTicks != 0))
            {
                var month = LiabilityTotals.MonthOf(lot.ExpiresTicks);
                expiring[month] = expiring.GetValueOrDefault(month) + lot.Points;
            }
            Assert.Equal(seen.Expiring.Sum(x => x.Points), exported.Lots.Where(l => !l.IsPending && l.ExpiresTicks > fixture.Time.GetUtcNow().UtcTicks
                && l.ExpiresTicks <= fixture.Time.GetUtcNow().AddDays(30).UtcTicks).Sum(l => l.Points));
        }
        foreach (var customer in customers)
        {
            if (!acked.TryGetValue(customer, out var ops) || erased.ContainsKey(customer))
            {
                continue;
            }
            var grain = fixture.Client.GetGrain<ICustomerGrain>(customer);
            var view = await UntilAcknowledged(grain.Get);
            if (view is null)
            {
                Assert.All(ops, o => Assert.Equal(0, o.Delta));
                continue;
            }
            var ledger = new List<LedgerEntry>();
            string? token = null;
            do
            {
                var page = (await UntilAcknowledged(() => grain.ListLedger(1000, token)))!;
                ledger.AddRange(page.Entries);
                token = page.NextPageToken;
            }
            while (!string.IsNullOrEmpty(token));

            Assert.Equal(ledger.Count, ledger.Select(e => e.Sequence).Distinct().Count());
            // The ledger is complete: 1, 2, 3... with no gap (archived entries included).
            var missing = Enumerable.Range(1, ledger.Count == 0 ? 0 : (int)ledger.Max(e => e.Sequence)).Select(i => (long)i).Except(ledger.Select(e => e.Sequence)).ToList();
            Assert.True(missing.Count == 0, $"{customer}: ledger sequences missing: {string.Join(",", missing.Take(20))} of {ledger.Count}");
            var ordered = ledger.OrderBy(e => e.Sequence).ToList();
            for (var i = 1; i < ordered.Count; i++)
            {
                Assert.True(ordered[i].BalanceAfter == ordered[i - 1].BalanceAfter + ordered[i].Total,
                    $"{customer}: entry {ordered[i]} does not follow {ordered[i - 1]}; earlier: {string.Join(" | ", ordered.Skip(Math.Max(0, i - 4)).Take(4))}");
            }
            Assert.Equal(view.Summary.PointsAvailable + view.Summary.PointsPending, ledger.Sum(e => e.Total));
            var byKey = ledger.Where(e => e.EventKey.Length > 0).GroupBy(e => e.EventKey).ToDictionary(g => g.Key, g => g.Sum(e => e.Total));
            var expected = ops.Where(o => o.Delta != 0).ToDictionary(o => StoredKey.Of(o.Key), o => o.Delta);
            Assert.Equal(expected.OrderBy(kv => kv.Key), byKey.Where(kv => kv.Value != 0).OrderBy(kv => kv.Key));
            operations += ops.Count;
            entries += ledger.Count;
        }
        // The silos that joined during the run took load: customers are active on them.
        var locations = await Task.WhenAll(customers.Select(c => UntilAcknowledged(() => fixture.Client.GetGrain<ICustomerGrain>(c).Location())));
        var onNew = locations.Count(l => joined.Any(j => l.Contains(j.Split(':')[1] + ":" + j.Split(':')[2], StringComparison.Ordinal)));
        output.WriteLine($"{operations} acknowledged operations, {entries} ledger entries, {retries} retried calls, {killed} silos killed or stopped; {onNew} of {customers.Length} customers on silos that joined during the run");
        Assert.True(onNew > 0, "no customer is on a silo that joined during the run");
        Assert.True(operations > 500, $"only {operations} operations ran");
        Assert.True(retries > 0, "no call failed: the kills did not hit the traffic");

        var report = await UntilAcknowledged(() => fixture.Client.GetGrain<ILiabilityGrain>(0).Totals());
        output.WriteLine($"liability: {report.Customers} customers, {report.Available} available, {report.Pending} pending; {erased.Count} erased during the run");
        Assert.Equal(sums.Customers, report.Customers);
        Assert.Equal(sums.Available, report.Available);
        Assert.Equal(sums.Pending, report.Pending);
        Assert.Equal(sums.CustomersWithBalance, report.CustomersWithBalance);
        Assert.Equal(sums.Tiers.ToDictionary(x => x.Key, x => (x.Value.Customers, x.Value.Available, x.Value.Pending)),
            report.Tiers.ToDictionary(x => x.Key, x => (x.Value.Customers, x.Value.Available, x.Value.Pending)));
        Assert.Equal(expiring.Where(e => e.Value != 0).OrderBy(e => e.Key), report.Expiring.OrderBy(e => e.Key));
        // Every movement but activations adds up to what is outstanding.
        Assert.Equal(report.Available + report.Pending, report.Days.Values.Sum(d => d.Where((_, k) => k != (int)LiabilityFlow.Activated).Sum()));
        Assert.True(erased.IsEmpty || report.Days.Values.Sum(d => d[(int)LiabilityFlow.Erased]) <= 0);
        Assert.True(report.Days.Values.Sum(d => d[(int)LiabilityFlow.Expired]) < 0, "no points expired");
        Assert.True(report.Days.Values.Sum(d => d[(int)LiabilityFlow.Activated]) > 0, "no pending points activated");
        Assert.Equal(0, report.Pending);

    }
}

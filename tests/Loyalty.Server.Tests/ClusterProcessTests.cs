using Grpc.Core;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using Xunit.Abstractions;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>Three engine processes forming one cluster through Azure Table membership on Azurite; load across all
/// three; one is killed with SIGKILL mid-run. Every event ends applied exactly once.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[RunsForAbout(50)]
public sealed class ClusterProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private AzuriteProcess _azurite = null!;
    private readonly List<ServerProcess> _silos = [];

    public async Task InitializeAsync() => _azurite = await AzuriteProcess.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var silo in _silos)
        {
            await silo.DisposeAsync();
        }
        await _azurite.DisposeAsync();
    }

    [Fact]
    public async Task Three_silos_on_azure_table_membership_lose_nothing_when_one_is_killed_under_load()
    {
        var clusterId = "it-" + Guid.NewGuid().ToString("N")[..8];
        Dictionary<string, string> Settings() => new()
        {
            ["Cluster__Provider"] = "AzureTable",
            ["Cluster__ClusterId"] = clusterId,
            ["Cluster__ServiceId"] = "loyalty-it",
        };
        _silos.AddRange(await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => ServerProcess.StartAsync(_azurite.ConnectionString, Settings()))));

        // Every silo sees the others: a customer answers from any of them.
        var probe = NewCustomer();
        await _silos[0].Ingestion.PublishAsync(new PublishRequest { Event = Game(probe, 2, 1) });
        foreach (var silo in _silos)
        {
            Assert.Equal(2, (await silo.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = probe })).Summary.PointsAvailable);
        }

        var customers = Enumerable.Range(0, 100).Select(_ => NewCustomer()).ToList();
        var sent = new List<Event>();
        var retries = 0;
        var next = 0;
        async Task<PublishBatchResponse> Send(PublishBatchRequest batch)
        {
            while (true)
            {
                var alive = _silos.Where(s => !s.HasExited).ToList();
                var silo = alive[Interlocked.Increment(ref next) % alive.Count];
                try
                {
                    var response = await silo.Ingestion.PublishBatchAsync(batch, deadline: DateTime.UtcNow.AddSeconds(10));
                    if (response.Results.All(r => r.Outcome is Outcome.Applied or Outcome.Duplicate))
                    {
                        return response;
                    }
                }
                catch (RpcException)
                {
                }
                Interlocked.Increment(ref retries);   // same event ids: a retry is safe
                await Task.Delay(200);
            }
        }

        var random = new Random(7);
        var killedAt = -1;
        for (var round = 0; round < 60; round++)
        {
            var batch = new PublishBatchRequest();
            for (var i = 0; i < 50; i++)
            {
                var e = Game(customers[random.Next(customers.Count)], 1 + random.Next(3), 1);
                batch.Events.Add(e);
                sent.Add(e);
            }
            await Send(batch);
            if (round == 20)
            {
                killedAt = sent.Count;
                output.WriteLine($"kill -9 silo pid {_silos[1].Pid} after {sent.Count} events");
                await _silos[1].KillAsync();
            }
        }

        foreach (var customer in customers)
        {
            var expected = sent.Where(e => e.CustomerId == customer).ToList();
            if (expected.Count == 0)
            {
                continue;
            }
            var view = await _silos[0].Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = customer });
            Assert.Equal(expected.Sum(e => (long)(e.GameSession.DurationSeconds / 60)), view.Summary.PointsAvailable);
            Assert.Equal(expected.Count, view.EventsApplied);
        }
        // The CLI balances over a list of silos and retries UNAVAILABLE elsewhere: the dead silo in the list is harmless.
        var all = string.Join(",", _silos.Select(s => s.Address));
        for (var i = 0; i < 6; i++)
        {
            var published = await CliRunner.RunAsync(all, "publish", "game-session", "-c", probe, "--game", "chess", "--minutes", "1", "--difficulty", "1");
            Assert.True(published.Exit == 0, published.Out + published.Err);
        }
        var show = await CliRunner.RunAsync(all, "customer", "show", probe);
        Assert.Contains("8 available", show.Out, StringComparison.Ordinal);
        output.WriteLine($"{sent.Count} events across 3 silos, silo 2 killed after {killedAt}; {retries} batches retried; every customer's total exact");
        Assert.True(retries > 0, "the kill did not touch the load");
    }

    [Fact]
    public async Task The_console_live_view_of_any_silo_counts_the_events_every_silo_answered()
    {
        var clusterId = "live-" + Guid.NewGuid().ToString("N")[..8];
        var settings = new Dictionary<string, string>
        {
            ["Cluster__Provider"] = "AzureTable",
            ["Cluster__ClusterId"] = clusterId,
            ["Cluster__ServiceId"] = "loyalty-live",
        };
        _silos.AddRange(await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => ServerProcess.StartAsync(_azurite.ConnectionString, settings))));
        var batch = new PublishBatchRequest();
        for (var i = 0; i < 10; i++)
        {
            var id = NewCustomer();
            batch.Events.Add(Purchase(id, "o-1", Line("ball", "sports", 1, 1999)));
            batch.Events.Add(Game(id, 5, 1));
            batch.Events.Add(Support(id, SupportStatus.Resolved, SupportChannel.Human, 5));
        }
        Assert.All((await _silos[0].Ingestion.PublishBatchAsync(batch)).Results, r => Assert.Equal(Outcome.Applied, r.Outcome));

        // Silo 1 answered none of them; its live view must still show all of them (silo 0's report), within seconds.
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add(Loyalty.Contracts.ApiKeys.Header, TestKeys.Admin.Key);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        string seen;
        while (true)
        {
            seen = await http.GetStringAsync($"{_silos[1].OperatorAddress}/console/api/live?seconds=120");
            var live = System.Text.Json.JsonDocument.Parse(seen).RootElement;
            long Sum(string source) => live.GetProperty("seconds").EnumerateArray().Sum(s => s.GetProperty(source).GetInt64());
            if (live.GetProperty("silos").GetArrayLength() == 2 && Sum("shop") == 10 && Sum("game") == 10 && Sum("support") == 10)
            {
                Assert.True(live.GetProperty("complete").GetBoolean());
                Assert.True(live.GetProperty("minutes").EnumerateArray().Sum(m => m.GetProperty("rewards").GetInt64()) >= 10);   // 10 thank-you coupons at least
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, "silo 1 never showed silo 0's events: " + seen);
            await Task.Delay(500);
        }
        output.WriteLine(seen.Length > 400 ? seen[..400] : seen);
    }
}

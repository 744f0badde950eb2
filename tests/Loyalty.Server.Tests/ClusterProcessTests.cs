using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using Xunit.Abstractions;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>Engine processes forming one cluster through Azure Table membership on Azurite, seen from the console. (Silos
/// killed under load: <see cref="ClusterChaosTests"/>.)</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[RunsForAbout(15)]
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

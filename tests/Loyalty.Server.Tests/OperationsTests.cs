using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Grpc.Health.V1;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using Xunit.Abstractions;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>Health, readiness and metrics on the operator port of a real engine process on Azurite.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[RunsForAbout(20)]
public sealed partial class OperationsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private AzuriteProcess _azurite = null!;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    public async Task InitializeAsync() => _azurite = await AzuriteProcess.StartAsync();

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _azurite.DisposeAsync();
    }

    private async Task<(HttpStatusCode? Status, string Body)> Get(string url)
    {
        try
        {
            using var response = await _http.GetAsync(url);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        catch (HttpRequestException e)
        {
            return (null, e.Message);   // not listening (yet, or any more)
        }
        catch (TaskCanceledException e)
        {
            return (null, e.Message);
        }
    }

    [Fact]
    public async Task Readyz_is_false_until_the_silo_has_joined_true_while_serving_and_false_during_shutdown_and_grpc_health_follows()
    {
        var server = ServerProcess.Launch(_azurite.ConnectionString);
        await using var _ = server;
        var ready = $"{server.OperatorAddress}/readyz";

        // From the launch: not ready (or not listening) until the silo is active in the cluster, then ready.
        var seen = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var (status, body) = await Get(ready);
            seen.Add(status is null ? "down" : $"{(int)status}: {body}");
            if (status == HttpStatusCode.OK)
            {
                break;
            }
            await Task.Delay(20);
        }
        output.WriteLine(string.Join("\n", seen.Distinct()));
        Assert.StartsWith("200: ready", seen[^1], StringComparison.Ordinal);
        // Before that, every answer was "not ready" (the operator port may also open only once the silo is active,
        // in which case the first answer is already ready: there is no window in which it claims readiness early).
        Assert.All(seen.Where(s => s != "down").SkipLast(1), s => Assert.True(
            s.StartsWith("503: not ready: silo is", StringComparison.Ordinal) || s.StartsWith("503: not ready: the active program", StringComparison.Ordinal), s));
        Assert.Contains("active", seen[^1], StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode.OK, "live"), await Get($"{server.OperatorAddress}/healthz"));

        // gRPC health answers from the check published every second: SERVING within a publish period of /readyz.
        var health = new Health.HealthClient(server.Channel);
        var grpcStatus = HealthCheckResponse.Types.ServingStatus.Unknown;
        deadline = DateTime.UtcNow.AddSeconds(5);
        while (DateTime.UtcNow < deadline && grpcStatus != HealthCheckResponse.Types.ServingStatus.Serving)
        {
            grpcStatus = (await health.CheckAsync(new HealthCheckRequest())).Status;
            await Task.Delay(50);
        }
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, grpcStatus);

        // SIGTERM: not ready (and NOT_SERVING) while the silo leaves, then gone.
        server.Terminate();
        var during = new List<string>();
        var grpc = new List<string>();
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !server.HasExited)
        {
            var (status, body) = await Get(ready);
            during.Add(status is null ? "down" : $"{(int)status}: {body}");
            try
            {
                grpc.Add((await health.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(1))).Status.ToString());
            }
            catch (Grpc.Core.RpcException e)
            {
                grpc.Add(e.StatusCode.ToString());
            }
            if (status is null)
            {
                break;
            }
            await Task.Delay(10);
        }
        output.WriteLine(string.Join("\n", during.Distinct()) + "\n" + string.Join(", ", grpc.Distinct()));
        Assert.Contains(during, s => s.StartsWith("503: not ready: shutting down", StringComparison.Ordinal));
        Assert.DoesNotContain(during.SkipWhile(s => !s.StartsWith("503", StringComparison.Ordinal)), s => s.StartsWith("200", StringComparison.Ordinal));
        Assert.Contains("NotServing", grpc);
    }

    [Fact]
    public async Task Readyz_is_false_while_storage_does_not_answer()
    {
        await using var server = await ServerProcess.StartAsync(_azurite.ConnectionString);
        var ready = $"{server.OperatorAddress}/readyz";
        Assert.Equal(HttpStatusCode.OK, (await Get(ready)).Status);
        await _azurite.StopGracefullyAsync();
        await Task.Delay(2500);   // readiness caches the storage answer for 2 s
        var (status, body) = await Get(ready);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("storage does not answer", body);
        // Liveness is about the process, not its dependencies.
        Assert.Equal(HttpStatusCode.OK, (await Get($"{server.OperatorAddress}/healthz")).Status);
    }

    [Fact]
    public async Task Metrics_scraped_after_a_load_run_show_the_counts_that_were_sent()
    {
        await using var server = await ServerProcess.StartAsync(_azurite.ConnectionString);
        var ids = Enumerable.Range(0, 20).Select(_ => NewCustomer()).ToList();
        long points = 0;
        var batch = new PublishBatchRequest();
        for (var i = 0; i < 200; i++)
        {
            batch.Events.Add(Game(ids[i % 20], 1 + i % 4, 1));
        }
        var games = await server.Ingestion.PublishBatchAsync(batch);
        points += games.Results.Sum(r => r.PointsDelta);
        for (var i = 0; i < 10; i++)
        {
            var r = await server.Ingestion.PublishAsync(new PublishRequest { Event = Purchase(ids[i], $"o-{i}", Line("bib", "baby", 1, 1000)) });
            points += r.PointsDelta;
        }
        var bad = Game(ids[0], 1, 1);
        bad.GameSession.Difficulty = 0;
        await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => server.Ingestion.PublishAsync(new PublishRequest { Event = bad }).ResponseAsync);
        await Task.Delay(1000);   // the exporter caches a scrape briefly

        // Metrics need an admin key (header or bearer token, as Prometheus sends it); health and readiness do not.
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get($"{server.OperatorAddress}/metrics")).Status);
        var reader = Loyalty.Contracts.ApiKeys.Create("reader");
        using (var stranger = new HttpRequestMessage(HttpMethod.Get, $"{server.OperatorAddress}/metrics"))
        {
            stranger.Headers.Add(Loyalty.Contracts.ApiKeys.Header, reader.Key);
            Assert.Equal(HttpStatusCode.Unauthorized, (await _http.SendAsync(stranger)).StatusCode);   // not a configured key
        }
        using var scrape = new HttpRequestMessage(HttpMethod.Get, $"{server.OperatorAddress}/metrics");
        scrape.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", TestKeys.Admin.Key);
        using var response = await _http.SendAsync(scrape);
        var (status, text) = (response.StatusCode, await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(200, Value(text, "loyalty_events_total", "loyalty_outcome=\"applied\"", "loyalty_source=\"game\""));
        Assert.Equal(10, Value(text, "loyalty_events_total", "loyalty_outcome=\"applied\"", "loyalty_source=\"shop\""));
        Assert.Equal(1, Value(text, "loyalty_events_total", "loyalty_outcome=\"rejected\"", "loyalty_source=\"game\""));
        Assert.Equal(points, Value(text, "loyalty_points_issued_total"));
        Assert.True(Value(text, "loyalty_rewards_granted_total", "loyalty_reward_kind=\"coupon\"") >= 10);   // the launch gift, at least
        Assert.True(Value(text, "loyalty_publish_duration_seconds_count", "rpc_method=\"Publish\"") >= 10);
        Assert.True(Value(text, "loyalty_journal_append_duration_seconds_count") > 0);
        // Every stored record's wait, from its hand-over to the writer to its acknowledgement, once.
        Assert.Equal(Value(text, "loyalty_journal_records_total"), Value(text, "loyalty_journal_commit_duration_seconds_count"));
        // Durations are in seconds, and so are the buckets: a quantile can be read (the exporter's own bounds are meant
        // for milliseconds, and put every call of the engine into its first bucket, le="5").
        foreach (var (histogram, label) in new[] { ("loyalty_publish_duration_seconds", "rpc_method=\"Publish\""), ("loyalty_journal_append_duration_seconds", ""), ("loyalty_journal_commit_duration_seconds", "") })
        {
            var count = Value(text, $"{histogram}_count", label);
            var within = Value(text, $"{histogram}_bucket", label, "le=\"0.5\"");
            Assert.True(within > 0 && within <= count, $"{histogram}: {within} of {count} within 0.5 s");
        }
        Assert.True(Value(text, "loyalty_journal_events_total") >= 210);
        Assert.True(Value(text, "loyalty_storage_requests_total", "kind=\"journal\"") > 0);
        Assert.True(Value(text, "loyalty_customers_active") >= 20);
        Assert.True(Value(text, "dotnet_gc_collections_total") > 0); // the runtime's meter: GC, thread pool, JIT
        Assert.Contains("dotnet_gc_pause_time_seconds_total", text, StringComparison.Ordinal);
        // The metrics are not on the API port.
        Assert.DoesNotContain("loyalty_events_total", (await Get($"http://127.0.0.1:{server.Port}/metrics")).Body);
    }

    /// <summary>The sum of the samples of a metric whose labels include all of <paramref name="labels"/>.</summary>
    private static long Value(string exposition, string metric, params string[] labels)
    {
        long sum = 0;
        var found = false;
        foreach (var line in exposition.Split('\n'))
        {
            var match = Sample().Match(line);
            if (!match.Success || match.Groups["name"].Value != metric)
            {
                continue;
            }
            var labelText = match.Groups["labels"].Value;
            if (labels.All(l => labelText.Contains(l, StringComparison.Ordinal)))
            {
                sum += (long)double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
                found = true;
            }
        }
        Assert.True(found, $"no sample of {metric} with {string.Join(",", labels)} in:\n{string.Join("\n", exposition.Split('\n').Where(l => l.StartsWith("loyalty", StringComparison.Ordinal)))}");
        return sum;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})?\s+(?<value>[-+0-9.eE]+|NaN)")]
    private static partial Regex Sample();
}

[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[Collection(ServerCollection.Name)]
public sealed class LogPrivacyTests
{
    [Fact]
    public async Task Debug_logs_name_customers_and_events_but_never_personal_data()
    {
        await using var azurite = await AzuriteProcess.StartAsync();
        await using var server = await ServerProcess.StartAsync(azurite.ConnectionString, new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Debug",
            ["Logging__Console__FormatterName"] = "json",
        });
        var id = NewCustomer();
        var profile = Base(id);
        profile.ProfileUpdate = new ProfileUpdate { DisplayName = "Zelda Quixotic-Marmalade", BirthYear = 1937, TimeZone = "Europe/Vienna" };
        await server.Ingestion.PublishAsync(new PublishRequest { Event = profile });
        await server.Ingestion.PublishAsync(new PublishRequest { Event = Game(id, 3, 1) });
        await Task.Delay(500);
        var log = server.Log;
        Assert.Contains(profile.EventId, log);
        Assert.Contains($"\"CustomerId\":\"{id}\"", log);   // structured: a field, not only text
        Assert.DoesNotContain("Zelda", log);
        Assert.DoesNotContain("Quixotic", log);
        // The birth year as a number of its own: silo addresses and generations are long random digits that may hold it.
        Assert.DoesNotMatch(@"(?<![0-9])1937(?![0-9])", log);
    }
}

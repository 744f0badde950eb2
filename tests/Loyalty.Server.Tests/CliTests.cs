using System.Text.Json;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>The `loyalty` CLI, run as a process against the real engine: the README's example must work.</summary>
[Trait("Needs", "Process")]
[Collection(InProcessCollection.Name)]
public sealed class CliTests(InProcessEngineFixture fixture)
{
    private Task<(int Exit, string Out, string Err)> Loyalty(params string[] args) => CliRunner.RunAsync(fixture.Server.Address, args);

    [Fact]
    public async Task Readme_example_earns_points_and_shows_the_customer()
    {
        var id = NewCustomer();
        // baby x2: 249.99 x 2 = 499.98; sports x1.5: 2 x 19.99 x 1.5 = 59.97; floor(559.95) = 559
        var publish = await Loyalty("publish", "purchase", "-c", id, "--order", "o-1", "--line", "stroller:baby:1:24999", "--line", "ball:sports:2:1999");
        Assert.True(publish.Exit == 0, publish.Err);
        Assert.Contains("APPLIED +559 points", publish.Out, StringComparison.Ordinal);
        Assert.Contains("unlocked baby-care-coupon BABY-", publish.Out, StringComparison.Ordinal); // 86 % baby

        var show = await Loyalty("customer", "show", id);
        Assert.Equal(0, show.Exit);
        Assert.Contains("559 available", show.Out, StringComparison.Ordinal);
        Assert.Contains("baby", show.Out, StringComparison.Ordinal);
        Assert.Contains("baby-care-coupon", show.Out, StringComparison.Ordinal);

        var json = await Loyalty("customer", "show", id, "--json");
        using var doc = JsonDocument.Parse(json.Out);
        Assert.Equal("559", doc.RootElement.GetProperty("summary").GetProperty("pointsAvailable").GetString());
    }

    [Fact]
    public async Task Every_event_kind_can_be_published_and_bad_input_exits_non_zero()
    {
        var id = NewCustomer();
        var runs = new[]
        {
            new[] { "publish", "game-session", "-c", id, "--game", "chess", "--minutes", "30", "--difficulty", "3" },
            ["publish", "match", "-c", id, "--game", "chess", "--match", "m1", "--rank", "1", "--participants", "8"],
            ["publish", "achievement", "-c", id, "--game", "chess", "--achievement", "first-win"],
            ["publish", "support", "-c", id, "--case", "c1", "--status", "resolved", "--channel", "human", "--satisfaction", "5"],
            ["publish", "profile", "-c", id, "--name", "Ada", "--birth-year", "1950"],
            ["publish", "purchase", "-c", id, "--order", "o-9", "--line", "ball:sports:1:1000"],
            ["publish", "refund", "-c", id, "--order", "o-9", "--line", "ball:sports:1:1000"],
        };
        foreach (var run in runs)
        {
            var r = await Loyalty(run);
            Assert.True(r.Exit == 0, $"{string.Join(' ', run)}: {r.Out} {r.Err}");
            Assert.Contains("APPLIED", r.Out, StringComparison.Ordinal);
        }
        // 90 (game) + 50 (winner) + 25 (first-win) + 100 (human resolution) + 200 (human-care-thanks rule)
        // + 15 - 15 (purchase, refund)
        var show = await Loyalty("customer", "show", id);
        Assert.Contains("465 available", show.Out, StringComparison.Ordinal);

        var interactions = await Loyalty("customer", "interactions", id, "--all");
        Assert.Equal(7, interactions.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        var bad = await Loyalty("publish", "purchase", "-c", id, "--order", "o-2", "--line", "x:baby:0:100");
        Assert.Equal(2, bad.Exit);
        Assert.Contains("event.purchase.lines[0].quantity", bad.Err, StringComparison.Ordinal);

        var missing = await Loyalty("customer", "show", NewCustomer());
        Assert.Equal(3, missing.Exit);

        // 465 available: add 100, spend 500 on free shipping, take 15 back: 50 left.
        var bonus = await Loyalty("customer", "adjust", id, "100", "--reason", "goodwill", "--adjustment-id", "cli-a1");
        Assert.True(bonus.Exit == 0, bonus.Err + bonus.Out);
        var redeem = await Loyalty("customer", "redeem", id, "free-shipping", "--redemption-id", "cli-r1");
        Assert.True(redeem.Exit == 0, redeem.Err);
        Assert.Contains("APPLIED -500 points: free-shipping SHIP-", redeem.Out, StringComparison.Ordinal);
        var take = await Loyalty("customer", "adjust", id, "--reason", "correction", "--adjustment-id", "cli-a2", "--", "-15");
        Assert.True(take.Exit == 0, take.Err + take.Out);
        Assert.Contains("50 available", take.Out, StringComparison.Ordinal);
        var hold = await Loyalty("customer", "reserve", id, "30", "--reservation-id", "cli-h1");
        Assert.Contains("APPLIED: 30 points held", hold.Out, StringComparison.Ordinal);
        var spend = await Loyalty("customer", "confirm", id, "cli-h1", "--note", "order 5");
        Assert.Contains("APPLIED -30 points; 20 available", spend.Out, StringComparison.Ordinal);
        var release = await Loyalty("customer", "cancel", id, "cli-h1");
        Assert.Contains("nothing was held", release.Out, StringComparison.Ordinal);
        var gift = await Loyalty("customer", "goodwill", id, "apology-coupon", "--reason", "late parcel", "--grant-id", "cli-g1");
        Assert.True(gift.Exit == 0, gift.Err + gift.Out);
        Assert.Contains("APPLIED: apology-coupon SORRY-", gift.Out, StringComparison.Ordinal);
        var giftAgain = await Loyalty("customer", "goodwill", id, "apology-coupon", "--reason", "late parcel", "--grant-id", "cli-g1");
        Assert.Contains("DUPLICATE: apology-coupon SORRY-", giftAgain.Out, StringComparison.Ordinal);
        var ledger = await Loyalty("customer", "ledger", id);
        Assert.Contains("late parcel", ledger.Out, StringComparison.Ordinal);
        Assert.Contains("order 5", ledger.Out, StringComparison.Ordinal);
        Assert.Contains("goodwill", ledger.Out, StringComparison.Ordinal);
        Assert.Contains("spend", ledger.Out, StringComparison.Ordinal);
        Assert.Contains("correction", ledger.Out, StringComparison.Ordinal);

        var program = await Loyalty("program", "show");
        Assert.Contains("ACME Rewards", program.Out, StringComparison.Ordinal);
    }
}

[Trait("Needs", "Process")]
public sealed class CliKeyTests
{
    [Fact]
    public async Task Keys_create_prints_the_key_once_and_configuration_holding_only_its_salted_hash()
    {
        var run = await CliRunner.RunAsync("http://127.0.0.1:1", "keys", "create", "--id", "shop-eu", "--scopes", "ingest:shop,customers:read",
            "--sources", "shop-", "--rate", "50", "--index", "3");
        Assert.True(run.Exit == 0, run.Err);
        var config = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')).Select(l => l.Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv[1].Trim());
        var key = run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last().Trim();
        Assert.StartsWith("lk_shop-eu_", key, StringComparison.Ordinal);
        Assert.DoesNotContain(key, run.Out, StringComparison.Ordinal);   // the configuration never holds the key itself
        Assert.Equal("shop-eu", config["Loyalty__Auth__Keys__3__Id"]);
        Assert.True(Loyalty.Contracts.ApiKeys.Matches(key, config["Loyalty__Auth__Keys__3__Salt"], config["Loyalty__Auth__Keys__3__Hash"]));
        Assert.False(Loyalty.Contracts.ApiKeys.Matches(key + "x", config["Loyalty__Auth__Keys__3__Salt"], config["Loyalty__Auth__Keys__3__Hash"]));
        Assert.Equal(["ingest:shop", "customers:read"], [config["Loyalty__Auth__Keys__3__Scopes__0"], config["Loyalty__Auth__Keys__3__Scopes__1"]]);
        Assert.Equal("shop-", config["Loyalty__Auth__Keys__3__Sources__0"]);
        Assert.Equal("50", config["Loyalty__Auth__Keys__3__RatePerSecond"]);

        var bad = await CliRunner.RunAsync("http://127.0.0.1:1", "keys", "create", "--id", "x", "--scopes", "ingest:everything");
        Assert.Equal(2, bad.Exit);
        Assert.Contains("unknown scopes ingest:everything", bad.Err, StringComparison.Ordinal);
    }
}

[Trait("Needs", "Process")]
[Collection(InProcessCollection.Name)]
public sealed class CliStreamTests(InProcessEngineFixture fixture)
{
    private Task<(int Exit, string Out, string Err)> Loyalty(params string[] args) => CliRunner.RunAsync(fixture.Server.Address, args);

    [Fact]
    public async Task Stream_replays_a_file_of_events_with_a_summary_and_watch_prints_the_history()
    {
        var id = NewCustomer();
        var path = Path.Combine(Path.GetTempPath(), $"loyalty-events-{Guid.NewGuid():N}.jsonl");
        var lines = Enumerable.Range(0, 200).Select(i => Google.Protobuf.JsonFormatter.Default.Format(Game(id, 1 + i % 3, 1, $"s-{i}"))).ToList();
        var bad = Game(id, 1, 1, "s-bad");
        bad.GameSession.Difficulty = 0;
        lines.Insert(100, Google.Protobuf.JsonFormatter.Default.Format(bad));
        await File.WriteAllLinesAsync(path, lines);
        try
        {
            var stream = await Loyalty("stream", path);
            Assert.True(stream.Exit == 0, stream.Out + stream.Err);
            // 200 games of 1..3 minutes: 67 x 1 + 67 x 2 + 66 x 3 = 399 points.
            Assert.Contains("201 events", stream.Out, StringComparison.Ordinal);
            Assert.Contains("200 applied, 0 duplicate, 1 rejected, 0 not applied; +399 points", stream.Out, StringComparison.Ordinal);
            Assert.Contains("s-bad: Rejected event.game_session.difficulty", stream.Out, StringComparison.Ordinal);

            var again = await Loyalty("stream", path);
            Assert.Contains("0 applied, 200 duplicate, 1 rejected", again.Out, StringComparison.Ordinal);

            var watch = await Loyalty("watch", id, "--since", "198", "--count", "2");
            Assert.True(watch.Exit == 0, watch.Err);
            Assert.Contains("#199", watch.Out, StringComparison.Ordinal);
            Assert.Contains("#200", watch.Out, StringComparison.Ordinal);
            Assert.DoesNotContain("#198", watch.Out, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[Collection(ServerCollection.Name)]
public sealed class CliBenchTests(ServerFixture fixture)
{
    [Fact]
    public async Task Bench_verify_checks_every_total_and_the_load_scenarios_report_their_figures()
    {
        var verify = await CliRunner.RunAsync(fixture.Server.Address, "bench", "verify", "--customers", "40", "--events-per-customer", "3",
            "--concurrency", "2", "--batch", "60", "--operator", fixture.Server.OperatorAddress);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);
        Assert.Contains("120 events", verify.Out, StringComparison.Ordinal);
        Assert.Contains("every customer's total exact (40 customers)", verify.Out, StringComparison.Ordinal);
        Assert.Matches(@"server\s+\d+\.\d events per journal request, \d+\.\d{4} storage requests per event", verify.Out);
        Assert.Matches(@"\d+\.\d µs CPU per event", verify.Out);
        Assert.Matches(@"paused for the GC \d+(\.\d)?\s?% of the time \(\d+ collections\)", verify.Out);
        Assert.Matches(@"journal busy \d+\s?% of the time \(appends of \d+\.\d ms on average\)", verify.Out);

        var shop = await CliRunner.RunAsync(fixture.Server.Address, "bench", "shop", "--duration", "2", "--warmup", "0", "--customers", "20", "--concurrency", "4",
            "--operator", fixture.Server.OperatorAddress, "--json");
        Assert.True(shop.Exit == 0, shop.Out + shop.Err);
        using var doc = System.Text.Json.JsonDocument.Parse(shop.Out.Trim().Split('\n')[^1]);
        Assert.True(doc.RootElement.GetProperty("events").GetInt64() > 0);
        Assert.Empty(doc.RootElement.GetProperty("errors").EnumerateObject());
        Assert.True(doc.RootElement.GetProperty("latencyMs").GetProperty("p99").GetDouble() > 0);

        var game = await CliRunner.RunAsync(fixture.Server.Address, "bench", "game", "--duration", "2", "--warmup", "0", "--customers", "20", "--concurrency", "2", "--json");
        Assert.True(game.Exit == 0, game.Out + game.Err);
        using (var closed = System.Text.Json.JsonDocument.Parse(game.Out.Trim().Split('\n')[^1]))
        {
            Assert.Equal(System.Text.Json.JsonValueKind.Null, closed.RootElement.GetProperty("sendLagMs").ValueKind);   // no schedule to lag
            // The busy share of this machine's CPU over the run (Linux): the engine, the client and storage all ran here.
            var machine = closed.RootElement.GetProperty("machineCpuBusyShare");
            if (OperatingSystem.IsLinux())
            {
                Assert.InRange(machine.GetDouble(), 0.001, 1.0);
            }
        }
        // Open loop: the client's own lag behind its schedule is reported, for the stream and for unary calls.
        foreach (var scenario in new[] { "game", "shop" })
        {
            var paced = await CliRunner.RunAsync(fixture.Server.Address, "bench", scenario, "--duration", "2", "--warmup", "0", "--customers", "20",
                "--concurrency", "2", "--rate", "200", "--json");
            Assert.True(paced.Exit == 0, paced.Out + paced.Err);
            using var open = System.Text.Json.JsonDocument.Parse(paced.Out.Trim().Split('\n')[^1]);
            var lag = open.RootElement.GetProperty("sendLagMs");
            Assert.True(lag.GetProperty("p50").GetDouble() > 0, scenario);
            Assert.True(lag.GetProperty("p99").GetDouble() >= lag.GetProperty("p50").GetDouble(), scenario);
            Assert.True(lag.GetProperty("max").GetDouble() >= lag.GetProperty("p99").GetDouble(), scenario);
            Assert.InRange(open.RootElement.GetProperty("events").GetInt64(), 100, 600);   // ~200/s for 2 s
        }

        foreach (var scenario in new[] { "health", "batch", "mixed" })
        {
            var run = await CliRunner.RunAsync(fixture.Server.Address, "bench", scenario, "--duration", "1", "--warmup", "0", "--customers", "20", "--concurrency", "2",
                "--batch", "20", "--operator", fixture.Server.OperatorAddress, "--json");
            Assert.True(run.Exit == 0, scenario + ": " + run.Out + run.Err);
            using var figures = System.Text.Json.JsonDocument.Parse(run.Out.Trim().Split('\n')[^1]);
            Assert.True(figures.RootElement.GetProperty("events").GetInt64() > 0, scenario);
            Assert.Empty(figures.RootElement.GetProperty("errors").EnumerateObject());
        }
    }

    /// <summary>The server's figures (CPU, bytes, storage requests per event) cover the window the client measures, not
    /// its warm-up: the events the server's journal stored over them are those of the measured window. With a warm-up
    /// twice the measured time, figures over the whole run would count about three times the measured events.</summary>
    [Fact]
    public async Task Bench_server_figures_cover_the_measured_window_and_not_the_warm_up()
    {
        using var measured = await BenchSummary("batch", "--warmup", "3", "--duration", "1.5", "--customers", "50", "--concurrency", "2", "--batch", "20");
        var root = measured.RootElement;
        Assert.Equal("measured window", root.GetProperty("serverFiguresCover").GetString());
        var events = root.GetProperty("events").GetInt64();
        var stored = root.GetProperty("serverEventsStored").GetDouble();
        Assert.True(events > 0);
        // In flight at the window's two ends: at most a few calls of 20 events, plus what the scrape's own time lets in.
        Assert.InRange(stored, events * 0.7 - 100, events * 1.3 + 100);
        Assert.True(root.GetProperty("serverCpuMicrosPerEvent").GetDouble() > 0);
        // The engine's own answer times over the same window, from its histogram's buckets: a share, and a bucket bound.
        Assert.InRange(root.GetProperty("serverAnsweredWithin50msShare").GetDouble(), 0.0001, 1.0);
        var bound = root.GetProperty("serverAnswerP99AtMostMs").GetDouble();
        Assert.Contains(bound, Loyalty.Grains.LoyaltyMetrics.Seconds.HistogramBucketBoundaries!.Select(b => b * 1000));

        // Without a warm-up the window is the whole run.
        using var whole = await BenchSummary("batch", "--warmup", "0", "--duration", "1", "--customers", "50", "--concurrency", "2", "--batch", "20");
        Assert.Equal("whole run", whole.RootElement.GetProperty("serverFiguresCover").GetString());
    }

    /// <summary>Runs <c>loyalty bench</c> against the fixture's engine, with its operator endpoint, and reads the summary
    /// line it prints with <c>--json</c>.</summary>
    /// <summary>The game scenario asks for results in completion order when told to, and matches each result to its own
    /// event by event_id (an open loop: latency from each event's intended send time).</summary>
    [Fact]
    public async Task Bench_game_takes_results_in_completion_order_when_asked()
    {
        foreach (var order in new[] { "completion", "request" })
        {
            using var figures = await BenchSummary("game", "--result-order", order, "--rate", "300", "--warmup", "0", "--duration", "2",
                "--customers", "20", "--concurrency", "2");
            var root = figures.RootElement;
            Assert.Equal(order, root.GetProperty("resultOrder").GetString());
            Assert.InRange(root.GetProperty("events").GetInt64(), 200, 900);   // ~300/s for 2 s
            Assert.Empty(root.GetProperty("errors").EnumerateObject());
            var latency = root.GetProperty("latencyMs");
            Assert.InRange(latency.GetProperty("p50").GetDouble(), 0.001, 10_000);
            Assert.True(latency.GetProperty("p99").GetDouble() >= latency.GetProperty("p50").GetDouble(), order);
        }
        var refused = await CliRunner.RunAsync(fixture.Server.Address, "bench", "game", "--result-order", "fastest", "--duration", "1");
        Assert.NotEqual(0, refused.Exit);
        Assert.Contains("fastest", refused.Out + refused.Err, StringComparison.Ordinal);
    }

    private async Task<System.Text.Json.JsonDocument> BenchSummary(params string[] args)
    {
        var run = await CliRunner.RunAsync(fixture.Server.Address, ["bench", .. args, "--operator", fixture.Server.OperatorAddress, "--json"]);
        Assert.True(run.Exit == 0, run.Out + run.Err);
        return System.Text.Json.JsonDocument.Parse(run.Out.Trim().Split('\n')[^1]);
    }

    [Fact]
    public async Task Bench_once_touches_every_customer_exactly_once_and_stops()
    {
        using var figures = await BenchSummary("batch", "--skew", "once", "--customers", "150", "--batch", "40", "--concurrency", "3", "--duration", "60");
        Assert.Equal(150, figures.RootElement.GetProperty("events").GetInt64());
        Assert.True(figures.RootElement.GetProperty("seconds").GetDouble() < 30, "stops when the customers are used up, not at --duration");
        // Each journal request holds at least one event (usually many customers' events); every cold customer still
        // costs one checkpoint read, so storage requests per event are counted and positive.
        Assert.True(figures.RootElement.GetProperty("eventsPerStorageWrite").GetDouble() >= 1.0);
        Assert.True(figures.RootElement.GetProperty("storageRequestsPerEvent").GetDouble() > 0);
        Assert.True(figures.RootElement.GetProperty("serverCpuMicrosPerEvent").GetDouble() > 0);
        // The runtime's allocation counter over the run, per event: at least the request's own bytes.
        Assert.True(figures.RootElement.GetProperty("serverAllocatedBytesPerEvent").GetDouble() > 100);
        // One append at a time per silo: in flight for some of the run, never for more than all of it.
        Assert.InRange(figures.RootElement.GetProperty("journalBusyShare").GetDouble(), 0.0001, 1.05);
        Assert.True(figures.RootElement.GetProperty("journalAppendMs").GetDouble() > 0);
        // What checkpoints owe: counted from the engine's metrics (none due yet for 150 new customers, or some).
        Assert.True(figures.RootElement.GetProperty("checkpointsPerSecond").GetDouble() >= 0);
        Assert.True(figures.RootElement.GetProperty("checkpointsWaitingAtEnd").GetDouble() >= 0);
        Assert.True(figures.RootElement.GetProperty("uncoveredBytesAtEnd").GetDouble() >= 0);
    }

    [Fact]
    public async Task Bench_table_writes_measures_raw_single_entity_writes_and_leaves_no_table_behind()
    {
        var raw = await CliRunner.RunAsync(fixture.Server.Address, "bench", "table-writes", "--duration", "1", "--warmup", "0", "--concurrency", "4",
            "--storage", fixture.Azurite.ConnectionString, "--json");
        Assert.True(raw.Exit == 0, raw.Out + raw.Err);
        using var figures = System.Text.Json.JsonDocument.Parse(raw.Out.Trim().Split('\n')[^1]);
        Assert.True(figures.RootElement.GetProperty("events").GetInt64() > 0);
        Assert.Empty(figures.RootElement.GetProperty("errors").EnumerateObject());
        var tables = new Azure.Data.Tables.TableServiceClient(fixture.Azurite.ConnectionString).QueryAsync();
        await foreach (var table in tables)
        {
            Assert.DoesNotContain("LoyaltyBenchRaw", table.Name, StringComparison.Ordinal);
        }
    }
}

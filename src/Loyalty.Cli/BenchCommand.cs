using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using HdrHistogram;
using Loyalty.Contracts;
using Loyalty.Contracts.V1;

namespace Loyalty.Cli;

/// <summary>
/// <c>loyalty bench</c>: a load generator that is a real gRPC client. Scenarios: health (the baseline: the trivial
/// grpc.health.v1 Check), shop (unary Publish of purchases), batch (PublishBatch), game (PublishStream), mixed, and
/// verify (publishes a known set, then checks every customer's total: a fast but wrong engine fails it).
/// </summary>
internal static partial class BenchCommand
{
    public static Command Build()
    {
        var scenario = new Argument<string>("scenario") { Description = "health | shop | http | batch | game | mixed | verify | table-writes" };
        var httpUrl = new Option<string?>("--http") { Description = "http: where JSON is served over HTTP/1.1 (default: the server's port + 2, as deploy/local/start sets)" };
        var customers = new Option<int>("--customers") { Description = "Distinct customers", DefaultValueFactory = _ => 10_000 };
        var duration = new Option<double>("--duration") { Description = "Seconds to measure (not for verify)", DefaultValueFactory = _ => 30 };
        var warmup = new Option<double>("--warmup")
        {
            Description = "Seconds of load before measuring starts (JIT, connections, first activations); not for verify or --skew once",
            DefaultValueFactory = _ => 2,
        };
        var concurrency = new Option<int>("--concurrency") { Description = "Concurrent calls (unary) or streams (game)", DefaultValueFactory = _ => 64 };
        var connections = new Option<int>("--connections") { Description = "HTTP/2 connections to spread the calls over", DefaultValueFactory = _ => 4 };
        var batch = new Option<int>("--batch") { Description = "Events per PublishBatch", DefaultValueFactory = _ => 500 };
        var skew = new Option<string>("--skew") { Description = "uniform | zipf (s = 1) | once (every event a new customer, until --customers are used up)", DefaultValueFactory = _ => "uniform" };
        var rate = new Option<double>("--rate") { Description = "Open loop: target events/s (latency is measured from each event's intended send time); 0 = as fast as possible", DefaultValueFactory = _ => 0 };
        var perCustomer = new Option<int>("--events-per-customer") { Description = "verify: events per customer", DefaultValueFactory = _ => 20 };
        var operatorUrl = new Option<string?>("--operator") { Description = "Operator endpoint for events per write and server CPU (default: the server's port + 1)" };
        var storage = new Option<string?>("--storage")
        {
            Description = "table-writes: Azure Table connection string (default: $Loyalty__Storage__ConnectionString, else the local Azurite on 127.0.0.1:10002)",
        };
        var prime = new Option<bool>("--prime")
        {
            Description = "shop, batch, game, mixed: before the warm-up, one event to every customer (PublishBatch), so the measured run is on " +
                "customers that are already active; reports how fast cold customers were taken on. Not with --skew once",
            DefaultValueFactory = _ => true,
        };
        var resultOrder = new Option<string>("--result-order")
        {
            Description = "game: request (results in the order the events were sent, the default) | completion (each result as soon as its event is stored, x-result-order)",
            DefaultValueFactory = _ => StreamResultOrder.Request,
        };
        resultOrder.AcceptOnlyFromAmong(StreamResultOrder.Request, StreamResultOrder.Completion);
        var entityBytes = new Option<int>("--entity-bytes") { Description = "table-writes: bytes of state per entity (a regular customer stores a few KB)", DefaultValueFactory = _ => 4096 };
        var command = new Command("bench", "Load the engine and report events/s, acknowledgement latency, errors, events per storage write, server CPU")
        {
            scenario, customers, duration, warmup, concurrency, connections, batch, skew, rate, perCustomer, operatorUrl, storage, entityBytes, prime, httpUrl,
            resultOrder,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new Options(parse.GetValue(scenario)!, parse.GetValue(customers), TimeSpan.FromSeconds(parse.GetValue(duration)),
                Math.Max(1, parse.GetValue(concurrency)), Math.Max(1, parse.GetValue(connections)), Math.Clamp(parse.GetValue(batch), 1, 1000),
                parse.GetValue(skew)!, parse.GetValue(rate), Math.Max(1, parse.GetValue(perCustomer)),
                parse.GetValue(scenario) == "verify" || parse.GetValue(skew) == "once" ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Max(0, parse.GetValue(warmup))),
                parse.GetValue(prime) && parse.GetValue(skew) != "once" && parse.GetValue(scenario) is "shop" or "http" or "batch" or "game" or "mixed",
                parse.GetValue(resultOrder) == StreamResultOrder.Completion);
            var server = parse.GetValue(CliApp.ServerOption)!.Split(',')[0];
            var operatorEndpoint = parse.GetValue(operatorUrl) ?? OperatorOf(server);
            var json = parse.GetValue(CliApp.JsonOption);
            if (options.Scenario == "table-writes")
            {
                var connection = parse.GetValue(storage) ?? Environment.GetEnvironmentVariable("Loyalty__Storage__ConnectionString") ?? LocalAzurite;
                return await TableWrites.RunAsync(options, connection, Math.Max(1, parse.GetValue(entityBytes)), json, ct);
            }
            HttpJson = parse.GetValue(httpUrl) ?? PortPlus(server, 2);
            return await RunAsync(options, parse.GetValue(CliApp.ServerOption)!, CliApp.ResolveApiKey(parse), operatorEndpoint, json, ct);
        });
        return command;
    }

    /// <summary>The Azurite that <c>deploy/local/start</c> runs (its well-known development account).</summary>
    /// <summary>Every unary and batch call has a deadline: a call the engine never answers shows up as DeadlineExceeded
    /// in the report instead of leaving the bench waiting after its window (one run did, once).</summary>
    private static readonly TimeSpan CallDeadline = TimeSpan.FromMinutes(2);

    private static DateTime Deadline() => DateTime.UtcNow + CallDeadline;

    private const string LocalAzurite = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;";

    internal sealed record Options(string Scenario, int Customers, TimeSpan Duration, int Concurrency, int Connections, int Batch,
        string Skew, double Rate, int EventsPerCustomer, TimeSpan Warmup, bool Prime = false, bool CompletionOrder = false);

    private static string OperatorOf(string server) => PortPlus(server, 1);

    private static string PortPlus(string server, int offset)
    {
        var uri = new Uri(server.StartsWith("dns:", StringComparison.Ordinal) ? "http://127.0.0.1:5080" : server);
        return $"{uri.Scheme}://{uri.Host}:{uri.Port + offset}";
    }

    /// <summary>The http scenario's base address (JSON over HTTP/1.1) and key.</summary>
    private static string HttpJson { get; set; } = "";
    private static string? ApiKeyForHttp { get; set; }

    private static async Task<int> RunAsync(Options o, string server, string? apiKey, string operatorEndpoint, bool json, CancellationToken ct)
    {
        var channels = Enumerable.Range(0, o.Connections).Select(_ => EngineChannel.Create(server, apiKey)).ToArray();
        ApiKeyForHttp = apiKey;
        var run = Guid.NewGuid().ToString("N")[..8];
        var picker = new CustomerPicker(o.Customers, o.Skew, run);
        var primed = o.Prime ? await Prime(o, channels, picker, run, json, ct) : null;
        await Task.Delay(500, ct);   // the server caches a scrape briefly: let an earlier run's scrape expire
        var before = await Scrape(operatorEndpoint, apiKey);
        var stats = new Stats();
        stats.MeasureFrom(Stopwatch.GetTimestamp() + (long)(o.Warmup.TotalSeconds * Stopwatch.Frequency));
        var watch = Stopwatch.StartNew();
        // The server's figures cover the window the client measures: a second scrape when the warm-up ends. Without it
        // they would include the warm-up, where customers activate and first grow their state (CPU per event was ~10 %
        // higher over the whole run than over the measured window of memory `batch`: docs/benchmarks.md, 2026-12-07,
        // twenty-fourth session).
        var atWindowStart = o.Warmup > TimeSpan.Zero ? ScrapeAfter(o.Warmup, operatorEndpoint, apiKey, ct) : null;
        using var progress = new Timer(_ => stats.Progress(watch.Elapsed, json), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        var mismatches = 0;
        try
        {
            switch (o.Scenario)
            {
                case "health":
                case "shop":
                case "http":
                case "batch":
                case "mixed":
                    await Unary(o, channels, picker, run, stats, ct);
                    break;
                case "game":
                    await Streams(o, channels, picker, run, stats, ct);
                    break;
                case "verify":
                    mismatches = await Verify(o, channels, run, stats, ct);
                    break;
                default:
                    Console.Error.WriteLine($"error: unknown scenario '{o.Scenario}' (health, shop, http, batch, game, mixed, verify)");
                    return 2;
            }
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
        }
        var wall = watch.Elapsed;
        var elapsed = wall > o.Warmup ? wall - o.Warmup : wall;
        await Task.Delay(500, CancellationToken.None);   // past the server's scrape cache, so the figures include the run
        var after = await Scrape(operatorEndpoint, apiKey);
        // A run that ended within its warm-up measured all of it (elapsed is the whole run then).
        var windowStart = atWindowStart is not null && wall > o.Warmup ? await atWindowStart : null;
        stats.Report(o, elapsed, wall, windowStart ?? before, after, windowStart is not null, mismatches, json, primed);
        return mismatches > 0 || stats.Events == 0 ? 1 : 0;
    }

    internal sealed record Primed(int Customers, double Seconds, double CustomersPerSecond, long Failed);

    /// <summary>One game session to every customer, in batches, before anything is measured: the customers become
    /// active (their first read and first record behind them). Refused calls (RESOURCE_EXHAUSTED) are sent again.</summary>
    private static async Task<Primed> Prime(Options o, GrpcChannel[] channels, CustomerPicker picker, string run, bool json, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var size = Math.Min(o.Batch, 500);
        var batches = (o.Customers + size - 1) / size;
        var next = -1;
        long failed = 0, done = 0;
        using var progress = new Timer(_ =>
        {
            if (!json)
            {
                Console.Error.Write($"\rpriming {Interlocked.Read(ref done),10:N0} / {o.Customers:N0} customers  {watch.Elapsed.TotalSeconds,5:F0} s   ");
            }
        }, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        await Task.WhenAll(Enumerable.Range(0, Math.Min(o.Concurrency, 16)).Select(worker => Task.Run(async () =>
        {
            var ingestion = new Ingestion.IngestionClient(channels[worker % channels.Length]);
            int b;
            while ((b = Interlocked.Increment(ref next)) < batches && !ct.IsCancellationRequested)
            {
                var request = new PublishBatchRequest();
                for (var i = b * size; i < Math.Min(o.Customers, (b + 1) * size); i++)
                {
                    request.Events.Add(Game(picker.NameOf(i), $"{run}-prime-{i}", 1));
                }
                for (var attempt = 0; ; attempt++)
                {
                    try
                    {
                        var response = await ingestion.PublishBatchAsync(request, deadline: Deadline(), cancellationToken: ct);
                        Interlocked.Add(ref failed, response.Results.Count(r => r.Outcome is not (Outcome.Applied or Outcome.Duplicate)));
                        break;
                    }
                    catch (RpcException e) when (attempt < 20 && e.StatusCode is StatusCode.ResourceExhausted or StatusCode.Unavailable or StatusCode.DeadlineExceeded)
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(200 * (attempt + 1)), ct);   // the same ids again: retry-safe
                    }
                    catch (RpcException)
                    {
                        Interlocked.Add(ref failed, request.Events.Count);
                        break;
                    }
                }
                Interlocked.Add(ref done, request.Events.Count);
            }
        }, ct)));
        var seconds = watch.Elapsed.TotalSeconds;
        if (!json)
        {
            Console.Error.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"primed       {o.Customers:N0} customers in {seconds:F1} s = {o.Customers / seconds:N0} cold customers/s{(failed > 0 ? $", {failed:N0} not applied" : "")} (not measured below)"));
        }
        return new Primed(o.Customers, Math.Round(seconds, 2), Math.Round(o.Customers / seconds), failed);
    }

    /// <summary>Closed loop (or paced to --rate): each of the concurrent callers sends one call at a time.</summary>
    private static async Task Unary(Options o, GrpcChannel[] channels, CustomerPicker picker, string run, Stats stats, CancellationToken ct)
    {
        // http: the same purchases as shop, as JSON POSTs to /v1/events over HTTP/1.1 keep-alive connections (one per
        // concurrent caller), with the key in x-api-key.
        using var http = o.Scenario == "http" ? new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = o.Concurrency })
        {
            BaseAddress = new Uri(HttpJson),
            DefaultRequestVersion = System.Net.HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        } : null;
        if (http is not null && ApiKeyForHttp is { Length: > 0 } key)
        {
            http.DefaultRequestHeaders.Add(Loyalty.Contracts.ApiKeys.Header, key);
        }
        var end = DateTime.UtcNow + o.Warmup + o.Duration;
        var eventsPerCall = o.Scenario == "batch" ? o.Batch : 1;
        var interval = o.Rate > 0 ? TimeSpan.FromSeconds(eventsPerCall * o.Concurrency / o.Rate) : TimeSpan.Zero;
        await Task.WhenAll(Enumerable.Range(0, o.Concurrency).Select(worker => Task.Run(async () =>
        {
            var channel = channels[worker % channels.Length];
            var ingestion = new Ingestion.IngestionClient(channel);
            var health = new Health.HealthClient(channel);
            var random = new Random(worker);
            long n = 0;
            var next = Stopwatch.GetTimestamp();
            while (DateTime.UtcNow < end && !ct.IsCancellationRequested)
            {
                var intended = next;
                if (interval > TimeSpan.Zero)
                {
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), intended);
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait, ct);
                    }
                    next += (long)(interval.TotalSeconds * Stopwatch.Frequency);
                    stats.Sending(intended);
                }
                else
                {
                    intended = Stopwatch.GetTimestamp();
                }
                try
                {
                    switch (o.Scenario)
                    {
                        case "health":
                            await health.CheckAsync(new HealthCheckRequest(), deadline: Deadline(), cancellationToken: ct);
                            stats.Acked(intended, 1, 0);
                            break;
                        case "http":
                            if (picker.Next(random) is not { } buyer)
                            {
                                return;
                            }
                            using (var content = new StringContent(Google.Protobuf.JsonFormatter.Default.Format(Purchase(buyer, $"{run}-{worker}-{n++}", random)),
                                System.Text.Encoding.UTF8, "application/json"))
                            using (var answer = await http!.PostAsync("/v1/events", content, ct))
                            {
                                var body = await answer.Content.ReadAsStringAsync(ct);
                                if (!answer.IsSuccessStatusCode)
                                {
                                    stats.Failed($"HTTP {(int)answer.StatusCode}", 1);
                                    break;
                                }
                                stats.Acked(intended, 1, body.Contains("OUTCOME_APPLIED", StringComparison.Ordinal) || body.Contains("OUTCOME_DUPLICATE", StringComparison.Ordinal) ? 0 : 1);
                            }
                            break;
                        case "batch":
                            var request = new PublishBatchRequest();
                            for (var i = 0; i < o.Batch && picker.Next(random) is { } customer; i++)
                            {
                                request.Events.Add(Game(customer, $"{run}-{worker}-{n++}", 1 + random.Next(5)));
                            }
                            if (request.Events.Count == 0)
                            {
                                return;
                            }
                            var response = await ingestion.PublishBatchAsync(request, deadline: Deadline(), cancellationToken: ct);
                            stats.Acked(intended, response.Results.Count, response.Results.Count(r => r.Outcome is not (Outcome.Applied or Outcome.Duplicate)));
                            break;
                        default:
                            if (picker.Next(random) is not { } who)
                            {
                                return;
                            }
                            var e = o.Scenario == "mixed" ? Mixed(who, $"{run}-{worker}-{n++}", random) : Purchase(who, $"{run}-{worker}-{n++}", random);
                            var result = await ingestion.PublishAsync(new PublishRequest { Event = e }, deadline: Deadline(), cancellationToken: ct);
                            stats.Acked(intended, 1, result.Outcome is Outcome.Applied or Outcome.Duplicate ? 0 : 1);
                            break;
                    }
                }
                catch (RpcException e) when (!ct.IsCancellationRequested)
                {
                    stats.Failed(e.StatusCode.ToString(), eventsPerCall);
                }
                catch (HttpRequestException e) when (!ct.IsCancellationRequested)
                {
                    stats.Failed(e.HttpRequestError.ToString(), eventsPerCall);
                }
            }
        }, ct)));
    }

    /// <summary>One PublishStream per concurrent caller; latency per event from its write to its result.</summary>
    private static async Task Streams(Options o, GrpcChannel[] channels, CustomerPicker picker, string run, Stats stats, CancellationToken ct)
    {
        var end = DateTime.UtcNow + o.Warmup + o.Duration;
        var perStreamRate = o.Rate > 0 ? o.Rate / o.Concurrency : 0;
        await Task.WhenAll(Enumerable.Range(0, o.Concurrency).Select(worker => Task.Run(async () =>
        {
            var ingestion = new Ingestion.IngestionClient(channels[worker % channels.Length]);
            var headers = o.CompletionOrder ? new Grpc.Core.Metadata { { StreamResultOrder.Header, StreamResultOrder.Completion } } : null;
            using var call = ingestion.PublishStream(headers, deadline: end + CallDeadline, cancellationToken: ct);   // see CallDeadline
            // Intended send times by event id: a result is matched to its own event, in whatever order results come.
            var sent = new System.Collections.Concurrent.ConcurrentDictionary<string, long>(StringComparer.Ordinal);
            var random = new Random(worker);
            var writer = Task.Run(async () =>
            {
                long n = 0;
                var start = Stopwatch.GetTimestamp();
                while (DateTime.UtcNow < end && !ct.IsCancellationRequested)
                {
                    var intended = Stopwatch.GetTimestamp();
                    if (perStreamRate > 0)
                    {
                        intended = start + (long)(n / perStreamRate * Stopwatch.Frequency);
                        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), intended);
                        if (wait > TimeSpan.FromMilliseconds(1))
                        {
                            await Task.Delay(wait, ct);
                        }
                    }
                    if (picker.Next(random) is not { } player)
                    {
                        break;
                    }
                    var id = $"{run}-{worker}-{n++}";
                    sent[id] = intended;
                    if (perStreamRate > 0)
                    {
                        stats.Sending(intended);
                    }
                    await call.RequestStream.WriteAsync(new PublishRequest { Event = Game(player, id, 1 + random.Next(5)) }, ct);
                }
                await call.RequestStream.CompleteAsync();
            }, ct);
            try
            {
                await foreach (var result in call.ResponseStream.ReadAllAsync(ct))
                {
                    sent.TryRemove(result.EventId, out var intended);
                    stats.Acked(intended, 1, result.Outcome is Outcome.Applied or Outcome.Duplicate ? 0 : 1);
                }
                await writer;
            }
            catch (RpcException e) when (!ct.IsCancellationRequested)
            {
                stats.Failed(e.StatusCode.ToString(), 1);
            }
        }, ct)));
    }

    /// <summary>Publishes a known set (game sessions with known minutes) and checks every customer's total and count.</summary>
    private static async Task<int> Verify(Options o, GrpcChannel[] channels, string run, Stats stats, CancellationToken ct)
    {
        var customers = Enumerable.Range(0, o.Customers).Select(i => $"verify-{run}-{i}").ToArray();
        var events = new List<Event>();
        var expected = new Dictionary<string, long>();
        var random = new Random(1);
        for (var k = 0; k < o.EventsPerCustomer; k++)
        {
            foreach (var customer in customers)
            {
                var minutes = 1 + random.Next(5);   // stays below Silver's 1,000 points: no tier multiplier to model
                events.Add(Game(customer, $"{customer}-{k}", minutes));
                expected[customer] = expected.GetValueOrDefault(customer) + minutes;
            }
        }
        var batches = events.Chunk(o.Batch).ToList();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, o.Concurrency).Select(worker => Task.Run(async () =>
        {
            var ingestion = new Ingestion.IngestionClient(channels[worker % channels.Length]);
            int index;
            while ((index = Interlocked.Increment(ref next)) < batches.Count)
            {
                var request = new PublishBatchRequest { Events = { batches[index] } };
                var started = Stopwatch.GetTimestamp();
                while (true)
                {
                    try
                    {
                        var response = await ingestion.PublishBatchAsync(request, deadline: Deadline(), cancellationToken: ct);
                        stats.Acked(started, response.Results.Count, response.Results.Count(r => r.Outcome is not (Outcome.Applied or Outcome.Duplicate)));
                        break;
                    }
                    catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
                    {
                        stats.Failed($"{e.StatusCode} (retried)", 0);   // same event ids: a retry is safe
                    }
                }
            }
        }, ct)));
        var mismatches = 0;
        await Parallel.ForEachAsync(customers, new ParallelOptions { MaxDegreeOfParallelism = o.Concurrency, CancellationToken = ct }, async (customer, token) =>
        {
            var client = new Customers.CustomersClient(channels[Math.Abs(customer.GetHashCode()) % channels.Length]);
            var view = await client.GetCustomerAsync(new GetCustomerRequest { CustomerId = customer }, deadline: Deadline(), cancellationToken: token);
            if (view.Summary.PointsAvailable != expected[customer] || view.EventsApplied != o.EventsPerCustomer)
            {
                if (Interlocked.Increment(ref mismatches) <= 10)
                {
                    Console.Error.WriteLine($"MISMATCH {customer}: {view.Summary.PointsAvailable} points in {view.EventsApplied} events, expected {expected[customer]} in {o.EventsPerCustomer}");
                }
            }
        });
        return mismatches;
    }

    private static Event Base(string customer, string id) => new() { EventId = id, CustomerId = customer, OccurredAt = Timestamp.FromDateTime(DateTime.UtcNow), Source = "bench" };

    private static Event Game(string customer, string id, int minutes)
    {
        var e = Base(customer, id);
        e.GameSession = new GameSession { GameId = "arena", DurationSeconds = minutes * 60, Difficulty = 1, Score = 100 };
        return e;
    }

    private static Event Purchase(string customer, string id, Random random)
    {
        var e = Base(customer, id);
        e.Purchase = new Purchase { OrderId = id, Currency = "EUR" };
        e.Purchase.Lines.Add(new LineItem { Sku = "sku-" + random.Next(100), Category = random.Next(2) == 0 ? "books" : "sports", Quantity = 1, UnitPriceMinor = 100 + random.Next(5000) });
        return e;
    }

    private static Event Mixed(string customer, string id, Random random)
    {
        switch (random.Next(3))
        {
            case 0:
                return Purchase(customer, id, random);
            case 1:
                return Game(customer, id, 1 + random.Next(5));
            default:
                var e = Base(customer, id);
                e.SupportCase = new SupportCase { CaseId = id, Status = SupportStatus.Opened, Channel = SupportChannel.Bot };
                return e;
        }
    }

    /// <summary>Customer ids, uniform or Zipf-distributed (a few hot players, a long tail).</summary>
    private sealed class CustomerPicker
    {
        private readonly int _count;
        private readonly double[]? _cdf;
        private readonly string _prefix;

        public CustomerPicker(int count, string skew, string run)
        {
            _count = Math.Max(1, count);
            _prefix = $"bench-{run}-";
            _once = skew == "once";
            if (skew == "zipf")
            {
                _cdf = new double[_count];
                double sum = 0;
                for (var i = 0; i < _count; i++)
                {
                    sum += 1.0 / (i + 1);
                    _cdf[i] = sum;
                }
                for (var i = 0; i < _count; i++)
                {
                    _cdf[i] /= sum;
                }
            }
        }

        private readonly bool _once;
        private long _used;

        public string NameOf(int index) => _prefix + index.ToString(CultureInfo.InvariantCulture);

        /// <summary>The next customer, or null when every customer was used once (skew "once").</summary>
        public string? Next(Random random)
        {
            if (_once)
            {
                var used = Interlocked.Increment(ref _used) - 1;
                return used < _count ? _prefix + used.ToString(CultureInfo.InvariantCulture) : null;
            }
            if (_cdf is null)
            {
                return _prefix + random.Next(_count).ToString(CultureInfo.InvariantCulture);
            }
            var index = Array.BinarySearch(_cdf, random.NextDouble());
            return _prefix + (index < 0 ? ~index : index).ToString(CultureInfo.InvariantCulture);
        }
    }

    internal sealed class Stats
    {
        private readonly LongHistogram _latency = new(TimeSpan.FromMinutes(5).Ticks, 3);
        private readonly LongHistogram _sendLag = new(TimeSpan.FromMinutes(5).Ticks, 3);
        private readonly Dictionary<string, long> _errors = [];
        private long _events;
        private long _lastEvents;
        private TimeSpan _lastTime;

        private long _measureFrom;

        public long Events => Interlocked.Read(ref _events);

        /// <summary>Every event acknowledged, warm-up included: what the server's counters cover when no scrape marks
        /// the end of the warm-up.</summary>
        public long AllEvents => Interlocked.Read(ref _allEvents);
        private long _allEvents;

        /// <summary>Acknowledgements of what was sent before this instant (the warm-up) are not measured.</summary>
        public void MeasureFrom(long timestamp) => _measureFrom = timestamp;

        public void Acked(long intended, int events, int errors)
        {
            Interlocked.Add(ref _allEvents, events - errors);
            if (intended < _measureFrom && errors == 0)
            {
                return;
            }
            var latency = Stopwatch.GetElapsedTime(intended).Ticks;
            lock (_latency)
            {
                _latency.RecordValue(Math.Max(1, latency));
                if (errors > 0)
                {
                    _errors["rejected or not applied"] = _errors.GetValueOrDefault("rejected or not applied") + errors;
                }
            }
            Interlocked.Add(ref _events, events);
        }

        /// <summary>Open loop: how late the client itself sends an event against its schedule (timer lateness, its own
        /// collections, a writer blocked by flow control). This lag is part of every latency measured from the intended
        /// time, so a p99 whose events were mostly sent late measures the client as much as the engine.</summary>
        public void Sending(long intended)
        {
            if (intended < _measureFrom)
            {
                return;
            }
            var lag = Stopwatch.GetElapsedTime(intended).Ticks;
            lock (_sendLag)
            {
                _sendLag.RecordValue(Math.Max(1, lag));
            }
        }

        public void Failed(string status, int events)
        {
            lock (_latency)
            {
                _errors[status] = _errors.GetValueOrDefault(status) + Math.Max(1, events);
            }
        }

        public void Progress(TimeSpan elapsed, bool json)
        {
            if (json)
            {
                return;
            }
            var events = Events;
            var rate = (events - _lastEvents) / Math.Max((elapsed - _lastTime).TotalSeconds, 0.001);
            _lastEvents = events;
            _lastTime = elapsed;
            double p99;
            lock (_latency)
            {
                p99 = _latency.TotalCount == 0 ? 0 : _latency.GetValueAtPercentile(99) / (double)TimeSpan.TicksPerMillisecond;
            }
            Console.Error.Write($"\r{elapsed.TotalSeconds,5:F0} s  {events,12:N0} events  {rate,10:N0}/s now  p99 {p99,8:F2} ms  errors {_errors.Values.Sum(),6:N0}   ");
        }

        /// <param name="before">The server's counters when its figures' window opened: at the end of the warm-up when
        /// <paramref name="measuredWindow"/>, else before the run.</param>
        public void Report(Options o, TimeSpan elapsed, TimeSpan wall, IReadOnlyDictionary<string, double> before, IReadOnlyDictionary<string, double> after,
            bool measuredWindow, int mismatches, bool json, Primed? primed = null)
        {
            // The events and seconds the server's counters cover: the measured ones, or the whole run's.
            var serverEvents = measuredWindow ? Events : AllEvents;
            var serverSeconds = (measuredWindow ? elapsed : wall).TotalSeconds + 0.5;   // the last scrape comes 0.5 s after the end
            double Ms(double percentile) => _latency.TotalCount == 0 ? 0 : _latency.GetValueAtPercentile(percentile) / (double)TimeSpan.TicksPerMillisecond;
            double Delta(string key) => after.GetValueOrDefault(key) - before.GetValueOrDefault(key);
            double Lag(double percentile) => _sendLag.GetValueAtPercentile(percentile) / (double)TimeSpan.TicksPerMillisecond;
            // Journal appends (each one storage request holding many customers' records) and every storage request the
            // engine made (journal, checkpoints, archive, activation reads, truncation) during the run.
            var appends = Delta("loyalty_journal_append_duration_seconds_count");
            double? eventsPerWrite = appends > 0 ? Delta("loyalty_journal_events_total") / appends : null;
            var requests = Delta("loyalty_storage_requests_total");
            // Both over the server's window, so divided by the events acknowledged in it.
            double? requestsPerEvent = after.ContainsKey("loyalty_storage_requests_total") && serverEvents > 0 ? requests / serverEvents : null;
            var cpuSeconds = Delta("process_cpu_time_seconds_total");
            double? cpu = after.ContainsKey("process_cpu_time_seconds_total") ? cpuSeconds / serverSeconds : null;
            double? cpuPerEvent = after.ContainsKey("process_cpu_time_seconds_total") && serverEvents > 0 ? cpuSeconds * 1e6 / serverEvents : null;
            // Bytes the server's code allocated per event: what its collections have to deal with, and unlike the CPU per
            // event, much the same at any rate and on any machine.
            double? allocatedPerEvent = after.ContainsKey("dotnet_gc_heap_total_allocated_bytes_total") && serverEvents > 0
                ? Delta("dotnet_gc_heap_total_allocated_bytes_total") / serverEvents : null;
            // The share of the run the server's threads stood still for the GC (what a tail latency waits behind).
            double? gcPause = after.ContainsKey("dotnet_gc_pause_time_seconds_total") ? Delta("dotnet_gc_pause_time_seconds_total") / serverSeconds : null;
            var gcCollections = Delta("dotnet_gc_collections_total");
            // A silo's journal appends go one at a time (each moves the journal's head): the share of the run one was in
            // flight says how close the write path is to its limit, and the mean append is what an event waits for
            // at least once (and up to twice: the append in flight, then its own).
            // Checkpoints: how many a second, how many waited for a slot at the end, and the bytes of stored records they
            // had not covered yet (what a saturated engine owes; admission bounds it: Loyalty:Journal:MaxUncoveredBytes).
            double? checkpointsPerSecond = after.ContainsKey("loyalty_journal_append_duration_seconds_count") ? Delta("loyalty_checkpoints_total") / serverSeconds : null;
            double? checkpointsWaiting = after.TryGetValue("loyalty_checkpoints_waiting", out var waiting) ? waiting : checkpointsPerSecond is null ? null : 0;
            double? uncoveredBytes = after.TryGetValue("loyalty_journal_uncovered_bytes", out var uncovered) ? uncovered : checkpointsPerSecond is null ? null : 0;
            // The bench machine's busy share over the same window (engine and storage included when they run here).
            var machineTotal = Delta(MachineTotalKey);
            double? machineBusy = after.ContainsKey(MachineTotalKey) && machineTotal > 0 ? Delta(MachineBusyKey) / machineTotal : null;
            var appendSeconds = Delta("loyalty_journal_append_duration_seconds_sum");
            double? journalBusy = appends > 0 ? appendSeconds / serverSeconds : null;
            double? appendMs = appends > 0 ? appendSeconds * 1000 / appends : null;
            var engineAnswers = EngineAnswerTimes(before, after);
            var summary = new
            {
                scenario = o.Scenario,
                customers = o.Customers,
                skew = o.Skew,
                concurrency = o.Concurrency,
                resultOrder = o.Scenario == "game" ? (o.CompletionOrder ? StreamResultOrder.Completion : StreamResultOrder.Request) : null,
                seconds = Math.Round(elapsed.TotalSeconds, 2),
                events = Events,
                eventsPerSecond = Math.Round(Events / elapsed.TotalSeconds),
                latencyMs = new { p50 = Ms(50), p95 = Ms(95), p99 = Ms(99), max = _latency.TotalCount == 0 ? 0 : _latency.GetMaxValue() / (double)TimeSpan.TicksPerMillisecond },
                sendLagMs = _sendLag.TotalCount == 0 ? null : new { p50 = Lag(50), p99 = Lag(99), max = _sendLag.GetMaxValue() / (double)TimeSpan.TicksPerMillisecond },
                errors = _errors,
                eventsPerStorageWrite = eventsPerWrite is { } e ? Math.Round(e, 2) : (double?)null,
                storageRequestsPerEvent = requestsPerEvent is { } r ? Math.Round(r, 4) : (double?)null,
                serverCpuCores = cpu is { } c ? Math.Round(c, 2) : (double?)null,
                serverCpuMicrosPerEvent = cpuPerEvent is { } u ? Math.Round(u, 1) : (double?)null,
                serverAllocatedBytesPerEvent = allocatedPerEvent is { } ab ? Math.Round(ab) : (double?)null,
                serverGcPauseShare = gcPause is { } g ? Math.Round(g, 3) : (double?)null,
                serverGcCollections = gcPause is null ? (double?)null : gcCollections,
                machineCpuBusyShare = machineBusy is { } mb ? Math.Round(mb, 3) : (double?)null,
                journalBusyShare = journalBusy is { } jb ? Math.Round(jb, 3) : (double?)null,
                journalAppendMs = appendMs is { } am ? Math.Round(am, 2) : (double?)null,
                checkpointsPerSecond = checkpointsPerSecond is { } cps ? Math.Round(cps, 1) : (double?)null,
                checkpointsWaitingAtEnd = checkpointsWaiting,
                uncoveredBytesAtEnd = uncoveredBytes,
                // What the server figures above cover, and the events its journal stored in that window (the client's
                // count of the same window is `events`; they differ by the events in flight at its two ends).
                serverFiguresCover = measuredWindow ? "measured window" : "whole run",
                serverAnsweredWithin50msShare = engineAnswers is { } ea ? Math.Round(ea.Within50Ms, 4) : (double?)null,
                serverAnswerP99AtMostMs = engineAnswers?.P99AtMostMs,
                serverEventsStored = after.ContainsKey("loyalty_journal_events_total") ? Delta("loyalty_journal_events_total") : (double?)null,
                verifyMismatches = o.Scenario == "verify" ? mismatches : (int?)null,
                prime = primed,
            };
            if (json)
            {
                Console.WriteLine(JsonSerializer.Serialize(summary));
                return;
            }
            Console.Error.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scenario {o.Scenario}: {Events:N0} events in {elapsed.TotalSeconds:F1} s = {summary.eventsPerSecond:N0} events/s ({o.Customers:N0} customers, {o.Skew}, concurrency {o.Concurrency}{(summary.resultOrder is { } order ? $", results in {order} order" : "")})"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ack latency  p50 {Ms(50):F2} ms  p95 {Ms(95):F2} ms  p99 {Ms(99):F2} ms  max {summary.latencyMs.max:F2} ms"));
            if (summary.sendLagMs is { } lag)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"send lag     p50 {lag.p50:F2} ms  p99 {lag.p99:F2} ms  max {lag.max:F2} ms (the client behind its own schedule; part of the latency above)"));
            }
            Console.WriteLine(_errors.Count == 0 ? "errors       none" : "errors       " + string.Join(", ", _errors.Select(kv => $"{kv.Key} {kv.Value:N0}")));
            if (o.Scenario == "table-writes")
            {
                Console.WriteLine("storage      raw single-entity upserts with the Azure SDK, no engine: what one write per event would allow");
                return;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"server       {(eventsPerWrite is { } w ? $"{w:F1} events per journal request" : "events per journal request unknown (operator endpoint not reachable)")}{(requestsPerEvent is { } rq ? $", {rq:F4} storage requests per event ({1 / Math.Max(rq, 1e-9):F0} events per request)" : "")}{(cpu is { } cores ? $", CPU {cores:F2} cores" : "")}{(cpuPerEvent is { } us ? $", {us:F1} µs CPU per event" : "")}{(allocatedPerEvent is { } bytes ? $", {bytes / 1024:F1} KB allocated per event" : "")}{(gcPause is { } paused ? $", paused for the GC {paused:P1} of the time ({gcCollections:F0} collections)" : "")}{(journalBusy is { } busy ? $", journal busy {busy:P0} of the time (appends of {appendMs:F1} ms on average)" : "")}{(checkpointsPerSecond is { } ck ? $", {ck:F1} checkpoints a second ({checkpointsWaiting:F0} waiting and {uncoveredBytes / 1e6:F1} MB of records not yet checkpointed at the end)" : "")}{(measuredWindow ? ", over the measured window" : ", over the whole run")}"));
            if (engineAnswers is { } answers)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"engine       answered {answers.Within50Ms:P1} within 50 ms, its p99 {(answers.P99AtMostMs is { } bound ? $"at most {bound:G4} ms" : "beyond its histogram's last bound")} (its own histogram: read to result, {(o.Scenario == "game" ? "each event of a stream" : "each call")})"));
            }
            if (machineBusy is { } machine)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"this machine CPU busy {machine:P0} of the time {(measuredWindow ? "over the measured window" : "over the run")} (all its cores; the engine and its storage too if they run here)"));
            }
            if (o.Scenario == "verify")
            {
                Console.WriteLine(mismatches == 0 ? $"verify       every customer's total exact ({o.Customers:N0} customers)" : $"verify       FAILED: {mismatches} customers wrong");
            }
        }
    }

    /// <summary>A scrape once <paramref name="delay"/> has passed, or none when the run was cancelled first.</summary>
    private static async Task<IReadOnlyDictionary<string, double>?> ScrapeAfter(TimeSpan delay, string operatorEndpoint, string? apiKey, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, ct);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        return await Scrape(operatorEndpoint, apiKey);
    }

    private static async Task<IReadOnlyDictionary<string, double>> Scrape(string operatorEndpoint, string? apiKey)
    {
        var values = new Dictionary<string, double>();
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
            if (apiKey is { Length: > 0 })
            {
                http.DefaultRequestHeaders.Add(Loyalty.Contracts.ApiKeys.Header, apiKey);   // metrics need an admin key
            }
            var text = await http.GetStringAsync($"{operatorEndpoint}/metrics");
            foreach (var line in text.Split('\n'))
            {
                var match = Sample().Match(line);
                if (match.Success && double.TryParse(match.Groups["value"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    var name = match.Groups["name"].Value;
                    values[name] = values.GetValueOrDefault(name) + value;
                    // The engine's answer times by bucket (summed over methods: a run uses one).
                    if (name == PublishBuckets && UpperBound().Match(match.Groups["labels"].Value) is { Success: true } le)
                    {
                        var key = $"{PublishBuckets}:{le.Groups["le"].Value}";
                        values[key] = values.GetValueOrDefault(key) + value;
                    }
                }
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            // No operator endpoint: the report says so.
        }
        if (MachineCpu() is var (busy, total))
        {
            values[MachineBusyKey] = busy;
            values[MachineTotalKey] = total;
        }
        return values;
    }

    private const string PublishBuckets = "loyalty_publish_duration_seconds_bucket";

    /// <summary>The engine's own answer times over the window, from its histogram's buckets (an event of a stream, a
    /// call otherwise): the share answered within 50 ms, and the smallest bucket bound that holds 99 % of them (the
    /// engine's p99 is at most that). Beside the client's latencies they say how much of a tail is the engine's and
    /// how much the transport's, in-order results' and the client's own.</summary>
    private static (double Within50Ms, double? P99AtMostMs)? EngineAnswerTimes(IReadOnlyDictionary<string, double> before, IReadOnlyDictionary<string, double> after)
    {
        var buckets = after.Keys
            .Where(k => k.StartsWith(PublishBuckets + ":", StringComparison.Ordinal))
            .Select(k => (Bound: k[(PublishBuckets.Length + 1)..], Count: after[k] - before.GetValueOrDefault(k)))
            .Select(b => (Seconds: b.Bound == "+Inf" ? double.PositiveInfinity : double.Parse(b.Bound, NumberStyles.Float, CultureInfo.InvariantCulture), b.Count))
            .OrderBy(b => b.Seconds)
            .ToList();
        var total = buckets.Count > 0 ? buckets[^1].Count : 0;
        if (total <= 0)
        {
            return null;
        }
        var within50 = buckets.Where(b => b.Seconds <= 0.05).Select(b => b.Count).DefaultIfEmpty(0).Max();
        var p99 = buckets.First(b => b.Count >= 0.99 * total).Seconds;
        return (within50 / total, double.IsInfinity(p99) ? null : p99 * 1000);   // null: beyond the last bound
    }

    private const string MachineBusyKey = "bench:machine_cpu_busy_seconds";
    private const string MachineTotalKey = "bench:machine_cpu_seconds";

    /// <summary>The CPU time of the machine the bench runs on, busy and in all, in seconds: the <c>cpu</c> line of Linux
    /// <c>/proc/stat</c> (user, nice, system, idle, iowait, irq, softirq and steal, in clock ticks of 100 a second; idle
    /// and iowait are not busy), or none where there is no such file. With the engine and its storage on this machine
    /// too, the busy share over a run says whether they and the client were short of CPU.</summary>
    private static (double Busy, double Total)? MachineCpu()
    {
        string? line;
        try
        {
            using var reader = new StreamReader("/proc/stat");
            line = reader.ReadLine();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        if (line is null || !line.StartsWith("cpu ", StringComparison.Ordinal))
        {
            return null;
        }
        var ticks = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
            .Select(f => long.TryParse(f, NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : -1).ToArray();
        if (ticks.Length < 5 || ticks.Any(t => t < 0))
        {
            return null;
        }
        const double TicksPerSecond = 100;
        var total = ticks.Sum();
        return ((total - ticks[3] - ticks[4]) / TicksPerSecond, total / TicksPerSecond);
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?<labels>\{[^}]*\})?\s+(?<value>\S+)")]
    private static partial Regex Sample();

    [GeneratedRegex(@"\ble=""(?<le>[^""]+)""")]
    private static partial Regex UpperBound();
}

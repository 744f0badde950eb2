using System.Diagnostics;
using Grpc.Core;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using Xunit.Abstractions;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>An engine on memory storage (an explicit opt-in: these tests are about the stream, not durability).</summary>
public sealed class StreamFixture : IAsyncLifetime
{
    public AzuriteProcess Azurite { get; private set; } = null!;
    public ServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Azurite = await AzuriteProcess.StartAsync();
        Server = await ServerProcess.StartAsync(Azurite.ConnectionString, new Dictionary<string, string> { ["Storage__Provider"] = "Memory" });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Azurite.DisposeAsync();
    }
}

[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
public sealed class StreamTests(StreamFixture fixture, ITestOutputHelper output) : IClassFixture<StreamFixture>
{
    private Ingestion.IngestionClient Ingestion => fixture.Server.Ingestion;

    /// <summary>Game minutes 1..5 at difficulty 1 earn 1..5 points at Bronze; 100 events per customer stay Bronze.</summary>
    private static Event GameEvent(string customer, string eventId, int minutes)
    {
        var e = Game(customer, minutes, 1, eventId);
        return e;
    }

    [Fact]
    [Trait("Category", "Load")]
    public async Task A_million_events_to_ten_thousand_customers_come_back_in_order_with_exact_sums_and_bounded_memory()
    {
        const int events = 1_000_000, customers = 10_000;
        var prefix = "m" + Guid.NewGuid().ToString("N")[..6] + "-";
        var before = fixture.Server.Memory();
        var watch = Stopwatch.StartNew();
        using var call = Ingestion.PublishStream();
        // A game server's traffic: each player's events come in bursts of 10 (a match), players interleaved.
        static int CustomerOf(int i) => i / 10 % customers;
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < events; i++)
            {
                await call.RequestStream.WriteAsync(new PublishRequest { Event = GameEvent(prefix + CustomerOf(i), $"{prefix}e{i}", 1 + i % 5) });
            }
            await call.RequestStream.CompleteAsync();
        });
        var sums = new long[customers];
        var received = 0;
        long peak = 0;
        await foreach (var result in call.ResponseStream.ReadAllAsync())
        {
            Assert.Equal($"{prefix}e{received}", result.EventId);
            Assert.Equal(Outcome.Applied, result.Outcome);
            sums[CustomerOf(received)] += result.PointsDelta;
            received++;
            if (received % 100_000 == 0)
            {
                peak = Math.Max(peak, fixture.Server.Memory().Current);
            }
        }
        await writing;
        Assert.Equal(events, received);
        var seconds = watch.Elapsed.TotalSeconds;

        // Every customer holds exactly what its results said (checked for all 10,000).
        await Parallel.ForEachAsync(Enumerable.Range(0, customers), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (c, ct) =>
        {
            var customer = await fixture.Server.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = prefix + c }, cancellationToken: ct);
            Assert.Equal(sums[c], customer.Summary.PointsAvailable);
            Assert.Equal(100, customer.EventsApplied);
        });
        var memory = fixture.Server.Memory();
        output.WriteLine($"{events:N0} events in {seconds:F1} s ({events / seconds:N0}/s); server RSS before {before.Current / 1048576} MB, " +
            $"sampled during {peak / 1048576} MB, peak (VmHWM) {memory.Peak / 1048576} MB");
        // 10,000 active customers with 100 events each live in memory storage; the stream itself adds only its window.
        // Memory storage holds all 10,000 customers and their whole archived ledger in RAM (about 2.8 GB measured); the
        // stream adds only its in-flight window (see the backpressure test). A leak per event would go far beyond this.
        Assert.True(memory.Peak < 4096L * 1024 * 1024, $"server peak working set {memory.Peak / 1048576} MB");
    }

    [Fact]
    public async Task A_client_that_writes_without_reading_is_held_back_and_server_memory_stays_bounded()
    {
        var prefix = "b" + Guid.NewGuid().ToString("N")[..6] + "-";
        var before = fixture.Server.Memory().Current;
        using var cts = new CancellationTokenSource();
        using var call = Ingestion.PublishStream(cancellationToken: cts.Token);
        // Write until the client can no longer write: flow control holds it back.
        var (writer, last) = await StalledWriter.Start(call, 2_000_000, i => GameEvent(prefix + (i % 500), $"{prefix}e{i}", 1), TimeSpan.FromSeconds(3));
        var memory = fixture.Server.Memory().Current;
        output.WriteLine($"client stalled after writing {last:N0} of 2,000,000 events; server RSS {before / 1048576} MB → {memory / 1048576} MB");
        Assert.False(writer.Writing.IsCompleted, "the client wrote everything: nothing held it back");
        // 1,000 in flight plus what the HTTP/2 windows and socket buffers hold (about 100 bytes an event).
        Assert.InRange(last, 1_000, 100_000);
        Assert.True(memory - before < 200L * 1024 * 1024, $"server memory grew by {(memory - before) / 1048576} MB");
        await cts.CancelAsync();
        await writer.Writing;
    }

    [Fact]
    public async Task A_malformed_event_is_rejected_in_its_slot_and_the_stream_goes_on_with_each_customers_order_kept()
    {
        var a = NewCustomer();
        var b = NewCustomer();
        using var call = Ingestion.PublishStream();
        var bad = Game(a, 1, 1);
        bad.GameSession.Difficulty = 0;
        var purchase = Purchase(b, "o-1", Line("bib", "baby", 2, 1000));
        var refund = Base(b);
        refund.Refund = new Refund { OrderId = "o-1" };
        refund.Refund.Lines.Add(Line("bib", "baby", 1, 1000));
        var sent = new[] { Game(a, 10, 1), bad, purchase, refund, new Event(), Game(a, 5, 1) };
        foreach (var e in sent)
        {
            await call.RequestStream.WriteAsync(new PublishRequest { Event = e });
        }
        await call.RequestStream.CompleteAsync();
        var results = await call.ResponseStream.ReadAllAsync().ToListAsync();

        Assert.Equal(sent.Select(e => e.EventId), results.Select(r => r.EventId));
        Assert.Equal([Outcome.Applied, Outcome.Rejected, Outcome.Applied, Outcome.Applied, Outcome.Rejected, Outcome.Applied],
            results.Select(r => r.Outcome));
        Assert.Equal("event.game_session.difficulty", results[1].ErrorField);
        // The refund came after its purchase: applied, not "unknown order".
        Assert.Equal((40L, -20L), (results[2].PointsDelta, results[3].PointsDelta));
        Assert.Equal(15, results[5].Customer.PointsAvailable);
    }

    [Fact]
    public async Task Cancelling_mid_stream_then_sending_everything_again_applies_every_event_exactly_once()
    {
        var prefix = "c" + Guid.NewGuid().ToString("N")[..6] + "-";
        var all = Enumerable.Range(0, 20_000).Select(i => GameEvent(prefix + (i % 200), $"{prefix}e{i}", 1 + i % 3)).ToList();
        var expected = all.GroupBy(e => e.CustomerId).ToDictionary(g => g.Key, g => g.Sum(e => (long)(e.GameSession.DurationSeconds / 60)));

        using (var cts = new CancellationTokenSource())
        {
            using var call = Ingestion.PublishStream(cancellationToken: cts.Token);
            var writing = Task.Run(async () =>
            {
                try
                {
                    foreach (var e in all)
                    {
                        await call.RequestStream.WriteAsync(new PublishRequest { Event = e });
                    }
                }
                catch (Exception ex) when (ex is RpcException or OperationCanceledException or InvalidOperationException)
                {
                }
            });
            var read = 0;
            try
            {
                await foreach (var _ in call.ResponseStream.ReadAllAsync(cts.Token))
                {
                    if (++read == 3_000)
                    {
                        await cts.CancelAsync();
                    }
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
            {
            }
            await writing;
            output.WriteLine($"cancelled after reading {read} results");
        }

        // The client resends everything, as it must for what was not acknowledged.
        using var again = Ingestion.PublishStream();
        var sender = Task.Run(async () =>
        {
            foreach (var e in all)
            {
                await again.RequestStream.WriteAsync(new PublishRequest { Event = e });
            }
            await again.RequestStream.CompleteAsync();
        });
        var outcomes = new Dictionary<Outcome, int>();
        await foreach (var r in again.ResponseStream.ReadAllAsync())
        {
            Assert.True(r.Outcome is Outcome.Applied or Outcome.Duplicate, $"{r.EventId}: {r.Outcome} {r.Error}");
            outcomes[r.Outcome] = outcomes.GetValueOrDefault(r.Outcome) + 1;
        }
        await sender;
        output.WriteLine(string.Join(", ", outcomes.Select(kv => $"{kv.Key} {kv.Value}")));
        Assert.True(outcomes.GetValueOrDefault(Outcome.Duplicate) >= 3_000);
        foreach (var (customer, points) in expected)
        {
            var c = await fixture.Server.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = customer });
            Assert.Equal(points, c.Summary.PointsAvailable);
            Assert.Equal(100, c.EventsApplied);
        }
    }
}

/// <summary>A server on a real Azurite that a test stops mid-stream and starts again.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[RunsForAbout(11)]
public sealed class StreamShutdownTests(ITestOutputHelper output) : IAsyncLifetime
{
    private AzuriteProcess _azurite = null!;

    public async Task InitializeAsync() => _azurite = await AzuriteProcess.StartAsync();

    public async Task DisposeAsync() => await _azurite.DisposeAsync();

    [Fact]
    public async Task A_server_shutting_down_mid_stream_answers_every_event_it_read_and_a_resend_applies_each_exactly_once()
    {
        var prefix = "t" + Guid.NewGuid().ToString("N")[..6] + "-";
        var all = Enumerable.Range(0, 4_000).Select(i => Game(prefix + (i % 50), 1 + i % 3, 1, $"{prefix}e{i}")).ToList();
        var expected = all.GroupBy(e => e.CustomerId).ToDictionary(g => g.Key, g => g.Sum(e => (long)(e.GameSession.DurationSeconds / 60)));
        var acknowledged = new HashSet<string>();
        var outcomes = new Dictionary<Outcome, int>();

        await using (var server = await ServerProcess.StartAsync(_azurite.ConnectionString))
        {
            using var call = server.Ingestion.PublishStream();
            var writing = Task.Run(async () =>
            {
                try
                {
                    foreach (var e in all)
                    {
                        await call.RequestStream.WriteAsync(new PublishRequest { Event = e });
                    }
                    await call.RequestStream.CompleteAsync();
                }
                catch (Exception ex) when (ex is RpcException or InvalidOperationException or IOException)
                {
                    // the server went away
                }
            });
            var received = 0;
            try
            {
                await foreach (var r in call.ResponseStream.ReadAllAsync())
                {
                    Assert.Equal(all[received].EventId, r.EventId);   // in order, none skipped
                    Assert.True(r.Outcome is Outcome.Applied or Outcome.NotApplied, $"{r.EventId}: {r.Outcome} {r.Error}");
                    outcomes[r.Outcome] = outcomes.GetValueOrDefault(r.Outcome) + 1;
                    if (r.Outcome == Outcome.Applied)
                    {
                        acknowledged.Add(r.EventId);
                    }
                    if (++received == 500)
                    {
                        server.Terminate();   // SIGTERM: graceful shutdown while events are in flight
                    }
                }
            }
            catch (RpcException e)
            {
                output.WriteLine($"stream ended with {e.StatusCode}");
            }
            await writing;
            output.WriteLine($"before shutdown completed: {received} results ({string.Join(", ", outcomes.Select(kv => $"{kv.Key} {kv.Value}"))}); exit {await server.WaitForExitAsync(TimeSpan.FromSeconds(60))}");
            Assert.True(received >= 500);
        }

        // A new server on the same storage; the client sends everything again.
        await using var restarted = await ServerProcess.StartAsync(_azurite.ConnectionString);
        using var again = restarted.Ingestion.PublishStream();
        var sender = Task.Run(async () =>
        {
            foreach (var e in all)
            {
                await again.RequestStream.WriteAsync(new PublishRequest { Event = e });
            }
            await again.RequestStream.CompleteAsync();
        });
        await foreach (var r in again.ResponseStream.ReadAllAsync())
        {
            Assert.True(r.Outcome is Outcome.Applied or Outcome.Duplicate, $"{r.EventId}: {r.Outcome} {r.Error}");
            if (acknowledged.Contains(r.EventId))
            {
                Assert.Equal(Outcome.Duplicate, r.Outcome);   // acknowledged before the shutdown: never applied twice
            }
        }
        await sender;
        foreach (var (customer, points) in expected)
        {
            var c = await restarted.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = customer });
            Assert.Equal(points, c.Summary.PointsAvailable);
            Assert.Equal(80, c.EventsApplied);
        }
    }
}

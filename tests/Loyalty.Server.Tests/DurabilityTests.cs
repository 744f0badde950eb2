using Grpc.Core;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[Collection(ServerCollection.Name)]
public sealed class DurabilityTests(ServerFixture fixture)
{
    [Fact]
    public async Task Server_killed_right_after_500_applied_answers_keeps_them_all_and_replays_them_as_duplicates()
    {
        var customers = Enumerable.Range(0, 50).Select(_ => NewCustomer()).ToArray();
        var events = Enumerable.Range(0, 500).Select(i => Game(customers[i % 50], minutes: 1 + i % 4, difficulty: 1, eventId: $"k{i}")).ToArray();

        var first = await ServerProcess.StartAsync(fixture.Azurite.ConnectionString);
        var applied = 0;
        try
        {
            var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(task => Task.Run(async () =>
            {
                var mine = new List<PublishResult>();
                for (var i = task; i < events.Length; i += 16)
                {
                    mine.Add(await first.Ingestion.PublishAsync(Req(events[i])));
                }
                return mine;
            })));
            applied = results.SelectMany(r => r).Count(r => r.Outcome == Outcome.Applied);
        }
        finally
        {
            await first.KillAsync(); // SIGKILL: no graceful shutdown, nothing flushed on the way out
            await first.DisposeAsync();
        }
        Assert.Equal(500, applied);

        await using var second = await ServerProcess.StartAsync(fixture.Azurite.ConnectionString);
        for (var c = 0; c < customers.Length; c++)
        {
            var expected = Enumerable.Range(0, 500).Where(i => i % 50 == c).Sum(i => 1 + i % 4);
            var customer = await second.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = customers[c] });
            Assert.Equal(expected, customer.Summary.PointsLifetime);
            Assert.Equal(10, customer.EventsApplied);
        }
        var replays = await second.Ingestion.PublishBatchAsync(new PublishBatchRequest { Events = { events.Take(500) } });
        Assert.All(replays.Results, r => Assert.Equal(Outcome.Duplicate, r.Outcome));
        Assert.Equal(events.Select(e => (long)(e.GameSession.DurationSeconds / 60)), replays.Results.Select(r => r.PointsDelta));
    }
}

/// <summary>Servers SIGKILLed at random moments while 16 callers publish without pause, so kills land while journal
/// appends are in flight (mid-flush). Afterwards every acknowledged event is there exactly once, events whose answer
/// was lost are there at most once, and every customer's ledger adds up to its balance.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[Collection(ServerCollection.Name)]
public sealed class KillDuringFlushTests(ServerFixture fixture)
{
    /// <summary>Each event and the journal's recovery in the log, for the file written if an event is lost.</summary>
    private static readonly Dictionary<string, string> Traced = new()
    {
        ["Logging__LogLevel__Loyalty.Grains.CustomerGrain"] = "Debug",
        ["Logging__LogLevel__Loyalty.Grains.Journal"] = "Debug",
    };

    [Fact]
    public async Task Servers_killed_mid_flush_lose_no_acknowledged_event_and_count_none_twice()
    {
        var customers = Enumerable.Range(0, 40).Select(_ => NewCustomer()).ToArray();
        var acked = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();   // event id -> points answered
        var sent = new System.Collections.Concurrent.ConcurrentDictionary<string, Event>();
        var random = new Random(15);
        var seq = 0;
        var servers = new List<ServerProcess>();
        for (var round = 0; round < 3; round++)
        {
            var server = await ServerProcess.StartAsync(fixture.Azurite.ConnectionString, Traced);
            servers.Add(server);
            using var stop = new CancellationTokenSource();
            var workers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var n = Interlocked.Increment(ref seq);
                    var e = Game(customers[n % customers.Length], minutes: 1 + n % 5, difficulty: 1, eventId: $"kill-{n}");
                    sent[e.EventId] = e;
                    try
                    {
                        var r = await server.Ingestion.PublishAsync(Req(e), deadline: DateTime.UtcNow.AddSeconds(20));
                        if (r.Outcome is Outcome.Applied or Outcome.Duplicate)
                        {
                            acked[e.EventId] = r.PointsDelta;
                        }
                    }
                    catch (RpcException)
                    {
                        // Answer lost (killed, or refused): the event may or may not be stored; a retry decides.
                        await Task.Delay(20);
                    }
                }
            })).ToArray();
            // Kill once this round is flowing (a restarted server first recovers the killed one's journal), at a random moment.
            var flowing = acked.Count + 100;
            for (var waited = 0; acked.Count < flowing && waited < 600; waited++)
            {
                await Task.Delay(50);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(1500)));
            await server.KillAsync(); // SIGKILL while appends are in flight
            await stop.CancelAsync();
            await Task.WhenAll(workers);
            await server.DisposeAsync();
        }
        Assert.True(acked.Count > 300, $"only {acked.Count} events were acknowledged before the kills");
        Assert.True(sent.Count > acked.Count, "no call was in flight when a server was killed");

        await using var last = await ServerProcess.StartAsync(fixture.Azurite.ConnectionString, Traced);
        // Retry everything that was sent: acknowledged events answer DUPLICATE with the points first answered.
        foreach (var chunk in sent.Values.OrderBy(e => e.EventId, StringComparer.Ordinal).Chunk(500))
        {
            var replies = await last.Ingestion.PublishBatchAsync(new PublishBatchRequest { Events = { chunk } }, deadline: DateTime.UtcNow.AddSeconds(60));
            for (var i = 0; i < chunk.Length; i++)
            {
                var reply = replies.Results[i];
                Assert.True(reply.Outcome is Outcome.Applied or Outcome.Duplicate, $"{chunk[i].EventId}: {reply.Outcome} {reply.Error}");
                if (acked.TryGetValue(chunk[i].EventId, out var points))
                {
                    if (reply.Outcome != Outcome.Duplicate)
                    {
                        Assert.Fail($"acknowledged {chunk[i].EventId} of {chunk[i].CustomerId} was lost: it applied again; logs in {KeepLogs($"lost: {chunk[i].EventId} of {chunk[i].CustomerId}")}");
                    }
                    Assert.Equal(points, reply.PointsDelta);
                }
            }
        }
        // Now every sent event is in exactly once: the books add up.
        foreach (var customer in customers)
        {
            var events = sent.Values.Where(e => e.CustomerId == customer).ToArray();
            var expected = events.Sum(e => (long)(e.GameSession.DurationSeconds / 60));
            Customer view;
            long ledger = 0;
            try
            {
                view = await last.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = customer });
                var token = "";
                do
                {
                    var page = await last.Customers.ListLedgerAsync(new ListLedgerRequest { CustomerId = customer, PageSize = 1000, PageToken = token });
                    ledger += page.Entries.Sum(x => x.Points + x.PendingPoints);
                    token = page.NextPageToken;
                }
                while (token.Length > 0);
            }
            catch (RpcException e)
            {
                throw new InvalidOperationException($"{customer}: reading it back failed with {e.StatusCode} {e.Status.Detail}; logs in {KeepLogs($"read: {customer}")}", e);
            }
            if (view.Summary.PointsLifetime != expected || view.Summary.PointsAvailable + view.Summary.PointsPending != ledger)
            {
                Assert.Fail($"{customer}: {events.Length} events sent ({events.Count(e => acked.ContainsKey(e.EventId))} acknowledged) worth {expected} points; " +
                    $"lifetime {view.Summary.PointsLifetime}, available {view.Summary.PointsAvailable} + pending {view.Summary.PointsPending} against a ledger of {ledger}; " +
                    $"logs in {KeepLogs($"books: {customer}")}");
            }
        }

        // Every process's log (the three killed, the last, the fixture's server on the same storage) in one file.
        string KeepLogs(string what)
        {
            var path = Path.Combine(Path.GetTempPath(), $"kill-during-flush-{Guid.NewGuid():N}.log");
            File.WriteAllText(path, string.Join("\n", servers.Append(last).Append(fixture.Server)
                .Select((p, n) => $"===== process {n} (pid {p.Pid}, port {p.Port})\n{p.Log}")) + $"\n{what}\n");
            return path;
        }
    }
}

[Trait("Needs", "Process")]
public sealed class StartupTests
{
    /// <summary>Starts the engine with the sample program edited by <paramref name="edit"/>; returns its exit code and log.</summary>
    private static async Task<(int Exit, string Log, string File)> StartWithProgram(Func<string, string> edit)
    {
        var file = Path.Combine(Path.GetTempPath(), $"bad-program-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, edit(File.ReadAllText(RepoPaths.SampleProgram)));
        try
        {
            await using var server = ServerProcess.Launch("UseDevelopmentStorage=true", new Dictionary<string, string> { ["ProgramPath"] = file });
            var exit = await server.WaitForExitAsync(TimeSpan.FromSeconds(60));
            return (exit, server.Log, file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task A_malformed_program_stops_the_server_at_start_naming_file_path_and_problem()
    {
        var (exit, log, file) = await StartWithProgram(t => t.Replace("\"qualifyingPoints\": 1000", "\"qualifyingPoints\": -5", StringComparison.Ordinal));
        Assert.Equal(2, exit);
        Assert.Contains(file, log, StringComparison.Ordinal);
        Assert.Contains("$.tiers.levels[1].qualifyingPoints", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_property_in_the_program_is_refused_with_its_path()
    {
        var (exit, log, _) = await StartWithProgram(t => t.Replace("\"pointsPerMinute\": 1,", "\"pointsPerMinutes\": 1,", StringComparison.Ordinal));
        Assert.Equal(2, exit);
        Assert.Contains("pointsPerMinutes", log, StringComparison.Ordinal);
        Assert.Contains("$.earning.gameSession", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_mistake_stops_the_server_at_start_with_its_path()
    {
        var (exit, log, _) = await StartWithProgram(t => t.Replace("\"satisfactionAtLeast\": 4", "\"satisfactionAtLeast\": 9", StringComparison.Ordinal));
        Assert.Equal(2, exit);
        Assert.Contains("$.rules[4].if.all[2].satisfactionAtLeast", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_storage_connection_the_server_refuses_to_start_rather_than_fall_back_to_memory()
    {
        await using var server = ServerProcess.Launch("");
        var exit = await server.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, exit);
        Assert.Contains("ConnectionString is required", server.Log, StringComparison.Ordinal);
    }
}

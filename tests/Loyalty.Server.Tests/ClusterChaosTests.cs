using System.Collections.Concurrent;
using Grpc.Core;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using Xunit.Abstractions;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>
/// Chaos on real processes: three engine processes in one cluster on Azurite (Azure Table membership), several
/// PublishStream streams and Watch streams against them, and silos killed with SIGKILL at random moments (appends in
/// flight) and started again. Afterwards every acknowledged event is in exactly once, every Watch saw its customer's
/// ledger without a gap, each ledger adds up to its balance, and a retry of everything answers DUPLICATE.
/// The suite runs 3 kills; <c>LOYALTY_CHAOS_KILLS=12</c> (and <c>LOYALTY_CHAOS_SECONDS</c> between kills) makes the
/// long run recorded in docs/benchmarks.md.
/// </summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[RunsForAbout(100)]
public sealed class ClusterChaosTests(ITestOutputHelper output) : IAsyncLifetime
{
    private AzuriteProcess _azurite = null!;
    private readonly ServerProcess?[] _silos = new ServerProcess?[3];
    private readonly List<ServerProcess> _dead = [];

    /// <summary>Everything every silo (live or killed) logged, to a file named in the output.</summary>
    private void Diagnose(string what)
    {
        var path = Path.Combine(Path.GetTempPath(), $"chaos-{what}-{Guid.NewGuid():N}.log");
        using var file = new StreamWriter(path);
        var n = 0;
        foreach (var silo in _dead.Concat(_silos.OfType<ServerProcess>()))
        {
            file.WriteLine($"===== silo {n} (pid {silo.Pid}, port {silo.Port}, {(silo.HasExited ? "exited" : "running")})");
            file.WriteLine(silo.Log);
            // The file is gone with a CI machine: the last failures of each silo go to the test's output too.
            var lines = silo.Log.Split('\n');
            var failures = lines.Select((line, i) => (line, i)).Where(x => x.line.StartsWith("fail:", StringComparison.Ordinal) || x.line.StartsWith("crit:", StringComparison.Ordinal))
                .TakeLast(8).Select(x => x.line.Trim() + " " + (x.i + 1 < lines.Length ? lines[x.i + 1].Trim() : ""));
            output.WriteLine($"silo {n} ({(silo.HasExited ? "exited" : "running")}), last failures: {string.Join(" || ", failures)}");
            n++;
        }
        output.WriteLine($"silo logs ({what}): {path}");
    }

    public async Task InitializeAsync() => _azurite = await AzuriteProcess.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var silo in _silos.Concat(_dead))
        {
            if (silo is not null)
            {
                await silo.DisposeAsync();
            }
        }
        await _azurite.DisposeAsync();
    }

    private sealed record Sent(Event Event, long? Points);

    /// <summary>The default run: three kills under streams paced at about 200 events a second in all (the engine
    /// keeps up, so this machine's two cores stay shared with the other tests; the load run goes at full speed).</summary>
    [Fact]
    public Task Silos_killed_at_random_under_streams_lose_nothing_acknowledged_and_count_nothing_twice() =>
        Chaos(Setting("LOYALTY_CHAOS_KILLS", 3), Setting("LOYALTY_CHAOS_SECONDS", 4), pauseMs: (20, 40));

    /// <summary>The load run: eight kills under streams as fast as the cluster takes them.</summary>
    [Fact]
    [Trait("Category", "Load")]
    public Task Silos_killed_again_and_again_under_full_speed_streams_lose_nothing_acknowledged() =>
        Chaos(Setting("LOYALTY_CHAOS_KILLS", 8), Setting("LOYALTY_CHAOS_SECONDS", 4), pauseMs: (0, 3));

    /// <summary>A read, retried while the engine answers UNAVAILABLE (as its clients are told to): a customer whose
    /// activation was on a killed silo answers once the cluster has declared that silo dead.</summary>
    private static async Task<T> Retried<T>(Func<Task<T>> call)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && attempt < 4)
            {
                await Task.Delay(1000);
            }
        }
    }

    private static int Setting(string name, int otherwise) => int.TryParse(Environment.GetEnvironmentVariable(name), out var n) ? n : otherwise;

    private async Task Chaos(int kills, int spacing, (int Min, int Max) pauseMs)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var clusterId = "chaos-" + Guid.NewGuid().ToString("N")[..8];
        var ports = Enumerable.Range(0, 3).Select(_ => (Api: FreePorts.Next(), Silo: FreePorts.Next())).ToArray();
        // Webhooks of every notice to a receiver in this process: customers and delivery buckets move between silos
        // with every kill, and no notice may be lost.
        await using var receiver = await WebhookReceiver.StartAsync();
        string[] hookKinds = ["reward", "perk", "perk_expired", "tier", "expiring"];
        var hooks = WebhookChecks.Settings(receiver, hookKinds);
        Task<ServerProcess> Start(int i) => ServerProcess.StartAsync(_azurite.ConnectionString, new Dictionary<string, string>(hooks)
        {
            ["Cluster__Provider"] = "AzureTable",
            ["Cluster__ClusterId"] = clusterId,
            ["Cluster__ServiceId"] = "loyalty-chaos",
            // A restarted silo comes back on its address (as a restarted host does): its new incarnation makes the
            // cluster declare the killed one dead at once instead of after missed probes.
            ["Cluster__SiloPort"] = ports[i].Silo.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }, ports[i].Api);
        for (var i = 0; i < 3; i++)
        {
            _silos[i] = await Start(i);
        }

        output.WriteLine($"{clock.Elapsed}: 3 silos started");
        // Enough customers that none passes the dedupe table's 3,000 ids in the run: an event that was never applied and
        // is older than every id a customer still remembers is refused on retry, by design (it cannot be exactly once).
        var customers = Enumerable.Range(0, Math.Max(120, kills * 40)).Select(_ => NewCustomer()).ToArray();
        var watched = customers.Take(4).ToArray();
        var sent = new ConcurrentDictionary<string, Sent>();
        var seq = 0;
        var broken = 0;
        var outcomes = new ConcurrentDictionary<string, int>();
        using var stop = new CancellationTokenSource();
        using var stopWatching = new CancellationTokenSource();
        ServerProcess AnyLive(int hint)
        {
            for (var i = 0; i < 3; i++)
            {
                if (_silos[(hint + i) % 3] is { HasExited: false } silo)
                {
                    return silo;
                }
            }
            throw new InvalidOperationException("no silo is running");
        }

        // Streams: each writes game sessions and reads results in turn; a stream that breaks (its silo killed) leaves
        // its unanswered events unknown, and the writer opens a new stream on another silo.
        async Task Stream(int worker)
        {
            var random = new Random(worker);
            while (!stop.IsCancellationRequested)
            {
                var silo = AnyLive(worker);
                try
                {
                    // Half the streams take their results in completion order (x-result-order): results are matched by
                    // event id either way, and every check below holds for both.
                    var order = worker % 2 == 1 ? new Metadata { { "x-result-order", "completion" } } : null;
                    using var call = silo.Ingestion.PublishStream(order, cancellationToken: CancellationToken.None);
                    var reader = Task.Run(async () =>
                    {
                        await foreach (var result in call.ResponseStream.ReadAllAsync())
                        {
                            outcomes.AddOrUpdate(result.Outcome == Outcome.NotApplied ? $"{result.Outcome} ({result.Error})" : result.Outcome.ToString(), 1, (_, n) => n + 1);
                            if (result.Outcome is Outcome.Applied or Outcome.Duplicate && sent.TryGetValue(result.EventId, out var was))
                            {
                                sent[result.EventId] = was with { Points = result.PointsDelta };
                            }
                        }
                    });
                    while (!stop.IsCancellationRequested && !reader.IsCompleted)
                    {
                        var n = Interlocked.Increment(ref seq);
                        var who = customers[random.Next(customers.Length)];
                        // Mostly game sessions; every 40th a purchase of baby goods, which grants rewards and moves
                        // tiers: notices for the webhook receiver.
                        var e = n % 40 == 0 ? Purchase(who, $"chaos-order-{n}", Line("stroller", "baby", 1, 24999)) : Game(who, minutes: 1 + n % 5, difficulty: 1);
                        e.EventId = $"chaos-{n}";
                        sent[e.EventId] = new Sent(e, null);
                        await call.RequestStream.WriteAsync(new PublishRequest { Event = e });
                        await Task.Delay(random.Next(pauseMs.Min, pauseMs.Max));
                    }
                    await call.RequestStream.CompleteAsync();
                    await reader.WaitAsync(TimeSpan.FromSeconds(30));
                }
                catch (Exception ex) when (ex is RpcException or InvalidOperationException or IOException or TimeoutException)
                {
                    Interlocked.Increment(ref broken);
                    await Task.Delay(100);
                }
            }
        }

        // Watches: each follows one customer from sequence 0, reconnecting after the last sequence it saw.
        var seen = watched.ToDictionary(c => c, _ => new List<long>());
        static long Last(List<long> list)
        {
            lock (list)
            {
                return list.Count == 0 ? 0 : list[^1];
            }
        }
        async Task Watch(string customer, int worker)
        {
            var list = seen[customer];
            while (!stopWatching.IsCancellationRequested)
            {
                try
                {
                    using var call = AnyLive(worker).Customers.Watch(new WatchRequest { CustomerId = customer, Since = Last(list) },
                        cancellationToken: stopWatching.Token);
                    await foreach (var entry in call.ResponseStream.ReadAllAsync(stopWatching.Token))
                    {
                        lock (list)
                        {
                            list.Add(entry.Sequence);
                        }
                    }
                }
                catch (Exception ex) when (ex is RpcException or OperationCanceledException or InvalidOperationException)
                {
                    await Task.Delay(200);
                }
            }
        }

        var streams = Enumerable.Range(0, 6).Select(w => Task.Run(() => Stream(w))).ToArray();
        var watches = watched.Select((c, i) => Task.Run(() => Watch(c, i))).ToArray();
        var random = new Random(42);
        for (var kill = 0; kill < kills; kill++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(1000 * spacing / 2 + random.Next(1000 * spacing)));
            var victim = random.Next(3);
            var before = sent.Count(x => x.Value.Points is not null);
            await _silos[victim]!.KillAsync();   // SIGKILL, while streams are writing: appends in flight
            _dead.Add(_silos[victim]!);
            _silos[victim] = null;
            output.WriteLine($"kill {kill + 1}: silo {victim} at {sent.Count} sent, {before} acknowledged; answers so far: {string.Join(", ", outcomes.Select(o => $"{o.Key} {o.Value}"))}");
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(1500)));
            _silos[victim] = await Start(victim);
        }
        await Task.Delay(TimeSpan.FromSeconds(3));
        await stop.CancelAsync();
        await Task.WhenAll(streams);
        output.WriteLine($"{clock.Elapsed}: kills done, streams stopped");
        // A Watch whose customer's activation died with a silo resubscribes at its next renewal (at most 30 s): give
        // every watch that long to reach what its customer's ledger holds now, then stop them.
        foreach (var customer in watched)
        {
            var through = 0L;
            var token = "";
            do
            {
                var page = await Retried(() => AnyLive(0).Customers.ListLedgerAsync(new ListLedgerRequest { CustomerId = customer, PageSize = 1000, PageToken = token }).ResponseAsync);
                through = Math.Max(through, page.Entries.Count == 0 ? 0 : page.Entries.Max(e => e.Sequence));
                token = page.NextPageToken;
            }
            while (token.Length > 0);
            var until = DateTime.UtcNow.AddSeconds(45);
            while (Last(seen[customer]) < through && DateTime.UtcNow < until)
            {
                await Task.Delay(250);
            }
        }
        await stopWatching.CancelAsync();
        await Task.WhenAll(watches);
        output.WriteLine($"{clock.Elapsed}: watches caught up");

        // A NOT_APPLIED result says why in words a client can act on, never with exception details.
        Assert.DoesNotContain(outcomes.Keys, reason => reason.Contains("Exception", StringComparison.Ordinal) || reason.Contains(" at ", StringComparison.Ordinal));
        var acked = sent.Values.Where(x => x.Points is not null).ToDictionary(x => x.Event.EventId, x => x.Points!.Value);
        output.WriteLine($"{kills} kills; {sent.Count} events sent, {acked.Count} acknowledged, {broken} streams broken");
        Assert.True(acked.Count > 500, $"only {acked.Count} events were acknowledged");
        Assert.True(broken >= kills, $"only {broken} streams broke in {kills} kills: the kills did not hit the traffic");

        // A silo the cluster declared dead (missed probes on two busy cores) stops itself, as Orleans silos do; clients
        // go on at the others, and so do the checks below. Said here, with its log, because it is worth knowing.
        for (var i = 0; i < 3; i++)
        {
            if (_silos[i] is { HasExited: true } gone)
            {
                output.WriteLine($"silo {i} stopped on its own (exit code {gone.ExitCode}); last lines: {string.Join(" | ", gone.Log.Split('\n').TakeLast(5))}");
                // Declared dead, not crashed: anything else is a failure, with every silo's log kept.
                if (!gone.Log.Contains("dead", StringComparison.OrdinalIgnoreCase))
                {
                    Diagnose($"silo-{i}-stopped");
                }
                Assert.Contains("dead", gone.Log, StringComparison.OrdinalIgnoreCase);
            }
        }
        Assert.Contains(_silos, s => s is { HasExited: false });

        // Retry everything that was sent: what was acknowledged answers DUPLICATE with the points first answered.
        var duplicates = 0;
        var final = new Dictionary<string, long>();   // event id -> its points, now that every event is in
        foreach (var chunk in sent.Values.Select(x => x.Event).OrderBy(e => e.EventId, StringComparer.Ordinal).Chunk(500))
        {
            PublishBatchResponse replies = null!;
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    replies = await AnyLive(attempt).Ingestion.PublishBatchAsync(new PublishBatchRequest { Events = { chunk } }, deadline: DateTime.UtcNow.AddSeconds(60));
                    if (replies.Results.All(r => r.Outcome is Outcome.Applied or Outcome.Duplicate) || attempt == 5)
                    {
                        break;
                    }
                }
                catch (RpcException) when (attempt < 5)
                {
                }
                catch (RpcException)
                {
                    Diagnose("resend");
                    throw;
                }
                await Task.Delay(1000);
            }
            for (var i = 0; i < chunk.Length; i++)
            {
                var reply = replies.Results[i];
                Assert.True(reply.Outcome is Outcome.Applied or Outcome.Duplicate, $"{chunk[i].EventId}: {reply.Outcome} {reply.Error}");
                final[chunk[i].EventId] = reply.PointsDelta;
                if (acked.TryGetValue(chunk[i].EventId, out var points))
                {
                    if (reply.Outcome != Outcome.Duplicate)
                    {
                        Diagnose(chunk[i].EventId + "-of-" + chunk[i].CustomerId);
                    }
                    Assert.True(reply.Outcome == Outcome.Duplicate, $"acknowledged {chunk[i].EventId} of {chunk[i].CustomerId} was lost: it applied again");
                    Assert.Equal(points, reply.PointsDelta);
                    duplicates++;
                }
            }
        }
        Assert.Equal(acked.Count, duplicates);
        output.WriteLine($"{clock.Elapsed}: every event resent");

        // Every sent event is now in exactly once: its ledger entries add up to the points it was answered with (tier
        // multipliers and rules included), the ledger runs 1, 2, 3... without a gap and adds up to the balance.
        var finalSeq = new Dictionary<string, long>();
        foreach (var customer in customers)
        {
            var mine = sent.Values.Where(x => x.Event.CustomerId == customer).Select(x => x.Event.EventId).ToHashSet();
            var view = await Retried(() => AnyLive(0).Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = customer }).ResponseAsync);
            var entries = new List<LedgerEntry>();
            var token = "";
            do
            {
                var page = await Retried(() => AnyLive(0).Customers.ListLedgerAsync(new ListLedgerRequest { CustomerId = customer, PageSize = 1000, PageToken = token }).ResponseAsync);
                entries.AddRange(page.Entries);
                token = page.NextPageToken;
            }
            while (token.Length > 0);
            var byEvent = entries.Where(e => mine.Contains(e.EventId)).GroupBy(e => e.EventId).ToDictionary(g => g.Key, g => g.Sum(e => e.Points + e.PendingPoints));
            foreach (var id in mine)
            {
                Assert.Equal(final[id], byEvent.GetValueOrDefault(id));
            }
            Assert.Equal(mine.Sum(id => final[id]), view.Summary.PointsLifetime);
            var sequences = entries.Select(e => e.Sequence).Order().ToList();
            Assert.Equal(Enumerable.Range(1, sequences.Count).Select(i => (long)i), sequences);
            Assert.Equal(view.Summary.PointsAvailable + view.Summary.PointsPending, entries.Sum(x => x.Points + x.PendingPoints));
            finalSeq[customer] = sequences.Count == 0 ? 0 : sequences[^1];
        }

        // Every notice of every customer reached the webhook receiver: once after dedupe, in order, signed.
        var expectedNotices = await Retried(() => WebhookChecks.ExpectedAsync(AnyLive(0).Customers, customers, hookKinds));
        Assert.NotEmpty(expectedNotices);
        await receiver.WaitForAsync([.. expectedNotices.Select(e => e.Id)], TimeSpan.FromSeconds(150));
        WebhookChecks.Verify(receiver, expectedNotices);
        output.WriteLine($"{clock.Elapsed}: {expectedNotices.Count} webhook notices delivered ({receiver.Requests.Count} requests)");

        // Each Watch saw its customer's sequences in order without a gap or a repeat, across every reconnect.
        foreach (var (customer, list) in seen)
        {
            Assert.True(list.Count > 0, $"watch of {customer} saw nothing");
            for (var i = 1; i < list.Count; i++)
            {
                if (list[i] != list[i - 1] + 1)
                {
                    Diagnose($"watch-{customer}-{list[i - 1]}-{list[i]}");
                }
                Assert.True(list[i] == list[i - 1] + 1, $"watch of {customer}: {list[i - 1]} then {list[i]}");
            }
            Assert.True(list[0] == 1, $"watch of {customer} started at {list[0]}");
            Assert.True(list[^1] <= finalSeq[customer]);
        }

        // The CLI balances over a list of engines and retries UNAVAILABLE at the next one: an address that answers
        // nothing (a silo that is down) in the list is harmless, and every engine of the cluster serves every customer.
        var probe = NewCustomer();
        var addresses = string.Join(",", _silos.Select(s => s!.Address).Prepend($"http://127.0.0.1:{FreePorts.Next()}"));
        for (var i = 0; i < 6; i++)
        {
            (int Exit, string Out, string Err) published;
            try
            {
                published = await CliRunner.RunAsync(addresses, "publish", "game-session", "-c", probe, "--game", "chess", "--minutes", "1", "--difficulty", "1");
            }
            catch (TimeoutException)
            {
                Diagnose($"probe-{probe}"); // a customer that never answers: which silo held it, and why
                throw;
            }
            if (published.Exit != 0)
            {
                Diagnose($"probe-{probe}");
            }
            Assert.True(published.Exit == 0, published.Out + published.Err);
        }
        var show = await CliRunner.RunAsync(addresses, "customer", "show", probe);
        Assert.Contains("6 available", show.Out, StringComparison.Ordinal);
        foreach (var silo in _silos.Where(s => s is { HasExited: false }))
        {
            Assert.Equal(6, (await silo!.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = probe })).Summary.PointsAvailable);
        }
    }
}

using Grpc.Core;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

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

public sealed class StartupTests
{
    [Fact]
    public async Task A_malformed_program_stops_the_server_at_start_naming_file_path_and_problem()
    {
        var file = Path.Combine(Path.GetTempPath(), $"bad-program-{Guid.NewGuid():N}.json");
        var text = File.ReadAllText(RepoPaths.SampleProgram).Replace("\"qualifyingPoints\": 1000", "\"qualifyingPoints\": -5", StringComparison.Ordinal);
        await File.WriteAllTextAsync(file, text);
        try
        {
            await using var server = ServerProcess.Launch("UseDevelopmentStorage=true", new Dictionary<string, string> { ["ProgramPath"] = file });
            var exit = await server.WaitForExitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(2, exit);
            Assert.Contains(file, server.Log, StringComparison.Ordinal);
            Assert.Contains("$.tiers.levels[1].qualifyingPoints", server.Log, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task An_unknown_property_in_the_program_is_refused_with_its_path()
    {
        var file = Path.Combine(Path.GetTempPath(), $"bad-program-{Guid.NewGuid():N}.json");
        var text = File.ReadAllText(RepoPaths.SampleProgram).Replace("\"pointsPerMinute\": 1,", "\"pointsPerMinutes\": 1,", StringComparison.Ordinal);
        await File.WriteAllTextAsync(file, text);
        try
        {
            await using var server = ServerProcess.Launch("UseDevelopmentStorage=true", new Dictionary<string, string> { ["ProgramPath"] = file });
            Assert.Equal(2, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("pointsPerMinutes", server.Log, StringComparison.Ordinal);
            Assert.Contains("$.earning.gameSession", server.Log, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
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

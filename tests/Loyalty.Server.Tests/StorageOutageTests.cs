using Grpc.Core;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>Storage goes away under a running engine and comes back: nothing is acknowledged that is not stored.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[RunsForAbout(40)]
public sealed class StorageOutageTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task While_storage_is_down_events_fail_as_UNAVAILABLE_and_a_retry_after_recovery_applies_them_once()
    {
        var data = Directory.CreateTempSubdirectory("loyalty-outage-").FullName;
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var azurite = await AzuriteProcess.StartAsync(data);
            var port = azurite.Port;
            await using var server = await ServerProcess.StartAsync(azurite.ConnectionString);
            var id = NewCustomer();
            var first = await server.Ingestion.PublishAsync(Req(Game(id, minutes: 2, difficulty: 1, eventId: "before")));
            Assert.Equal(Outcome.Applied, first.Outcome);

            output.WriteLine($"{clock.Elapsed}: started, first event applied");
            await azurite.StopGracefullyAsync(); // storage down (gracefully, so Azurite keeps what it stored)
            await azurite.DisposeAsync();
            var during = Game(id, minutes: 3, difficulty: 1, eventId: "during");
            // Both while storage is down (at once: each waits for the engine's own verdict, up to its call timeout).
            var publishing = Assert.ThrowsAsync<RpcException>(() =>
                server.Ingestion.PublishAsync(Req(during), deadline: DateTime.UtcNow.AddSeconds(90)).ResponseAsync);
            await Task.Delay(200);
            // The customer cannot be read either: its activation is stuck on storage, or could not reload.
            var reading = Assert.ThrowsAsync<RpcException>(() =>
                server.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }, deadline: DateTime.UtcNow.AddSeconds(90)).ResponseAsync);
            var error = await publishing;
            Assert.Equal(StatusCode.Unavailable, error.StatusCode);
            output.WriteLine($"{clock.Elapsed}: publish refused: {error.Status.Detail}");
            var read = await reading;
            Assert.Equal(StatusCode.Unavailable, read.StatusCode);
            output.WriteLine($"{clock.Elapsed}: read refused: {read.Status.Detail}");

            await using var back = await AzuriteProcess.StartAsync(data, port); // same data, same address
            PublishResult? retry = null;
            var last = "";
            for (var attempt = 0; attempt < 30 && retry is null; attempt++)
            {
                try
                {
                    retry = await server.Ingestion.PublishAsync(Req(during), deadline: DateTime.UtcNow.AddSeconds(60));
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
                {
                    last = e.Status.Detail;
                    await Task.Delay(500);
                }
            }
            output.WriteLine($"{clock.Elapsed}: retry answered");
            Assert.True(retry is not null, $"still unavailable: {last}\n{server.Log}");
            Assert.Equal(Outcome.Applied, retry.Outcome);
            Assert.Equal(5, retry.Customer.PointsLifetime);
            var again = await server.Ingestion.PublishAsync(Req(during));
            Assert.Equal(Outcome.Duplicate, again.Outcome);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}

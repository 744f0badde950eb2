using Grpc.Core;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>Storage goes away under a running engine and comes back: nothing is acknowledged that is not stored.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
public sealed class StorageOutageTests
{
    [Fact]
    public async Task While_storage_is_down_events_fail_as_UNAVAILABLE_and_a_retry_after_recovery_applies_them_once()
    {
        var data = Directory.CreateTempSubdirectory("loyalty-outage-").FullName;
        try
        {
            var azurite = await AzuriteProcess.StartAsync(data);
            var port = azurite.Port;
            await using var server = await ServerProcess.StartAsync(azurite.ConnectionString);
            var id = NewCustomer();
            var first = await server.Ingestion.PublishAsync(Req(Game(id, minutes: 2, difficulty: 1, eventId: "before")));
            Assert.Equal(Outcome.Applied, first.Outcome);

            await azurite.StopGracefullyAsync(); // storage down (gracefully, so Azurite keeps what it stored)
            await azurite.DisposeAsync();
            var during = Game(id, minutes: 3, difficulty: 1, eventId: "during");
            var error = await Assert.ThrowsAsync<RpcException>(() =>
                server.Ingestion.PublishAsync(Req(during), deadline: DateTime.UtcNow.AddSeconds(90)).ResponseAsync);
            Assert.Equal(StatusCode.Unavailable, error.StatusCode);
            // The customer could not reload and deactivated; reactivating needs storage too.
            var read = await Assert.ThrowsAsync<RpcException>(() =>
                server.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }, deadline: DateTime.UtcNow.AddSeconds(90)).ResponseAsync);
            Assert.Equal(StatusCode.Unavailable, read.StatusCode);

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

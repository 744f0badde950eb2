using Grpc.Core;
using Loyalty.Contracts.V1;
using Xunit.Abstractions;

namespace Loyalty.Server.Tests;

/// <summary>
/// Loyalty:Api:StreamUnwrittenPerInFlight bounds the events a PublishStream reads but has not written back. A client
/// that writes without reading fills its response window first; past that, the engine reads at most
/// StreamMaxInFlight × StreamUnwrittenPerInFlight events more, then stops reading. Over real gRPC against the engine's
/// own host (memory storage, an explicit opt-in: this is about the stream).
/// </summary>
public sealed class StreamUnwrittenTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Customers = 100;
    private readonly InProcessEngine _engine = new(new Dictionary<string, string>
    {
        ["Api:StreamMaxInFlight"] = "1000",
        ["Api:StreamUnwrittenPerInFlight"] = "1",
    });

    public Task InitializeAsync() => _engine.StartAsync();

    public async Task DisposeAsync() => await _engine.DisposeAsync();

    [Fact]
    public async Task A_client_that_does_not_read_has_at_most_the_unwritten_bound_applied_past_its_response_window()
    {
        var prefix = "uw" + Guid.NewGuid().ToString("N")[..6] + "-";
        using var cts = new CancellationTokenSource();
        using var call = _engine.Ingestion.PublishStream(cancellationToken: cts.Token);
        // Write until the client can no longer write (the engine stopped reading and flow control holds it back), and
        // the events the engine did read have been applied.
        var (writer, last) = await StalledWriter.Start(call, 200_000, i => Events.Game(prefix + (i % Customers), 1, 1, $"{prefix}e{i}"), TimeSpan.FromSeconds(2));
        Assert.False(writer.Writing.IsCompleted, "the client wrote everything: nothing held it back");

        long applied = 0;
        for (var c = 0; c < Customers; c++)
        {
            try
            {
                var customer = await _engine.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = prefix + c });
                applied += customer.EventsApplied;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                // none of its events was read
            }
        }
        output.WriteLine($"client stalled after writing {last:N0} events; {applied:N0} applied");
        // The response's flow-control window and the server's output buffer hold about a thousand results, and 1,000
        // more may wait to be written (2,073 applied when this was written). With the default multiple (8) up to 8,000
        // more are read and applied (9,105 in all), so a bound that went unused fails this.
        Assert.InRange(applied, 1_000, 6_000);
        await cts.CancelAsync();
        await writer.Writing;
    }
}

using Grpc.Core;
using Loyalty.Contracts.V1;
using Loyalty.Grains.Journal;
using Microsoft.Extensions.DependencyInjection;

namespace Loyalty.Server.Tests;

/// <summary>
/// Admission when checkpoints fall behind: past Loyalty:Journal:MaxUncoveredBytes of stored records that no checkpoint
/// covers yet, unary and batch publishes are refused with RESOURCE_EXHAUSTED and retry information, and streams stop
/// reading until checkpoints have caught up, over real gRPC against the engine's own host. Here the bound is 64 KiB
/// and customers checkpoint only once dirty for a second, so a few hundred events reach it.
/// </summary>
public sealed class AdmissionTests : IAsyncLifetime
{
    private const long Bound = 64 * 1024;
    private readonly InProcessEngine _engine = new(new Dictionary<string, string>
    {
        ["Journal:MaxUncoveredBytes"] = Bound.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Journal:CheckpointEveryRecords"] = "100000",
        ["Journal:CheckpointAfter"] = "00:00:01",
        ["Api:StreamMaxInFlight"] = "8",
    });

    public Task InitializeAsync() => _engine.StartAsync();

    public async Task DisposeAsync() => await _engine.DisposeAsync();

    private JournalWriter Writer => _engine.Services.GetRequiredService<JournalWriter>();

    private static string Prefix() => "adm" + Guid.NewGuid().ToString("N")[..6] + "-";

    /// <summary>250 game sessions over 50 customers: about 90 KB of records, past the bound until checkpoints run.</summary>
    private async Task Saturate(string prefix)
    {
        var batch = new PublishBatchRequest();
        for (var i = 0; i < 250; i++)
        {
            batch.Events.Add(Events.Game(prefix + (i % 50), 10, 1));
        }
        var answer = await _engine.Ingestion.PublishBatchAsync(batch);
        Assert.All(answer.Results, r => Assert.Equal(Outcome.Applied, r.Outcome));
        Assert.True(Writer.UncoveredBytes >= Bound, $"{Writer.UncoveredBytes} bytes uncovered after the batch");
    }

    [Fact]
    public async Task Past_the_bound_publishes_are_refused_with_retry_information_change_nothing_and_succeed_once_checkpoints_caught_up()
    {
        var prefix = Prefix();
        await Saturate(prefix);
        var late = new PublishBatchRequest { Events = { Events.Game(prefix + "late", 10, 1) } };
        var refused = await Assert.ThrowsAsync<RpcException>(() => _engine.Ingestion.PublishBatchAsync(late).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("checkpoints behind", refused.Status.Detail, StringComparison.Ordinal);
        Assert.NotNull(refused.Trailers.GetValue("retry-after-ms"));
        var unary = await Assert.ThrowsAsync<RpcException>(() => _engine.Ingestion.PublishAsync(new PublishRequest { Event = late.Events[0] }).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, unary.StatusCode);
        var missing = await Assert.ThrowsAsync<RpcException>(() => _engine.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = prefix + "late" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);

        // The checkpoints already due cover the records; the same request then goes through, once.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var answer = await _engine.Ingestion.PublishBatchAsync(late);
                Assert.Equal(Outcome.Applied, answer.Results[0].Outcome);
                break;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted && attempt < 150)
            {
                await Task.Delay(200);
            }
        }
        Assert.True(Writer.UncoveredBytes < Bound);
        var customer = await _engine.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = prefix + "late" });
        Assert.Equal(1, customer.EventsApplied);
    }

    [Fact]
    public async Task A_stream_stops_reading_past_the_bound_and_applies_every_event_once_checkpoints_caught_up()
    {
        var prefix = Prefix();
        await Saturate(prefix + "s");
        long highest = 0;
        using var watching = new CancellationTokenSource();
        var watch = Task.Run(async () =>
        {
            while (!watching.IsCancellationRequested)
            {
                highest = Math.Max(highest, Writer.UncoveredBytes);
                await Task.Delay(5);
            }
        });

        using var call = _engine.Ingestion.PublishStream();
        var results = new List<PublishResult>();
        var reading = Task.Run(async () =>
        {
            await foreach (var result in call.ResponseStream.ReadAllAsync())
            {
                results.Add(result);
            }
        });
        for (var i = 0; i < 600; i++)
        {
            await call.RequestStream.WriteAsync(new PublishRequest { Event = Events.Game(prefix + (i % 20), 10, 1, $"{prefix}e{i}") });
        }
        await call.RequestStream.CompleteAsync();
        await reading.WaitAsync(TimeSpan.FromSeconds(60));
        await watching.CancelAsync();
        await watch;

        // Every event applied (none refused: the stream waited), in order.
        Assert.Equal(600, results.Count);
        Assert.All(results, r => Assert.Equal(Outcome.Applied, r.Outcome));
        Assert.Equal(Enumerable.Range(0, 600).Select(i => $"{prefix}e{i}"), results.Select(r => r.EventId));
        // Held near the bound: reading on would have put all 600 records (~220 KB) on top of the batch's ~90 KB before
        // the first checkpoint. What the stream may add past the bound is its 8 events in flight.
        Assert.True(highest < Bound + 40 * 1024, $"{highest} bytes uncovered at most");
    }
}

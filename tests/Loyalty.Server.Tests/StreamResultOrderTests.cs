using Grpc.Core;
using Loyalty.Contracts.V1;
using Loyalty.Domain.Customers;
using Loyalty.Grains.Journal;
using Loyalty.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace Loyalty.Server.Tests;

/// <summary>
/// The order PublishStream writes results in (x-result-order), over real gRPC against the engine's own host (memory
/// storage, an explicit opt-in: this is about the stream). The engine's journal holds back any append carrying one
/// chosen customer's record until the test lets it go: that customer's event is the slow one at the head of the stream.
/// </summary>
public sealed class StreamResultOrderTests : IAsyncLifetime
{
    private readonly HoldingJournalStore _journal = new();
    private readonly InProcessEngine _engine;

    public StreamResultOrderTests()
    {
        _engine = new InProcessEngine(services: services => services.AddSingleton<IJournalStore>(_journal));
    }

    public Task InitializeAsync() => _engine.StartAsync();

    public async Task DisposeAsync()
    {
        _journal.Release();
        await _engine.DisposeAsync();
    }

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static Metadata Order(string order) => new() { { "x-result-order", order } };

    /// <summary>Customer <c>free</c> with one stored event; <c>held</c>'s appends held from now on.</summary>
    private async Task<(string Prefix, Event Stored)> HoldOneCustomer()
    {
        var prefix = "ro" + Guid.NewGuid().ToString("N")[..6] + "-";
        var stored = Events.Game(prefix + "free", 2, 1, prefix + "free-1");
        Assert.Equal(Outcome.Applied, (await _engine.Ingestion.PublishAsync(new PublishRequest { Event = stored })).Outcome);
        _journal.Hold(prefix + "held");
        return (prefix, stored);
    }

    [Fact]
    public async Task In_completion_order_a_slow_event_holds_back_only_its_own_result()
    {
        var (prefix, stored) = await HoldOneCustomer();
        using var call = _engine.Ingestion.PublishStream(Order("completion"));
        await call.RequestStream.WriteAsync(new PublishRequest { Event = Events.Game(prefix + "held", 3, 1, prefix + "slow") });
        await _journal.Holding.WaitAsync(Patience);
        // Behind it on the stream: a malformed event (no customer) and a retry of a stored event.
        await call.RequestStream.WriteAsync(new PublishRequest { Event = Events.Game("", 1, 1, prefix + "malformed") });
        await call.RequestStream.WriteAsync(new PublishRequest { Event = stored });

        var first = await Next(call);
        var second = await Next(call);
        var early = new[] { first, second }.ToDictionary(r => r.EventId);
        Assert.Equal(Outcome.Rejected, early[prefix + "malformed"].Outcome);
        Assert.Equal("event.customer_id", early[prefix + "malformed"].ErrorField);
        Assert.Equal(Outcome.Duplicate, early[prefix + "free-1"].Outcome);
        Assert.Equal(2, early[prefix + "free-1"].PointsDelta);

        // The slow event's result comes once its record is stored, and the stream then ends with nothing more.
        _journal.Release();
        var last = await Next(call);
        Assert.Equal(prefix + "slow", last.EventId);
        Assert.Equal(Outcome.Applied, last.Outcome);
        Assert.Equal(3, last.PointsDelta);
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext());
    }

    [Fact]
    public async Task In_request_order_the_default_results_wait_behind_a_slow_one()
    {
        var (prefix, stored) = await HoldOneCustomer();
        using var call = _engine.Ingestion.PublishStream();
        await call.RequestStream.WriteAsync(new PublishRequest { Event = Events.Game(prefix + "held", 3, 1, prefix + "slow") });
        await _journal.Holding.WaitAsync(Patience);
        await call.RequestStream.WriteAsync(new PublishRequest { Event = Events.Game("", 1, 1, prefix + "malformed") });
        await call.RequestStream.WriteAsync(new PublishRequest { Event = stored });

        // The two later results are ready at once (as the completion-order test shows), yet none is written while the
        // first event's record is held.
        var next = call.ResponseStream.MoveNext();
        Assert.NotSame(next, await Task.WhenAny(next, Task.Delay(TimeSpan.FromSeconds(1))));
        _journal.Release();
        Assert.True(await next.WaitAsync(Patience));
        Assert.Equal(prefix + "slow", call.ResponseStream.Current.EventId);
        Assert.Equal(prefix + "malformed", (await Next(call)).EventId);
        Assert.Equal(prefix + "free-1", (await Next(call)).EventId);
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext());
    }

    [Fact]
    public async Task In_completion_order_every_event_of_a_busy_stream_gets_exactly_one_result_and_the_stream_ends()
    {
        var prefix = "rb" + Guid.NewGuid().ToString("N")[..6] + "-";
        const int events = 3_000, customers = 30;
        using var call = _engine.Ingestion.PublishStream(Order("completion"));
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < events; i++)
            {
                // Every 100th event malformed (no customer): answered at once, ahead of the events before it.
                var customer = i % 100 == 99 ? "" : prefix + (i % customers);
                await call.RequestStream.WriteAsync(new PublishRequest { Event = Events.Game(customer, 1 + i % 5, 1, $"{prefix}e{i}") });
            }
            await call.RequestStream.CompleteAsync();
        });
        var seen = new HashSet<string>();
        var points = new long[customers];
        var outOfOrder = 0;
        var previous = -1;
        await foreach (var result in call.ResponseStream.ReadAllAsync())
        {
            Assert.True(seen.Add(result.EventId), $"{result.EventId} answered twice");
            var i = int.Parse(result.EventId[(prefix.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            outOfOrder += i < previous ? 1 : 0;
            previous = i;
            Assert.Equal(i % 100 == 99 ? Outcome.Rejected : Outcome.Applied, result.Outcome);
            if (result.Outcome == Outcome.Applied)
            {
                points[i % customers] += result.PointsDelta;
            }
        }
        await writing;
        Assert.Equal(events, seen.Count);
        for (var c = 0; c < customers; c++)
        {
            var customer = await _engine.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = prefix + c });
            Assert.Equal(points[c], customer.Summary.PointsAvailable);
        }
        Assert.True(outOfOrder > 0, "every result came in request order: completion order was not used");
    }

    [Fact]
    public async Task An_unknown_result_order_is_invalid_argument_naming_the_header()
    {
        using var call = _engine.Ingestion.PublishStream(Order("fastest"));
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(new PublishRequest { Event = Events.Game("nobody", 1, 1) });
            await call.ResponseStream.MoveNext();
        });
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("x-result-order", error.Status.Detail);
        Assert.Contains("fastest", error.Status.Detail);
    }

    private static async Task<PublishResult> Next(AsyncDuplexStreamingCall<PublishRequest, PublishResult> call)
    {
        Assert.True(await call.ResponseStream.MoveNext().WaitAsync(Patience), "the stream ended early");
        return call.ResponseStream.Current;
    }

    /// <summary>The memory journal, except that an append carrying a record of the held customer waits for
    /// <see cref="Release"/> (and so does every append after it: a silo's appends go one at a time).</summary>
    private sealed class HoldingJournalStore : DelegatingJournalStore
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile string? _held;

        public override bool Durable => false;

        /// <summary>Completes when an append of the held customer's record is being held.</summary>
        public Task Holding => _holding.Task;

        public void Hold(string customerId) => _held = customerId;

        public void Release() => _released.TrySetResult();

        public override async Task AppendAsync(string journalId, long batch, IReadOnlyList<JournalRecord> records, EncodedRecords? encoded,
            IReadOnlyCollection<string> mark, IReadOnlyCollection<string> unmark, LiabilityTotals? liability, CancellationToken cancellationToken)
        {
            if (_held is { } held && records.Any(r => r.CustomerId == held))
            {
                _holding.TrySetResult();
                await _released.Task.WaitAsync(cancellationToken);
            }
            await base.AppendAsync(journalId, batch, records, encoded, mark, unmark, liability, cancellationToken);
        }
    }
}

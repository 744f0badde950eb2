using Loyalty.Server.Auth;
using System.Diagnostics;
using Grpc.Core;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Grains;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Services;

/// <summary>Validates, groups by customer (keeping order), makes one grain call per customer, answers in request order.</summary>
public sealed class IngestionService(IGrainFactory grains, IProgramCatalog programs, EngineClock clock, LoyaltySettings settings,
    IHostApplicationLifetime lifetime, Application.EventIntake intake, Loyalty.Grains.Journal.ICustomerJournal journal, Loyalty.Server.Auth.KeyRateLimiter limiter,
    ILogger<IngestionService> logger) : V1.Ingestion.IngestionBase
{
    public const int MaxBatch = 1000;

    [RpcPolicy(Scopes.Ingest)]

    public override async Task<V1.PublishResult> Publish(V1.PublishRequest request, ServerCallContext context)
    {
        var started = Stopwatch.GetTimestamp();
        if (request.Event is null)
        {
            throw RpcErrors.InvalidArgument("event", "is required");
        }
        if (Denied(Loyalty.Server.Auth.Caller.Of(context), request.Event) is { } denied)
        {
            Count(request.Event, V1.Outcome.Rejected, null);
            throw AccessErrors.PermissionDenied(denied);
        }
        var e = ProtoMapping.ToDomain(request.Event);
        if (EventValidator.Validate(e, programs.Current, clock.GetUtcNow()) is { } error)
        {
            Count(request.Event, V1.Outcome.Rejected, null);
            throw RpcErrors.InvalidArgument(error);
        }
        Admit();
        var results = await grains.Customer(e.CustomerId).Apply([e]);
        var result = ProtoMapping.ToProto(results[0]);
        Count(request.Event, result.Outcome, result);
        LoyaltyMetrics.Published("Publish", Stopwatch.GetElapsedTime(started));
        return result;
    }

    /// <summary>Bounded admission: while this silo's journal has more records waiting than it can write before callers
    /// give up, new work is refused with RESOURCE_EXHAUSTED and retry information rather than queued.</summary>
    private void Admit()
    {
        if (journal.Saturated)
        {
            Loyalty.Grains.Journal.JournalMetrics.AdmissionRefused();
            throw AccessErrors.Overloaded(TimeSpan.FromMilliseconds(200));
        }
    }

    /// <summary>Counts an answered event for the metrics (source family, outcome, points issued, rewards granted) and
    /// the console's live view (applied events by source, rewards).</summary>
    private void Count(V1.Event? e, V1.Outcome outcome, V1.PublishResult? result) =>
        intake.Answered(KindOf(e), outcome switch
        {
            V1.Outcome.Applied => "applied",
            V1.Outcome.Duplicate => "duplicate",
            V1.Outcome.Rejected => "rejected",
            V1.Outcome.NotApplied => "not_applied",
            _ => "unknown",
        }, result?.PointsDelta ?? 0, RewardKinds(result));

    /// <summary>The kinds of the rewards a result grants, in one array (counted for every event answered).</summary>
    private static string[] RewardKinds(V1.PublishResult? result)
    {
        if (result is not { Rewards.Count: > 0 } granted)
        {
            return [];
        }
        var kinds = new string[granted.Rewards.Count];
        for (var i = 0; i < kinds.Length; i++)
        {
            kinds[i] = granted.Rewards[i].Kind;
        }
        return kinds;
    }

    /// <summary>The scope each kind of event needs.</summary>
    public static string ScopeOf(V1.Event e) => e.PayloadCase switch
    {
        V1.Event.PayloadOneofCase.Purchase or V1.Event.PayloadOneofCase.Refund => "ingest:shop",
        V1.Event.PayloadOneofCase.GameSession or V1.Event.PayloadOneofCase.MatchResult or V1.Event.PayloadOneofCase.Achievement => "ingest:game",
        V1.Event.PayloadOneofCase.SupportCase => "ingest:support",
        V1.Event.PayloadOneofCase.ProfileUpdate => "ingest:profile",
        _ => "ingest:",
    };

    /// <summary>Why the caller may not send this event (its kind's scope, its source prefix), or null.</summary>
    private static string? Denied(Loyalty.Server.Auth.Caller caller, V1.Event e)
    {
        if (e.PayloadCase == V1.Event.PayloadOneofCase.None)
        {
            return null;   // validation names the missing payload
        }
        var scope = ScopeOf(e);
        if (!caller.Has(scope))
        {
            return $"'{caller.Id}' lacks the scope {scope} for a {KindOf(e)} event";
        }
        if (!caller.MaySend(e.Source))
        {
            return $"'{caller.Id}' may only send events whose source starts with {string.Join(" or ", caller.Sources.Select(p => $"'{p}'"))}, not '{RpcErrors.Clip(e.Source, 64)}'";
        }
        return null;
    }

    private static string KindOf(V1.Event? e) => e?.PayloadCase switch
    {
        V1.Event.PayloadOneofCase.Purchase => "purchase",
        V1.Event.PayloadOneofCase.Refund => "refund",
        V1.Event.PayloadOneofCase.GameSession => "game_session",
        V1.Event.PayloadOneofCase.MatchResult => "match_result",
        V1.Event.PayloadOneofCase.Achievement => "achievement",
        V1.Event.PayloadOneofCase.SupportCase => "support_case",
        V1.Event.PayloadOneofCase.ProfileUpdate => "profile_update",
        _ => "unknown",
    };

    [RpcPolicy(Scopes.Ingest)]

    public override async Task<V1.PublishBatchResponse> PublishBatch(V1.PublishBatchRequest request, ServerCallContext context)
    {
        var started = Stopwatch.GetTimestamp();
        if (request.Events.Count > MaxBatch)
        {
            throw RpcErrors.InvalidArgument("events", $"a batch holds at most {MaxBatch} events, not {request.Events.Count}");
        }
        var program = programs.Current;
        var now = clock.GetUtcNow();
        var caller = Loyalty.Server.Auth.Caller.Of(context);
        var count = request.Events.Count;
        var results = new V1.PublishResult[count];
        // Each accepted event's customer, as an index into the batch's customers (-1: answered already); a customer's
        // events keep request order. Plain arrays, not a list per customer: a batch has hundreds of customers.
        var groupOf = new int[count];
        var domain = new LoyaltyEvent?[count];
        var byCustomer = new Dictionary<string, int>(count, StringComparer.Ordinal);
        var sizes = new int[count];
        for (var i = 0; i < count; i++)
        {
            groupOf[i] = -1;
            if (Denied(caller, request.Events[i]) is { } denied)
            {
                results[i] = ProtoMapping.Rejected(request.Events[i].EventId, new FieldError($"events[{i}]", "permission denied: " + denied));
                continue;
            }
            var e = ProtoMapping.ToDomain(request.Events[i]);
            if (EventValidator.Validate(e, program, now) is { } error)
            {
                results[i] = ProtoMapping.Rejected(e.EventId, error with { Field = $"events[{i}].{error.Field["event.".Length..]}" });
                continue;
            }
            if (!byCustomer.TryGetValue(e.CustomerId, out var group))
            {
                byCustomer[e.CustomerId] = group = byCustomer.Count;
            }
            groupOf[i] = group;
            domain[i] = e;
            sizes[group]++;
        }

        if (byCustomer.Count > 0)
        {
            Admit();
        }
        // One call per customer, all customers in parallel; within a customer the events keep request order.
        // If any customer's write fails the call fails (UNAVAILABLE): the client retries the whole batch, and the
        // events that were stored answer DUPLICATE. A per-event REJECTED would read as final and lose events.
        // The calls' own value tasks are awaited one after the other, all of them, as Task.WhenAll would (no async
        // wrapper, task or combined promise per customer: a batch makes hundreds).
        var events = new LoyaltyEvent[byCustomer.Count][];
        var filled = new int[byCustomer.Count];
        for (var i = 0; i < count; i++)
        {
            if (groupOf[i] is var g and >= 0)
            {
                (events[g] ??= new LoyaltyEvent[sizes[g]])[filled[g]++] = domain[i]!;
            }
        }
        var calls = new ValueTask<EventResult[]>[byCustomer.Count];
        foreach (var (customer, group) in byCustomer)
        {
#pragma warning disable CA2012 // kept to be awaited exactly once below, after every call has started
            calls[group] = grains.Customer(customer).Apply(events[group]);
#pragma warning restore CA2012
        }
        var answers = new EventResult[byCustomer.Count][];
        Exception? failed = null;
        for (var g = 0; g < calls.Length; g++)
        {
            try
            {
                answers[g] = await calls[g];
            }
            catch (Exception ex)
            {
                failed ??= ex; // the first failure, once every call has ended
            }
        }
        if (failed is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed);
        }
        Array.Clear(filled);
        for (var i = 0; i < count; i++)
        {
            if (groupOf[i] is var g and >= 0)
            {
                results[i] = ProtoMapping.ToProto(answers[g][filled[g]++]);
            }
        }
        for (var i = 0; i < results.Length; i++)
        {
            Count(request.Events[i], results[i].Outcome, results[i]);
        }
        LoyaltyMetrics.Published("PublishBatch", Stopwatch.GetElapsedTime(started));
        return new V1.PublishBatchResponse { Results = { results } };
    }

    [RpcPolicy(Scopes.Ingest)]

    public override async Task PublishStream(IAsyncStreamReader<V1.PublishRequest> requestStream, IServerStreamWriter<V1.PublishResult> responseStream,
        ServerCallContext context)
    {
        // Two bounds, both taken before reading an event. An in-flight slot is given back when the event's result is
        // known; an unwritten slot when the result has been written to the client (in request order, the default,
        // finished results wait behind a slower one; in completion order, x-result-order, they go out as they finish:
        // ResultOrder). With either used up the server stops reading, and HTTP/2 flow
        // control holds the client back: memory stays bounded however fast the client writes or however slowly it
        // reads. Finished results are small, so more of them may wait than events run: a slow customer at the head of
        // the stream does not stop the work behind it, and a busy customer's events keep arriving to be committed
        // together (group commit) while its write is in flight.
        var completionOrder = ResultOrder.CompletionRequested(context.RequestHeaders);
        var maxInFlight = Math.Max(1, settings.Api.StreamMaxInFlight);
        var inFlight = new SemaphoreSlim(maxInFlight);
        using var unwritten = new SemaphoreSlim(maxInFlight * Math.Max(1, settings.Api.StreamUnwrittenPerInFlight));
        var answers = System.Threading.Channels.Channel.CreateUnbounded<Task<V1.PublishResult>>(
            new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true, SingleWriter = !completionOrder });
        var queue = new AnswerQueue(answers.Writer, completionOrder);
        var lanes = new StreamLanes(grains, logger);
        var caller = Loyalty.Server.Auth.Caller.Of(context);
        var writer = WriteResultsAsync(answers.Reader, responseStream, unwritten, completionOrder, context.CancellationToken);

        // Stop reading when the client goes away or the server shuts down; events already read are still answered.
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        var read = 0;
        try
        {
            while (true)
            {
                // Every event pays its key's token before it is read: over the key's rate the stream waits here, and
                // HTTP/2 flow control holds the client back.
                await limiter.TakeAsync(caller.Id, 1, stopReading.Token);
                // Past the journal's bounds (its backlog, or stored records no checkpoint covers yet) the stream stops
                // reading until it is back under them, rather than refuse events: flow control holds the client back.
                while (journal.Saturated)
                {
                    await Task.Delay(SaturatedPoll, stopReading.Token);
                }
                await unwritten.WaitAsync(stopReading.Token);
                try
                {
                    await inFlight.WaitAsync(stopReading.Token);
                }
                catch
                {
                    unwritten.Release();
                    throw;
                }
                if (!await requestStream.MoveNext(stopReading.Token))
                {
                    inFlight.Release();
                    unwritten.Release();
                    break;
                }
                read++;
                queue.Add(Accept(requestStream.Current, lanes, inFlight, caller));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException || stopReading.IsCancellationRequested)
        {
            logger.LogInformation("PublishStream stopped reading after {Events} events ({Why})", read,
                context.CancellationToken.IsCancellationRequested ? "client cancelled" : "server shutting down");
        }
        finally
        {
            queue.Complete();
        }
        // Every event read gets its result (written if the client is still there) before the call ends.
        await writer;
    }

    /// <summary>How often a stream that stopped reading at a saturated journal looks again.</summary>
    private static readonly TimeSpan SaturatedPoll = TimeSpan.FromMilliseconds(20);

    private async Task<V1.PublishResult> Accept(V1.PublishRequest request, StreamLanes lanes, SemaphoreSlim inFlight, Loyalty.Server.Auth.Caller caller)
    {
        var started = Stopwatch.GetTimestamp();
        V1.PublishResult result;
        try
        {
            result = request.Event is not null && Denied(caller, request.Event) is { } denied
                ? ProtoMapping.Rejected(request.Event.EventId, new FieldError("event", "permission denied: " + denied))
                : await AcceptUncounted(request, lanes);
        }
        finally
        {
            inFlight.Release();
        }
        Count(request.Event, result.Outcome, result);
        LoyaltyMetrics.Published("PublishStream", Stopwatch.GetElapsedTime(started));
        return result;
    }

    private Task<V1.PublishResult> AcceptUncounted(V1.PublishRequest request, StreamLanes lanes)
    {
        if (request.Event is null)
        {
            return Task.FromResult(ProtoMapping.Rejected("", new FieldError("event", "is required")));
        }
        var e = ProtoMapping.ToDomain(request.Event);
        if (EventValidator.Validate(e, programs.Current, clock.GetUtcNow()) is { } error)
        {
            return Task.FromResult(ProtoMapping.Rejected(e.EventId, error));
        }
        return lanes.Submit(e);
    }

    /// <summary>
    /// Hands each event's answer to the stream's writer, which writes them in the order it receives them: every answer
    /// at once in request order (the writer then waits for each in turn), or each once it is done in completion order.
    /// The writer's channel completes when reading has ended and every answer has been handed over.
    /// </summary>
    private sealed class AnswerQueue(System.Threading.Channels.ChannelWriter<Task<V1.PublishResult>> writer, bool completionOrder)
    {
        /// <summary>Answers not yet handed over, plus one held by the reader until <see cref="Complete"/>.</summary>
        private int _open = 1;

        public void Add(Task<V1.PublishResult> answer)
        {
            if (!completionOrder || answer.IsCompleted)
            {
                writer.TryWrite(answer);
                return;
            }
            Interlocked.Increment(ref _open);
            answer.ContinueWith(static (done, queue) => ((AnswerQueue)queue!).Done(done), this, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        /// <summary>Reading has ended: once the last answer is handed over, the writer finishes.</summary>
        public void Complete() => Release();

        private void Done(Task<V1.PublishResult> answer)
        {
            writer.TryWrite(answer);
            Release();
        }

        private void Release()
        {
            if (Interlocked.Decrement(ref _open) == 0)
            {
                writer.Complete();
            }
        }
    }

    private static bool NextReady(System.Threading.Channels.ChannelReader<Task<V1.PublishResult>> answers) =>
        answers.TryPeek(out var next) && next.IsCompleted;

    /// <summary>At most this many results wait in the response buffer for the next flush (PublishStream).</summary>
    public const int MaxBufferedResults = 64;
    private static readonly WriteOptions BufferedWrite = new(WriteFlags.BufferHint);

    private static async Task WriteResultsAsync(System.Threading.Channels.ChannelReader<Task<V1.PublishResult>> answers,
        IServerStreamWriter<V1.PublishResult> responses, SemaphoreSlim unwritten, bool completionOrder, CancellationToken clientGone)
    {
        var writing = true;
        var buffered = 0;
        await foreach (var answer in answers.ReadAllAsync(CancellationToken.None))
        {
            var result = await answer;
            if (writing && !clientGone.IsCancellationRequested)
            {
                try
                {
                    // A journal append acknowledges hundreds of events at once. While the next result is already
                    // there, this one stays in the response buffer: the last of a burst (or every MaxBufferedResults-th)
                    // flushes them together, one HTTP/2 write instead of one per result.
                    var more = buffered < MaxBufferedResults && NextReady(answers);
                    if (!more && completionOrder && buffered < MaxBufferedResults)
                    {
                        // In completion order the results of one stored append come one at a time, as each event's
                        // continuation hands its result over: let those already queued run before taking this one
                        // for the last of its burst, or nearly every result would be a write of its own.
                        await Task.Yield();
                        more = NextReady(answers);
                    }
                    responses.WriteOptions = more ? BufferedWrite : null;
                    await responses.WriteAsync(result, clientGone);
                    buffered = more ? buffered + 1 : 0;
                }
                catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or IOException)
                {
                    writing = false; // the client is gone: keep draining, so no work is left behind
                }
            }
            unwritten.Release();
        }
    }
}


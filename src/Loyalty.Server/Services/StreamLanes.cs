using Loyalty.Domain.Events;
using Loyalty.Grains;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Services;

/// <summary>
/// The customers of one PublishStream: one grain call in flight per customer; events that arrive for a customer while
/// its call is in flight wait and go together in its next call. So customers run in parallel, each customer's
/// events keep stream order, and a busy customer's events are committed in batches. After an event of a customer is
/// not applied, that customer's later events on this stream are not applied either (order is never broken).
/// </summary>
internal sealed class StreamLanes(IGrainFactory grains, ILogger logger)
{
    private readonly Dictionary<string, Lane> _lanes = new(StringComparer.Ordinal);
    private int _running;

    private sealed class Lane
    {
        public List<(LoyaltyEvent Event, TaskCompletionSource<V1.PublishResult> Result)> Waiting = [];
        public string? FailedBecause;
    }

    /// <summary>Grain calls running now (for tests and metrics).</summary>
    public int Running => Volatile.Read(ref _running);

    public Task<V1.PublishResult> Submit(LoyaltyEvent e)
    {
        var result = new TaskCompletionSource<V1.PublishResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        Lane lane;
        lock (_lanes)
        {
            if (_lanes.TryGetValue(e.CustomerId, out var busy))
            {
                if (busy.FailedBecause is { } why)
                {
                    result.SetResult(ProtoMapping.NotApplied(e.EventId, why));
                }
                else
                {
                    busy.Waiting.Add((e, result));
                }
                return result.Task;
            }
            lane = new Lane();
            lane.Waiting.Add((e, result));
            _lanes[e.CustomerId] = lane;
        }
        _ = RunAsync(e.CustomerId, lane);
        return result.Task;
    }

    private async Task RunAsync(string customerId, Lane lane)
    {
        Interlocked.Increment(ref _running);
        try
        {
            while (true)
            {
                List<(LoyaltyEvent Event, TaskCompletionSource<V1.PublishResult> Result)> batch;
                lock (_lanes)
                {
                    if (lane.Waiting.Count == 0)
                    {
                        if (lane.FailedBecause is null)
                        {
                            _lanes.Remove(customerId);
                        }
                        return;
                    }
                    batch = lane.Waiting;
                    lane.Waiting = [];
                }
                try
                {
                    var results = await grains.Customer(customerId).Apply([.. batch.Select(b => b.Event)]);
                    for (var i = 0; i < batch.Count; i++)
                    {
                        batch[i].Result.SetResult(ProtoMapping.ToProto(results[i]));
                    }
                }
                catch (Exception ex)
                {
                    // The reason a unary call would be given (the exception's details go to the log only).
                    var why = "not applied: " + ErrorMappingInterceptor.Describe(ex, logger, "PublishStream").Detail;
                    lock (_lanes)
                    {
                        lane.FailedBecause = "an earlier event of this customer on this stream was not applied; send it again with the same event_id";
                    }
                    foreach (var (e, result) in batch)
                    {
                        result.SetResult(ProtoMapping.NotApplied(e.EventId, why));
                    }
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _running);
        }
    }
}

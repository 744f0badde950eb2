using Grpc.Core;
using Loyalty.Domain.Events;
using Loyalty.Grains;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Services;

/// <summary>Validates, groups by customer (keeping order), makes one grain call per customer, answers in request order.</summary>
public sealed class IngestionService(IGrainFactory grains, IProgramCatalog programs, EngineClock clock) : V1.Ingestion.IngestionBase
{
    public const int MaxBatch = 1000;

    public override async Task<V1.PublishResult> Publish(V1.PublishRequest request, ServerCallContext context)
    {
        if (request.Event is null)
        {
            throw RpcErrors.InvalidArgument("event", "is required");
        }
        var e = ProtoMapping.ToDomain(request.Event);
        if (EventValidator.Validate(e, programs.Current, clock.GetUtcNow()) is { } error)
        {
            throw RpcErrors.InvalidArgument(error);
        }
        var results = await grains.GetGrain<ICustomerGrain>(e.CustomerId).Apply([e]);
        return ProtoMapping.ToProto(results[0]);
    }

    public override async Task<V1.PublishBatchResponse> PublishBatch(V1.PublishBatchRequest request, ServerCallContext context)
    {
        if (request.Events.Count > MaxBatch)
        {
            throw RpcErrors.InvalidArgument("events", $"a batch holds at most {MaxBatch} events, not {request.Events.Count}");
        }
        var program = programs.Current;
        var now = clock.GetUtcNow();
        var results = new V1.PublishResult[request.Events.Count];
        var byCustomer = new Dictionary<string, List<(int Index, LoyaltyEvent Event)>>(StringComparer.Ordinal);
        for (var i = 0; i < request.Events.Count; i++)
        {
            var e = ProtoMapping.ToDomain(request.Events[i]);
            if (EventValidator.Validate(e, program, now) is { } error)
            {
                results[i] = ProtoMapping.Rejected(e.EventId, error with { Field = $"events[{i}].{error.Field["event.".Length..]}" });
                continue;
            }
            if (!byCustomer.TryGetValue(e.CustomerId, out var list))
            {
                byCustomer[e.CustomerId] = list = [];
            }
            list.Add((i, e));
        }

        // One call per customer, all customers in parallel; within a customer the events keep request order.
        // If any customer's write fails the call fails (UNAVAILABLE): the client retries the whole batch, and the
        // events that were stored answer DUPLICATE. A per-event REJECTED would read as final and lose events.
        await Task.WhenAll(byCustomer.Select(async pair =>
        {
            var applied = await grains.GetGrain<ICustomerGrain>(pair.Key).Apply([.. pair.Value.Select(x => x.Event)]);
            for (var j = 0; j < applied.Length; j++)
            {
                results[pair.Value[j].Index] = ProtoMapping.ToProto(applied[j]);
            }
        }));
        return new V1.PublishBatchResponse { Results = { results } };
    }
}

using Grpc.Core;
using Loyalty.Domain.Customers;
using Loyalty.Grains;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Services;

public sealed class CustomersService(IGrainFactory grains) : V1.Customers.CustomersBase
{
    public override async Task<V1.Customer> GetCustomer(V1.GetCustomerRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        var view = await grains.GetGrain<ICustomerGrain>(request.CustomerId).Get()
            ?? throw RpcErrors.NotFound($"customer '{request.CustomerId}' was never seen");
        return ProtoMapping.ToProto(view);
    }

    public override async Task<V1.ListInteractionsResponse> ListInteractions(V1.ListInteractionsRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        if (request.PageSize < 0)
        {
            throw RpcErrors.InvalidArgument("page_size", "must not be negative");
        }
        if (request.PageToken.Length > 0 && !InteractionPage.TryParseToken(request.PageToken, out _))
        {
            throw RpcErrors.InvalidArgument("page_token", "is not a token this API issued");
        }
        var page = await grains.GetGrain<ICustomerGrain>(request.CustomerId).ListInteractions(request.PageSize, request.PageToken)
            ?? throw RpcErrors.NotFound($"customer '{request.CustomerId}' was never seen");
        var response = new V1.ListInteractionsResponse { NextPageToken = page.NextPageToken };
        foreach (var i in page.Interactions)
        {
            response.Interactions.Add(ProtoMapping.ToProto(i));
        }
        return response;
    }

    public override async Task<V1.ListEligibleRewardsResponse> ListEligibleRewards(V1.ListEligibleRewardsRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        var eligibility = await grains.GetGrain<ICustomerGrain>(request.CustomerId).Eligible()
            ?? throw RpcErrors.NotFound($"customer '{request.CustomerId}' was never seen");
        return ProtoMapping.ToProto(eligibility);
    }

    public override async Task<V1.ListLedgerResponse> ListLedger(V1.ListLedgerRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        if (request.PageSize < 0)
        {
            throw RpcErrors.InvalidArgument("page_size", "must not be negative");
        }
        if (request.PageToken.Length > 0 && !LedgerPage.TryParseToken(request.PageToken, out _))
        {
            throw RpcErrors.InvalidArgument("page_token", "is not a token this API issued");
        }
        var page = await grains.GetGrain<ICustomerGrain>(request.CustomerId).ListLedger(request.PageSize, request.PageToken)
            ?? throw RpcErrors.NotFound($"customer '{request.CustomerId}' was never seen");
        var response = new V1.ListLedgerResponse { NextPageToken = page.NextPageToken };
        foreach (var e in page.Entries)
        {
            response.Entries.Add(new V1.LedgerEntry
            {
                Sequence = e.Sequence, Kind = e.Kind, Points = e.Points, BalanceAfter = e.BalanceAfter, EventId = e.EventKey,
                RuleId = e.RuleId, ProgramVersion = e.ProgramVersion, At = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(e.At),
            });
        }
        return response;
    }

    private static void CheckCustomerId(string id)
    {
        if (string.IsNullOrEmpty(id))
        {
            throw RpcErrors.InvalidArgument("customer_id", "is required");
        }
        if (id.Length > Domain.Events.EventValidator.MaxIdLength || id.Any(char.IsControl))
        {
            throw RpcErrors.InvalidArgument("customer_id", "must be 1..128 characters without control characters");
        }
    }
}

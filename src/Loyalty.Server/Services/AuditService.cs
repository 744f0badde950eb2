using Grpc.Core;
using Loyalty.Server.Auth;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Services;

/// <summary>Reads the audit log of admin actions (newest first).</summary>
public sealed class AuditService(AuditLog log) : V1.Audit.AuditBase
{
    [RpcPolicy(Scopes.CustomersAdmin)]
    public override Task<V1.ListAuditEntriesResponse> ListAuditEntries(V1.ListAuditEntriesRequest request, ServerCallContext context)
    {
        if (request.PageSize < 0 || request.PageSize > 500)
        {
            throw RpcErrors.InvalidArgument("page_size", "must be 0..500");
        }
        if (request.PageToken.Length > 64 || !request.PageToken.All(c => char.IsAsciiDigit(c) || c is '-' or (>= 'a' and <= 'f')))
        {
            throw RpcErrors.InvalidArgument("page_token", "is not a token this API issued");
        }
        if (request.CustomerId.Length > 0 && Domain.Events.EventValidator.Id(request.CustomerId, "customer_id") is { } error)
        {
            throw RpcErrors.InvalidArgument(error);
        }
        return log.ListAsync(request.PageSize, request.PageToken, request.CustomerId);
    }
}

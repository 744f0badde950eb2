using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Loyalty.Server.Application;
using Loyalty.Server.Auth;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Webhooks;

/// <summary>How the webhook endpoints are doing (an adapter over <see cref="WebhookStatusQuery"/>).</summary>
public sealed class WebhooksService(WebhookStatusQuery query) : V1.Webhooks.WebhooksBase
{
    [RpcPolicy(Scopes.Operator)]
    public override async Task<V1.GetWebhookStatusResponse> GetWebhookStatus(V1.GetWebhookStatusRequest request, ServerCallContext context)
    {
        var response = new V1.GetWebhookStatusResponse();
        foreach (var e in await query.GetAsync(context.CancellationToken))
        {
            var status = new V1.WebhookEndpointStatus
            {
                Name = e.Name, Url = e.Url, Delivered = e.Delivered, Failed = e.Failed, Pending = e.Pending, Retrying = e.Retrying, LastError = e.LastError,
                OldestUndelivered = e.OldestUndelivered is { } oldest ? Timestamp.FromDateTimeOffset(oldest) : null,
                LastErrorAt = e.LastErrorAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
            };
            status.Kinds.AddRange(e.Kinds);
            response.Endpoints.Add(status);
        }
        return response;
    }
}

namespace Loyalty.Server;

/// <summary>
/// Endpoints belong to the port the connection arrived on, never to the Host header a client chooses: the API port
/// serves gRPC only, the operator port serves health, metrics, the console and the dashboard. (<c>RequireHost</c>
/// matched the Host header, so <c>Host: x:&lt;operator port&gt;</c> sent to the API port reached /metrics.)
/// </summary>
public static class LocalPorts
{
    public sealed record OnlyOnPort(params int[] Ports);

    /// <summary>This endpoint answers only connections that arrived on one of <paramref name="ports"/>; anywhere else
    /// it is 404.</summary>
    public static TBuilder OnPort<TBuilder>(this TBuilder builder, params int[] ports) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new OnlyOnPort(ports));

    /// <summary>After routing: a request whose endpoint belongs to another port is answered 404, as if nothing were there;
    /// on the API port so is anything that is not one of its endpoints (no middleware behind it answers there).</summary>
    public static IApplicationBuilder UseLocalPorts(this IApplicationBuilder app, int[] apiPorts) =>
        app.Use(async (context, next) =>
        {
            var only = context.GetEndpoint()?.Metadata.GetMetadata<OnlyOnPort>();
            var local = context.Connection.LocalPort;
            if (only is not null ? !only.Ports.Contains(local) : apiPorts.Contains(local))
            {
                context.SetEndpoint(null);
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            await next();
        });
}

using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Loyalty.Cli;

/// <summary>
/// The channel to the engine: one address, a comma-separated list of silos (client-side round robin), or a DNS name
/// (<c>dns:///loyalty.example:5080</c>: every address it resolves to, round robin, re-resolved as silos come and go).
/// Unary calls that fail with UNAVAILABLE are retried (up to 4 attempts, on another silo when there are several):
/// safe, because every changing call is idempotent by its id (event, redemption, adjustment, reservation); streams are
/// not retried mid-way.
/// </summary>
public static class EngineChannel
{
    /// <summary>A channel to <paramref name="server"/> that sends <paramref name="apiKey"/> (if any) with every call.</summary>
    public static GrpcChannel Create(string server, string? apiKey = null)
    {
        var secure = server.StartsWith("https:", StringComparison.Ordinal);
        var transport = secure ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure;
        var options = new GrpcChannelOptions
        {
            Credentials = apiKey is { Length: > 0 }
                ? ChannelCredentials.Create(transport, CallCredentials.FromInterceptor((_, metadata) =>
                {
                    metadata.Add(Loyalty.Contracts.ApiKeys.Header, apiKey);
                    return Task.CompletedTask;
                }))
                : transport,
            // The key travels in plaintext only to a plaintext (loopback development) address the user chose.
            UnsafeUseInsecureChannelCallCredentials = !secure,
            ServiceConfig = new ServiceConfig
            {
                LoadBalancingConfigs = { new RoundRobinConfig() },
                MethodConfigs =
                {
                    new MethodConfig
                    {
                        Names = { MethodName.Default },
                        RetryPolicy = new RetryPolicy
                        {
                            MaxAttempts = 4,
                            InitialBackoff = TimeSpan.FromMilliseconds(200),
                            MaxBackoff = TimeSpan.FromSeconds(2),
                            BackoffMultiplier = 2,
                            RetryableStatusCodes = { StatusCode.Unavailable },
                        },
                    },
                },
            },
        };
        var servers = server.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (servers.Length > 1)
        {
            var addresses = servers.Select(s => new Uri(s)).Select(u => new BalancerAddress(u.Host, u.Port)).ToArray();
            var services = new ServiceCollection();
            services.AddSingleton<ResolverFactory>(new StaticResolverFactory(_ => addresses));
            options.ServiceProvider = services.BuildServiceProvider();
            return GrpcChannel.ForAddress("static:///loyalty", options);
        }
        if (servers.Length == 1 && servers[0].StartsWith("dns:", StringComparison.Ordinal))
        {
            return GrpcChannel.ForAddress(servers[0], options);
        }
        // One address: no balancing needed, retries still apply.
        options.ServiceConfig.LoadBalancingConfigs.Clear();
        return GrpcChannel.ForAddress(servers.Length == 1 ? servers[0] : server, options);
    }
}

using Grpc.Core;
using Grpc.Net.Client;
using Loyalty.Contracts;

namespace Loyalty.TestKit;

/// <summary>API keys for tests: the admin key every test server is configured with, and keys of given scopes.</summary>
public static class TestKeys
{
    public static readonly ApiKeys.Created Admin = ApiKeys.Create("test-admin");

    /// <summary>Environment settings that configure <paramref name="keys"/> on a server (index from <paramref name="first"/>).</summary>
    public static Dictionary<string, string> Settings(IEnumerable<(ApiKeys.Created Key, string[] Scopes, string[] Sources)> keys, int first = 0)
    {
        var env = new Dictionary<string, string>();
        var i = first;
        foreach (var (key, scopes, sources) in keys)
        {
            env[$"Loyalty__Auth__Keys__{i}__Id"] = key.Id;
            env[$"Loyalty__Auth__Keys__{i}__Salt"] = key.Salt;
            env[$"Loyalty__Auth__Keys__{i}__Hash"] = key.Hash;
            for (var s = 0; s < scopes.Length; s++)
            {
                env[$"Loyalty__Auth__Keys__{i}__Scopes__{s}"] = scopes[s];
            }
            for (var s = 0; s < sources.Length; s++)
            {
                env[$"Loyalty__Auth__Keys__{i}__Sources__{s}"] = sources[s];
            }
            i++;
        }
        return env;
    }

    /// <summary>A channel that sends <paramref name="key"/> (or nothing) with every call.</summary>
    public static GrpcChannel Channel(string address, string? key, HttpMessageHandler? handler = null)
    {
        var options = new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = handler is null };
        if (key is not null)
        {
            options.Credentials = ChannelCredentials.Create(address.StartsWith("https", StringComparison.Ordinal) ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure,
                CallCredentials.FromInterceptor((_, metadata) =>
                {
                    metadata.Add(ApiKeys.Header, key);
                    return Task.CompletedTask;
                }));
            options.UnsafeUseInsecureChannelCallCredentials = true;
        }
        return GrpcChannel.ForAddress(address, options);
    }
}

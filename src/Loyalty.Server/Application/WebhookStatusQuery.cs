using Loyalty.Grains.Webhooks;

namespace Loyalty.Server.Application;

/// <summary>Each configured endpoint's deliveries across the cluster: every bucket grain asked once and summed. Shared
/// by the gRPC/JSON API, the CLI (through it) and the console.</summary>
public sealed class WebhookStatusQuery(WebhookOptions options, IGrainFactory grains)
{
    public sealed record EndpointStatus(string Name, string Url, IReadOnlyList<string> Kinds, long Delivered, long Failed, long Pending, long Retrying,
        DateTimeOffset? OldestUndelivered, string LastError, DateTimeOffset? LastErrorAt);

    public async Task<IReadOnlyList<EndpointStatus>> GetAsync(CancellationToken cancellationToken)
    {
        var result = new List<EndpointStatus>();
        foreach (var endpoint in options.Endpoints)
        {
            var buckets = await Task.WhenAll(Enumerable.Range(0, options.Buckets)
                .Select(b => grains.GetGrain<IWebhookBucketGrain>(WebhookOutbox.Partition(endpoint.Name, b)).Status().WaitAsync(cancellationToken)));
            var lastError = buckets.Where(b => b.LastErrorAt is not null).MaxBy(b => b.LastErrorAt);
            result.Add(new EndpointStatus(endpoint.Name, Shown(endpoint.Url), endpoint.Kinds, buckets.Sum(b => b.Delivered), buckets.Sum(b => b.Failed),
                buckets.Sum(b => b.Pending), buckets.Sum(b => b.Retrying), buckets.Min(b => b.OldestQueuedAt), lastError?.LastError ?? "", lastError?.LastErrorAt));
        }
        return result;
    }

    /// <summary>The URL without credentials or query (which may hold tokens).</summary>
    private static string Shown(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var u) ? u.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped) : "";
}

using System.Net;
using System.Text.RegularExpressions;
using Loyalty.Domain.Customers;

namespace Loyalty.Grains.Webhooks;

/// <summary>One receiver of webhook deliveries (<c>Loyalty:Webhooks:Endpoints:N:</c>).</summary>
public sealed record WebhookEndpoint
{
    /// <summary>Names the endpoint in metrics, status and storage (a-z, 0-9, '-'; default "endpoint-N"). Keep it when
    /// the list is reordered: undelivered notices are stored under it.</summary>
    public string Name { get; set; } = "";
    /// <summary>Where deliveries are POSTed: https, or http to a loopback address (development).</summary>
    public string Url { get; set; } = "";
    /// <summary>The HMAC-SHA256 key of the Loyalty-Signature header, at least 32 bytes.</summary>
    public string Secret { get; set; } = "";
    /// <summary>Ledger kinds delivered to this endpoint (empty: every kind).</summary>
    public List<string> Kinds { get; set; } = [];

    public bool Wants(string kind) => Kinds.Count == 0 || Kinds.Contains(kind, StringComparer.Ordinal);
}

/// <summary>Webhooks (<c>Loyalty:Webhooks:</c>): where ledger notices are sent, and how deliveries are retried.</summary>
public sealed partial record WebhookOptions
{
    public List<WebhookEndpoint> Endpoints { get; set; } = [];
    /// <summary>Delivery queues per endpoint. Each is one grain delivering in order per customer; customers are spread
    /// over them by id, so more buckets deliver more customers at once across a cluster.</summary>
    public int Buckets { get; set; } = 8;
    /// <summary>Customers one bucket delivers to at once (each customer's notices still go one at a time, in order).</summary>
    public int ConcurrencyPerBucket { get; set; } = 8;
    /// <summary>How long one attempt may take before it counts as failed.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>The first retry's delay; each later one doubles it (with jitter), up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>How long a notice is retried after it was queued. Then it is set aside as failed (kept in storage and
    /// counted) and the customer's next notices go on. At least 24 hours.</summary>
    public TimeSpan RetryFor { get; set; } = TimeSpan.FromHours(72);

    public static readonly WebhookOptions None = new();

    /// <summary>The endpoint names, each endpoint's own or "endpoint-N".</summary>
    public WebhookOptions Named()
    {
        for (var i = 0; i < Endpoints.Count; i++)
        {
            if (string.IsNullOrEmpty(Endpoints[i].Name))
            {
                Endpoints[i].Name = $"endpoint-{i}";
            }
        }
        return this;
    }

    /// <summary>Why these settings cannot run, one line each (empty when they can).</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Endpoints.Count; i++)
        {
            var e = Endpoints[i];
            var key = $"Loyalty:Webhooks:Endpoints:{i}";
            var name = string.IsNullOrEmpty(e.Name) ? $"endpoint-{i}" : e.Name;
            if (!NamePattern().IsMatch(name))
            {
                problems.Add($"{key}:Name '{name}' must be 1-40 characters of a-z, 0-9 and '-'");
            }
            else if (!names.Add(name))
            {
                problems.Add($"{key}:Name '{name}' is used by another endpoint");
            }
            if (!Uri.TryCreate(e.Url, UriKind.Absolute, out var url) || url.Scheme is not ("https" or "http"))
            {
                problems.Add($"{key}:Url '{e.Url}' is not an absolute http(s) URL");
            }
            else if (url.Scheme == "http" && !IsLoopback(url))
            {
                problems.Add($"{key}:Url '{e.Url}' is plain HTTP off loopback: deliveries carry customer data and must use https");
            }
            if (System.Text.Encoding.UTF8.GetByteCount(e.Secret) < 32)
            {
                problems.Add($"{key}:Secret is {System.Text.Encoding.UTF8.GetByteCount(e.Secret)} bytes; it must be at least 32 (e.g. `openssl rand -hex 32`)");
            }
            foreach (var kind in e.Kinds.Where(k => !LedgerKinds.All.Contains(k)))
            {
                problems.Add($"{key}:Kinds has '{kind}', which is no ledger kind ({string.Join(", ", LedgerKinds.All)})");
            }
        }
        if (Buckets is < 1 or > 256)
        {
            problems.Add($"Loyalty:Webhooks:Buckets must be 1-256, not {Buckets}");
        }
        if (ConcurrencyPerBucket is < 1 or > 256)
        {
            problems.Add($"Loyalty:Webhooks:ConcurrencyPerBucket must be 1-256, not {ConcurrencyPerBucket}");
        }
        if (AttemptTimeout <= TimeSpan.Zero || FirstRetryDelay <= TimeSpan.Zero || MaxRetryDelay < FirstRetryDelay)
        {
            problems.Add("Loyalty:Webhooks:AttemptTimeout and FirstRetryDelay must be positive and MaxRetryDelay at least FirstRetryDelay");
        }
        if (RetryFor < TimeSpan.FromHours(24) || RetryFor > TimeSpan.FromDays(30))
        {
            problems.Add($"Loyalty:Webhooks:RetryFor is {RetryFor}; notices are retried for at least 24 hours and at most 30 days");
        }
        return problems;
    }

    private static bool IsLoopback(Uri url) =>
        url.IsLoopback || (IPAddress.TryParse(url.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    [GeneratedRegex("^[a-z0-9-]{1,40}$")]
    private static partial Regex NamePattern();
}

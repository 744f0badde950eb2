using Loyalty.Domain.Customers;
using Loyalty.Grains;

namespace Loyalty.Server;

/// <summary>The <c>Loyalty</c> configuration section (appsettings.json, or <c>Loyalty__...</c> environment variables).</summary>
public sealed class LoyaltySettings
{
    /// <summary>The program file; a relative path is looked up from the working directory, then next to the server.</summary>
    public string ProgramPath { get; set; } = "programs/sample.json";
    public LoyaltyStorageOptions Storage { get; set; } = new();
    public LimitSettings Limits { get; set; } = new();
    /// <summary>The journal and checkpoints (docs/journal.md).</summary>
    public Loyalty.Grains.Journal.JournalOptions Journal { get; set; } = new();
    public ApiSettings Api { get; set; } = new();
    public ClusterSettings Cluster { get; set; } = new();
    public OperatorSettings Operator { get; set; } = new();
    public AuthSettings Auth { get; set; } = new();
    /// <summary>Signed webhook deliveries of ledger notices (docs/webhooks.md).</summary>
    public Loyalty.Grains.Webhooks.WebhookOptions Webhooks { get; set; } = new();

    public string ResolveProgramPath(string contentRoot)
    {
        if (Path.IsPathRooted(ProgramPath) || File.Exists(ProgramPath))
        {
            return Path.GetFullPath(ProgramPath);
        }
        foreach (var root in new[] { contentRoot, AppContext.BaseDirectory })
        {
            var candidate = Path.Combine(root, ProgramPath);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return Path.GetFullPath(ProgramPath);
    }
}

public sealed class LimitSettings
{
    public TimeSpan DedupeWindow { get; set; } = EngineLimits.Default.DedupeWindow;
    public int DedupeMaxIds { get; set; } = EngineLimits.Default.DedupeMaxIds;
    public int InteractionsKept { get; set; } = EngineLimits.Default.InteractionsKept;
    public int OrdersKept { get; set; } = EngineLimits.Default.OrdersKept;
    public int OrdersKeptDays { get; set; } = EngineLimits.Default.OrdersKeptDays;
    public int LedgerKept { get; set; } = EngineLimits.Default.LedgerKept;
    public int RewardsKeptAfterExpiryDays { get; set; } = EngineLimits.Default.RewardsKeptAfterExpiryDays;
    public int OrderLinesKept { get; set; } = EngineLimits.Default.OrderLinesKept;
    public int CategoryBucketsKept { get; set; } = EngineLimits.Default.CategoryBucketsKept;
    public int OnceOnlyKept { get; set; } = EngineLimits.Default.OnceOnlyKept;
    public int RewardsKept { get; set; } = EngineLimits.Default.RewardsKept;
    public string RewardCodeSecret { get; set; } = EngineLimits.Default.RewardCodeSecret;
    public TimeSpan IdleCustomerDeactivation { get; set; } = EngineLimits.Default.IdleCustomerDeactivation;

    public EngineLimits ToEngineLimits()
    {
        foreach (var (name, value) in new[]
        {
            (nameof(DedupeMaxIds), DedupeMaxIds), (nameof(InteractionsKept), InteractionsKept), (nameof(OrdersKept), OrdersKept), (nameof(OrdersKeptDays), OrdersKeptDays), (nameof(LedgerKept), LedgerKept), (nameof(RewardsKeptAfterExpiryDays), RewardsKeptAfterExpiryDays),
            (nameof(OrderLinesKept), OrderLinesKept), (nameof(CategoryBucketsKept), CategoryBucketsKept), (nameof(OnceOnlyKept), OnceOnlyKept), (nameof(RewardsKept), RewardsKept),
        })
        {
            if (value < 1)
            {
                throw new InvalidOperationException($"Loyalty:Limits:{name} must be at least 1, not {value}");
            }
        }
        if (DedupeWindow < TimeSpan.FromHours(1))
        {
            throw new InvalidOperationException($"Loyalty:Limits:DedupeWindow must be at least one hour, not {DedupeWindow}");
        }
        if (IdleCustomerDeactivation < TimeSpan.FromMinutes(1))
        {
            throw new InvalidOperationException($"Loyalty:Limits:IdleCustomerDeactivation must be at least one minute, not {IdleCustomerDeactivation}");
        }
        return Create();
    }

    private EngineLimits Create() => new()
    {
        DedupeWindow = DedupeWindow,
        DedupeMaxIds = DedupeMaxIds,
        InteractionsKept = InteractionsKept,
        OrdersKept = OrdersKept,
        OrdersKeptDays = OrdersKeptDays,
        LedgerKept = LedgerKept,
        RewardsKeptAfterExpiryDays = RewardsKeptAfterExpiryDays,
        IdleCustomerDeactivation = IdleCustomerDeactivation,
        OrderLinesKept = OrderLinesKept,
        CategoryBucketsKept = CategoryBucketsKept,
        OnceOnlyKept = OnceOnlyKept,
        RewardsKept = RewardsKept,
        RewardCodeSecret = RewardCodeSecret,
    };
}

public sealed class ApiSettings
{
    public string Address { get; set; } = "127.0.0.1";
    public int Port { get; set; } = 5080;
    /// <summary>A port serving the RPCs as JSON over HTTP/1.1 (the transcoded routes, with the same keys, scopes and
    /// limits), 0 for none. With TLS the API port itself serves JSON over HTTP/1.1 and HTTP/2 (ALPN picks); without
    /// TLS one port cannot (Kestrel serves a cleartext port as HTTP/1.1 or as HTTP/2, never both), so plaintext
    /// JSON clients use this port.</summary>
    public int HttpPort { get; set; }
    /// <summary>Events in flight per PublishStream: read but not yet answered.</summary>
    public int StreamMaxInFlight { get; set; } = 1000;
    /// <summary>Events read but not yet written back per PublishStream, as a multiple of <see cref="StreamMaxInFlight"/>.
    /// Results go back in request order, so finished results wait behind a slower one: a larger multiple lets the
    /// work behind a slow customer go on (more events per journal append), a smaller one holds less in the server when
    /// clients send faster than it answers (lower latency and memory at saturation; docs/benchmarks.md, twenty-first
    /// session, measured both).</summary>
    public int StreamUnwrittenPerInFlight { get; set; } = 8;
    /// <summary>Streams (PublishStream, Watch, WatchRewards) one caller may hold open at once per silo, unless its key
    /// sets its own <see cref="ApiKeySettings.MaxStreams"/>.</summary>
    public int MaxStreamsPerKey { get; set; } = 100;
    /// <summary>Watch streams open on one customer at once (across the cluster: the customer counts its subscriptions).</summary>
    public int MaxWatchersPerCustomer { get; set; } = 16;
    /// <summary>Largest request message in bytes; larger ones are refused (RESOURCE_EXHAUSTED) before they are buffered.</summary>
    public int MaxMessageBytes { get; set; } = 4 * 1024 * 1024;
    /// <summary>TLS certificate (PFX/PKCS#12) for HTTPS with HTTP/2. Required unless the address is loopback or
    /// <see cref="AllowPlaintext"/> is set (TLS terminated in front of the engine, e.g. by a service mesh).</summary>
    public string CertificatePath { get; set; } = "";
    public string CertificatePassword { get; set; } = "";
    public bool AllowPlaintext { get; set; }
}

public sealed class ClusterSettings
{
    /// <summary>"Localhost" (a dev cluster on this machine: the first silo is the primary) or "AzureTable" (membership
    /// in the storage account's table, for any number of silos on any machines).</summary>
    public string Provider { get; set; } = "Localhost";
    public string ClusterId { get; set; } = "loyalty-dev";
    public string ServiceId { get; set; } = "loyalty";
    public int SiloPort { get; set; } = 11111;
    /// <summary>The address other silos reach this one on (AzureTable; in Kubernetes the pod IP).</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";
    /// <summary>Listen on every interface rather than only the advertised address (containers).</summary>
    public bool ListenOnAnyAddress { get; set; }
    /// <summary>Localhost clustering: the silo port of the primary silo (0 = this silo is the primary).</summary>
    public int PrimarySiloPort { get; set; }
    public string MembershipTableName { get; set; } = "LoyaltyMembership";
}

/// <summary>The operator endpoint: health, readiness, metrics, dashboard. Never the API port.</summary>
public sealed class OperatorSettings
{
    public string Address { get; set; } = "127.0.0.1";
    public int Port { get; set; } = 5081;
    /// <summary>The Orleans dashboard under /dashboard on the operator port.</summary>
    public bool Dashboard { get; set; }
    /// <summary>On SIGTERM, how long /readyz (and gRPC health) say "not ready" while everything still serves, so load
    /// balancers stop sending before the silo leaves.</summary>
    public TimeSpan ShutdownDelay { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>How long an operator's browser session (signed in at /operator/login) lasts.</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromMinutes(30);
}

/// <summary>Who may call: API keys (salted hashes only) and/or JWT bearer tokens; anonymous only when asked for.</summary>
public sealed class AuthSettings
{
    /// <summary>"Keys" (default: API keys and, if configured, JWT) or "Anonymous" (no credentials, every scope: development only).</summary>
    public string Mode { get; set; } = "Keys";
    public List<ApiKeySettings> Keys { get; set; } = [];
    public JwtSettings Jwt { get; set; } = new();
    /// <summary>The largest adjustment (± points) a caller may make with customers:care but without customers:admin
    /// (support agents); larger corrections need customers:admin.</summary>
    public long CareMaxAdjustPoints { get; set; } = 10_000;
    /// <summary>Daily totals (UTC days, across the cluster) for callers with customers:care but not customers:admin:
    /// points adjusted by one agent (either sign counts), points adjusted for one customer by all agents, goodwill
    /// grants by one agent and to one customer, and care actions by one agent.</summary>
    public long CarePointsPerAgentPerDay { get; set; } = 50_000;
    public long CarePointsPerCustomerPerDay { get; set; } = 20_000;
    public int CareGoodwillPerAgentPerDay { get; set; } = 50;
    public int CareGoodwillPerCustomerPerDay { get; set; } = 3;
    public int CareActionsPerAgentPerDay { get; set; } = 500;

    /// <summary>Why a caller may not make this adjustment (over the care limit without customers:admin), or null.</summary>
    public string? CareLimitRefusal(bool isAdmin, long points) =>
        isAdmin || Math.Abs(points) <= CareMaxAdjustPoints
            ? null
            : $"points: an agent may adjust at most {CareMaxAdjustPoints} points at a time; larger corrections need customers:admin";
}

/// <summary>One API key as configured: made by <c>loyalty keys create</c>, which prints the key once.</summary>
public sealed class ApiKeySettings
{
    public string Id { get; set; } = "";
    public string Salt { get; set; } = "";
    public string Hash { get; set; } = "";
    /// <summary>Scopes (see README); "*" for all.</summary>
    public List<string> Scopes { get; set; } = [];
    /// <summary>If set, events must have a <c>source</c> starting with one of these.</summary>
    public List<string> Sources { get; set; } = [];
    /// <summary>Token bucket: sustained calls per second, where every event counts as one (alone, in a batch or on a
    /// stream); 0 = unlimited.</summary>
    public double RatePerSecond { get; set; }
    /// <summary>Token bucket size (default: one second's worth, at least 1).</summary>
    public double Burst { get; set; }
    /// <summary>Streams (PublishStream, Watch, WatchRewards) this key may hold open at once per silo; 0 = the
    /// <see cref="ApiSettings.MaxStreamsPerKey"/> default.</summary>
    public int MaxStreams { get; set; }
}

/// <summary>JWT bearer tokens (HS256 with a shared key): scopes from the <c>scope</c> claim (space-separated),
/// source prefixes from <c>loyalty_sources</c>. Off unless <see cref="SigningKey"/> is set.</summary>
public sealed class JwtSettings
{
    public string Issuer { get; set; } = "";
    public string Audience { get; set; } = "";
    /// <summary>Base64 of at least 32 bytes.</summary>
    public string SigningKey { get; set; } = "";
}

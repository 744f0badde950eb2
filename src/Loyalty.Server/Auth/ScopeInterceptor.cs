using Grpc.Core;
using Grpc.Core.Interceptors;
using Loyalty.Grains;
using Loyalty.Server.Services;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Auth;

/// <summary>
/// Every RPC needs a credential (except the gRPC health service, for probes) and the scope its method needs; unknown
/// methods are refused (fail closed). Ingestion checks each event's kind and source against the caller's scopes and
/// source prefixes itself (a batch rejects only the events outside them). Per-key rate limits are applied here.
/// </summary>
public sealed class ScopeInterceptor(LoyaltySettings settings, KeyRateLimiter limiter, AuditLog audit, TimeProvider time, ILogger<ScopeInterceptor> logger) : Interceptor
{
    /// <summary>Any authenticated caller.</summary>
    public const string Authenticated = "";
    /// <summary>Any ingest:* scope (the events themselves are checked one by one).</summary>
    public const string AnyIngest = "ingest:";
    /// <summary>customers:admin or programs:admin.</summary>
    public const string AnyAdmin = "admin";
    /// <summary>Caring for a customer (adjust points with a reason, grant goodwill rewards): customers:care, the support
    /// agent's scope, or customers:admin. Agents hold care without admin, so they cannot export or erase customers.</summary>
    public const string Care = "customers:care|customers:admin";

    /// <summary>The scope each method needs.</summary>
    public static readonly IReadOnlyDictionary<string, string> Required = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["/loyalty.v1.Ingestion/Publish"] = AnyIngest,
        ["/loyalty.v1.Ingestion/PublishBatch"] = AnyIngest,
        ["/loyalty.v1.Ingestion/PublishStream"] = AnyIngest,
        ["/loyalty.v1.Customers/GetCustomer"] = "customers:read",
        ["/loyalty.v1.Customers/ListInteractions"] = "customers:read",
        ["/loyalty.v1.Customers/ListEligibleRewards"] = "customers:read",
        ["/loyalty.v1.Customers/ListLedger"] = "customers:read",
        ["/loyalty.v1.Customers/Watch"] = "customers:read",
        ["/loyalty.v1.Customers/Redeem"] = "customers:redeem",
        ["/loyalty.v1.Customers/Reserve"] = "customers:redeem",
        ["/loyalty.v1.Customers/Confirm"] = "customers:redeem",
        ["/loyalty.v1.Customers/Cancel"] = "customers:redeem",
        ["/loyalty.v1.Customers/Adjust"] = Care,
        ["/loyalty.v1.Customers/GrantGoodwill"] = Care,
        ["/loyalty.v1.Customers/ExportCustomer"] = "customers:admin",
        ["/loyalty.v1.Customers/EraseCustomer"] = "customers:admin",
        ["/loyalty.v1.Programs/GetProgram"] = Authenticated,
        ["/loyalty.v1.Programs/ListProgramVersions"] = Authenticated,
        ["/loyalty.v1.Programs/ValidateProgram"] = "programs:admin",
        ["/loyalty.v1.Programs/SimulateProgram"] = "programs:admin",
        ["/loyalty.v1.Programs/PublishProgram"] = "programs:admin",
        ["/loyalty.v1.Programs/WatchRewards"] = "customers:read",
        // Who did what to which customer: customer data, so customers:admin only (not programs:admin).
        ["/loyalty.v1.Audit/ListAuditEntries"] = "customers:admin",
    };

    /// <summary>What an audited call was about: the customer (stored as a pseudonym), another target, the detail, and
    /// the caller's free-text reason (kept apart, erased with the customer).</summary>
    private readonly record struct About(string? CustomerId, string Target, string Detail, string? Reason = null, bool ByApplication = false);

    /// <summary>Admin actions recorded in the audit log (allowed, or refused to an authenticated caller), with what they were about.</summary>
    private static readonly IReadOnlyDictionary<string, Func<object, About>> Audited =
        new Dictionary<string, Func<object, About>>(StringComparer.Ordinal)
        {
            // Care actions: the application layer records whatever happens once a call is admitted; only a refusal
            // of the scope is recorded here.
            ["/loyalty.v1.Customers/Adjust"] = r => r is V1.AdjustRequest a
                ? new(a.CustomerId, "", $"points {a.Points}, adjustment_id '{a.AdjustmentId}'; via api", a.Reason, ByApplication: true) : new(null, "", ""),
            ["/loyalty.v1.Customers/GrantGoodwill"] = r => r is V1.GrantGoodwillRequest g
                ? new(g.CustomerId, "", $"reward '{g.RewardId}', grant_id '{g.GrantId}'; via api", g.Reason, ByApplication: true) : new(null, "", ""),
            ["/loyalty.v1.Customers/ExportCustomer"] = r => new(r is V1.ExportCustomerRequest e ? e.CustomerId : "", "", ""),
            ["/loyalty.v1.Customers/EraseCustomer"] = r => new(r is V1.EraseCustomerRequest e ? e.CustomerId : "", "", ""),
            // Simulating on a real customer reveals their state (balance, tier, flags, age by search): audited, and it
            // needs customers:read as well as programs:admin (checked in Admit).
            ["/loyalty.v1.Programs/SimulateProgram"] = r => r is V1.SimulateProgramRequest { NewCustomer: false } s
                ? new(s.CustomerId, "", $"simulation of {s.Events.Count} event(s) on the customer's state") : new(null, "", ""),
            ["/loyalty.v1.Programs/PublishProgram"] = r => r is V1.PublishProgramRequest p
                ? new(null, "program", $"author '{p.Author}', expected_version '{p.ExpectedVersion}'") : new(null, "", ""),
        };

    private const string HealthPrefix = "/grpc.health.v1.Health/";

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        if (!Audited.TryGetValue(context.Method, out var describe))
        {
            Admit(context, request switch
            {
                V1.PublishBatchRequest batch => Math.Max(1, batch.Events.Count),
                _ => 1,
            });
            return await continuation(request, context);
        }
        var about = describe(request);
        if (request is V1.SimulateProgramRequest { NewCustomer: true })
        {
            // A simulation on a customer never seen reads no one's data: not audited.
            Admit(context, 1);
            return await continuation(request, context);
        }
        // Unauthenticated and rate-limited calls are refused here, before anything is recorded: a flood of them must
        // not fill the audit log (they are counted in loyalty_access_refused_total instead).
        Caller caller;
        try
        {
            caller = Admit(context, 1, request is V1.SimulateProgramRequest ? "customers:read" : null);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.PermissionDenied && Caller.From(context.GetHttpContext().User) is { } known)
        {
            await Record(context, known, about, e.StatusCode.ToString(), e.Status.Detail);
            throw;
        }
        if (about.ByApplication)
        {
            return await continuation(request, context);
        }
        try
        {
            var response = await continuation(request, context);
            if (response is V1.PublishProgramResponse published)
            {
                about = about with { Target = $"program {published.Version} (#{published.Number})" };
            }
            await Record(context, caller, about, "OK", "");
            return response;
        }
        catch (RpcException e)
        {
            await Record(context, caller, about, e.StatusCode.ToString(), e.Status.Detail);
            throw;
        }
    }

    private async Task Record(ServerCallContext context, Caller caller, About about, string outcome, string error)
    {
        var action = context.Method.Replace("/loyalty.v1.", "", StringComparison.Ordinal);
        var detail = $"{about.Detail}; {error}".Trim(';', ' ');
        try
        {
            await audit.RecordAsync(time.GetUtcNow(), caller.Id, action, about.Target, outcome, detail, about.CustomerId, about.Reason);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The action happened (or was refused) either way; losing its audit row must be loud.
            logger.LogError(ex, "Could not record the audit entry {Action} by {Caller}: {Outcome}", action, caller.Id, outcome);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var slot = OpenStream(context);
        await continuation(request, responseStream, context);
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var slot = OpenStream(context);
        return await continuation(requestStream, context);
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var slot = OpenStream(context);
        await continuation(requestStream, responseStream, context);
    }

    private IDisposable? OpenStream(ServerCallContext context)
    {
        Admit(context, 1);
        if (context.Method.StartsWith(HealthPrefix, StringComparison.Ordinal))
        {
            return null;
        }
        var caller = Caller.Of(context);
        if (limiter.TryOpenStream(caller.Id) is { } slot)
        {
            return slot;
        }
        LoyaltyMetrics.AccessRefused("too_many_streams");
        throw AccessErrors.TooManyStreams(caller.Id, limiter.StreamLimit(caller.Id));
    }

    private Caller Admit(ServerCallContext context, int cost, string? alsoNeeds = null)
    {
        if (context.Method.StartsWith(HealthPrefix, StringComparison.Ordinal))
        {
            return Caller.Anonymous;
        }
        var http = context.GetHttpContext();
        var caller = settings.Auth.Mode == "Anonymous" ? Caller.Anonymous : Caller.From(http.User);
        if (caller is null)
        {
            LoyaltyMetrics.AccessRefused("unauthenticated");
            throw AccessErrors.Unauthenticated($"missing or invalid credentials: send an API key in the '{Contracts.ApiKeys.Header}' header or a bearer token");
        }
        if (!Required.TryGetValue(context.Method, out var scope))
        {
            LoyaltyMetrics.AccessRefused("permission_denied");
            throw AccessErrors.PermissionDenied($"{context.Method} is not open to any scope");
        }
        var allowed = scope switch
        {
            Authenticated => true,
            AnyIngest => caller.HasAny(AnyIngest),
            AnyAdmin => caller.Has("customers:admin") || caller.Has("programs:admin"),
            _ => scope.Split('|').Any(caller.Has),
        };
        if (allowed && alsoNeeds is not null && !caller.Has(alsoNeeds))
        {
            LoyaltyMetrics.AccessRefused("permission_denied");
            throw AccessErrors.PermissionDenied($"'{caller.Id}' lacks the scope {alsoNeeds} for {context.Method} on a real customer (new_customer=false reads their state)");
        }
        if (!allowed)
        {
            LoyaltyMetrics.AccessRefused("permission_denied");
            throw AccessErrors.PermissionDenied($"'{caller.Id}' lacks the scope {(scope == AnyIngest ? "ingest:<source>" : scope == AnyAdmin ? "customers:admin or programs:admin" : scope.Replace("|", " or ", StringComparison.Ordinal))} for {context.Method}");
        }
        if (limiter.TryTake(caller.Id, cost) is { } retryAfter)
        {
            LoyaltyMetrics.AccessRefused("rate_limited");
            throw AccessErrors.RateLimited(caller.Id, retryAfter);
        }
        http.Items[typeof(Caller)] = caller;
        return caller;
    }
}

using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Authorization;
using Loyalty.Grains;
using Loyalty.Server.Services;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Auth;

/// <summary>
/// Admits gRPC calls: the policy a method names (<see cref="RpcPolicyAttribute"/>, see <see cref="Scopes"/>) is
/// evaluated by ASP.NET Core authorization with the request as the resource, so a refused admin action is audited with
/// what it was about; a method that names none is refused (fail closed). Then the key's rate limit (a token per event)
/// and, for streams, its cap on open streams. Ingestion checks each event's kind and source against the caller's scopes
/// and source prefixes itself (a batch rejects only the events outside them).
/// </summary>
public sealed class RpcAccessInterceptor(IAuthorizationService authorization, KeyRateLimiter limiter, AuditLog audit, TimeProvider time,
    ILogger<RpcAccessInterceptor> logger) : Interceptor
{
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
            // Imports create customers with balances: one row per call (not per member), naming the import.
            ["/loyalty.v1.Imports/ImportMembers"] = r => r is V1.ImportMembersRequest m
                ? new(null, $"import '{RpcErrors.Clip(m.ImportId, 128)}'", $"{m.Members.Count} member(s)") : new(null, "", ""),
            ["/loyalty.v1.Imports/ImportHistory"] = r => r is V1.ImportHistoryRequest h
                ? new(null, $"import '{RpcErrors.Clip(h.ImportId, 128)}'", $"{h.Events.Count} event(s), earn_points {h.EarnPoints}") : new(null, "", ""),
            ["/loyalty.v1.Programs/PublishProgram"] = r => r is V1.PublishProgramRequest p
                ? new(null, "program", $"author '{p.Author}', expected_version '{p.ExpectedVersion}'") : new(null, "", ""),
        };

    private const string HealthPrefix = "/grpc.health.v1.Health/";

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await Unary(request, context, continuation);
        }
        catch (RpcException e) when (e.Trailers.GetValue("retry-after") is { } seconds
            && context.GetHttpContext() is { } http && http.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) != true)
        {
            // A JSON route (transcoded): HTTP/1.1 has no trailers, so the wait goes where HTTP clients look for it.
            http.Response.Headers.RetryAfter = seconds;
            throw;
        }
    }

    private async Task<TResponse> Unary<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation) where TRequest : class where TResponse : class
    {
        if (!Audited.TryGetValue(context.Method, out var describe))
        {
            await Admit(context, request, request switch
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
            await Admit(context, request, 1);
            return await continuation(request, context);
        }
        // Unauthenticated and rate-limited calls are refused here, before anything is recorded: a flood of them must
        // not fill the audit log (they are counted in loyalty_access_refused_total instead).
        Caller caller;
        try
        {
            caller = (await Admit(context, request, 1))!;   // audited methods are never open
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
        using var slot = await OpenStream(context, request);
        await continuation(request, responseStream, context);
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var slot = await OpenStream(context, null);
        return await continuation(requestStream, context);
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var slot = await OpenStream(context, null);
        await continuation(requestStream, responseStream, context);
    }

    private async Task<IDisposable?> OpenStream(ServerCallContext context, object? request)
    {
        if (await Admit(context, request, 1) is not { } caller)
        {
            return null;   // an open method (health): no key, so no stream cap
        }
        if (limiter.TryOpenStream(caller.Id) is { } slot)
        {
            return slot;
        }
        LoyaltyMetrics.AccessRefused("too_many_streams");
        throw AccessErrors.TooManyStreams(caller.Id, limiter.StreamLimit(caller.Id));
    }

    /// <summary>The caller, once the method's policy admits them and their key has <paramref name="cost"/> tokens; null
    /// for an open method. Throws UNAUTHENTICATED, PERMISSION_DENIED or RESOURCE_EXHAUSTED otherwise.</summary>
    private async Task<Caller?> Admit(ServerCallContext context, object? request, int cost)
    {
        var http = context.GetHttpContext();
        var policy = http.GetEndpoint()?.Metadata.GetMetadata<RpcPolicyAttribute>()?.Policy;
        if (policy == Scopes.Open)
        {
            return null;
        }
        var caller = Caller.From(http.User);
        if (caller is null)
        {
            LoyaltyMetrics.AccessRefused("unauthenticated");
            throw AccessErrors.Unauthenticated($"missing or invalid credentials: send an API key in the '{Contracts.ApiKeys.Header}' header or a bearer token");
        }
        if (policy is null)
        {
            LoyaltyMetrics.AccessRefused("permission_denied");
            throw AccessErrors.PermissionDenied($"{context.Method} is not open to any scope");
        }
        var decision = await authorization.AuthorizeAsync(http.User, request, policy);
        if (!decision.Succeeded)
        {
            LoyaltyMetrics.AccessRefused("permission_denied");
            throw AccessErrors.PermissionDenied($"{ScopeHandler.Why(decision.Failure)} for {context.Method}");
        }
        if (await limiter.TryTakeAsync(caller.Id, cost, context.CancellationToken) is { } retryAfter)
        {
            LoyaltyMetrics.AccessRefused("rate_limited");
            throw AccessErrors.RateLimited(caller.Id, retryAfter);
        }
        http.Items[typeof(Caller)] = caller;
        return caller;
    }
}

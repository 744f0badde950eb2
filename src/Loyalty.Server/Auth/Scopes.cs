using Microsoft.AspNetCore.Authorization;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Auth;

/// <summary>
/// What a caller may do, as ASP.NET Core authorization policies, one per kind of access. The gRPC methods name theirs
/// with <see cref="RpcPolicyAttribute"/> (evaluated with the request as the resource, so a refusal can be audited with
/// what it was about); the operator endpoints and the console's API with <c>RequireAuthorization</c>.
/// </summary>
public static class Scopes
{
    /// <summary>No credential needed (the gRPC health service, for probes).</summary>
    public const string Open = "open";
    /// <summary>Any authenticated caller.</summary>
    public const string Authenticated = "authenticated";
    /// <summary>Any ingest:* scope (each event's kind and source are then checked one by one).</summary>
    public const string Ingest = "ingest";
    public const string CustomersRead = "customers:read";
    public const string CustomersRedeem = "customers:redeem";
    /// <summary>Caring for a customer (adjust points with a reason, grant goodwill): customers:care, the support agent's
    /// scope, or customers:admin. Agents hold care without admin, so they cannot export or erase customers.</summary>
    public const string Care = "customers:care";
    public const string CustomersAdmin = "customers:admin";
    public const string ProgramsAdmin = "programs:admin";
    /// <summary>programs:admin; on a real customer (new_customer=false) also customers:read, since it reads their state.</summary>
    public const string Simulate = "simulate";
    /// <summary>Recording how a support case ended from the console: ingest:support.</summary>
    public const string ResolveCases = "ingest:support";
    /// <summary>The operator's pages (dashboard, sign-in): customers:admin or programs:admin.</summary>
    public const string Operator = "operator";
    /// <summary>Prometheus: metrics:read, or an operator's scope.</summary>
    public const string Metrics = "metrics:read";
    /// <summary>Importing members and history: customers:import (a migration key) or customers:admin.</summary>
    public const string Import = "customers:import";
    /// <summary>Finance reports (points liability): reports:read or customers:admin.</summary>
    public const string Reports = "reports:read";

    /// <summary>The scopes each policy accepts (any one of them; "*" holds them all; a scope ending in ':' is a prefix).</summary>
    private static readonly Dictionary<string, string[]> AnyOf = new(StringComparer.Ordinal)
    {
        [Authenticated] = [],
        [Ingest] = ["ingest:"],
        [CustomersRead] = ["customers:read"],
        [CustomersRedeem] = ["customers:redeem"],
        [Care] = ["customers:care", "customers:admin"],
        [CustomersAdmin] = ["customers:admin"],
        [ProgramsAdmin] = ["programs:admin"],
        [Simulate] = ["programs:admin"],
        [ResolveCases] = ["ingest:support"],
        [Operator] = ["customers:admin", "programs:admin"],
        [Metrics] = ["metrics:read", "customers:admin", "programs:admin"],
        [Import] = ["customers:import", "customers:admin"],
        [Reports] = ["reports:read", "customers:admin"],
    };

    public static IServiceCollection AddLoyaltyAuthorization(this IServiceCollection services)
    {
        services.AddSingleton<IAuthorizationHandler, ScopeHandler>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, HttpAccessAnswers>();
        return services.AddAuthorization(options =>
        {
            options.AddPolicy(Open, policy => policy.RequireAssertion(_ => true));
            foreach (var (name, anyOf) in AnyOf)
            {
                options.AddPolicy(name, policy =>
                {
                    policy.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(anyOf));
                    if (name == Simulate)
                    {
                        policy.AddRequirements(new RealCustomerRequirement());
                    }
                });
            }
        });
    }
}

/// <summary>Names the authorization policy (<see cref="Scopes"/>) a gRPC method needs. A method without one is
/// refused to everyone (fail closed).</summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class)]
public sealed class RpcPolicyAttribute(string policy) : Attribute
{
    public string Policy { get; } = policy;
}

/// <summary>The caller holds one of these scopes (or *). An empty list: any authenticated caller.</summary>
public sealed class ScopeRequirement(string[] anyOf) : IAuthorizationRequirement
{
    public IReadOnlyList<string> AnyOf { get; } = anyOf;

    public bool AllowedFor(Caller caller) =>
        AnyOf.Count == 0 || AnyOf.Any(s => s.EndsWith(':') ? caller.HasAny(s) : caller.Has(s));

    public string Describe() => string.Join(" or ", AnyOf.Select(s => s.EndsWith(':') ? s + "<source>" : s));
}

/// <summary>Simulating a draft on a real customer reads their state, so it also needs customers:read.</summary>
public sealed class RealCustomerRequirement : IAuthorizationRequirement;

/// <summary>Decides <see cref="ScopeRequirement"/> and <see cref="RealCustomerRequirement"/>, saying why on refusal.</summary>
public sealed class ScopeHandler : IAuthorizationHandler
{
    public Task HandleAsync(AuthorizationHandlerContext context)
    {
        if (Caller.From(context.User) is not { } caller)
        {
            return Task.CompletedTask;   // RequireAuthenticatedUser fails the policy: unauthenticated
        }
        foreach (var requirement in context.PendingRequirements.ToList())
        {
            switch (requirement)
            {
                case ScopeRequirement scope when scope.AllowedFor(caller):
                case RealCustomerRequirement when context.Resource is not V1.SimulateProgramRequest { NewCustomer: false } || caller.Has("customers:read"):
                    context.Succeed(requirement);
                    break;
                case ScopeRequirement scope:
                    context.Fail(new AuthorizationFailureReason(this, $"'{caller.Id}' lacks the scope {scope.Describe()}"));
                    break;
                case RealCustomerRequirement:
                    context.Fail(new AuthorizationFailureReason(this,
                        $"'{caller.Id}' lacks the scope customers:read for a simulation on a real customer (new_customer=false reads their state)"));
                    break;
            }
        }
        return Task.CompletedTask;
    }

    /// <summary>Why a policy refused an authenticated caller, from the handlers' reasons.</summary>
    public static string Why(AuthorizationFailure? failure) =>
        failure?.FailureReasons.Select(r => r.Message).FirstOrDefault() ?? "not allowed";
}

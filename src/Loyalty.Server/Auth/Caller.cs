using System.Security.Claims;
using Grpc.Core;

namespace Loyalty.Server.Auth;

/// <summary>Who is calling and what they may do: from the API key or JWT that authenticated the call.</summary>
public sealed class Caller
{
    public const string ScopeClaim = "scope";
    public const string SourceClaim = "loyalty_source";
    public const string KeyClaim = "loyalty_key";

    private readonly HashSet<string> _scopes;

    private Caller(string id, IEnumerable<string> scopes, IReadOnlyList<string> sources)
    {
        Id = id;
        _scopes = new HashSet<string>(scopes, StringComparer.Ordinal);
        Sources = sources;
    }

    /// <summary>The key id or token subject (for the audit log and error messages).</summary>
    public string Id { get; }

    /// <summary>Source prefixes the caller may send events for; empty = any.</summary>
    public IReadOnlyList<string> Sources { get; }

    /// <summary>The scopes the caller holds, as configured ("*" for all).</summary>
    public IReadOnlyCollection<string> Scopes => _scopes;

    public bool Has(string scope) => _scopes.Contains("*") || _scopes.Contains(scope);

    public bool HasOneOf(params string[] anyOf) => anyOf.Any(Has);

    public bool HasAny(string prefix) => _scopes.Contains("*") || _scopes.Any(s => s.StartsWith(prefix, StringComparison.Ordinal));

    public bool MaySend(string source) => Sources.Count == 0 || Sources.Any(p => source.StartsWith(p, StringComparison.Ordinal));

    public static Caller? From(ClaimsPrincipal user)
    {
        if (user.Identity?.IsAuthenticated != true)
        {
            return null;
        }
        var scopes = user.FindAll(ScopeClaim).SelectMany(c => c.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        var sources = user.FindAll(SourceClaim).Select(c => c.Value).ToList();
        var id = user.FindFirst(KeyClaim)?.Value ?? user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? user.FindFirst("sub")?.Value ?? "token";
        return new Caller(id, scopes, sources);
    }

    /// <summary>The principal an authentication scheme gives the holder of a key (or a session, or anonymous mode).</summary>
    public static ClaimsPrincipal Principal(string id, IEnumerable<string> scopes, IEnumerable<string> sources, string scheme)
    {
        var claims = new List<Claim> { new(KeyClaim, id) };
        claims.AddRange(scopes.Select(s => new Claim(ScopeClaim, s)));
        claims.AddRange(sources.Select(s => new Claim(SourceClaim, s)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme));
    }

    /// <summary>The caller of a gRPC call (set by <see cref="RpcAccessInterceptor"/>).</summary>
    public static Caller Of(ServerCallContext context) =>
        context.GetHttpContext().Items[typeof(Caller)] as Caller ?? throw new RpcException(new Status(StatusCode.Unauthenticated, "no credentials"));
}

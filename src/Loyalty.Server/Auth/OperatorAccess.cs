using Loyalty.Contracts;

namespace Loyalty.Server.Auth;

/// <summary>
/// The operator port's metrics and dashboard need an API key with an admin scope (customers:admin, programs:admin or
/// *): in the <c>x-api-key</c> header or as a bearer token (Prometheus' <c>authorization</c>), or, for a browser, in a
/// cookie set by <c>/operator/login?key=...&amp;then=/dashboard/</c>. Health and readiness stay open for probes.
/// </summary>
public static class OperatorAccess
{
    public const string Cookie = "loyalty_operator";

    public static bool Guarded(PathString path) => path.StartsWithSegments("/metrics") || path.StartsWithSegments("/dashboard");

    /// <summary>Null when the key may use the operator endpoints; otherwise the status and why.</summary>
    public static (int Status, string Why)? Check(LoyaltySettings settings, string? key) =>
        Check(settings, key, "customers:admin", "programs:admin");

    /// <summary>Null when the key holds one of <paramref name="anyOf"/> (or *); otherwise the status and why.</summary>
    public static (int Status, string Why)? Check(LoyaltySettings settings, string? key, params string[] anyOf) =>
        Check(settings, key, out _, anyOf);

    /// <summary>As <see cref="Check(LoyaltySettings, string?, string[])"/>, also giving who holds the key (checked once);
    /// no scopes = any valid key.</summary>
    public static (int Status, string Why)? Check(LoyaltySettings settings, string? key, out Holder? holder, params string[] anyOf)
    {
        holder = Identify(settings, key);
        if (holder is null)
        {
            return string.IsNullOrEmpty(key)
                ? (StatusCodes.Status401Unauthorized, "an API key is required (x-api-key header, bearer token, or /operator/login)")
                : (StatusCodes.Status401Unauthorized, "unknown or wrong API key");
        }
        return anyOf.Length == 0 || holder.Has(anyOf)
            ? null
            : (StatusCodes.Status403Forbidden, $"key '{holder.Id}' lacks the scope {string.Join(" or ", anyOf)}");
    }

    /// <summary>Who holds a key: its id, scopes and the event source prefixes it may send (empty = any).</summary>
    public sealed record Holder(string Id, IReadOnlyList<string> Scopes, IReadOnlyList<string> Sources)
    {
        public bool Has(params string[] anyOf) => Scopes.Any(s => s == "*" || anyOf.Contains(s));

        public bool MaySend(string source) => Sources.Count == 0 || Sources.Any(p => source.StartsWith(p, StringComparison.Ordinal));
    }

    /// <summary>The configured key <paramref name="key"/> is, or null for no key, an unknown key or a wrong secret. In
    /// anonymous mode everyone holds every scope.</summary>
    public static Holder? Identify(LoyaltySettings settings, string? key)
    {
        if (settings.Auth.Mode == "Anonymous")
        {
            return new Holder("anonymous", ["*"], []);
        }
        if (string.IsNullOrEmpty(key))
        {
            return null;
        }
        var id = ApiKeys.IdOf(key);
        var entry = id is null ? null : settings.Auth.Keys.Find(k => k.Id == id);
        return entry is null || !ApiKeys.Matches(key, entry.Salt, entry.Hash) ? null : new Holder(entry.Id, entry.Scopes, entry.Sources);
    }

    public static string? KeyOf(HttpRequest request)
    {
        if (request.Headers.TryGetValue(ApiKeys.Header, out var header) && header.Count > 0)
        {
            return header[0];
        }
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return authorization["Bearer ".Length..].Trim();
        }
        return request.Cookies.TryGetValue(Cookie, out var cookie) ? cookie : null;
    }

    /// <summary>A path on this host to go back to after login, or null: it starts with one '/', and holds no backslash,
    /// whitespace or control character (browsers drop tabs and newlines, so "/\t/evil.example" would become
    /// "//evil.example", another host).</summary>
    public static string? LocalPath(string? then) =>
        then is { Length: > 0 } t && t[0] == '/' && (t.Length == 1 || t[1] != '/')
            && !t.Any(c => c == '\\' || char.IsWhiteSpace(c) || char.IsControl(c))
            ? t
            : null;

    public static void Map(WebApplication app, LoyaltySettings settings, int operatorPort)
    {
        app.Use(async (context, next) =>
        {
            // By path on every port: whichever port a guarded path is reached on, it needs the key.
            // /metrics also for a key with only metrics:read (Prometheus needs no admin key); the dashboard needs admin.
            if (Guarded(context.Request.Path) && (context.Request.Path.StartsWithSegments("/metrics")
                    ? Check(settings, KeyOf(context.Request), "customers:admin", "programs:admin", "metrics:read")
                    : Check(settings, KeyOf(context.Request))) is { } refused)
            {
                context.Response.StatusCode = refused.Status;
                await context.Response.WriteAsync(refused.Why);
                return;
            }
            await next();
        });
        app.MapGet("/operator/login", (HttpContext context, string? key, string? then) =>
        {
            if (Check(settings, key) is { } refused)
            {
                return Results.Text(refused.Why, statusCode: refused.Status);
            }
            context.Response.Cookies.Append(Cookie, key!, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/" });
            // Only local paths: never an open redirect.
            var target = LocalPath(then) ?? "/dashboard/";
            return Results.Redirect(target);
        }).OnPort(operatorPort);
    }
}

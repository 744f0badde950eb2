using Loyalty.Contracts;

namespace Loyalty.Server.Auth;

/// <summary>
/// The operator port's metrics and dashboard need an API key with an admin scope (customers:admin, programs:admin or
/// *; /metrics also metrics:read): in the <c>x-api-key</c> header or as a bearer token (Prometheus'
/// <c>authorization</c>), or, for a browser, an operator session: the key is posted once to <c>/operator/login</c> and
/// the browser gets an opaque, short-lived session cookie (never the key). Health and readiness stay open for probes.
/// </summary>
public static class OperatorAccess
{
    /// <summary>The session cookie over plain HTTP (loopback development).</summary>
    public const string Cookie = "loyalty_session";
    /// <summary>The session cookie over HTTPS: the __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.</summary>
    public const string SecureCookie = "__Host-loyalty_session";

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

    /// <summary>The key sent with a request (header or bearer token); never a cookie.</summary>
    public static string? KeyOf(HttpRequest request)
    {
        if (request.Headers.TryGetValue(ApiKeys.Header, out var header) && header.Count > 0)
        {
            return header[0];
        }
        var authorization = request.Headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization["Bearer ".Length..].Trim() : null;
    }

    private static string? SessionOf(HttpRequest request) =>
        request.Cookies.TryGetValue(request.IsHttps ? SecureCookie : Cookie, out var token) ? token : null;

    /// <summary>Who calls: by key (header or bearer), else by session cookie; null if neither is valid.</summary>
    private static (int Status, string Why)? Check(HttpContext context, LoyaltySettings settings, OperatorSessions sessions, params string[] anyOf)
    {
        var key = KeyOf(context.Request);
        if (key is null && SessionOf(context.Request) is { } token)
        {
            if (sessions.Find(token) is not { } holder)
            {
                return (StatusCodes.Status401Unauthorized, "the operator session has ended; sign in again at /operator/login");
            }
            return holder.Has(anyOf) ? null : (StatusCodes.Status403Forbidden, $"key '{holder.Id}' lacks the scope {string.Join(" or ", anyOf)}");
        }
        return Check(settings, key, anyOf);
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
        var sessions = app.Services.GetRequiredService<OperatorSessions>();
        app.Use(async (context, next) =>
        {
            // By path on every port: whichever port a guarded path is reached on, it needs the key.
            // /metrics also for a key with only metrics:read (Prometheus needs no admin key); the dashboard needs admin.
            if (Guarded(context.Request.Path) && (context.Request.Path.StartsWithSegments("/metrics")
                    ? Check(context, settings, sessions, "customers:admin", "programs:admin", "metrics:read")
                    : Check(context, settings, sessions, "customers:admin", "programs:admin")) is { } refused)
            {
                context.Response.StatusCode = refused.Status;
                await context.Response.WriteAsync(refused.Why);
                return;
            }
            await next();
        });

        // A browser signs in with a form that posts the key; the key never goes into an address (history, logs,
        // Referer) nor into a cookie.
        app.MapGet("/operator/login", IResult (HttpContext context, string? then) =>
        {
            if (context.Request.Query.ContainsKey("key"))
            {
                return Results.Text("send the key by POST (the form on this page): a key in an address ends up in history and logs", statusCode: StatusCodes.Status400BadRequest);
            }
            context.Response.Headers.ContentSecurityPolicy = "default-src 'none'; form-action 'self'; frame-ancestors 'none'";
            context.Response.Headers.CacheControl = "no-store";
            var target = System.Net.WebUtility.HtmlEncode(LocalPath(then) ?? "/dashboard/");
            return Results.Content($"""
                <!doctype html>
                <html lang="en"><head><meta charset="utf-8"><title>Loyalty operator sign-in</title></head>
                <body><h1>Loyalty operator sign-in</h1>
                <form method="post" action="/operator/login">
                <label>API key <input id="key" name="key" type="password" autocomplete="off" required></label>
                <input type="hidden" name="then" value="{target}">
                <button id="sign-in" type="submit">Sign in</button>
                </form></body></html>
                """, "text/html; charset=utf-8");
        }).OnPort(operatorPort);

        app.MapPost("/operator/login", async Task<IResult> (HttpContext context) =>
        {
            // Only this page's own form: a form on another site cannot sign a browser in.
            if (context.Request.Headers.Origin is { Count: > 0 } origin && origin[0] != $"{context.Request.Scheme}://{context.Request.Host}")
            {
                return Results.Text("sign in from this server's own page", statusCode: StatusCodes.Status403Forbidden);
            }
            if (!context.Request.HasFormContentType)
            {
                return Results.Text("post the form fields key and then", statusCode: StatusCodes.Status415UnsupportedMediaType);
            }
            var form = await context.Request.ReadFormAsync();
            if (Check(settings, form["key"].FirstOrDefault(), out var holder, "customers:admin", "programs:admin") is { } refused)
            {
                return Results.Text(refused.Why, statusCode: refused.Status);
            }
            var (token, lifetime) = sessions.Start(holder!);
            context.Response.Cookies.Append(context.Request.IsHttps ? SecureCookie : Cookie, token, new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Path = "/",
                Secure = context.Request.IsHttps,
                MaxAge = lifetime,
            });
            // Only local paths: never an open redirect. 303: the browser follows with a GET.
            return new SeeOther(LocalPath(form["then"].FirstOrDefault()) ?? "/dashboard/");
        }).OnPort(operatorPort);

        app.MapPost("/operator/logout", IResult (HttpContext context) =>
        {
            if (SessionOf(context.Request) is { } token)
            {
                sessions.End(token);
            }
            context.Response.Cookies.Delete(context.Request.IsHttps ? SecureCookie : Cookie, new CookieOptions { Path = "/", Secure = context.Request.IsHttps });
            return new SeeOther("/operator/login");
        }).OnPort(operatorPort);
    }

    private sealed class SeeOther(string location) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            context.Response.StatusCode = StatusCodes.Status303SeeOther;
            context.Response.Headers.Location = location;
            return Task.CompletedTask;
        }
    }
}

/// <summary>Operator sessions of this silo: opaque random tokens, each standing for a key's holder until it expires
/// (<see cref="OperatorSettings.SessionLifetime"/>) or is ended. Kept in memory: a restart signs everyone out.</summary>
public sealed class OperatorSessions(LoyaltySettings settings, TimeProvider time)
{
    private const int MaxSessions = 10_000;
    private readonly Dictionary<string, (OperatorAccess.Holder Holder, DateTimeOffset Until)> _sessions = new(StringComparer.Ordinal);

    public (string Token, TimeSpan Lifetime) Start(OperatorAccess.Holder holder)
    {
        var token = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var lifetime = settings.Operator.SessionLifetime;
        var now = time.GetUtcNow();
        lock (_sessions)
        {
            foreach (var (old, session) in _sessions.Where(s => s.Value.Until <= now).ToList())
            {
                _sessions.Remove(old);
            }
            if (_sessions.Count >= MaxSessions)
            {
                _sessions.Remove(_sessions.MinBy(s => s.Value.Until).Key);
            }
            _sessions[token] = (holder, now + lifetime);
        }
        return (token, lifetime);
    }

    public OperatorAccess.Holder? Find(string token)
    {
        lock (_sessions)
        {
            if (!_sessions.TryGetValue(token, out var session))
            {
                return null;
            }
            if (session.Until <= time.GetUtcNow())
            {
                _sessions.Remove(token);
                return null;
            }
            return session.Holder;
        }
    }

    public void End(string token)
    {
        lock (_sessions)
        {
            _sessions.Remove(token);
        }
    }
}

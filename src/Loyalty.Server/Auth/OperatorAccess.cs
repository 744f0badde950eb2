using Loyalty.Contracts;

namespace Loyalty.Server.Auth;

/// <summary>
/// Signing in to the operator port from a browser: the key is posted once to <c>/operator/login</c> and the browser
/// gets an opaque, short-lived session cookie (never the key), which <see cref="OperatorSessionAuthentication"/> reads.
/// What each operator endpoint needs is an authorization policy (<see cref="Scopes.Metrics"/>, <see cref="Scopes.Operator"/>);
/// health and readiness stay open for probes.
/// </summary>
public static class OperatorAccess
{
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
        var authorization = app.Services.GetRequiredService<Microsoft.AspNetCore.Authorization.IAuthorizationService>();

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
            var key = form["key"].FirstOrDefault();
            var holder = settings.Auth.Mode == "Anonymous" ? AnonymousAuthentication.Principal()
                : string.IsNullOrEmpty(key) ? null : ApiKeyAuthentication.Verify(settings, key);
            if (holder is null)
            {
                return Results.Text(string.IsNullOrEmpty(key) ? "an API key is required" : "unknown or wrong API key", statusCode: StatusCodes.Status401Unauthorized);
            }
            var decision = await authorization.AuthorizeAsync(holder, null, Scopes.Operator);
            if (!decision.Succeeded)
            {
                return Results.Text(ScopeHandler.Why(decision.Failure), statusCode: StatusCodes.Status403Forbidden);
            }
            var (token, lifetime) = sessions.Start(holder);
            context.Response.Cookies.Append(context.Request.IsHttps ? OperatorSessionAuthentication.SecureCookie : OperatorSessionAuthentication.Cookie, token, new CookieOptions
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
            if (OperatorSessionAuthentication.TokenOf(context.Request) is { } token)
            {
                sessions.End(token);
            }
            context.Response.Cookies.Delete(context.Request.IsHttps ? OperatorSessionAuthentication.SecureCookie : OperatorSessionAuthentication.Cookie, new CookieOptions { Path = "/", Secure = context.Request.IsHttps });
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
    private readonly Dictionary<string, (System.Security.Claims.ClaimsPrincipal Holder, DateTimeOffset Until)> _sessions = new(StringComparer.Ordinal);

    public (string Token, TimeSpan Lifetime) Start(System.Security.Claims.ClaimsPrincipal holder)
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

    public System.Security.Claims.ClaimsPrincipal? Find(string token)
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

/// <summary>How the operator port and the console answer a refused request: 401 or 403 with a line saying why.</summary>
public sealed class HttpAccessAnswers : Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler
{
    private readonly Microsoft.AspNetCore.Authorization.Policy.AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, Microsoft.AspNetCore.Authorization.AuthorizationPolicy policy,
        Microsoft.AspNetCore.Authorization.Policy.PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Challenged)
        {
            var failure = context.Features.Get<Microsoft.AspNetCore.Authentication.IAuthenticateResultFeature>()?.AuthenticateResult?.Failure?.Message;
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            await context.Response.WriteAsync(failure ?? "an API key is required (x-api-key header, bearer token, or /operator/login)");
            return;
        }
        if (authorizeResult.Forbidden)
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await context.Response.WriteAsync(ScopeHandler.Why(authorizeResult.AuthorizationFailure));
            return;
        }
        await _default.HandleAsync(next, context, policy, authorizeResult);
    }
}

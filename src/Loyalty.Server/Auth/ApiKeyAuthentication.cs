using System.Security.Claims;
using System.Text.Encodings.Web;
using Loyalty.Contracts;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;

namespace Loyalty.Server.Auth;

/// <summary>
/// Who calls, the same way on every port and endpoint (ASP.NET Core authentication): an API key in the <c>x-api-key</c>
/// header or as a bearer token (Prometheus sends <c>authorization</c>), a JWT bearer token when a signing key is set,
/// or, on the operator port only, an operator session cookie from <c>/operator/login</c>. In anonymous mode (explicit,
/// development only) everyone holds every scope.
/// </summary>
public static class LoyaltyAuthentication
{
    public const string SchemeName = "Loyalty";
    public const string AnonymousScheme = "Anonymous";

    public static IServiceCollection AddLoyaltyAuthentication(this IServiceCollection services, LoyaltySettings settings)
    {
        services.AddAuthentication(SchemeName)
            .AddPolicyScheme(SchemeName, "API key, bearer token or operator session", policy => policy.ForwardDefaultSelector = context => SchemeFor(context, settings))
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthentication>(ApiKeyAuthentication.SchemeName, null)
            .AddScheme<AuthenticationSchemeOptions, OperatorSessionAuthentication>(OperatorSessionAuthentication.SchemeName, null)
            .AddScheme<AuthenticationSchemeOptions, AnonymousAuthentication>(AnonymousScheme, null)
            .AddJwtBearer(jwt =>
            {
                jwt.MapInboundClaims = false;
                if (settings.Auth.Jwt.SigningKey.Length > 0)
                {
                    jwt.TokenValidationParameters = new Microsoft.IdentityModel.Tokens.TokenValidationParameters
                    {
                        ValidIssuer = settings.Auth.Jwt.Issuer,
                        ValidAudience = settings.Auth.Jwt.Audience,
                        ValidateIssuer = settings.Auth.Jwt.Issuer.Length > 0,
                        ValidateAudience = settings.Auth.Jwt.Audience.Length > 0,
                        IssuerSigningKey = new Microsoft.IdentityModel.Tokens.SymmetricSecurityKey(Convert.FromBase64String(settings.Auth.Jwt.SigningKey)),
                        ValidAlgorithms = ["HS256"],
                        ClockSkew = TimeSpan.FromSeconds(30),
                    };
                }
            });
        return services;
    }

    /// <summary>The scheme that reads this request's credential.</summary>
    public static string SchemeFor(HttpContext context, LoyaltySettings settings)
    {
        if (settings.Auth.Mode == "Anonymous")
        {
            return AnonymousScheme;
        }
        var request = context.Request;
        if (request.Headers.ContainsKey(ApiKeys.Header))
        {
            return ApiKeyAuthentication.SchemeName;
        }
        if (BearerOf(request) is { } token)
        {
            return ApiKeys.IdOf(token) is not null || settings.Auth.Jwt.SigningKey.Length == 0
                ? ApiKeyAuthentication.SchemeName
                : JwtBearerDefaults.AuthenticationScheme;
        }
        // A browser's operator session counts on the operator port only: never for the API.
        return context.Connection.LocalPort == settings.Operator.Port && OperatorSessionAuthentication.TokenOf(request) is not null
            ? OperatorSessionAuthentication.SchemeName
            : ApiKeyAuthentication.SchemeName;
    }

    public static string? BearerOf(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization["Bearer ".Length..].Trim() : null;
    }
}

/// <summary>Authenticates an API key (the <c>x-api-key</c> header, or a bearer token shaped like a key) against the
/// configured salted hashes.</summary>
public sealed class ApiKeyAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    LoyaltySettings settings) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var key = Request.Headers.TryGetValue(ApiKeys.Header, out var values) && values.Count > 0 ? values[0] : LoyaltyAuthentication.BearerOf(Request);
        if (string.IsNullOrEmpty(key))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        return Task.FromResult(Verify(settings, key) is { } principal
            ? AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName))
            : AuthenticateResult.Fail("unknown or wrong API key"));
    }

    /// <summary>The holder of a configured key (its id, scopes and source prefixes), or null for an unknown key or a
    /// wrong secret (checked in constant time).</summary>
    public static ClaimsPrincipal? Verify(LoyaltySettings settings, string key)
    {
        var id = ApiKeys.IdOf(key);
        var entry = id is null ? null : settings.Auth.Keys.Find(k => k.Id == id);
        return entry is null || !ApiKeys.Matches(key, entry.Salt, entry.Hash)
            ? null
            : Caller.Principal(entry.Id, entry.Scopes, entry.Sources, SchemeName);
    }
}

/// <summary>A browser's operator session (an opaque token in a cookie, see <see cref="OperatorSessions"/>).</summary>
public sealed class OperatorSessionAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    OperatorSessions sessions) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "OperatorSession";
    /// <summary>The session cookie over plain HTTP (loopback development).</summary>
    public const string Cookie = "loyalty_session";
    /// <summary>The session cookie over HTTPS: the __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.</summary>
    public const string SecureCookie = "__Host-loyalty_session";

    public static string? TokenOf(HttpRequest request) =>
        request.Cookies.TryGetValue(request.IsHttps ? SecureCookie : Cookie, out var token) && token.Length > 0 ? token : null;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync() => Task.FromResult(TokenOf(Request) switch
    {
        null => AuthenticateResult.NoResult(),
        var token => sessions.Find(token) is { } principal
            ? AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName))
            : AuthenticateResult.Fail("the operator session has ended; sign in again at /operator/login"),
    });
}

/// <summary>Anonymous mode (Loyalty:Auth:Mode=Anonymous, development only): every caller holds every scope.</summary>
public sealed class AnonymousAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    /// <summary>Whoever calls in anonymous mode.</summary>
    public static ClaimsPrincipal Principal() => Caller.Principal("anonymous", ["*"], [], LoyaltyAuthentication.AnonymousScheme);

    protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
        Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(Principal(), LoyaltyAuthentication.AnonymousScheme)));
}

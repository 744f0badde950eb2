using System.Security.Claims;
using System.Text.Encodings.Web;
using Loyalty.Contracts;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Loyalty.Server.Auth;

/// <summary>Authenticates the <c>x-api-key</c> header against the configured salted hashes.</summary>
public sealed class ApiKeyAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    LoyaltySettings settings) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue(ApiKeys.Header, out var values) || values.Count == 0 || string.IsNullOrEmpty(values[0]))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        var key = values[0]!;
        var id = ApiKeys.IdOf(key);
        var entry = id is null ? null : settings.Auth.Keys.Find(k => k.Id == id);
        if (entry is null || !ApiKeys.Matches(key, entry.Salt, entry.Hash))
        {
            return Task.FromResult(AuthenticateResult.Fail("unknown or wrong API key"));
        }
        var claims = new List<Claim> { new(Caller.KeyClaim, entry.Id) };
        claims.AddRange(entry.Scopes.Select(s => new Claim(Caller.ScopeClaim, s)));
        claims.AddRange(entry.Sources.Select(s => new Claim(Caller.SourceClaim, s)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }
}

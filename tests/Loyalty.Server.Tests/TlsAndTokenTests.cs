using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;

namespace Loyalty.Server.Tests;

/// <summary>HTTPS with HTTP/2 from a certificate in configuration (self-signed, made here), JWT bearer tokens, and
/// the refusal to serve plaintext off loopback.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[RunsForAbout(12)]
public sealed class TlsAndTokenTests : IAsyncLifetime
{
    private AzuriteProcess _azurite = null!;
    private readonly string _pfx = Path.Combine(Path.GetTempPath(), $"loyalty-test-{Guid.NewGuid():N}.pfx");
    private readonly byte[] _signingKey = RandomNumberGenerator.GetBytes(32);
    private X509Certificate2 _certificate = null!;

    public async Task InitializeAsync()
    {
        _azurite = await AzuriteProcess.StartAsync();
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        await File.WriteAllBytesAsync(_pfx, created.Export(X509ContentType.Pfx, "pfx-pass"));
        _certificate = X509CertificateLoader.LoadCertificate(created.Export(X509ContentType.Cert));
    }

    public async Task DisposeAsync()
    {
        File.Delete(_pfx);
        _certificate.Dispose();
        await _azurite.DisposeAsync();
    }

    private Dictionary<string, string> TlsSettings() => new()
    {
        ["Loyalty__Api__CertificatePath"] = _pfx,
        ["Loyalty__Api__CertificatePassword"] = "pfx-pass",
        ["Loyalty__Auth__Jwt__Issuer"] = "https://issuer.test",
        ["Loyalty__Auth__Jwt__Audience"] = "loyalty",
        ["Loyalty__Auth__Jwt__SigningKey"] = Convert.ToBase64String(_signingKey),
    };

    /// <summary>Trusts exactly the test's certificate (not any certificate).</summary>
    private HttpMessageHandler Trusting() => new SocketsHttpHandler
    {
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && certificate.GetCertHashString() == _certificate.GetCertHashString(),
        },
    };

    [Fact]
    public async Task The_api_serves_https_with_http2_from_the_configured_certificate_and_accepts_jwt_bearer_tokens()
    {
        await using var server = await ServerProcess.StartAsync(_azurite.ConnectionString, TlsSettings());
        var https = $"https://127.0.0.1:{server.Port}";

        // An API key over TLS.
        using (var channel = TestKeys.Channel(https, TestKeys.Admin.Key, Trusting()))
        {
            var program = await new Programs.ProgramsClient(channel).GetProgramAsync(new GetProgramRequest());
            Assert.False(string.IsNullOrEmpty(program.Version));
        }

        // Plaintext to the TLS port gets nowhere.
        using (var plain = TestKeys.Channel($"http://127.0.0.1:{server.Port}", TestKeys.Admin.Key))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => new Programs.ProgramsClient(plain).GetProgramAsync(new GetProgramRequest(), deadline: DateTime.UtcNow.AddSeconds(5)).ResponseAsync);
            Assert.NotEqual(StatusCode.OK, e.StatusCode);
        }

        // A certificate the client does not trust is refused by the client.
        using (var untrusting = GrpcChannel.ForAddress(https))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => new Programs.ProgramsClient(untrusting).GetProgramAsync(new GetProgramRequest()).ResponseAsync);
            Assert.Contains("SSL", e.Status.DebugException?.ToString() ?? e.Status.Detail, StringComparison.Ordinal);
        }

        // JWT bearer: scopes from the scope claim; a wrong signature, issuer or an expired token is UNAUTHENTICATED.
        var reader = Token(_signingKey, "https://issuer.test", "loyalty", "customers:read", TimeSpan.FromMinutes(5));
        Assert.Equal(StatusCode.NotFound, await GetCustomer(https, reader));
        Assert.Equal(StatusCode.PermissionDenied, await Erase(https, reader));
        Assert.Equal(StatusCode.NotFound, await Erase(https, Token(_signingKey, "https://issuer.test", "loyalty", "customers:read customers:admin", TimeSpan.FromMinutes(5))));
        Assert.Equal(StatusCode.Unauthenticated, await GetCustomer(https, Token(RandomNumberGenerator.GetBytes(32), "https://issuer.test", "loyalty", "customers:read", TimeSpan.FromMinutes(5))));
        Assert.Equal(StatusCode.Unauthenticated, await GetCustomer(https, Token(_signingKey, "https://other.test", "loyalty", "customers:read", TimeSpan.FromMinutes(5))));
        Assert.Equal(StatusCode.Unauthenticated, await GetCustomer(https, Token(_signingKey, "https://issuer.test", "loyalty", "customers:read", TimeSpan.FromMinutes(-5))));
    }

    [Fact]
    public async Task Plaintext_off_loopback_is_refused_at_start_and_anonymous_mode_says_so_loudly()
    {
        // Refused before anything is bound (the process exits while checking its configuration).
        await using var refused = ServerProcess.Launch(_azurite.ConnectionString, new Dictionary<string, string> { ["Loyalty__Api__Address"] = "0.0.0.0" });
        Assert.Equal(2, await refused.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("would be plaintext", refused.Log, StringComparison.Ordinal);

        await using var anonymous = await ServerProcess.StartAsync(_azurite.ConnectionString, new Dictionary<string, string> { ["Loyalty__Auth__Mode"] = "Anonymous" });
        Assert.Contains("ANONYMOUS MODE", anonymous.Log, StringComparison.Ordinal);
        using var open = TestKeys.Channel(anonymous.Address, null);
        await new Programs.ProgramsClient(open).GetProgramAsync(new GetProgramRequest());
    }

    private async Task<StatusCode> GetCustomer(string address, string token) =>
        await Status(address, token, client => client.GetCustomerAsync(new GetCustomerRequest { CustomerId = "nobody-" + Guid.NewGuid().ToString("N") }).ResponseAsync);

    private async Task<StatusCode> Erase(string address, string token) =>
        await Status(address, token, client => client.EraseCustomerAsync(new EraseCustomerRequest { CustomerId = "nobody-" + Guid.NewGuid().ToString("N") }).ResponseAsync);

    private async Task<StatusCode> Status(string address, string token, Func<Customers.CustomersClient, Task> call)
    {
        using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = Trusting(),
            Credentials = ChannelCredentials.Create(ChannelCredentials.SecureSsl, CallCredentials.FromInterceptor((_, metadata) =>
            {
                metadata.Add("authorization", "Bearer " + token);
                return Task.CompletedTask;
            })),
        });
        try
        {
            await call(new Customers.CustomersClient(channel));
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    /// <summary>An HS256 JWT, made by hand (header.payload.signature, base64url).</summary>
    private static string Token(byte[] key, string issuer, string audience, string scope, TimeSpan validFor)
    {
        static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var now = DateTimeOffset.UtcNow;
        var header = B64(Encoding.UTF8.GetBytes("""{"alg":"HS256","typ":"JWT"}"""));
        var payload = B64(Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["iss"] = issuer,
            ["aud"] = audience,
            ["sub"] = "svc-test",
            ["scope"] = scope,
            ["iat"] = now.AddMinutes(-10).ToUnixTimeSeconds(),
            ["nbf"] = now.AddMinutes(-10).ToUnixTimeSeconds(),
            ["exp"] = now.Add(validFor).ToUnixTimeSeconds(),
        })));
        var signature = B64(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes($"{header}.{payload}")));
        return $"{header}.{payload}.{signature}";
    }
}

using Loyalty.TestKit;

namespace Loyalty.Server.Tests;

/// <summary>Issue 16, finding 11: unsafe settings stop the server at start with one line naming the setting.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
public sealed class StartupSettingsTests
{
    private static readonly string Secret = Convert.ToBase64String(new byte[48]);

    public static TheoryData<string, string[]> Unsafe() => new()
    {
        // The admin test key is at index 0; index 1 reuses its id.
        { "Loyalty:Auth:Keys:1:Id 'test-admin' is used by an earlier key too", ["Auth__Keys__1__Id=" + TestKeys.Admin.Id, "Auth__Keys__1__Salt=" + TestKeys.Admin.Salt, "Auth__Keys__1__Hash=" + TestKeys.Admin.Hash] },
        { "Loyalty:Auth:Keys:1:Salt (key 'k-odd') is not the base64 of 16 bytes", ["Auth__Keys__1__Id=k-odd", "Auth__Keys__1__Salt=not base64!", "Auth__Keys__1__Hash=" + TestKeys.Admin.Hash] },
        { "Loyalty:Auth:Keys:1:Hash (key 'k-odd') is not the base64 of a SHA-256 hash", ["Auth__Keys__1__Id=k-odd", "Auth__Keys__1__Salt=" + TestKeys.Admin.Salt, "Auth__Keys__1__Hash=c2hvcnQ="] },
        { "Loyalty:Auth:Jwt:SigningKey must be the base64 of at least 32 bytes", ["Auth__Jwt__SigningKey=c2hvcnQ=", "Auth__Jwt__Issuer=i", "Auth__Jwt__Audience=a"] },
        { "Loyalty:Auth:Jwt:Issuer is blank while JWT is on", ["Auth__Jwt__SigningKey=" + Secret, "Auth__Jwt__Audience=a"] },
        { "Loyalty:Auth:Jwt:Audience is blank while JWT is on", ["Auth__Jwt__SigningKey=" + Secret, "Auth__Jwt__Issuer=i"] },
        { "Loyalty:Limits:RewardCodeSecret is empty", ["Limits__RewardCodeSecret="] },
        { "Loyalty:Limits:RewardCodeSecret is the development default on a non-loopback address", ["Api__Address=0.0.0.0", "Api__AllowPlaintext=true"] },
        { "Loyalty:Auth:Mode=Anonymous on a non-loopback address", ["Api__Address=0.0.0.0", "Api__AllowPlaintext=true", "Limits__RewardCodeSecret=" + Secret, "Auth__Mode=Anonymous"] },
        { "Loyalty:Webhooks:Endpoints:0:Url 'http://crm.example/hook' is plain HTTP off loopback", ["Webhooks__Endpoints__0__Url=http://crm.example/hook", "Webhooks__Endpoints__0__Secret=" + Secret] },
        { "Loyalty:Webhooks:Endpoints:0:Secret is 5 bytes; it must be at least 32", ["Webhooks__Endpoints__0__Url=https://crm.example/hook", "Webhooks__Endpoints__0__Secret=short"] },
        { "Loyalty:Webhooks:Endpoints:0:Kinds has 'rewards', which is no ledger kind", ["Webhooks__Endpoints__0__Url=https://crm.example/hook", "Webhooks__Endpoints__0__Secret=" + Secret, "Webhooks__Endpoints__0__Kinds__0=rewards"] },
    };

    [Theory]
    [MemberData(nameof(Unsafe))]
    public async Task Unsafe_settings_stop_the_server_at_start_with_one_line_naming_the_setting(string line, string[] settings)
    {
        await using var server = ServerProcess.Launch("UseDevelopmentStorage=true", settings.Select(s => s.Split('=', 2)).ToDictionary(p => p[0], p => p[1]));
        Assert.Equal(2, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("loyalty: cannot start: " + line, server.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", server.Log, StringComparison.Ordinal);   // a line, not a stack trace
    }

    [Fact]
    public async Task A_second_engine_on_the_same_ports_says_so_in_one_line_and_normal_start_and_stop_print_no_failures()
    {
        var memory = new Dictionary<string, string> { ["Storage__Provider"] = "Memory" };
        await using var first = await ServerProcess.StartAsync("", memory);
        await using var second = ServerProcess.Launch("", memory, first.Port);
        Assert.Equal(2, await second.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var lines = second.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.Contains($"loyalty: cannot start: 127.0.0.1:{first.Port} (Loyalty:Api:Port) is already in use", line, StringComparison.Ordinal);

        // The first one's start (program not loaded yet) and graceful stop (shutting down) are normal: no fail: lines.
        first.Terminate();
        Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var failure = first.Log.IndexOf("fail: ", StringComparison.Ordinal);
        if (failure >= 0)
        {
            // The whole entry and what came before it: a one-off failure under CI load must be diagnosable from its message.
            var from = Math.Max(0, failure - 3_000);
            Assert.Fail($"a normal start and stop logged a failure:\n{first.Log[from..Math.Min(first.Log.Length, failure + 3_000)]}");
        }
        Assert.Contains("Not ready: shutting down", first.Log, StringComparison.Ordinal);
    }
}

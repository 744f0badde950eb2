using System.Text.RegularExpressions;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>The Orleans dashboard on the operator port, loaded in headless Chromium: it renders live grain counts.</summary>
public sealed partial class DashboardTests : IAsyncLifetime
{
    private AzuriteProcess _azurite = null!;

    public async Task InitializeAsync() => _azurite = await AzuriteProcess.StartAsync();

    public async Task DisposeAsync() => await _azurite.DisposeAsync();

    [Fact]
    public async Task The_dashboard_renders_the_live_number_of_customer_grains_and_a_screenshot_is_saved()
    {
        await using var server = await ServerProcess.StartAsync(_azurite.ConnectionString, new Dictionary<string, string> { ["Operator__Dashboard"] = "true" });
        for (var i = 0; i < 7; i++)
        {
            await server.Ingestion.PublishAsync(new PublishRequest { Event = Game(NewCustomer(), 5, 1) });
        }
        // A browser signs in once (the key goes into an HttpOnly cookie) and lands on the dashboard.
        using (var anonymous = new HttpClient())
        {
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"{server.OperatorAddress}/dashboard/")).StatusCode);
        }
        var url = $"{server.OperatorAddress}/operator/login?key={Uri.EscapeDataString(TestKeys.Admin.Key)}&then={Uri.EscapeDataString("/dashboard/#/grains")}";

        // The dashboard polls the silo: wait until the page shows the seven customers.
        int customers = 0;
        var text = "";
        for (var attempt = 0; attempt < 5 && customers < 7; attempt++)
        {
            text = Regex.Replace(await Chromium.RunAsync(url, "--dump-dom"), "<[^>]+>", " ");
            var match = CustomerRow().Match(Regex.Replace(text, @"\s+", " "));
            customers = match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        }
        var shown = Regex.Replace(text, @"\s+", " ");
        Assert.True(customers >= 7, $"the page did not show 7 customer grains: {shown[..Math.Min(600, shown.Length)]}");

        var screenshot = Path.Combine(RepoPaths.Root, "tests", "Loyalty.Server.Tests", "bin", "dashboard.png");
        File.Delete(screenshot);
        await Chromium.RunAsync(url, $"--screenshot={screenshot}");
        var bytes = await File.ReadAllBytesAsync(screenshot);
        Assert.True(bytes.Length > 10_000, $"screenshot of {bytes.Length} bytes");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);

        // Not on the API port, and off unless configured (the default).
        await using var plain = await ServerProcess.StartAsync(_azurite.ConnectionString);
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add(Loyalty.Contracts.ApiKeys.Header, TestKeys.Admin.Key);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync($"{plain.OperatorAddress}/dashboard/")).StatusCode);
    }

    [GeneratedRegex(@"CustomerGrain (\d+)")]
    private static partial Regex CustomerRow();
}

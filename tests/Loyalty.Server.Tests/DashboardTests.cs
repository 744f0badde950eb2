using System.Text.RegularExpressions;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>The Orleans dashboard on the operator port, loaded in headless Chromium: it renders live grain counts.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[Trait("Needs", "Chromium")]
[RunsForAbout(16)]
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
        // A browser signs in once (the form posts the key; the browser keeps an opaque session cookie) and lands on
        // the dashboard.
        using (var anonymous = new HttpClient())
        {
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"{server.OperatorAddress}/dashboard/")).StatusCode);
        }
        using var playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new Microsoft.Playwright.BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium.Path,
            Headless = true,
            Args = ConsoleFixture.BrowserArgs,
        });
        var page = await browser.NewPageAsync(new Microsoft.Playwright.BrowserNewPageOptions { ViewportSize = new Microsoft.Playwright.ViewportSize { Width = 1280, Height = 900 } });
        await page.GotoAsync($"{server.OperatorAddress}/operator/login?then={Uri.EscapeDataString("/dashboard/#/grains")}");
        await page.Locator("#key").FillAsync(TestKeys.Admin.Key);
        await page.Locator("#sign-in").ClickAsync();
        await page.WaitForURLAsync("**/dashboard/**");
        var cookies = await page.Context.CookiesAsync();
        var session = Assert.Single(cookies, c => c.Name == "loyalty_session");
        Assert.True(session.HttpOnly);
        Assert.DoesNotContain(TestKeys.Admin.Key, string.Join(";", cookies.Select(c => c.Value)), StringComparison.Ordinal);

        // The dashboard polls the silo: wait until the page shows the seven customers.
        int customers = 0;
        var text = "";
        for (var attempt = 0; attempt < 30 && customers < 7; attempt++)
        {
            await Task.Delay(attempt == 0 ? 0 : 1000);
            text = Regex.Replace(await page.ContentAsync(), "<[^>]+>", " ");
            var match = CustomerRow().Match(Regex.Replace(text, @"\s+", " "));
            customers = match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        }
        var shown = Regex.Replace(text, @"\s+", " ");
        Assert.True(customers >= 7, $"the page did not show 7 customer grains: {shown[..Math.Min(600, shown.Length)]}");

        var screenshot = Path.Combine(RepoPaths.Root, "tests", "Loyalty.Server.Tests", "bin", "dashboard.png");
        File.Delete(screenshot);
        await page.ScreenshotAsync(new Microsoft.Playwright.PageScreenshotOptions { Path = screenshot });
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

using System.Text.RegularExpressions;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>The support console in headless Chromium (the machine's Debian chromium, background networking off).</summary>
[Collection(ServerCollection.Name)]
public sealed partial class ConsoleTests(ServerFixture fixture)
{
    private string Url(string key, string customer) =>
        $"{fixture.Server.OperatorAddress}/console/#key={Uri.EscapeDataString(key)}&customer={Uri.EscapeDataString(customer)}";

    private static string Field(string dom, string name) =>
        Regex.Match(dom, $"data-field=\"{name}\"[^>]*>([^<]*)<") is { Success: true } m ? m.Groups[1].Value.Trim() : "";

    [Fact]
    public async Task A_customer_made_through_grpc_shows_the_same_numbers_as_the_api()
    {
        var id = NewCustomer();
        await fixture.Server.Ingestion.PublishBatchAsync(new PublishBatchRequest
        {
            Events = { Purchase(id, "o-1", Line("stroller", "baby", 1, 24999)), Game(id, 30, 2), Support(id, SupportStatus.Opened, SupportChannel.Bot) },
        });
        var api = await fixture.Server.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });

        var dom = await Chromium.RunAsync(Url(TestKeys.Admin.Key, id), "--dump-dom");
        Assert.Equal(api.Summary.PointsAvailable.ToString(System.Globalization.CultureInfo.InvariantCulture), Field(dom, "points-available"));
        Assert.Equal(api.Summary.PointsPending.ToString(System.Globalization.CultureInfo.InvariantCulture), Field(dom, "points-pending"));
        Assert.Equal(api.Summary.PointsLifetime.ToString(System.Globalization.CultureInfo.InvariantCulture), Field(dom, "points-lifetime"));
        Assert.Equal(api.Summary.Tier, Field(dom, "tier"));
        Assert.Contains("baby", dom, StringComparison.Ordinal);                 // category affinity
        Assert.Contains("support case", dom, StringComparison.Ordinal);        // the timeline holds all three sources
        Assert.Contains("game session", dom, StringComparison.Ordinal);
        // The key travelled in the fragment only and left the address bar.
        Assert.DoesNotContain(TestKeys.Admin.Key, dom, StringComparison.Ordinal);

        var screenshot = Path.Combine(RepoPaths.Root, "tests", "Loyalty.Server.Tests", "bin", "console-customer.png");
        File.Delete(screenshot);
        await Chromium.RunAsync(Url(TestKeys.Admin.Key, id), $"--screenshot={screenshot}");
        Assert.True(new FileInfo(screenshot).Length > 10_000);
    }

    [Fact]
    public async Task Not_found_and_a_refused_key_are_told_plainly()
    {
        var missing = await Chromium.RunAsync(Url(TestKeys.Admin.Key, "nobody-" + Guid.NewGuid().ToString("N")[..8]), "--dump-dom");
        Assert.Matches("Customer 'nobody-[0-9a-f]{8}' was not found", missing);

        var refused = await Chromium.RunAsync(Url(Loyalty.Contracts.ApiKeys.Create("stranger").Key, NewCustomer()), "--dump-dom");
        Assert.Contains("your API key was refused", refused, StringComparison.Ordinal);

        // Every asset is the engine's own: the page references nothing off the engine.
        using var http = new HttpClient();
        var page = await http.GetStringAsync($"{fixture.Server.OperatorAddress}/console/");
        Assert.DoesNotMatch("(src|href)=\"https?://", page);
    }
}

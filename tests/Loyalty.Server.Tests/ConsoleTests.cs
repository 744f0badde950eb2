using System.Net.Http.Json;
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

    [Fact]
    public async Task Recording_a_human_resolution_goes_through_the_event_path_once_and_its_reward_shows_on_the_page()
    {
        var id = NewCustomer();
        await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = Support(id, SupportStatus.Opened, SupportChannel.Bot) });
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add(Loyalty.Contracts.ApiKeys.Header, TestKeys.Admin.Key);
        var url = $"{fixture.Server.OperatorAddress}/console/api/customers/{id}/cases";
        var body = new { actionId = Guid.NewGuid().ToString("N"), caseId = "case-42", satisfaction = 5 };
        var first = System.Text.Json.JsonDocument.Parse(await (await http.PostAsJsonAsync(url, body)).Content.ReadAsStringAsync()).RootElement;
        var again = System.Text.Json.JsonDocument.Parse(await (await http.PostAsJsonAsync(url, body)).Content.ReadAsStringAsync()).RootElement;   // a double submit
        Assert.Equal("applied", first.GetProperty("outcome").GetString()!.ToLowerInvariant());
        Assert.Equal("duplicate", again.GetProperty("outcome").GetString()!.ToLowerInvariant());
        var granted = first.GetProperty("rewards").EnumerateArray().Select(r => r.GetProperty("code").GetString()!).ToList();
        Assert.NotEmpty(granted);   // the sample program rewards a human resolution rated 5

        var api = await fixture.Server.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.Equal(2, api.EventsApplied);   // opened + resolved, the double submit did nothing
        var dom = await Chromium.RunAsync(Url(TestKeys.Admin.Key, id), "--dump-dom");
        Assert.All(granted, code => Assert.Contains(code, dom, StringComparison.Ordinal));
        Assert.Equal(api.Summary.PointsAvailable.ToString(System.Globalization.CultureInfo.InvariantCulture), Field(dom, "points-available"));

        // Agents need ingest:support to record; the audit log has the action.
        var audit = await new Audit.AuditClient(fixture.Server.Channel).ListAuditEntriesAsync(new ListAuditEntriesRequest { PageSize = 50 });
        Assert.Contains(audit.Entries, e => e.Action == "Console/ResolveCase" && e.Target == id && e.Caller == "test-admin");
    }

    [Fact]
    public async Task An_adjustment_needs_a_reason_and_a_double_submit_counts_once()
    {
        var id = NewCustomer();
        await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add(Loyalty.Contracts.ApiKeys.Header, TestKeys.Admin.Key);
        var url = $"{fixture.Server.OperatorAddress}/console/api/customers/{id}/adjustments";
        var noReason = await http.PostAsJsonAsync(url, new { actionId = "a-1", points = 30, reason = " " });
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, noReason.StatusCode);
        Assert.Contains("reason", await noReason.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var body = new { actionId = Guid.NewGuid().ToString("N"), points = 30, reason = "apology for a lost parcel" };
        Assert.True((await http.PostAsJsonAsync(url, body)).IsSuccessStatusCode);
        Assert.True((await http.PostAsJsonAsync(url, body)).IsSuccessStatusCode);
        var api = await fixture.Server.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.Equal(10 + 30, api.Summary.PointsAvailable);
        using var anonymous = new HttpClient();
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await anonymous.PostAsJsonAsync(url, body)).StatusCode);
    }
}

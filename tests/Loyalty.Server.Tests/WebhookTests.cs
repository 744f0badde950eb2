using System.Globalization;
using System.Text;
using Loyalty.Contracts;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>What a webhook receiver sees: signed deliveries of ledger notices, retried through failures, each notice
/// once after dedupe by delivery id, in order per customer.</summary>
public static class WebhookChecks
{
    public const string Secret = "whsec-test-0123456789abcdef0123456789abcdef";

    public static Dictionary<string, string> Settings(WebhookReceiver receiver, params string[] kinds)
    {
        var settings = new Dictionary<string, string>
        {
            ["Webhooks__Endpoints__0__Name"] = "crm",
            ["Webhooks__Endpoints__0__Url"] = receiver.Url,
            ["Webhooks__Endpoints__0__Secret"] = Secret,
            ["Webhooks__FirstRetryDelay"] = "00:00:00.100",
            ["Webhooks__MaxRetryDelay"] = "00:00:01",
            ["Webhooks__Buckets"] = "4",
        };
        for (var i = 0; i < kinds.Length; i++)
        {
            settings[$"Webhooks__Endpoints__0__Kinds__{i}"] = kinds[i];
        }
        return settings;
    }

    /// <summary>Events that earn points and unlock rewards (baby goods, a human resolution rated 5) and may change tier.</summary>
    public static IEnumerable<Event> Story(string customer, int n) =>
    [
        Purchase(customer, $"o-{n}-1", Line("stroller", "baby", 1, 24999), Line("ball", "sports", 2, 1999)),
        Game(customer, minutes: 30, difficulty: 3),
        Support(customer, SupportStatus.Resolved, SupportChannel.Human, satisfaction: 5),
        Purchase(customer, $"o-{n}-2", Line("crib", "baby", 1, 59999)),
    ];

    /// <summary>The delivery ids a receiver must end with: every ledger entry of the wanted kinds.</summary>
    public static async Task<List<(string Id, string Kind)>> ExpectedAsync(Customers.CustomersClient customers, IEnumerable<string> ids, string[] kinds)
    {
        var expected = new List<(string, string)>();
        foreach (var id in ids)
        {
            var token = "";
            do
            {
                var page = await customers.ListLedgerAsync(new ListLedgerRequest { CustomerId = id, PageSize = 1000, PageToken = token });
                expected.AddRange(page.Entries.Where(e => kinds.Length == 0 || kinds.Contains(e.Kind)).Select(e => ($"{id}:{e.Sequence}", e.Kind)));
                token = page.NextPageToken;
            }
            while (token.Length > 0);
        }
        return expected;
    }

    /// <summary>Every request signed with the secret over its body, ids matching bodies; accepted deliveries exactly the
    /// expected ones (no more, no fewer) and each customer's in sequence order.</summary>
    public static void Verify(WebhookReceiver receiver, IReadOnlyCollection<(string Id, string Kind)> expected)
    {
        foreach (var request in receiver.Requests)
        {
            Assert.Equal(WebhookSignatures.Verdict.Valid,
                WebhookSignatures.Verify(Secret, request.Signature, request.Body, request.At, TimeSpan.FromMinutes(5)));
            var json = request.Json;
            Assert.Equal(request.DeliveryId, json.GetProperty("deliveryId").GetString());
            Assert.Equal(request.DeliveryId, $"{json.GetProperty("customerId").GetString()}:{json.GetProperty("sequence").GetInt64()}");
            Assert.Equal(json.GetProperty("sequence").GetInt64(), json.GetProperty("entry").GetProperty("sequence").GetInt64());
            Assert.False(string.IsNullOrEmpty(json.GetProperty("programVersion").GetString()));
        }
        var accepted = receiver.Accepted();
        Assert.Equal(expected.Select(e => e.Id).Order(StringComparer.Ordinal), accepted.Select(a => a.DeliveryId).Order(StringComparer.Ordinal));
        Assert.Equal(expected.ToDictionary(e => e.Id, e => e.Kind), accepted.ToDictionary(a => a.DeliveryId, a => a.Json.GetProperty("kind").GetString()!));
        foreach (var customer in accepted.GroupBy(a => a.Json.GetProperty("customerId").GetString()))
        {
            var sequences = customer.Select(a => a.Json.GetProperty("sequence").GetInt64()).ToList();
            Assert.Equal(sequences.Order(), sequences);
        }
    }
}

/// <summary>Webhooks through the engine's own host in the test process (memory storage): the HTTP sender, signing,
/// retries, kinds, order and status, end to end with a real receiver.</summary>
[RunsForAbout(15)]
public sealed class WebhookTests
{
    [Fact]
    public async Task A_receiver_failing_its_first_deliveries_ends_with_every_notice_once_in_order_and_signed()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.FailFirst = 6;
        string[] kinds = ["reward", "tier", "perk", "earn"];
        await using var engine = new InProcessEngine(WebhookChecks.Settings(receiver, kinds));
        await engine.StartAsync();
        var customers = Enumerable.Range(0, 5).Select(_ => NewCustomer()).ToList();
        for (var i = 0; i < customers.Count; i++)
        {
            foreach (var e in WebhookChecks.Story(customers[i], i))
            {
                await engine.Ingestion.PublishAsync(Req(e));
            }
        }
        var expected = await WebhookChecks.ExpectedAsync(engine.Customers, customers, kinds);
        Assert.Contains(expected, e => e.Kind == "reward");
        Assert.Contains(expected, e => e.Kind == "earn");

        await receiver.WaitForAsync([.. expected.Select(e => e.Id)], TimeSpan.FromSeconds(60));
        Assert.True(receiver.Requests.Count(r => r.Answered == 500) >= 6, "the first deliveries were refused and retried");
        WebhookChecks.Verify(receiver, expected);
        // A kind not asked for (spend, pending, activate...) is never sent.
        Assert.All(receiver.Requests, r => Assert.Contains(r.Json.GetProperty("kind").GetString(), kinds));

        var status = (await new Contracts.V1.Webhooks.WebhooksClient(engine.Channel).GetWebhookStatusAsync(new GetWebhookStatusRequest())).Endpoints.Single();
        Assert.Equal("crm", status.Name);
        Assert.Equal(expected.Count, status.Delivered);
        Assert.Equal(0, status.Pending);
        Assert.Equal(0, status.Retrying);
        Assert.Equal(0, status.Failed);
        Assert.Contains("500", status.LastError, StringComparison.Ordinal);
        Assert.Equal(kinds, status.Kinds);

        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add(ApiKeys.Header, TestKeys.Admin.Key);
        var metrics = await http.GetStringAsync($"{engine.OperatorAddress}/metrics");
        Assert.Contains("loyalty_webhooks_delivered_total{", metrics, StringComparison.Ordinal);
        Assert.Contains("loyalty_webhooks_attempts_failed_total{", metrics, StringComparison.Ordinal);

        // The console's view of the same (operators only).
        var console = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"{engine.OperatorAddress}/console/api/webhooks")).RootElement;
        var row = Assert.Single(console.GetProperty("endpoints").EnumerateArray());
        Assert.Equal(expected.Count, row.GetProperty("delivered").GetInt64());
        Assert.Equal(0, row.GetProperty("pending").GetInt64());

        // The CLI: status, and a receiver checking a captured request (headers, blank line, body) with verify.
        var cli = await CliRunner.RunAsync(engine.Address, "webhooks", "status");
        Assert.True(cli.Exit == 0, cli.Err);
        Assert.Contains($"delivered {expected.Count:N0}  failed 0  waiting 0  retrying 0", cli.Out, StringComparison.Ordinal);
        Assert.Contains("answered 500", cli.Out, StringComparison.Ordinal);
        var captured = receiver.Accepted()[0];
        var file = Path.Combine(Path.GetTempPath(), $"hook-{Guid.NewGuid():N}.http");
        try
        {
            await File.WriteAllBytesAsync(file, [.. Encoding.ASCII.GetBytes(
                $"POST /hooks/loyalty HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{WebhookSignatures.DeliveryIdHeader}: {captured.DeliveryId}\r\n" +
                $"{WebhookSignatures.SignatureHeader}: {captured.Signature}\r\nContent-Length: {captured.Body.Length}\r\n\r\n"), .. captured.Body]);
            var valid = await CliRunner.RunAsync(engine.Address, "webhooks", "verify", "--secret", WebhookChecks.Secret, "--request", file);
            Assert.True(valid.Exit == 0, valid.Out + valid.Err);
            Assert.StartsWith("valid", valid.Out, StringComparison.Ordinal);
            var wrong = await CliRunner.RunAsync(engine.Address, "webhooks", "verify", "--secret", WebhookChecks.Secret + "-not", "--request", file);
            Assert.Equal(1, wrong.Exit);
            Assert.StartsWith("invalid", wrong.Out, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_signature_verifies_only_with_its_secret_body_and_a_recent_timestamp()
    {
        var body = Encoding.UTF8.GetBytes("""{"deliveryId":"c:1"}""");
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var header = WebhookSignatures.Sign(WebhookChecks.Secret, now.ToUnixTimeSeconds(), body);
        Assert.Matches("^t=1800000000,v1=[0-9a-f]{64}$", header);
        Assert.Equal(WebhookSignatures.Verdict.Valid, WebhookSignatures.Verify(WebhookChecks.Secret, header, body, now, TimeSpan.FromMinutes(5)));
        Assert.Equal(WebhookSignatures.Verdict.Mismatch, WebhookSignatures.Verify(WebhookChecks.Secret + "x", header, body));
        Assert.Equal(WebhookSignatures.Verdict.Mismatch, WebhookSignatures.Verify(WebhookChecks.Secret, header, Encoding.UTF8.GetBytes("""{"deliveryId":"c:2"}""")));
        Assert.Equal(WebhookSignatures.Verdict.Mismatch, WebhookSignatures.Verify(WebhookChecks.Secret, header.Replace("t=1800000000", "t=1800000001", StringComparison.Ordinal), body));
        Assert.Equal(WebhookSignatures.Verdict.TooOld, WebhookSignatures.Verify(WebhookChecks.Secret, header, body, now.AddMinutes(6), TimeSpan.FromMinutes(5)));
        Assert.Equal(WebhookSignatures.Verdict.Malformed, WebhookSignatures.Verify(WebhookChecks.Secret, "v1=abc", body));
        // The HMAC itself, computed independently: HMAC-SHA256(secret, t + "." + body).
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes(WebhookChecks.Secret),
            (byte[])[.. Encoding.ASCII.GetBytes("1800000000."), .. body]));
        Assert.Equal($"t=1800000000,v1={expected}", header);
    }
}

/// <summary>The engine SIGKILLed while deliveries wait (the receiver down), restarted on the same storage: every notice
/// still arrives, from the outbox and from the journal's recovery.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[RunsForAbout(40)]
public sealed class WebhookKillTests
{
    [Fact]
    public async Task Notices_pending_when_the_engine_is_killed_are_all_delivered_after_it_restarts()
    {
        await using var azurite = await AzuriteProcess.StartAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Failing = true;
        var settings = WebhookChecks.Settings(receiver);
        var customers = Enumerable.Range(0, 12).Select(_ => NewCustomer()).ToList();
        var first = await ServerProcess.StartAsync(azurite.ConnectionString, settings);
        try
        {
            for (var i = 0; i < customers.Count; i++)
            {
                await first.Ingestion.PublishBatchAsync(new PublishBatchRequest { Events = { WebhookChecks.Story(customers[i], i) } });
            }
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (receiver.Requests.Count < 3 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
            Assert.True(receiver.Requests.Count >= 3, "deliveries were attempted before the kill");
            // The last customers' events go in right before the kill: their notices may be in the journal only.
            foreach (var e in WebhookChecks.Story(customers[0], 99))
            {
                await first.Ingestion.PublishAsync(Req(e));
            }
        }
        finally
        {
            await first.KillAsync();
            await first.DisposeAsync();
        }
        var refusedBeforeKill = receiver.Requests.Count;
        receiver.Failing = false;

        await using var second = await ServerProcess.StartAsync(azurite.ConnectionString, settings);
        var expected = await WebhookChecks.ExpectedAsync(second.Customers, customers, []);
        Assert.True(expected.Count > 12 * 4, $"{expected.Count} ledger entries");
        await receiver.WaitForAsync([.. expected.Select(e => e.Id)], TimeSpan.FromSeconds(90));
        Assert.True(refusedBeforeKill >= 3);
        WebhookChecks.Verify(receiver, expected);
        var status = (await new Contracts.V1.Webhooks.WebhooksClient(second.Channel).GetWebhookStatusAsync(new GetWebhookStatusRequest())).Endpoints.Single();
        Assert.Equal(0, status.Pending);
        Assert.True(status.Delivered >= expected.Count, string.Create(CultureInfo.InvariantCulture, $"delivered {status.Delivered}"));
    }
}

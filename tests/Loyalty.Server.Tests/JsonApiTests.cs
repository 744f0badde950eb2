using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Loyalty.Contracts;
using Loyalty.TestKit;

namespace Loyalty.Server.Tests;

/// <summary>
/// The RPCs as JSON over HTTP/1.1 (gRPC JSON transcoding; cleartext, so on Loyalty:Api:HttpPort), with a plain
/// HttpClient and no gRPC client:
/// the routes, and the mapping of gRPC statuses to HTTP statuses with a JSON body that names the field.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class JsonApiTests(InProcessEngineFixture fixture)
{
    private HttpClient Client(string? key)
    {
        var http = new HttpClient { BaseAddress = new Uri(fixture.HttpAddress), DefaultRequestVersion = HttpVersion.Version11 };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Add(ApiKeys.Header, key);
        }
        return http;
    }

    private static string GameEvent(string customer, int minutes, string? eventId = null) => JsonSerializer.Serialize(new
    {
        eventId = eventId ?? Guid.NewGuid().ToString("N"),
        customerId = customer,
        occurredAt = DateTimeOffset.UtcNow.ToString("O"),
        source = "web-shop",
        gameSession = new { gameId = "chess", durationSeconds = minutes * 60, difficulty = 1, score = 1 },
    });

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> Body(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        Assert.Equal(new Version(1, 1), response.Version);
        return JsonDocument.Parse(text).RootElement;
    }

    [Fact]
    public async Task Every_route_answers_json_over_http_1_1()
    {
        using var http = Client(TestKeys.Admin.Key);
        var id = Events.NewCustomer();

        // POST /v1/events: the body is the Event itself.
        var published = await Body(await http.PostAsync("/v1/events", Json(GameEvent(id, 600))));
        Assert.Equal("OUTCOME_APPLIED", published.GetProperty("outcome").GetString());
        Assert.Equal(600, published.GetProperty("pointsDelta").GetInt64());

        // POST /v1/events:batch
        var batch = await Body(await http.PostAsync("/v1/events:batch", Json($"{{\"events\":[{GameEvent(id, 5)},{GameEvent(id, 7)}]}}")));
        Assert.Equal(2, batch.GetProperty("results").GetArrayLength());

        // GET /v1/customers/{id}
        var customer = await Body(await http.GetAsync($"/v1/customers/{id}"));
        Assert.Equal(612, customer.GetProperty("summary").GetProperty("pointsAvailable").GetInt64());

        // GET /v1/customers/{id}/ledger (query parameters are the request's other fields)
        var ledger = await Body(await http.GetAsync($"/v1/customers/{id}/ledger?pageSize=2"));
        Assert.Equal(2, ledger.GetProperty("entries").GetArrayLength());
        Assert.False(string.IsNullOrEmpty(ledger.GetProperty("nextPageToken").GetString()));

        // GET /v1/customers/{id}/eligible-rewards: 612 points buy free shipping (500).
        var eligible = await Body(await http.GetAsync($"/v1/customers/{id}/eligible-rewards"));
        Assert.Contains(eligible.GetProperty("rewards").EnumerateArray(), r => r.GetProperty("rewardId").GetString() == "free-shipping");

        // POST /v1/customers/{id}:redeem
        var redeemed = await Body(await http.PostAsync($"/v1/customers/{id}:redeem", Json("""{"rewardId":"free-shipping","redemptionId":"r-1"}""")));
        Assert.Equal(-500, redeemed.GetProperty("pointsDelta").GetInt64());
        Assert.StartsWith("SHIP-", redeemed.GetProperty("reward").GetProperty("code").GetString(), StringComparison.Ordinal);

        // GET /v1/program
        var program = await Body(await http.GetAsync("/v1/program"));
        Assert.Equal("acme-rewards", program.GetProperty("programId").GetString());

        // And the same as JSON over HTTP/2 on the gRPC port (prior knowledge, as gRPC clients connect).
        using var h2 = new HttpClient { BaseAddress = new Uri(fixture.Server.Address), DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        h2.DefaultRequestHeaders.Add(ApiKeys.Header, TestKeys.Admin.Key);
        var again = await h2.GetAsync($"/v1/customers/{id}");
        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version20), (again.StatusCode, again.Version));
    }

    [Fact]
    public async Task Errors_map_to_http_statuses_with_a_json_body_naming_the_field()
    {
        using var admin = Client(TestKeys.Admin.Key);
        var id = Events.NewCustomer();

        // 400: a malformed event, naming the field; nothing applied.
        var bad = await admin.PostAsync("/v1/events", Json(GameEvent(id, 0)));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var error = JsonDocument.Parse(await bad.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(3, error.GetProperty("code").GetInt32());   // INVALID_ARGUMENT
        Assert.Contains("event.game_session.duration_seconds", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/v1/customers/{id}")).StatusCode);

        // 404: an unknown customer.
        var missing = await admin.GetAsync($"/v1/customers/{Events.NewCustomer()}");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(5, JsonDocument.Parse(await missing.Content.ReadAsStringAsync()).RootElement.GetProperty("code").GetInt32());

        // 401: no key.
        using var anonymous = Client(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/v1/events", Json(GameEvent(id, 5)))).StatusCode);
        // The key as a bearer token works the same as x-api-key.
        using var bearer = Client(null);
        bearer.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", TestKeys.Admin.Key);
        Assert.Equal(HttpStatusCode.OK, (await bearer.GetAsync("/v1/program")).StatusCode);

        // 403: a key without the scope.
        using var reader = Client(fixture.Reader.Key);
        var denied = await reader.PostAsync("/v1/events", Json(GameEvent(id, 5)));
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Contains("ingest", await denied.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // 429 with Retry-After: a key at 0.5 calls/s, burst 1.
        using var limited = Client(fixture.Limited.Key);
        Assert.Equal(HttpStatusCode.OK, (await limited.GetAsync("/v1/program")).StatusCode);
        var throttled = await limited.GetAsync("/v1/program");
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.True(throttled.Headers.RetryAfter?.Delta is { } after && after >= TimeSpan.FromSeconds(1) && after <= TimeSpan.FromSeconds(3),
            $"Retry-After: {throttled.Headers.RetryAfter}");
    }

    [Fact]
    public async Task The_openapi_document_lists_every_route_without_a_key_and_validates_as_openapi_3()
    {
        using var anonymous = Client(null);
        var response = await anonymous.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        var document = new Microsoft.OpenApi.Readers.OpenApiStringReader().Read(text, out var diagnostic);
        Assert.Empty(diagnostic.Errors);
        Assert.Equal(Microsoft.OpenApi.OpenApiSpecVersion.OpenApi3_0, diagnostic.SpecificationVersion);

        // Every unary RPC of the protos, by its google.api.http annotation, is a path of the document.
        var expected = new[] { Loyalty.Contracts.V1.IngestionReflection.Descriptor, Loyalty.Contracts.V1.CustomersReflection.Descriptor,
                Loyalty.Contracts.V1.ProgramsReflection.Descriptor, Loyalty.Contracts.V1.AuditReflection.Descriptor }
            .SelectMany(f => f.Services).SelectMany(service => service.Methods)
            .Where(m => !m.IsClientStreaming && !m.IsServerStreaming)
            .Select(m => m.GetOptions().GetExtension(Google.Api.AnnotationsExtensions.Http))
            .ToList();
        Assert.Equal(20, expected.Count);
        Assert.All(expected, rule => Assert.NotNull(rule));
        foreach (var rule in expected)
        {
            var (verb, path) = rule.PatternCase switch
            {
                Google.Api.HttpRule.PatternOneofCase.Get => (Microsoft.OpenApi.Models.OperationType.Get, rule.Get),
                Google.Api.HttpRule.PatternOneofCase.Post => (Microsoft.OpenApi.Models.OperationType.Post, rule.Post),
                Google.Api.HttpRule.PatternOneofCase.Delete => (Microsoft.OpenApi.Models.OperationType.Delete, rule.Delete),
                _ => throw new InvalidOperationException(rule.ToString()),
            };
            // Path parameters go by their JSON names: {customer_id} is {customerId}.
            path = System.Text.RegularExpressions.Regex.Replace(path, "_([a-z])", m => m.Groups[1].Value.ToUpperInvariant());
            Assert.True(document.Paths.TryGetValue(path, out var item), $"{path} is not in the document: {string.Join(", ", document.Paths.Keys)}");
            Assert.True(item.Operations.ContainsKey(verb), $"{verb} {path} is not in the document");
        }
        // Described from the protos' comments.
        Assert.Contains("Spends points on a catalogue reward", text, StringComparison.Ordinal);

        // The browsable reference on the operator port.
        using var http = new HttpClient();
        var page = await http.GetAsync($"{fixture.Server.OperatorAddress}/api-reference/index.html");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("Loyalty API reference", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}

using System.Collections.Concurrent;
using System.Text.Json;
using Loyalty.Contracts;
using Loyalty.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Loyalty.Server.Tests;

/// <summary>A webhook receiver on loopback, as a shop or CRM would run one: it records every request and answers 500
/// while told to fail (the first <see cref="FailFirst"/> requests, or while <see cref="Failing"/>), else 204.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    /// <param name="At">When it arrived: a signature's freshness is judged then, as a receiver does, not when a test
    /// looks at it minutes later.</param>
    public sealed record Received(string DeliveryId, string Signature, byte[] Body, int Answered, DateTimeOffset At)
    {
        public JsonElement Json => JsonDocument.Parse(Body).RootElement;
    }

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Received> _requests = new();
    private int _count;

    private WebhookReceiver(WebApplication app) => _app = app;

    public int Port { get; private init; }
    public string Url => $"http://127.0.0.1:{Port}/hooks/loyalty";
    public int FailFirst { get; set; }
    private volatile bool _failing;

    /// <summary>Answer 500 to everything while set.</summary>
    public bool Failing { get => _failing; set => _failing = value; }

    /// <summary>Every request in arrival order, failed ones included.</summary>
    public IReadOnlyList<Received> Requests => [.. _requests];

    /// <summary>Accepted deliveries, once per delivery id (the receiver's dedupe), in first-accepted order.</summary>
    public IReadOnlyList<Received> Accepted() =>
        [.. _requests.Where(r => r.Answered < 300).DistinctBy(r => r.DeliveryId)];

    public static async Task<WebhookReceiver> StartAsync()
    {
        var port = FreePorts.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, port));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app) { Port = port };
        app.MapPost("/hooks/loyalty", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var n = Interlocked.Increment(ref receiver._count);
            var status = receiver._failing || n <= receiver.FailFirst ? 500 : 204;
            receiver._requests.Enqueue(new Received(
                context.Request.Headers[WebhookSignatures.DeliveryIdHeader].ToString(),
                context.Request.Headers[WebhookSignatures.SignatureHeader].ToString(),
                body.ToArray(), status, DateTimeOffset.UtcNow));
            return Results.StatusCode(status);
        });
        await app.StartAsync();
        return receiver;
    }

    /// <summary>Waits until every expected delivery id was accepted.</summary>
    public async Task WaitForAsync(IReadOnlyCollection<string> deliveryIds, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var accepted = Accepted().Select(r => r.DeliveryId).ToHashSet();
            var missing = deliveryIds.Where(id => !accepted.Contains(id)).ToList();
            if (missing.Count == 0)
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{missing.Count} of {deliveryIds.Count} notices never accepted, e.g. {string.Join(", ", missing.Take(5))}; {_requests.Count} requests seen");
            }
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

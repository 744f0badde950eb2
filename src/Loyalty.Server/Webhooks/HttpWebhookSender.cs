using Loyalty.Contracts;
using Loyalty.Grains.Webhooks;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace Loyalty.Server.Webhooks;

/// <summary>
/// Delivers webhook notices over HTTP: a POST of the stored JSON body with <c>Loyalty-Delivery-Id</c>, signed afresh
/// on every attempt (<see cref="WebhookSigningHandler"/>), retried by the standard resilience pipeline
/// (Microsoft.Extensions.Http.Resilience: exponential backoff with jitter, per-attempt timeout) for as long as the
/// bucket lets it (<see cref="WebhookOptions.RetryFor"/> from when the notice was queued).
/// </summary>
public sealed class HttpWebhookSender(IHttpClientFactory clients) : IWebhookSender
{
    public const string ClientName = "loyalty-webhooks";
    internal static readonly HttpRequestOptionsKey<WebhookEndpoint> EndpointKey = new("loyalty.webhook.endpoint");
    internal static readonly HttpRequestOptionsKey<Action<string>> FailedAttemptKey = new("loyalty.webhook.failed-attempt");

    public async Task SendAsync(WebhookEndpoint endpoint, QueuedNotice notice, Action<string> failedAttempt, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.Url) { Content = new ByteArrayContent(notice.Body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.Add(WebhookSignatures.DeliveryIdHeader, $"{notice.CustomerId}:{notice.Sequence}");
        request.Options.Set(EndpointKey, endpoint);
        request.Options.Set(FailedAttemptKey, failedAttempt);
        using var response = await clients.CreateClient(ClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            // Only reached if the pipeline stopped retrying without being cancelled.
            throw new HttpRequestException($"{endpoint.Name} answered {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
        }
    }

    /// <summary>Why an attempt failed, in one line for status and logs.</summary>
    public static string Describe(Outcome<HttpResponseMessage> outcome) => outcome switch
    {
        { Exception: Polly.Timeout.TimeoutRejectedException } => "timed out",
        { Exception: HttpRequestException e } => e.HttpRequestError is HttpRequestError.Unknown ? e.Message : $"{e.HttpRequestError}: {e.Message}",
        { Exception: { } e } => e.Message,
        { Result: { } r } => $"answered {(int)r.StatusCode} {r.ReasonPhrase}",
        _ => "failed",
    };
}

/// <summary>Signs each attempt (inside the retry pipeline, so a retry hours later carries a fresh timestamp).</summary>
public sealed class WebhookSigningHandler(TimeProvider time) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Options.TryGetValue(HttpWebhookSender.EndpointKey, out var endpoint) && request.Content is not null)
        {
            var body = await request.Content.ReadAsByteArrayAsync(cancellationToken);
            request.Headers.Remove(WebhookSignatures.SignatureHeader);
            request.Headers.Add(WebhookSignatures.SignatureHeader, WebhookSignatures.Sign(endpoint.Secret, time.GetUtcNow().ToUnixTimeSeconds(), body));
        }
        return await base.SendAsync(request, cancellationToken);
    }
}

public static class WebhookServiceCollectionExtensions
{
    /// <summary>The HTTP sender and its pipeline: retry (exponential, jittered, until cancelled) around a per-attempt
    /// timeout around signing.</summary>
    public static IServiceCollection AddLoyaltyWebhookSender(this IServiceCollection services, WebhookOptions options)
    {
        services.AddSingleton<IWebhookSender, HttpWebhookSender>();
        services.AddHttpClient(HttpWebhookSender.ClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AllowAutoRedirect = false })
            .AddResilienceHandler("webhook-delivery", pipeline =>
            {
                pipeline.AddRetry(new HttpRetryStrategyOptions
                {
                    // No attempt limit: the bucket cancels once the notice has been retried for RetryFor.
                    MaxRetryAttempts = int.MaxValue,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    Delay = options.FirstRetryDelay,
                    MaxDelay = options.MaxRetryDelay,
                    // Anything but a 2xx is a failed delivery (a receiver that refuses now may accept after a fix).
                    ShouldHandle = args => ValueTask.FromResult(args.Outcome switch
                    {
                        { Exception: OperationCanceledException } when args.Context.CancellationToken.IsCancellationRequested => false,
                        { Exception: not null } => true,
                        { Result.IsSuccessStatusCode: false } => true,
                        _ => false,
                    }),
                    OnRetry = args =>
                    {
                        if (args.Context.GetRequestMessage() is { } request && request.Options.TryGetValue(HttpWebhookSender.FailedAttemptKey, out var failed))
                        {
                            failed(HttpWebhookSender.Describe(args.Outcome));
                        }
                        return ValueTask.CompletedTask;
                    },
                });
                pipeline.AddTimeout(options.AttemptTimeout);
            });
        services.AddTransient(sp => new WebhookSigningHandler(TimeProvider.System));
        services.AddHttpClient(HttpWebhookSender.ClientName).AddHttpMessageHandler<WebhookSigningHandler>();
        return services;
    }
}

using System.Threading.RateLimiting;

namespace Loyalty.Server.Auth;

/// <summary>
/// Per-key limits of this silo, on System.Threading.RateLimiting: a token bucket per API key
/// (<see cref="ApiKeySettings.RatePerSecond"/> tokens a second up to <see cref="ApiKeySettings.Burst"/>) and a
/// concurrency limit per key on open streams. Every event pays a token, whether it comes alone, in a batch or on a
/// stream; a console or operator request pays one (ASP.NET Core's rate limiting middleware over the same buckets, see
/// <see cref="ForHttp"/>). A batch larger than the bucket is admitted when the bucket is full and is then held until
/// the rest of its events are paid at the key's rate, so it is neither refused forever nor cheaper than its events.
/// Streams wait for their tokens before reading on (HTTP/2 flow control then holds the client back).
/// </summary>
public sealed class KeyRateLimiter : IDisposable
{
    private readonly LoyaltySettings _settings;
    private readonly PartitionedRateLimiter<string> _events;
    private readonly PartitionedRateLimiter<string> _streams;

    public KeyRateLimiter(LoyaltySettings settings)
    {
        _settings = settings;
        _events = PartitionedRateLimiter.Create<string, string>(keyId => Bucket(keyId) is { } bucket
            ? RateLimitPartition.GetTokenBucketLimiter(keyId, _ => bucket)
            : RateLimitPartition.GetNoLimiter(keyId));
        _streams = PartitionedRateLimiter.Create<string, string>(keyId => RateLimitPartition.GetConcurrencyLimiter(keyId,
            id => new ConcurrencyLimiterOptions { PermitLimit = StreamLimit(id), QueueLimit = 0 }));
    }

    /// <summary>The key's bucket, or null when it has no rate limit.</summary>
    private TokenBucketRateLimiterOptions? Bucket(string keyId)
    {
        if (_settings.Auth.Keys.Find(k => k.Id == keyId) is not { RatePerSecond: > 0 } key)
        {
            return null;
        }
        // Whole tokens per refill: the partitioned limiter refills every 100 ms, so a fast key gets several at a time
        // and a slow one (0.2/s) one every 5 s.
        var perRefill = Math.Max(1, (int)Math.Ceiling(key.RatePerSecond / 10));
        var capacity = Capacity(key);
        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = capacity,
            TokensPerPeriod = perRefill,
            ReplenishmentPeriod = TimeSpan.FromSeconds(perRefill / key.RatePerSecond),
            AutoReplenishment = true,
            // Streams and big batches wait here for their tokens, first come first served.
            QueueLimit = capacity,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        };
    }

    /// <summary>The most tokens the key's bucket holds (no limit for a key without a rate). Asked for every event on a
    /// stream: a loop, not a lambda that captures the key.</summary>
    private int CapacityOf(string keyId)
    {
        foreach (var key in _settings.Auth.Keys)
        {
            if (key.Id == keyId)
            {
                return key.RatePerSecond > 0 ? Capacity(key) : int.MaxValue;
            }
        }
        return int.MaxValue;
    }

    private static int Capacity(ApiKeySettings key) => (int)Math.Max(1, Math.Ceiling(key.Burst > 0 ? key.Burst : key.RatePerSecond));

    /// <summary>Null if admitted (tokens taken); otherwise how long until the call would be admitted. A cost beyond the
    /// bucket takes a full bucket now and waits for the rest (on <paramref name="ct"/>, the call's own deadline).</summary>
    public async ValueTask<TimeSpan?> TryTakeAsync(string keyId, int cost, CancellationToken ct)
    {
        var capacity = CapacityOf(keyId);
        using var lease = _events.AttemptAcquire(keyId, Math.Min(cost, capacity));
        if (!lease.IsAcquired)
        {
            return RetryAfter(lease);
        }
        if (cost > capacity)
        {
            await TakeAsync(keyId, cost - capacity, ct);
        }
        return null;
    }

    /// <summary>Takes <paramref name="cost"/> tokens, waiting as long as it takes. Tokens that are there now, with
    /// nobody waiting before this call, are taken without an asynchronous wait: a stream pays one per event.</summary>
    public ValueTask TakeAsync(string keyId, int cost, CancellationToken ct)
    {
        var capacity = CapacityOf(keyId);
        if (cost <= capacity)
        {
            using var lease = _events.AttemptAcquire(keyId, cost);
            if (lease.IsAcquired)
            {
                return ValueTask.CompletedTask;
            }
        }
        return new ValueTask(WaitForAsync(keyId, cost, capacity, ct));
    }

    private async Task WaitForAsync(string keyId, int cost, int capacity, CancellationToken ct)
    {
        while (cost > 0)
        {
            var take = Math.Min(cost, capacity);
            using var lease = await _events.AcquireAsync(keyId, take, ct);
            if (lease.IsAcquired)
            {
                cost -= take;
            }
            else
            {
                await Task.Delay(RetryAfter(lease), ct);   // the queue is full: come back when tokens are due
            }
        }
    }

    /// <summary>The partitioned limiter refills its buckets on a timer of this period, so tokens can arrive up to this
    /// much later than the bucket's own estimate: a client told to come back then must find them there.</summary>
    private static readonly TimeSpan RefillTick = TimeSpan.FromMilliseconds(100);

    public static TimeSpan RetryAfter(RateLimitLease lease) =>
        (lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) && retryAfter > TimeSpan.Zero ? retryAfter : TimeSpan.Zero) + RefillTick;

    /// <summary>The streams a key may hold open at once on this silo (PublishStream, Watch, WatchRewards together).</summary>
    public int StreamLimit(string keyId) =>
        _settings.Auth.Keys.Find(k => k.Id == keyId) is { MaxStreams: > 0 } key ? key.MaxStreams : _settings.Api.MaxStreamsPerKey;

    /// <summary>A stream slot for the key, given back on dispose; null if the key already holds its limit.</summary>
    public IDisposable? TryOpenStream(string keyId)
    {
        var lease = _streams.AttemptAcquire(keyId, 1);
        if (lease.IsAcquired)
        {
            return lease;
        }
        lease.Dispose();
        return null;
    }

    /// <summary>The limiter ASP.NET Core's rate limiting middleware applies to HTTP requests (the console's API and the
    /// operator port): a token from the caller's key bucket per request. RPCs, over gRPC or as JSON routes, are charged
    /// by <see cref="RpcAccessInterceptor"/> instead (per event), and requests without a key are not limited here.</summary>
    public PartitionedRateLimiter<HttpContext> ForHttp() =>
        new AnswerAtOnce(_events.WithTranslatedKey<HttpContext>(context =>
            context.GetEndpoint()?.Metadata.GetMetadata<Grpc.AspNetCore.Server.GrpcMethodMetadata>() is null
                && Caller.From(context.User) is { } caller ? caller.Id : "", leaveOpen: true));

    /// <summary>An HTTP request over its key's budget is answered 429 with Retry-After at once; it never waits in the
    /// bucket's queue (the middleware would otherwise queue it after a failed attempt).</summary>
    private sealed class AnswerAtOnce(PartitionedRateLimiter<HttpContext> inner) : PartitionedRateLimiter<HttpContext>
    {
        public override RateLimiterStatistics? GetStatistics(HttpContext resource) => inner.GetStatistics(resource);

        protected override RateLimitLease AttemptAcquireCore(HttpContext resource, int permitCount) => inner.AttemptAcquire(resource, permitCount);

        protected override ValueTask<RateLimitLease> AcquireAsyncCore(HttpContext resource, int permitCount, CancellationToken cancellationToken) =>
            ValueTask.FromResult(inner.AttemptAcquire(resource, permitCount));

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    public void Dispose()
    {
        _events.Dispose();
        _streams.Dispose();
    }
}

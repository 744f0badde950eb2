using System.Collections.Concurrent;

namespace Loyalty.Server.Auth;

/// <summary>
/// A token bucket per API key (per silo): <see cref="ApiKeySettings.RatePerSecond"/> tokens a second up to
/// <see cref="ApiKeySettings.Burst"/>. A call costs one token; every event costs one token, whether it comes alone, in a
/// batch or on a stream. A batch larger than the bucket is admitted when the bucket is full and leaves it in debt for
/// the rest, so it is neither refused forever nor cheaper than its events. Streams wait for their tokens before reading
/// on (HTTP/2 flow control then holds the client back). Also counts the streams each key holds open.
/// </summary>
public sealed class KeyRateLimiter(LoyaltySettings settings, TimeProvider time)
{
    private sealed class Bucket(double capacity, double rate, long now)
    {
        public readonly double Capacity = capacity;
        public readonly double Rate = rate;
        public double Tokens = capacity;
        public long Stamp = now;
    }

    private readonly ConcurrentDictionary<string, Bucket?> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _streams = new(StringComparer.Ordinal);

    /// <summary>Null if admitted (tokens taken); otherwise how long until the call would be admitted.</summary>
    public TimeSpan? TryTake(string keyId, int cost)
    {
        var bucket = _buckets.GetOrAdd(keyId, id =>
        {
            var key = settings.Auth.Keys.Find(k => k.Id == id);
            if (key is null || key.RatePerSecond <= 0)
            {
                return null;
            }
            var capacity = key.Burst > 0 ? key.Burst : Math.Max(1, key.RatePerSecond);
            return new Bucket(capacity, key.RatePerSecond, time.GetTimestamp());
        });
        if (bucket is null)
        {
            return null;
        }
        lock (bucket)
        {
            var now = time.GetTimestamp();
            bucket.Tokens = Math.Min(bucket.Capacity, bucket.Tokens + time.GetElapsedTime(bucket.Stamp, now).TotalSeconds * bucket.Rate);
            bucket.Stamp = now;
            // More than the bucket holds can never be there at once: such a request waits for a full bucket and pays
            // the rest as debt, which later calls wait out.
            var need = Math.Min(cost, bucket.Capacity);
            if (bucket.Tokens >= need)
            {
                bucket.Tokens -= cost;
                return null;
            }
            return TimeSpan.FromSeconds((need - bucket.Tokens) / bucket.Rate);
        }
    }

    /// <summary>Takes <paramref name="cost"/> tokens, waiting (on the injected clock) as long as it takes.</summary>
    public async Task TakeAsync(string keyId, int cost, CancellationToken ct)
    {
        while (TryTake(keyId, cost) is { } wait)
        {
            await Task.Delay(wait, time, ct);
        }
    }

    /// <summary>The streams a key may hold open at once on this silo (PublishStream, Watch, WatchRewards together).</summary>
    public int StreamLimit(string keyId) =>
        settings.Auth.Keys.Find(k => k.Id == keyId) is { MaxStreams: > 0 } key ? key.MaxStreams : settings.Api.MaxStreamsPerKey;

    /// <summary>A stream slot for the key, given back on dispose; null if the key already holds its limit.</summary>
    public IDisposable? TryOpenStream(string keyId)
    {
        var limit = StreamLimit(keyId);
        var open = _streams.AddOrUpdate(keyId, 1, (_, n) => n + 1);
        if (open > limit)
        {
            Close(keyId);
            return null;
        }
        return new StreamSlot(this, keyId);
    }

    private void Close(string keyId) => _streams.AddOrUpdate(keyId, 0, (_, n) => n - 1);

    private sealed class StreamSlot(KeyRateLimiter owner, string keyId) : IDisposable
    {
        private int _closed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                owner.Close(keyId);
            }
        }
    }
}

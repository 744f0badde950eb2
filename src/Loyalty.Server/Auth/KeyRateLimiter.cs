using System.Collections.Concurrent;

namespace Loyalty.Server.Auth;

/// <summary>A token bucket per API key (per silo): <see cref="ApiKeySettings.RatePerSecond"/> tokens a second up to
/// <see cref="ApiKeySettings.Burst"/>; a call costs one token, or one per event for Publish and PublishBatch.</summary>
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
            // A request larger than the bucket can never fit: let it through when the bucket is full, so it is not refused forever.
            var need = Math.Min(cost, bucket.Capacity);
            if (bucket.Tokens >= need)
            {
                bucket.Tokens -= need;
                return null;
            }
            return TimeSpan.FromSeconds((need - bucket.Tokens) / bucket.Rate);
        }
    }
}

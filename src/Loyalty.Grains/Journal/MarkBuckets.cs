using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Loyalty.Grains.Journal;

/// <summary>
/// A journal's owner marks as the Azure Table journal stores them (docs/journal.md): each marked customer is an 8-byte
/// key (the start of the SHA-256 of its id) in one of <see cref="Buckets"/> rows of the journal's partition, chosen by
/// the key. The partition then holds at most that many mark rows however many customers are uncovered (a row per
/// customer made every cold customer an entity of its own in the journal's partition, and made Azurite, whose point
/// operations scan the partition, slower with every one), and an append writes each row its marks and unmarks touch,
/// whole: at most 95 rows, with any number of marks in them, their bytes counted with the append's records.
/// <para>Only the writer's process appends to its journal, so it keeps what the stored rows hold: an append stages the
/// touched rows, and they count once the append is known to be stored (its answer, or resolving an unknown outcome).</para>
/// </summary>
public sealed class MarkBuckets
{
    public const int Buckets = 128;
    public const int KeyBytes = 8;
    /// <summary>Keys per binary property (64,000 bytes) and properties per row (an entity stays under 1 MiB).</summary>
    public const int KeysPerProperty = 8_000;
    public const int PropertiesPerRow = 15;

    private readonly Dictionary<int, HashSet<ulong>> _stored = [];
    private long _stagedBatch = -1;
    /// <summary>The staged batch's changes, applied to <see cref="_stored"/> once it is stored: rows are written whole,
    /// but what the process keeps changes by the marks and unmarks alone (no copy of each touched row per append).</summary>
    private (ulong[] Marked, ulong[] Unmarked) _staged = ([], []);

    public static ulong KeyOf(string customerId)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(customerId), hash);
        return BinaryPrimitives.ReadUInt64LittleEndian(hash);
    }

    public static int BucketOf(ulong key) => (int)(key % Buckets);

    public static string RowKey(int bucket) => "k" + bucket.ToString("D3", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Property names of a row's keys, in order.</summary>
    public static string PropertyName(int index) => "K" + index.ToString("D2", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Bytes the stored row holds: an append that rewrites it carries them.</summary>
    public int RowBytes(int bucket)
    {
        lock (_stored)
        {
            return _stored.TryGetValue(bucket, out var keys) ? keys.Count * KeyBytes : 0;
        }
    }

    /// <summary>The rows batch <paramref name="batch"/> writes: every bucket its marks and unmarks touch, whole, as it is
    /// once the batch is stored (its keys, in no particular order). Nothing counts until <see cref="Settle"/>.</summary>
    public IReadOnlyList<(int Bucket, List<ulong> Keys)> Stage(long batch, IReadOnlyCollection<string> mark, IReadOnlyCollection<string> unmark)
    {
        ulong[] marked = [.. mark.Select(KeyOf)];
        ulong[] unmarked = [.. unmark.Select(KeyOf)];
        var gone = unmarked.ToHashSet();
        lock (_stored)
        {
            var rows = new Dictionary<int, List<ulong>>();
            List<ulong> Row(int bucket)
            {
                if (!rows.TryGetValue(bucket, out var keys))
                {
                    keys = [];
                    if (_stored.TryGetValue(bucket, out var stored))
                    {
                        keys.EnsureCapacity(stored.Count);
                        foreach (var key in stored)
                        {
                            if (!gone.Contains(key))
                            {
                                keys.Add(key);
                            }
                        }
                    }
                    rows[bucket] = keys;
                }
                return keys;
            }
            foreach (var key in unmarked)
            {
                Row(BucketOf(key));
            }
            foreach (var key in marked)
            {
                var bucket = BucketOf(key);
                var keys = Row(bucket);
                if (gone.Contains(key) || !(_stored.TryGetValue(bucket, out var stored) && stored.Contains(key)))
                {
                    keys.Add(key);
                }
            }
            _stagedBatch = batch;
            _staged = (marked, unmarked);
            return [.. rows.Select(r => (r.Key, r.Value))];
        }
    }

    /// <summary>The staged batch is stored (its rows now hold what was staged) or never will be.</summary>
    public void Settle(long batch, bool stored)
    {
        lock (_stored)
        {
            if (batch != _stagedBatch)
            {
                return;
            }
            if (stored)
            {
                foreach (var key in _staged.Unmarked)
                {
                    if (_stored.TryGetValue(BucketOf(key), out var keys))
                    {
                        keys.Remove(key);
                    }
                }
                foreach (var key in _staged.Marked)
                {
                    var bucket = BucketOf(key);
                    if (!_stored.TryGetValue(bucket, out var keys))
                    {
                        _stored[bucket] = keys = [];
                    }
                    keys.Add(key);
                }
            }
            _stagedBatch = -1;
            _staged = ([], []);
        }
    }

    /// <summary>A row's keys as binary properties of at most <see cref="KeysPerProperty"/> keys each.</summary>
    public static IEnumerable<(string Name, byte[] Value)> Properties(IReadOnlyList<ulong> keys)
    {
        if (keys.Count > KeysPerProperty * PropertiesPerRow)
        {
            throw new InvalidOperationException($"an owner mark row of {keys.Count} customers does not fit one entity");
        }
        var all = keys as ulong[] ?? [.. keys];
        for (var p = 0; p * KeysPerProperty < all.Length; p++)
        {
            var part = all.AsSpan(p * KeysPerProperty, Math.Min(KeysPerProperty, all.Length - p * KeysPerProperty));
            var bytes = new byte[part.Length * KeyBytes];
            for (var i = 0; i < part.Length; i++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * KeyBytes), part[i]);
            }
            yield return (PropertyName(p), bytes);
        }
    }

    /// <summary>True if a stored row's properties hold the key.</summary>
    public static bool Holds(Func<string, byte[]?> property, ulong key)
    {
        for (var p = 0; p < PropertiesPerRow && property(PropertyName(p)) is { } bytes; p++)
        {
            for (var offset = 0; offset + KeyBytes <= bytes.Length; offset += KeyBytes)
            {
                if (BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(offset)) == key)
                {
                    return true;
                }
            }
        }
        return false;
    }
}

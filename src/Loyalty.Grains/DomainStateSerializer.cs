using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text.Json;
using Loyalty.Domain;
using Orleans.Storage;

namespace Loyalty.Grains;

/// <summary>
/// The serializer for stored grain state, chosen deliberately: System.Text.Json over the domain's own types,
/// tolerant of added members (new members get defaults, unknown ones are ignored), and independent of Orleans' wire
/// format and of C# type names. Written deflated behind a one-byte header: a busy customer's checkpoint is 60–95 KB
/// of JSON (its remembered event ids and kept rewards above all) and 11–16 KB deflated, and checkpoint bytes are most
/// of what storage parses under repeat traffic. Plain JSON (what earlier builds wrote) is read as well.
/// </summary>
/// <remarks>The memory provider's instance, <see cref="InMemory"/>, keeps plain JSON on the pinned heap: deflating is for
/// Azure Table's property limits and for the bytes sent to storage, and cost the memory provider about 5 % of its CPU
/// per event with 10,000 busy customers; a state kept until the customer's next checkpoint is long-lived bytes (see
/// <see cref="LongLivedBytes"/>).</remarks>
public sealed class DomainStateSerializer(bool inProcess = false) : IGrainStorageSerializer
{
    /// <summary>Plain JSON, kept as <see cref="LongLivedBytes"/>: for a store in this process.</summary>
    public static DomainStateSerializer InMemory { get; } = new(inProcess: true);

    /// <summary>First byte of a deflated state; plain JSON starts with <c>{</c> (or white space).</summary>
    public const byte Deflated = 0x01;

    /// <summary>This thread's JSON buffer, reused from one checkpoint to the next: a stream that grew by doubling per
    /// checkpoint, and the deflater's output copied out of it, were the most bytes a checkpoint allocated. Only
    /// <see cref="Serialize{T}"/> uses it, and it never awaits.</summary>
    [ThreadStatic] private static JsonScratch? t_json;

    public BinaryData Serialize<T>(T? input)
    {
        var json = t_json ??= new JsonScratch(16 * 1024);
        JsonSerializer.Serialize(json.Start(), input, DomainJson.Options);
        if (inProcess)
        {
            return new BinaryData(LongLivedBytes.Copy(json.Written));
        }
        byte[]? stored = null;
        Deflation.Deflate(json.Written, deflated =>
        {
            stored = new byte[deflated.Length + 1];
            stored[0] = Deflated;
            deflated.CopyTo(stored.AsSpan(1));
        });
        return new BinaryData(stored!);
    }

    public T Deserialize<T>(BinaryData input)
    {
        var bytes = input.ToMemory();
        T? value;
        if (IsDeflated(bytes))
        {
            using var json = Inflating(bytes);
            value = JsonSerializer.Deserialize<T>(json, DomainJson.Options);
        }
        else
        {
            value = JsonSerializer.Deserialize<T>(bytes.Span, DomainJson.Options);
        }
        return value ?? throw new JsonException($"Stored state deserialized to null for {typeof(T).Name}");
    }

    /// <summary>The stored state's JSON, inflated if need be (for tools and tests that look at what is stored).</summary>
    public static byte[] Json(ReadOnlyMemory<byte> stored)
    {
        if (!IsDeflated(stored))
        {
            return stored.ToArray();
        }
        using var inflate = Inflating(stored);
        using var json = new MemoryStream();
        inflate.CopyTo(json);
        return json.ToArray();
    }

    private static bool IsDeflated(ReadOnlyMemory<byte> stored) => stored.Length > 0 && stored.Span[0] == Deflated;

    private static DeflateStream Inflating(ReadOnlyMemory<byte> stored) => new(Stream(stored[1..]), CompressionMode.Decompress);

    private static MemoryStream Stream(ReadOnlyMemory<byte> bytes) =>
        MemoryMarshal.TryGetArray(bytes, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(bytes.ToArray(), writable: false);
}

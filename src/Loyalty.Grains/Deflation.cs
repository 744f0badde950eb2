using System.IO.Compression;

namespace Loyalty.Grains;

/// <summary>Raw deflate at its fastest level, for what the engine stores as JSON: journal pages, archived ledger rows,
/// liability totals. JSON of many similar records shrinks four to eight times, and storage parses (and Azurite saves)
/// every byte a request carries.</summary>
public static class Deflation
{
    public static byte[] Deflate(ReadOnlySpan<byte> raw)
    {
        using var output = new MemoryStream(raw.Length / 3 + 64);
        using (var deflate = new DeflateStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            deflate.Write(raw);
        }
        return output.ToArray();
    }

    public static byte[] Inflate(byte[] data)
    {
        using var input = new DeflateStream(new MemoryStream(data, writable: false), CompressionMode.Decompress);
        using var output = new MemoryStream(data.Length * 4);
        input.CopyTo(output);
        return output.ToArray();
    }
}

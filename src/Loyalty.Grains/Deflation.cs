using System.IO.Compression;

namespace Loyalty.Grains;

/// <summary>Raw deflate at its fastest level, for what the engine stores as JSON: journal pages, archived ledger rows,
/// liability totals. JSON of many similar records shrinks four to eight times, and storage parses (and Azurite saves)
/// every byte a request carries.</summary>
public static class Deflation
{
    public static byte[] Deflate(ReadOnlySpan<byte> raw)
    {
        using var output = Compress(raw);
        return output.Written.ToArray();
    }

    /// <summary>Deflates <paramref name="raw"/> into a pooled buffer and hands the result to <paramref name="use"/> (the
    /// span is valid only during the call): a journal page's output would otherwise be a new large array per append.</summary>
    public static void Deflate(ReadOnlySpan<byte> raw, ReadOnlySpanAction use)
    {
        using var output = Compress(raw);
        use(output.Written);
    }

    private static PooledStream Compress(ReadOnlySpan<byte> raw)
    {
        var output = new PooledStream(raw.Length / 3 + 64);
        using (var deflate = new DeflateStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            deflate.Write(raw);
        }
        return output;
    }

    public delegate void ReadOnlySpanAction(ReadOnlySpan<byte> data);

    /// <summary>A write-only stream into arrays rented from the shared pool (returned on dispose).</summary>
    private sealed class PooledStream(int capacity) : Stream
    {
        private byte[] _buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(capacity);
        private int _length;

        public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_length + buffer.Length > _buffer.Length)
            {
                var larger = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + buffer.Length));
                _buffer.AsSpan(0, _length).CopyTo(larger);
                System.Buffers.ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }
            buffer.CopyTo(_buffer.AsSpan(_length));
            _length += buffer.Length;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void WriteByte(byte value) => Write([value]);

        protected override void Dispose(bool disposing)
        {
            if (disposing && _buffer.Length > 0)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = [];
                _length = 0;
            }
            base.Dispose(disposing);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    public static byte[] Inflate(byte[] data)
    {
        using var input = new DeflateStream(new MemoryStream(data, writable: false), CompressionMode.Decompress);
        using var output = new MemoryStream(data.Length * 4);
        input.CopyTo(output);
        return output.ToArray();
    }
}

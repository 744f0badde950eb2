using System.Buffers;
using System.Text.Json;

namespace Loyalty.Domain;

/// <summary>A JSON buffer and its writer (<see cref="DomainJson.WriterOptions"/>), reset and reused: for code that writes
/// domain JSON again and again on one thread. Keep one per thread (a <c>[ThreadStatic]</c> field of its user), and never
/// across an await.</summary>
public sealed class JsonScratch(int capacity)
{
    private readonly ArrayBufferWriter<byte> _buffer = new(capacity);
    private Utf8JsonWriter? _writer;

    /// <summary>Empties the buffer and returns the writer over it.</summary>
    public Utf8JsonWriter Start()
    {
        _buffer.ResetWrittenCount();
        var writer = _writer ??= new Utf8JsonWriter(_buffer, DomainJson.WriterOptions);
        writer.Reset(_buffer);
        return writer;
    }

    /// <summary>What was written since <see cref="Start"/> (the writer flushed).</summary>
    public ReadOnlySpan<byte> Written
    {
        get
        {
            _writer?.Flush();
            return _buffer.WrittenSpan;
        }
    }
}

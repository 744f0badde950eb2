using System.Buffers;
using System.Text.Json;

namespace Loyalty.Domain.Customers;

/// <summary>Journal records encoded back to back in one buffer, each a 4-byte little-endian length and its JSON: the form
/// <see cref="JournalCodec.Read"/> reads and stores write. The journal writer encodes each batch into one instance it
/// reuses, so a record costs no array of its own, and a store takes its pages as spans of this buffer.</summary>
public sealed class EncodedRecords : IBufferWriter<byte>
{
    private byte[] _buffer;
    private int _length;
    private readonly List<int> _ends = [];
    private Utf8JsonWriter? _writer;

    public EncodedRecords(int capacity = 64 * 1024) => _buffer = new byte[Math.Max(capacity, 256)];

    /// <summary>No records (never added to).</summary>
    public static EncodedRecords None { get; } = new(256);

    public static EncodedRecords Of(IEnumerable<JournalRecord> records)
    {
        var encoded = new EncodedRecords();
        foreach (var record in records)
        {
            encoded.Add(record);
        }
        return encoded;
    }

    public int Count => _ends.Count;

    /// <summary>Bytes of all records.</summary>
    public int Length => _length;

    public ReadOnlySpan<byte> Bytes => _buffer.AsSpan(0, _length);

    public int StartOf(int index) => index == 0 ? 0 : _ends[index - 1];

    public int EndOf(int index) => _ends[index];

    public int SizeOf(int index) => EndOf(index) - StartOf(index);

    /// <summary>Encodes the record after the others and returns its size (length prefix included). A record that fails
    /// to encode leaves nothing behind.</summary>
    public int Add(JournalRecord record)
    {
        var start = _length;
        try
        {
            Reserve(4);
            _length += 4;
            var writer = _writer ??= new Utf8JsonWriter(this, DomainJson.WriterOptions);
            writer.Reset(this);
            JournalJsonWriter.Write(writer, record);
            writer.Flush();
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(start), _length - start - 4);
        }
        catch
        {
            _length = start;
            _writer?.Reset();
            throw;
        }
        _ends.Add(_length);
        return _length - start;
    }

    /// <summary>Takes the last record off (it did not fit its batch).</summary>
    public void RemoveLast()
    {
        _ends.RemoveAt(_ends.Count - 1);
        _length = _ends.Count == 0 ? 0 : _ends[^1];
    }

    public void Clear()
    {
        _ends.Clear();
        _length = 0;
        if (_buffer.Length > 8 * 1024 * 1024)
        {
            _buffer = new byte[64 * 1024]; // a rare huge batch: do not keep its buffer
        }
    }

    private void Reserve(int bytes)
    {
        if (_length + bytes > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + bytes));
        }
    }

    void IBufferWriter<byte>.Advance(int count) => _length += count;

    Memory<byte> IBufferWriter<byte>.GetMemory(int sizeHint)
    {
        Reserve(Math.Max(sizeHint, 256));
        return _buffer.AsMemory(_length);
    }

    Span<byte> IBufferWriter<byte>.GetSpan(int sizeHint)
    {
        Reserve(Math.Max(sizeHint, 256));
        return _buffer.AsSpan(_length);
    }
}

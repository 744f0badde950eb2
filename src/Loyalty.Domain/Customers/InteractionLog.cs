using System.Buffers;
using System.Collections;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Loyalty.Domain.Customers;

/// <summary>
/// A customer's most recent interactions, oldest first, bounded like a <see cref="RecentList{T}"/>. Each interaction's
/// event id and summary are kept as UTF-8 in one ring of bytes per customer, not as strings of their own; the entries
/// hold only values and text the program shares (kind, source, tier, program version).
/// </summary>
/// <remarks>
/// Why: the summary is the one string every event makes just to keep ("played arena: 12 min at difficulty 3, score
/// 4200; rules …", ~100 characters). Kept as a string it outlived the young collection after its event and was copied
/// by it: with 10,000 busy customers summaries were about two thirds of the text a young collection promoted (heap
/// dump, 2026-12-06 thirteenth session). And every event wrote a reference to a new object into the customer's old
/// array, which the next young collection had to scan. Bytes in an array that holds no references are neither.
/// Reads (<see cref="this[int]"/>, the interaction pages, export) build the strings; stored JSON is unchanged.
/// </remarks>
[JsonConverter(typeof(InteractionLogJsonConverter))]
public sealed class InteractionLog : IReadOnlyList<Interaction>
{
    private readonly RecentList<Entry> _entries = [];
    private byte[] _text = [];
    // Bytes ever written to the ring: an entry's text starts at a position in this count, at index position % length.
    private long _written;

    /// <summary>One interaction without its text. <see cref="TextStart"/> is where its id's bytes start in the ring,
    /// its summary's follow.</summary>
    private readonly record struct Entry(long Sequence, string Kind, string Source, DateTimeOffset OccurredAt, DateTimeOffset AppliedAt,
        long PointsDelta, string TierAfter, string ProgramVersion, long TextStart, int IdBytes, int SummaryBytes);

    public int Count => _entries.Count;

    /// <summary>Slots for entries (never more than the bound once <see cref="Add(Interaction, int)"/> has filled it).</summary>
    public int Capacity => _entries.Capacity;

    /// <summary>Bytes of the text ring (grows while the kept texts need more, never past them).</summary>
    public int TextCapacity => _text.Length;

    public Interaction this[int index] => Build(_entries.ItemRef(index));

    /// <summary>The sequence of the interaction at <paramref name="index"/>, without building its text.</summary>
    public long SequenceAt(int index) => _entries.ItemRef(index).Sequence;

    /// <summary>Appends at the newest end and keeps at most <paramref name="max"/> interactions, dropping the oldest.</summary>
    public void Add(in Interaction interaction, int max) =>
        Add(interaction.Sequence, interaction.EventId, interaction.Kind, interaction.Source, interaction.OccurredAt, interaction.AppliedAt,
            interaction.PointsDelta, interaction.Summary, interaction.TierAfter, interaction.ProgramVersion, max);

    /// <summary>Appends an interaction whose summary is given as characters (the engine's builder): no string is made.</summary>
    public void Add(long sequence, string eventId, string kind, string source, DateTimeOffset occurredAt, DateTimeOffset appliedAt,
        long pointsDelta, ReadOnlySpan<char> summary, string tierAfter, string programVersion, int max)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        if (_entries.Count >= max)
        {
            _entries.RemoveOldest(_entries.Count - max + 1);
        }
        var idBytes = Encoding.UTF8.GetByteCount(eventId);
        var summaryBytes = Encoding.UTF8.GetByteCount(summary);
        var start = _written;
        Reserve(idBytes + summaryBytes);
        Write(eventId, idBytes);
        Write(summary, summaryBytes);
        _entries.Add(new Entry(sequence, kind, source, occurredAt, appliedAt, pointsDelta, tierAfter, programVersion, start, idBytes, summaryBytes), max);
    }

    /// <summary>A copy that shares nothing that changes (for a snapshot): the kept texts' bytes in one copy, from the
    /// start of a ring of their size.</summary>
    public InteractionLog Copy()
    {
        var copy = new InteractionLog();
        var oldest = _entries.Count > 0 ? _entries.ItemRef(0).TextStart : _written;
        var live = (int)(_written - oldest);
        copy._text = new byte[live];
        if (live > 0)
        {
            var at = (int)(oldest % _text.Length);
            var first = Math.Min(live, _text.Length - at);
            _text.AsSpan(at, first).CopyTo(copy._text);
            _text.AsSpan(0, live - first).CopyTo(copy._text.AsSpan(first));
        }
        copy._written = live;
        for (var i = 0; i < _entries.Count; i++)
        {
            ref readonly var entry = ref _entries.ItemRef(i);
            copy._entries.Add(entry with { TextStart = entry.TextStart - oldest });
        }
        return copy;
    }

    public IEnumerator<Interaction> GetEnumerator()
    {
        for (var i = 0; i < _entries.Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Writes the interactions as the JSON array a list of <see cref="Interaction"/> is stored as, the text
    /// straight from the ring.</summary>
    internal void WriteJson(Utf8JsonWriter writer)
    {
        writer.WriteStartArray();
        byte[]? rented = null;
        for (var i = 0; i < _entries.Count; i++)
        {
            ref readonly var entry = ref _entries.ItemRef(i);
            var text = Text(entry.TextStart, entry.IdBytes + entry.SummaryBytes, ref rented);
            writer.WriteStartObject();
            writer.WriteNumber("seq", entry.Sequence);
            writer.WriteString("id", text[..entry.IdBytes]);
            writer.WriteString("kind", entry.Kind);
            writer.WriteString("src", entry.Source);
            writer.WriteString("at", entry.OccurredAt);
            writer.WriteString("applied", entry.AppliedAt);
            writer.WriteNumber("d", entry.PointsDelta);
            writer.WriteString("text", text[entry.IdBytes..]);
            writer.WriteString("tier", entry.TierAfter);
            writer.WriteString("ver", entry.ProgramVersion);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private Interaction Build(in Entry entry)
    {
        byte[]? rented = null;
        var text = Text(entry.TextStart, entry.IdBytes + entry.SummaryBytes, ref rented);
        var interaction = new Interaction(entry.Sequence, Encoding.UTF8.GetString(text[..entry.IdBytes]), entry.Kind, entry.Source,
            entry.OccurredAt, entry.AppliedAt, entry.PointsDelta, Encoding.UTF8.GetString(text[entry.IdBytes..]), entry.TierAfter)
        {
            ProgramVersion = entry.ProgramVersion,
        };
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
        return interaction;
    }

    /// <summary>Makes room for <paramref name="bytes"/> more after the newest text without overwriting any text a kept
    /// entry (after the one being added drops the oldest) still uses.</summary>
    private void Reserve(int bytes)
    {
        var oldest = _entries.Count > 0 ? _entries.ItemRef(0).TextStart : _written;
        var needed = _written + bytes - oldest;
        if (needed <= _text.Length)
        {
            return;
        }
        var grown = new byte[Math.Max(needed, Math.Max(256, (long)_text.Length * 2))];
        for (var at = oldest; at < _written; at++)
        {
            grown[at % grown.Length] = _text[at % _text.Length];
        }
        _text = grown;
    }

    /// <summary>Writes <paramref name="chars"/>, <paramref name="count"/> bytes in UTF-8, after the newest text.</summary>
    private void Write(ReadOnlySpan<char> chars, int count)
    {
        if (count == 0)
        {
            return;
        }
        var at = (int)(_written % _text.Length);
        if (at + count <= _text.Length)
        {
            Encoding.UTF8.GetBytes(chars, _text.AsSpan(at));
            _written += count;
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(count);
        Encoding.UTF8.GetBytes(chars, buffer);
        WriteBytes(buffer.AsSpan(0, count));
        ArrayPool<byte>.Shared.Return(buffer);
    }

    private void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return;
        }
        var at = (int)(_written % _text.Length);
        var first = Math.Min(bytes.Length, _text.Length - at);
        bytes[..first].CopyTo(_text.AsSpan(at));
        bytes[first..].CopyTo(_text);
        _written += bytes.Length;
    }

    /// <summary>The ring's bytes from <paramref name="start"/>: a slice of the ring, or of <paramref name="rented"/> when
    /// they wrap around its end.</summary>
    private ReadOnlySpan<byte> Text(long start, int length, ref byte[]? rented)
    {
        if (length == 0)
        {
            return [];
        }
        var at = (int)(start % _text.Length);
        if (at + length <= _text.Length)
        {
            return _text.AsSpan(at, length);
        }
        if (rented is null || rented.Length < length)
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
            rented = ArrayPool<byte>.Shared.Rent(length);
        }
        var first = _text.Length - at;
        _text.AsSpan(at).CopyTo(rented);
        _text.AsSpan(0, length - first).CopyTo(rented.AsSpan(first));
        return rented.AsSpan(0, length);
    }
}

/// <summary>Reads and writes an <see cref="InteractionLog"/> as the JSON array of interactions it always was stored as.</summary>
public sealed class InteractionLogJsonConverter : JsonConverter<InteractionLog>
{
    public override InteractionLog Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException("interactions: expected an array");
        }
        var log = new InteractionLog();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var interaction = JsonSerializer.Deserialize<Interaction>(ref reader, options);
            log.Add(interaction, int.MaxValue);
        }
        return log;
    }

    public override void Write(Utf8JsonWriter writer, InteractionLog value, JsonSerializerOptions options) => value.WriteJson(writer);
}

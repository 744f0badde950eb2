using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Loyalty.Domain.Customers;

/// <summary>
/// A short text kept inside the value that holds it: up to <see cref="MaxInline"/> ASCII characters in 40 bytes of its
/// own, anything else (longer, or not ASCII) as the string it came as.
/// </summary>
/// <remarks>
/// Each applied event used to leave a new string or two in its customer's state for as long as the state kept the
/// entry: the id it was remembered under (in <see cref="SeenEvent"/>, its ledger entries and the rewards it granted)
/// and each reward's code. Those strings outlived the young collections that ran meanwhile, and every entry written
/// into a list the collector had long promoted was a reference from old to young memory it had to find and follow.
/// With the text inside the entry an event adds no object to its customer's state and writes no such reference.
/// Taking the strings out (ids and codes as constants, a trial) cut the open loop's young collection from 18–29 ms to
/// 6 ms and its p99 from 68–101 ms to 36–38 ms (benchmarks, fifteenth session). Stored keys (<see cref="StoredKey"/>)
/// and generated codes are always ASCII and at most 40 characters, so the string form is the exception.
/// Reading the text back as a string makes one; compare with <see cref="Is"/> instead where that is all a caller needs.
/// </remarks>
public readonly struct InlineKey : IEquatable<InlineKey>
{
    public const int MaxInline = 40;

    [InlineArray(5)]
    private struct Bytes
    {
        private ulong _element;
    }

    private readonly Bytes _bytes;
    private readonly string? _text;
    private readonly byte _length;

    private InlineKey(string text)
    {
        _text = text;
    }

    private InlineKey(ReadOnlySpan<char> ascii)
    {
        var bytes = default(Bytes);
        var span = MemoryMarshal.AsBytes((Span<ulong>)bytes);
        for (var i = 0; i < ascii.Length; i++)
        {
            span[i] = (byte)ascii[i];
        }
        _bytes = bytes;
        _length = (byte)ascii.Length;
    }

    public static InlineKey Of(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return default;
        }
        return text.Length <= MaxInline && System.Text.Ascii.IsValid(text) ? new InlineKey(text.AsSpan()) : new InlineKey(text);
    }

    /// <summary>The key of these characters; a string is made only when they do not fit inline.</summary>
    public static InlineKey Of(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return default;
        }
        return text.Length <= MaxInline && System.Text.Ascii.IsValid(text) ? new InlineKey(text) : new InlineKey(new string(text));
    }

    /// <summary>Appends the text to <paramref name="builder"/> without making a string.</summary>
    public void AppendTo(System.Text.StringBuilder builder)
    {
        if (_text is not null)
        {
            builder.Append(_text);
            return;
        }
        foreach (var b in Ascii)
        {
            builder.Append((char)b);
        }
    }

    /// <summary>Kept as its own string (longer than <see cref="MaxInline"/>, or not ASCII).</summary>
    public bool IsString => _text is not null;

    public int Length => _text?.Length ?? _length;

    /// <summary>The inline characters (empty when <see cref="IsString"/>).</summary>
    [System.Diagnostics.CodeAnalysis.UnscopedRef]
    private ReadOnlySpan<byte> Ascii => MemoryMarshal.AsBytes((ReadOnlySpan<ulong>)_bytes)[.._length];

    /// <summary>Whether this is <paramref name="text"/>, without making a string.</summary>
    public bool Is(string? text)
    {
        text ??= "";
        if (_text is not null)
        {
            return string.Equals(_text, text, StringComparison.Ordinal);
        }
        if (text.Length != _length)
        {
            return false;
        }
        var ascii = Ascii;
        for (var i = 0; i < ascii.Length; i++)
        {
            if (ascii[i] != text[i])
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Writes the text as a JSON string value under <paramref name="name"/>, byte for byte what writing the
    /// string would (the writer escapes both alike), without making the string.</summary>
    public void WriteTo(Utf8JsonWriter writer, JsonEncodedText name)
    {
        if (_text is not null)
        {
            writer.WriteString(name, _text);
        }
        else
        {
            writer.WriteString(name, Ascii);
        }
    }

    /// <summary>Copies the text's bytes to <paramref name="destination"/> without making a string, for a key held
    /// inline (not <see cref="IsString"/>: those are ASCII); returns how many.</summary>
    public int CopyAsciiTo(Span<byte> destination)
    {
        if (_text is not null)
        {
            throw new InvalidOperationException("This key is held as a string; encode the string instead.");
        }
        Ascii.CopyTo(destination);
        return _length;
    }

    public override string ToString() => _text ?? (_length == 0 ? "" : System.Text.Encoding.ASCII.GetString(Ascii));

    public bool Equals(InlineKey other)
    {
        if (_text is not null || other._text is not null)
        {
            return string.Equals(_text, other._text, StringComparison.Ordinal);
        }
        var a = (ReadOnlySpan<ulong>)_bytes;
        var b = (ReadOnlySpan<ulong>)other._bytes;
        return _length == other._length && a.SequenceEqual(b);
    }

    public override bool Equals(object? obj) => obj is InlineKey other && Equals(other);

    public override int GetHashCode()
    {
        if (_text is not null)
        {
            return string.GetHashCode(_text, StringComparison.Ordinal);
        }
        var a = (ReadOnlySpan<ulong>)_bytes;
        return HashCode.Combine(a[0], a[1], a[2], a[3], a[4], _length);
    }

    public static bool operator ==(InlineKey left, InlineKey right) => left.Equals(right);

    public static bool operator !=(InlineKey left, InlineKey right) => !left.Equals(right);
}

using System.Collections.Concurrent;

namespace Loyalty.Domain.Events;

/// <summary>
/// One instance per value of the few-valued text that events repeat: their source, game id, product category and
/// currency. A customer keeps some of it (an interaction keeps its event's source), and every event parsed off the wire
/// brought its own copy, which outlived the young collections that ran before the customer's next event. Bounded: once
/// a pool holds <see cref="Capacity"/> values, or for text longer than <see cref="MaxLength"/>, text is used as it came
/// (nothing is refused, and a flood of distinct values costs no memory beyond the bound).
/// </summary>
public sealed class SharedText(int capacity, int maxLength)
{
    private readonly ConcurrentDictionary<string, string> _values = new(StringComparer.Ordinal);
    private int _count;

    public int Capacity => capacity;
    public int MaxLength => maxLength;

    /// <summary>Values held.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The shared instance equal to <paramref name="text"/>, or <paramref name="text"/> itself.</summary>
    public string Share(string text)
    {
        if (text.Length == 0 || text.Length > maxLength)
        {
            return text;
        }
        if (_values.TryGetValue(text, out var shared))
        {
            return shared;
        }
        if (Interlocked.Increment(ref _count) > capacity)
        {
            Interlocked.Decrement(ref _count);
            return text;
        }
        shared = _values.GetOrAdd(text, text);
        if (!ReferenceEquals(shared, text))
        {
            Interlocked.Decrement(ref _count); // another thread added it first
        }
        return shared;
    }

    /// <summary>Event sources (the systems that send events).</summary>
    public static SharedText Sources { get; } = new(256, 64);
    /// <summary>Game ids, product categories and currencies.</summary>
    public static SharedText Names { get; } = new(4096, 64);
}

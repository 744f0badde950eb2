using System.Collections;

namespace Loyalty.Domain.Customers;

/// <summary>
/// A list of a customer's most recent entries, oldest first, whose oldest entry drops off without moving the others:
/// a ring over one array. <see cref="Add(T, int)"/> on a full list writes one slot.
/// </summary>
/// <remarks>
/// Why not <see cref="List{T}"/> with <c>RemoveRange(0, n)</c>: that moves every entry along, and moving entries that
/// hold references marks the whole array for the GC's next young collection to scan (a bulk copy sets the card of
/// every slot it wrote). A customer's rewards are ~17 KB and its interactions ~3 KB, so with 10,000 active customers
/// each young collection read hundreds of megabytes of old arrays for one new entry each: most of its pause.
/// Stored as a JSON array, oldest first, exactly like a list (System.Text.Json adds the entries in order).
/// </remarks>
public sealed class RecentList<T> : IList<T>, IReadOnlyList<T>
{
    private T[] _items = [];
    private int _head;
    private int _count;
    private int _version;

    public RecentList()
    {
    }

    public RecentList(IEnumerable<T> items)
    {
        foreach (var item in items)
        {
            Add(item);
        }
    }

    public int Count => _count;

    /// <summary>Slots the array has (never more than the bound once <see cref="Add(T, int)"/> has filled it).</summary>
    public int Capacity => _items.Length;

    public bool IsReadOnly => false;

    /// <summary>Changes whenever an entry is added, replaced or removed: lets a caller cache something it computed
    /// from the entries for as long as they stay the same.</summary>
    public int Version => _version;

    public T this[int index]
    {
        get => _items[Slot(index)];
        set
        {
            _items[Slot(index)] = value;
            _version++;
        }
    }

    /// <summary>The entry at <paramref name="index"/> without copying it (entries are structs of several fields).</summary>
    public ref readonly T ItemRef(int index) => ref _items[Slot(index)];

    /// <summary>The entries as two spans, oldest first: the scan of every entry without an index check per entry.</summary>
    public void AsSpans(out ReadOnlySpan<T> older, out ReadOnlySpan<T> newer)
    {
        var first = Math.Min(_count, _items.Length - _head);
        older = _items.AsSpan(_head, first);
        newer = _items.AsSpan(0, _count - first);
    }

    /// <summary>Appends at the newest end, growing the array as a list does.</summary>
    public void Add(T item) => Append(item, int.MaxValue);

    /// <summary>Appends at the newest end and keeps at most <paramref name="max"/> entries, dropping the oldest: the
    /// same entries as <c>Add</c> then <c>RemoveRange(0, Count - max)</c>, without moving any.</summary>
    public void Add(T item, int max)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        if (_count == max && _items.Length == max)
        {
            // Full at its bound (a busy customer's usual case): the newest takes the oldest's slot, written once
            // instead of cleared and then written.
            _items[_head] = item;
            _head = _head + 1 == _items.Length ? 0 : _head + 1;
            _version++;
            return;
        }
        if (_count >= max)
        {
            RemoveOldest(_count - max + 1);
        }
        Append(item, max);
    }

    /// <summary>Drops the <paramref name="n"/> oldest entries (clearing their slots, so what they held can go).</summary>
    public void RemoveOldest(int n)
    {
        n = Math.Min(n, _count);
        _version++;
        for (var i = 0; i < n; i++)
        {
            _items[_head] = default!;
            _head = _head + 1 == _items.Length ? 0 : _head + 1;
        }
        _count -= n;
        if (_count == 0)
        {
            _head = 0;
        }
    }

    /// <summary>Removes every entry that matches, keeping the order of the rest. Moves the entries after the first
    /// removed one: for rare clean-ups, not for every event.</summary>
    public int RemoveAll(Predicate<T> match)
    {
        var kept = 0;
        for (var i = 0; i < _count; i++)
        {
            var item = _items[Slot(i)];
            if (match(item))
            {
                continue;
            }
            if (kept != i)
            {
                _items[Slot(kept)] = item;
            }
            kept++;
        }
        var removed = _count - kept;
        _version++;
        for (var i = kept; i < _count; i++)
        {
            _items[Slot(i)] = default!;
        }
        _count = kept;
        if (_count == 0)
        {
            _head = 0;
        }
        return removed;
    }

    public int FindLastIndex(Predicate<T> match)
    {
        for (var i = _count - 1; i >= 0; i--)
        {
            if (match(_items[Slot(i)]))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>A copy with an array of exactly its entries, oldest first (for a snapshot: entries are immutable).</summary>
    public RecentList<T> Copy()
    {
        var copy = new RecentList<T> { _items = new T[_count], _count = _count };
        CopyTo(copy._items, 0);
        return copy;
    }

    public void Clear()
    {
        Array.Clear(_items);
        _version++;
        _head = 0;
        _count = 0;
    }

    public void CopyTo(T[] array, int arrayIndex)
    {
        var first = Math.Min(_count, _items.Length - _head);
        Array.Copy(_items, _head, array, arrayIndex, first);
        Array.Copy(_items, 0, array, arrayIndex + first, _count - first);
    }

    public bool Contains(T item) => IndexOf(item) >= 0;

    public int IndexOf(T item)
    {
        var comparer = EqualityComparer<T>.Default;
        for (var i = 0; i < _count; i++)
        {
            if (comparer.Equals(_items[Slot(i)], item))
            {
                return i;
            }
        }
        return -1;
    }

    public bool Remove(T item)
    {
        var index = IndexOf(item);
        if (index < 0)
        {
            return false;
        }
        RemoveAt(index);
        return true;
    }

    public void RemoveAt(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_count, nameof(index));
        var at = 0;
        RemoveAll(_ => at++ == index);
    }

    public void Insert(int index, T item) =>
        throw new NotSupportedException("A list of recent entries only appends at its newest end.");

    public Enumerator GetEnumerator() => new(this);

    IEnumerator<T> IEnumerable<T>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private int Slot(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_count, nameof(index));
        var slot = _head + index;
        return slot >= _items.Length ? slot - _items.Length : slot;
    }

    private void Append(T item, int max)
    {
        if (_count == _items.Length)
        {
            // Grow as a list does, but never past the bound: 100 rewards kept in an array of 128 would be 5 KB of every
            // customer's state doing nothing.
            var grown = new T[Math.Max(_count + 1, Math.Min(max, Math.Max(4, _items.Length * 2)))];
            CopyTo(grown, 0);
            _items = grown;
            _head = 0;
        }
        var slot = _head + _count;
        _items[slot >= _items.Length ? slot - _items.Length : slot] = item;
        _count++;
        _version++;
    }

    public struct Enumerator : IEnumerator<T>
    {
        private readonly RecentList<T> _list;
        private int _index;

        internal Enumerator(RecentList<T> list)
        {
            _list = list;
            _index = -1;
        }

        public readonly T Current => _list._items[_list.Slot(_index)];

        readonly object? IEnumerator.Current => Current;

        public bool MoveNext() => ++_index < _list._count;

        public void Reset() => _index = -1;

        public readonly void Dispose()
        {
        }
    }
}

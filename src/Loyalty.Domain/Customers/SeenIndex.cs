namespace Loyalty.Domain.Customers;

/// <summary>
/// Where each remembered id is in a customer's <see cref="CustomerState.Seen"/>: an open-addressing table of 64-bit
/// slots, each the id's 32-bit hash and its position in the list, that a lookup confirms against the list's own id.
/// </summary>
/// <remarks>
/// Replaces a <c>Dictionary&lt;string, int&gt;</c>. That dictionary's entries referred to every id, so each event
/// wrote a reference to a new string into an array that had long been promoted (the young collection then scans it),
/// and each time it grew, or was built again after the ids out of the window were forgotten (every 64 events of a
/// customer in steady state), a new pair of arrays of ~28 bytes an id outlived the young collection: at 10,000 busy
/// customers its arrays were the largest type a young collection promoted (heap dump, 2026-12-06 thirteenth session).
/// This table holds no references, has 8 bytes a slot and room for twice the ids it was built for (64 KB for a full
/// window of 3,000 ids, under the large-object threshold), and is rebuilt in place after a trim.
/// </remarks>
internal sealed class SeenIndex
{
    private ulong[] _slots = [];
    private int _count;

    /// <summary>False until built, and again after the list changed other than by appending.</summary>
    public bool Current { get; private set; }

    /// <summary>The list changed other than at its end: positions moved.</summary>
    public void Invalidate() => Current = false;

    /// <summary>Indexes every id in <paramref name="seen"/>, reusing the table when it is large enough and not far too large.</summary>
    public void Rebuild(List<SeenEvent> seen)
    {
        var capacity = CapacityFor(seen.Count);
        if (_slots.Length >= capacity && _slots.Length <= capacity * 4)
        {
            Array.Clear(_slots);
        }
        else
        {
            _slots = new ulong[capacity];
        }
        _count = 0;
        for (var i = 0; i < seen.Count; i++)
        {
            Set(seen, seen[i].Key, i);
        }
        Current = true;
    }

    /// <summary>Indexes the id just appended at <paramref name="position"/>.</summary>
    public void Appended(List<SeenEvent> seen, int position)
    {
        if ((_count + 1) * 4L > _slots.Length * 3L)
        {
            Rebuild(seen);
            return;
        }
        Set(seen, seen[position].Key, position);
    }

    /// <summary>The position of <paramref name="key"/> (a stored key) in <paramref name="seen"/>, or -1.</summary>
    public int Find(List<SeenEvent> seen, string key) => Find(seen, InlineKey.Of(key));

    private int Find(List<SeenEvent> seen, InlineKey key)
    {
        if (_slots.Length == 0)
        {
            return -1;
        }
        var hash = Hash(key);
        var mask = _slots.Length - 1;
        for (var i = (int)(hash & (uint)mask); ; i = (i + 1) & mask)
        {
            var slot = _slots[i];
            if (slot == 0)
            {
                return -1;
            }
            if ((uint)(slot >> 32) == hash && seen[(int)(uint)slot - 1].Key == key)
            {
                return (int)(uint)slot - 1;
            }
        }
    }

    // A later entry with the same id takes the slot, as the dictionary's indexer did.
    private void Set(List<SeenEvent> seen, InlineKey key, int position)
    {
        var hash = Hash(key);
        var mask = _slots.Length - 1;
        var value = (ulong)hash << 32 | (uint)(position + 1);
        for (var i = (int)(hash & (uint)mask); ; i = (i + 1) & mask)
        {
            var slot = _slots[i];
            if (slot == 0)
            {
                _slots[i] = value;
                _count++;
                return;
            }
            if ((uint)(slot >> 32) == hash && seen[(int)(uint)slot - 1].Key == key)
            {
                _slots[i] = value;
                return;
            }
        }
    }

    /// <summary>A power of two with room for <paramref name="count"/> ids and as many again, at most 3/4 full.</summary>
    private static int CapacityFor(int count)
    {
        var capacity = 16;
        while (capacity * 3L < count * 2L * 4L)
        {
            capacity *= 2;
        }
        return capacity;
    }

    // Per process (hashes differ in each): the table is never stored.
    private static uint Hash(InlineKey key) => (uint)key.GetHashCode();
}

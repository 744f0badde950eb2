using System.Collections;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace Loyalty.Domain.Customers;

/// <summary>
/// A customer's kept ledger entries, oldest first, in blocks of <see cref="BlockSize"/> entries instead of one growing
/// array. Entries are added at the end and dropped from the front once archived (<see cref="RemoveThrough"/>), the two
/// things a ledger does.
/// </summary>
/// <remarks>Why blocks: while checkpoints lag (durable `game`: a busy customer's checkpoint every ~60 s, ~6,000 entries
/// of ~190 bytes), a list grew by doubling into ever larger arrays, the largest on the large-object heap, copying every
/// entry each time: 599 MB of ledger arrays in 10 s of that run, about a fifth of all it allocated, and the background
/// collections of the whole heap that large allocations start (docs/benchmarks.md, twenty-second session). A full
/// block is never copied, and a block the front leaves goes to a shared pool for the next customer that grows. A
/// customer with few entries keeps one small array that grows as a list's would, up to <see cref="SmallUpTo"/>.</remarks>
public sealed class LedgerList : IList<LedgerEntry>, IReadOnlyList<LedgerEntry>
{
    /// <summary>Entries in a full block: ~97 KB, a young object under the engine's large-object threshold
    /// (Loyalty.Server.csproj), reused through the pool rather than copied.</summary>
    public const int BlockSize = 512;

    /// <summary>A ledger this full moves from its small array to full blocks: a customer with that many entries no
    /// checkpoint has archived yet is busy and will most likely fill a block before its next checkpoint.</summary>
    public const int SmallUpTo = 64;

    private readonly List<LedgerEntry[]> _blocks = [];
    /// <summary>Where the first entry is in the first block.</summary>
    private int _head;
    private int _count;

    public int Count => _count;

    bool ICollection<LedgerEntry>.IsReadOnly => false;

    /// <summary>Entries the blocks now hold room for (tests: how the ledger grows).</summary>
    public int Capacity => _blocks.Count == 0 ? 0 : _blocks.Count == 1 ? _blocks[0].Length : (_blocks.Count - 1) * BlockSize + _blocks[^1].Length;

    public LedgerEntry this[int index] => ItemRef(index);

    /// <summary>The entry at <paramref name="index"/> (0 = the oldest kept), by reference.</summary>
    public ref readonly LedgerEntry ItemRef(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_count, nameof(index));
        var at = _head + index;
        if (_blocks.Count == 1)
        {
            return ref _blocks[0][at];   // possibly a small array
        }
        // With several blocks every one is full size (Add moves a small array into a block before it adds another).
        return ref _blocks[at / BlockSize][at % BlockSize];
    }

    public void Add(LedgerEntry entry) => Add(in entry);

    public void Add(in LedgerEntry entry)
    {
        var end = _head + _count;
        if (_blocks.Count == 0)
        {
            _blocks.Add(new LedgerEntry[4]);
        }
        else if (_blocks.Count == 1 && end == _blocks[0].Length)
        {
            var small = _blocks[0];
            if (small.Length < SmallUpTo)
            {
                Array.Resize(ref small, small.Length * 2);
                _blocks[0] = small;
            }
            else if (small.Length < BlockSize)
            {
                // Busy: from here on the ledger is full blocks. The few entries move once into the first of them.
                var block = LedgerBlocks.Take();
                Array.Copy(small, _head, block, 0, _count);
                _head = 0;
                _blocks[0] = block;
            }
            else
            {
                _blocks.Add(LedgerBlocks.Take());
            }
        }
        else if (end == _blocks.Count * BlockSize)
        {
            _blocks.Add(LedgerBlocks.Take());
        }
        end = _head + _count;
        _blocks[end / BlockSize][end % BlockSize] = entry;
        _count++;
    }

    public void AddRange(IEnumerable<LedgerEntry> entries)
    {
        foreach (var entry in entries)
        {
            Add(in entry);
        }
    }

    /// <summary>Drops the entries at the front up to and including <paramref name="sequence"/> (entries are in sequence
    /// order); blocks left empty go back to the pool.</summary>
    public void RemoveThrough(long sequence)
    {
        var drop = 0;
        while (drop < _count && ItemRef(drop).Sequence <= sequence)
        {
            drop++;
        }
        RemoveFirst(drop);
    }

    /// <summary>Drops the first <paramref name="count"/> entries.</summary>
    public void RemoveFirst(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)_count, nameof(count));
        if (count == 0)
        {
            return;
        }
        var from = _head;
        _head += count;
        _count -= count;
        var drop = 0;
        if (_blocks.Count > 1)
        {
            // Blocks the front has left go back to the pool (cleared there); the last block always stays.
            drop = Math.Min(_head / BlockSize, _blocks.Count - 1);
            for (var i = 0; i < drop; i++)
            {
                LedgerBlocks.Return(_blocks[i]);
            }
            _blocks.RemoveRange(0, drop);
            _head -= drop * BlockSize;
        }
        var first = _blocks[0];
        if (_blocks.Count == 1)
        {
            // One array left: what is kept moves to its start, as in a list, so a customer whose checkpoint keeps a
            // short tail fills the same array again instead of taking a second block right away. The slots after the
            // kept entries are cleared: they held entries gone (and their strings).
            var end = _head + _count;
            Array.Copy(first, _head, first, 0, _count);
            Array.Clear(first, _count, end - _count);
            _head = 0;
            return;
        }
        // Several blocks stay: the first keeps its offset; the slots the front left in it are cleared.
        var clearFrom = drop > 0 ? 0 : from;
        Array.Clear(first, clearFrom, _head - clearFrom);
    }

    /// <summary>Empties the ledger; its blocks go back to the pool.</summary>
    public void Clear()
    {
        foreach (var block in _blocks)
        {
            if (block.Length == BlockSize)
            {
                LedgerBlocks.Return(block);
            }
        }
        _blocks.Clear();
        _head = 0;
        _count = 0;
    }

    /// <summary>This ledger becomes a copy of <paramref name="from"/>'s entries (emptied first, its blocks reused).</summary>
    public LedgerList CopyFrom(LedgerList from)
    {
        Clear();
        for (var i = 0; i < from._count; i++)
        {
            Add(in from.ItemRef(i));
        }
        return this;
    }

    /// <summary>A new ledger with the same entries.</summary>
    public LedgerList Copy() => new LedgerList().CopyFrom(this);

    /// <summary>The entries from <paramref name="start"/>, <paramref name="count"/> of them, read in place.</summary>
    public LedgerSlice Slice(int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)start, (uint)_count, nameof(start));
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)(_count - start), nameof(count));
        return new LedgerSlice(this, start, count);
    }

    public void CopyTo(LedgerEntry[] array, int arrayIndex)
    {
        for (var i = 0; i < _count; i++)
        {
            array[arrayIndex + i] = ItemRef(i);
        }
    }

    public int IndexOf(LedgerEntry item)
    {
        for (var i = 0; i < _count; i++)
        {
            if (ItemRef(i).Equals(item))
            {
                return i;
            }
        }
        return -1;
    }

    public bool Contains(LedgerEntry item) => IndexOf(item) >= 0;

    // A ledger is appended to and dropped from the front once archived (RemoveThrough), nothing else.
    LedgerEntry IList<LedgerEntry>.this[int index]
    {
        get => ItemRef(index);
        set => throw new NotSupportedException("Ledger entries are never replaced.");
    }

    void IList<LedgerEntry>.Insert(int index, LedgerEntry item) => throw new NotSupportedException("A ledger is only appended to.");

    void IList<LedgerEntry>.RemoveAt(int index) => throw new NotSupportedException("A ledger drops entries only from the front (RemoveThrough).");

    bool ICollection<LedgerEntry>.Remove(LedgerEntry item) => throw new NotSupportedException("A ledger drops entries only from the front (RemoveThrough).");

    public Enumerator GetEnumerator() => new(this);

    IEnumerator<LedgerEntry> IEnumerable<LedgerEntry>.GetEnumerator()
    {
        for (var i = 0; i < _count; i++)
        {
            yield return ItemRef(i);
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => ((IEnumerable<LedgerEntry>)this).GetEnumerator();

    public struct Enumerator(LedgerList list)
    {
        private int _index = -1;

        public readonly ref readonly LedgerEntry Current => ref list.ItemRef(_index);

        public bool MoveNext() => ++_index < list._count;
    }
}

/// <summary>Consecutive entries of a <see cref="LedgerList"/>, read in place (valid until the ledger changes).</summary>
public readonly struct LedgerSlice(LedgerList list, int start, int count)
{
    public int Count => count;

    public ref readonly LedgerEntry this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)count, nameof(index));
            return ref list.ItemRef(start + index);
        }
    }

    /// <summary>Part of this slice (also what <c>slice[a..b]</c> calls).</summary>
    public LedgerSlice Slice(int from, int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)from, (uint)count, nameof(from));
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)length, (uint)(count - from), nameof(length));
        return new LedgerSlice(list, start + from, length);
    }

    public LedgerEntry[] ToArray()
    {
        var array = new LedgerEntry[count];
        for (var i = 0; i < count; i++)
        {
            array[i] = list.ItemRef(start + i);
        }
        return array;
    }

    public Enumerator GetEnumerator() => new(list, start, count);

    public struct Enumerator(LedgerList list, int start, int count)
    {
        private int _index = -1;

        public readonly ref readonly LedgerEntry Current => ref list.ItemRef(start + _index);

        public bool MoveNext() => ++_index < count;
    }
}

/// <summary>Full ledger blocks no ledger holds now, shared by every customer of the process: a busy customer's
/// checkpoint frees its blocks and the next growing ledger takes them, so in a steady stream the ledger allocates
/// nothing. At most <see cref="MaxPooled"/> are kept (~25 MB); the rest go to the collector.</summary>
internal static class LedgerBlocks
{
    public const int MaxPooled = 256;

    private static readonly ConcurrentStack<LedgerEntry[]> Pool = new();
    private static int _pooled;

    public static LedgerEntry[] Take()
    {
        if (Pool.TryPop(out var block))
        {
            Interlocked.Decrement(ref _pooled);
            return block;
        }
        return new LedgerEntry[LedgerList.BlockSize];
    }

    /// <summary>A block no ledger refers to any more (cleared here, so a pooled block holds no strings alive).</summary>
    public static void Return(LedgerEntry[] block)
    {
        if (block.Length != LedgerList.BlockSize || Volatile.Read(ref _pooled) >= MaxPooled)
        {
            return;
        }
        if (RuntimeHelpers.IsReferenceOrContainsReferences<LedgerEntry>())
        {
            Array.Clear(block);
        }
        Interlocked.Increment(ref _pooled);
        Pool.Push(block);
    }
}

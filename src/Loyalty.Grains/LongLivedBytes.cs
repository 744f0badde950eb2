namespace Loyalty.Grains;

/// <summary>
/// Copies of bytes that the memory provider keeps for a long time (journal pages, checkpoints, ledger archive blocks),
/// allocated on the pinned object heap. An ordinary array outlives the young collections that run meanwhile, and each
/// of them copies it to the next generation: with 10,000 busy customers on memory storage, archive blocks and
/// checkpoints were about half the bytes a young collection carried over (docs/benchmarks.md, twelfth session). The
/// pinned heap is never compacted by a young collection, and is swept with the old generation, where such arrays end
/// anyway. Only for bytes that live long: a short-lived array there would wait for an old-generation collection.
/// </summary>
public static class LongLivedBytes
{
    public static byte[] Copy(ReadOnlySpan<byte> bytes)
    {
        var kept = GC.AllocateUninitializedArray<byte>(bytes.Length, pinned: true);
        bytes.CopyTo(kept);
        return kept;
    }
}

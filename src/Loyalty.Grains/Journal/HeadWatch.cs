namespace Loyalty.Grains.Journal;

/// <summary>
/// Tells whether the journal of a silo the cluster membership does not know (a previous incarnation, or a process of
/// another cluster sharing the storage, as in tests) is still being written: alive while its head advances, dead once
/// it stood still for <see cref="SilentFor"/>. Standing still is measured between reads of the head (from the end of
/// the read that first saw the batch to the start of a later read that still sees it), never from when a scan that read
/// many heads one after another ends: a slow listing must not make a head that stood still for a second look silent.
/// </summary>
public sealed class HeadWatch(TimeSpan silentFor)
{
    /// <summary>The default: a live writer touches its head every second, but an append in flight holds it still for as
    /// long as storage takes to answer, and a starved process (many engines on two cores in a test run) longer still.
    /// Taking a live writer's journal for dead fences it and fails everything it was about to acknowledge.</summary>
    public static readonly TimeSpan SilentFor = TimeSpan.FromSeconds(8);

    private readonly Dictionary<string, (long Batch, DateTime Since, int Moves)> _seen = [];

    /// <summary>True: alive (the head moved twice since first seen, and again since the last read); false: dead (no
    /// head, or it stood still long enough); null: not known yet (first seen, moved only once, or still for less than
    /// <paramref name="silentFor"/>). One move is not enough: the append a writer had in flight when it was killed
    /// may still land after its death, but a dead writer never appends twice.</summary>
    public bool? Alive(JournalInfo journal)
    {
        if (journal.HeadBatch < 0)
        {
            return false; // no head: nothing can append any more
        }
        if (!_seen.TryGetValue(journal.JournalId, out var seen))
        {
            _seen[journal.JournalId] = (journal.HeadBatch, journal.HeadReadTo, 0);
            return null;
        }
        if (seen.Batch != journal.HeadBatch)
        {
            var moves = Math.Min(seen.Moves + 1, 2);
            _seen[journal.JournalId] = (journal.HeadBatch, journal.HeadReadTo, moves);
            return moves >= 2 ? true : null;
        }
        return journal.HeadReadFrom - seen.Since >= silentFor ? false : null;
    }

    public void Forget(string journalId) => _seen.Remove(journalId);
}

using Loyalty.Domain.Customers;

namespace Loyalty.Grains.Customers;

/// <summary>
/// Reads a customer's ledger across its two homes: the newest entries in the customer's state and older ones in the
/// archive (entries below the state's oldest). One reader for Watch (oldest first), ListLedger (newest first) and Export.
/// </summary>
public sealed class LedgerReader(ILedgerArchive archive)
{
    private static long OldestInState(CustomerState state) => state.Ledger.Count > 0 ? state.Ledger[0].Sequence : state.LedgerSeq + 1;

    /// <summary>Entries after <paramref name="since"/> up to <paramref name="through"/>, oldest first, at most <paramref name="max"/>.</summary>
    public async Task<LedgerEntry[]> After(CustomerState state, long since, long through, int max)
    {
        var size = Math.Clamp(max, 1, 1000);
        if (since >= through)
        {
            return [];
        }
        // The state's entries as they are now: a checkpoint running while the archive is read (it interleaves with
        // this call at the await) may archive and trim them, and reading the trimmed state after the archive window
        // skipped what moved meanwhile (a chaos run's watch went from 208 to 254).
        var between = state.LedgerBetween(since, through);
        var inState = between[..Math.Min(size, between.Count)].ToArray();
        var oldestInState = OldestInState(state);
        var result = new List<LedgerEntry>(size);
        if (since + 1 < oldestInState)
        {
            // The archive pages newest first below a sequence: read the window (since, since + size] from its top.
            var top = Math.Min(oldestInState, since + size + 1);
            var page = await archive.ReadAsync(state.CustomerId, top, (int)(top - since - 1));
            result.AddRange(page.Where(e => e.Sequence > since).OrderBy(e => e.Sequence));
        }
        foreach (var entry in inState)
        {
            if (result.Count >= size || entry.Sequence > through)
            {
                break;
            }
            if (entry.Sequence > since && (result.Count == 0 || entry.Sequence > result[^1].Sequence))
            {
                result.Add(entry);
            }
        }
        return [.. result];
    }

    /// <summary>A page of entries below <paramref name="before"/>, newest first.</summary>
    public async Task<List<LedgerEntry>> Before(CustomerState state, long before, int size)
    {
        var page = new List<LedgerEntry>(size);
        for (var i = state.Ledger.Count - 1; i >= 0 && page.Count < size; i--)
        {
            if (state.Ledger[i].Sequence < before)
            {
                page.Add(state.Ledger[i]);
            }
        }
        // Older entries than the state holds come from the archive (entries archived but not yet trimmed are
        // skipped there: the archive is asked only for what lies below the state's oldest entry).
        var oldestInState = OldestInState(state);
        if (page.Count < size && oldestInState > 1)
        {
            page.AddRange(await archive.ReadAsync(state.CustomerId, Math.Min(before, oldestInState), size - page.Count));
        }
        return page;
    }

    /// <summary>Every archived entry (below the state's oldest), oldest first.</summary>
    public async Task<List<LedgerEntry>> Archived(CustomerState state)
    {
        var archived = new List<LedgerEntry>();
        var before = OldestInState(state);
        while (before > 1)
        {
            var page = await archive.ReadAsync(state.CustomerId, before, 1000);
            if (page.Count == 0)
            {
                break;
            }
            archived.AddRange(page);
            before = page[^1].Sequence;
        }
        archived.Reverse();
        return archived;
    }
}

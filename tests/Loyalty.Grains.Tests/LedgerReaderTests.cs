using Loyalty.Domain.Customers;
using Loyalty.Grains.Customers;

namespace Loyalty.Grains.Tests;

/// <summary>The ledger reader while a checkpoint moves entries from the state to the archive under it.</summary>
public sealed class LedgerReaderTests
{
    /// <summary>An archive whose read lets a checkpoint run first (as the grain's background checkpoint interleaves at
    /// the read's await): it archives more of the state and trims it.</summary>
    private sealed class InterleavingArchive(CustomerState live, long checkpointThrough) : ILedgerArchive
    {
        private readonly MemoryLedgerArchive _inner = new();

        public Task AppendAsync(string customerId, IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken = default) =>
            _inner.AppendAsync(customerId, entries, cancellationToken);

        public Task<int> DeleteAllAsync(string customerId, CancellationToken cancellationToken = default) => _inner.DeleteAllAsync(customerId, cancellationToken);

        public async Task<IReadOnlyList<LedgerEntry>> ReadAsync(string customerId, long beforeSequence, int count, CancellationToken cancellationToken = default)
        {
            var page = await _inner.ReadAsync(customerId, beforeSequence, count, cancellationToken);
            // The checkpoint finishes while this read is in flight.
            await _inner.AppendAsync(customerId, [.. live.Ledger.Where(e => e.Sequence <= checkpointThrough)], cancellationToken);
            live.TrimArchivedLedger(checkpointThrough);
            return page;
        }
    }

    private static LedgerEntry Entry(long sequence) =>
        new(sequence, "earn", 1, sequence, $"e{sequence}", "", "v1", DateTimeOffset.UnixEpoch);

    [Fact]
    public async Task Entries_read_after_a_sequence_run_without_a_gap_while_a_checkpoint_trims_the_state_under_the_read()
    {
        // Entries 1..20 archived, 21..300 in the state; a watcher asks for everything after 10.
        var live = new CustomerState { CustomerId = "c", LedgerSeq = 300 };
        live.Ledger.AddRange(Enumerable.Range(21, 280).Select(i => Entry(i)));
        live.LedgerArchivedThrough = 20;
        var archive = new InterleavingArchive(live, checkpointThrough: 250);
        await archive.AppendAsync("c", [.. Enumerable.Range(1, 20).Select(i => Entry(i))]);

        var page = await new LedgerReader(archive).After(live, since: 10, through: 300, max: 500);

        Assert.Equal(Enumerable.Range(11, 290).Select(i => (long)i), page.Select(e => e.Sequence));
        Assert.Equal(251, live.Ledger[0].Sequence);   // the checkpoint did trim the state meanwhile
    }
}

using Loyalty.Domain.Customers;
using Loyalty.Grains.Journal;
using Orleans.Concurrency;

namespace Loyalty.Grains;

/// <summary>Reads the points-liability totals (docs/reports.md): the lasting totals of removed journals plus the head of
/// every journal in the directory. Any silo can answer; nothing is cached.</summary>
public interface ILiabilityGrain : IGrainWithIntegerKey
{
    Task<LiabilityTotals> Totals();
}

[StatelessWorker]
public sealed class LiabilityGrain(IJournalStore store) : Grain, ILiabilityGrain
{
    public Task<LiabilityTotals> Totals() => store.ReadLiabilityAsync(CancellationToken.None);
}

using System.Text.Json;
using Loyalty.Domain;
using Loyalty.Domain.Customers;
using Loyalty.TestKit;
using Xunit.Abstractions;

namespace Loyalty.Domain.Tests;

public sealed class StateSizeTests(ITestOutputHelper output)
{
    /// <summary>Azure Table storage holds 15 binary properties of 64 KB per entity; Azurite also refuses a request
    /// over 1 MiB, and binary travels as base64 (4/3): 700 KB leaves room for both.</summary>
    private const int EntityBudget = 700 * 1024;

    public static TheoryData<string> Fillers() => [.. WorstCase.Fillers];

    [Theory]
    [MemberData(nameof(Fillers))]
    public void Largest_possible_state_fits_one_azure_table_entity(string fill)
    {
        var limits = EngineLimits.Default;
        var program = Sample.Full; // rules included: granted rewards and perks take room too
        var state = new CustomerState();
        var now = new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
        foreach (var e in WorstCase.Events(WorstCase.CustomerId("domain"), now, limits, fill))
        {
            var result = CustomerEngine.Apply(state, e, program, now, limits);
            Assert.Equal(EventOutcome.Applied, result.Outcome);
            // What the grain does before each write: older ledger entries move to the archive.
            state.TrimArchivedLedger(state.LedgerToArchive(limits.LedgerKept).Through);
        }

        // Every bound is full.
        Assert.Equal(limits.InteractionsKept, state.Interactions.Count);
        Assert.Equal(limits.OrderLinesKept, state.Orders.Sum(o => o.Lines.Count));
        Assert.Equal(limits.OnceOnlyKept, state.Achievements.Count);
        Assert.Equal(limits.OnceOnlyKept, state.ResolvedCases.Count);
        Assert.Equal(limits.CategoryBucketsKept, state.Categories.Count);
        Assert.InRange(state.Seen.Count, limits.DedupeMaxIds * 9 / 10, limits.DedupeMaxIds);

        // The remembered ids' array has room for the bound and the one id added before each trim, no more.
        Assert.InRange(state.Seen.Capacity, state.Seen.Count, limits.DedupeMaxIds + 1);

        var bytes = JsonSerializer.SerializeToUtf8Bytes(state, DomainJson.Options);
        output.WriteLine($"worst-case serialized state with '{fill}': {bytes.Length} bytes");
        Assert.True(bytes.Length < EntityBudget, $"worst-case state is {bytes.Length} bytes");

        // Read back (the reader doubles its list up to 4,096 slots), the list keeps only what it holds, then grows to the bound.
        var read = JsonSerializer.Deserialize<CustomerState>(bytes, DomainJson.Options)!;
        Assert.Equal(read.Seen.Count, read.Seen.Capacity);
        var more = WorstCase.Events(WorstCase.CustomerId("domain"), now.AddMinutes(1), limits, fill).Last() with { EventId = "one-more", OccurredAt = now.AddMinutes(1) };
        Assert.Equal(EventOutcome.Applied, CustomerEngine.Apply(read, more, program, now.AddMinutes(1), limits).Outcome);
        Assert.InRange(read.Seen.Capacity, read.Seen.Count, limits.DedupeMaxIds + 1);
    }
}

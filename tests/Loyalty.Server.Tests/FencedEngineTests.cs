using Azure.Data.Tables;
using Loyalty.Contracts.V1;
using Loyalty.Grains.Journal;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>An engine whose journal recovery took (another silo took it for dead) acknowledges nothing more: it stops
/// with exit code 3 rather than stay up refusing every event, and started again it serves, its events all kept.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[RunsForAbout(15)]
public sealed class FencedEngineTests
{
    [Fact]
    public async Task An_engine_whose_journal_was_taken_by_recovery_stops_with_code_3_and_started_again_serves_with_nothing_lost()
    {
        await using var azurite = await AzuriteProcess.StartAsync();
        var customer = NewCustomer();
        long available;
        await using (var first = await ServerProcess.StartAsync(azurite.ConnectionString))
        {
            var applied = await first.Ingestion.PublishAsync(Req(Purchase(customer, "o-1", Line("ball", "sports", 2, 1999))));
            Assert.Equal(Outcome.Applied, applied.Outcome);
            available = applied.Customer.PointsAvailable;

            // What another silo's recovery does first: take the journal's head.
            var store = new AzureTableJournalStore(new TableServiceClient(azurite.ConnectionString), "LoyaltyJournal");
            var journal = Assert.Single(await store.ListAsync(default));
            Assert.True(await store.FenceAsync(journal.JournalId, "j-test-recoverer", default));

            // The idle writer's heartbeat (once a second) meets the taken head.
            Assert.Equal(FencedJournalStop.ExitCode, await first.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains($"Stopping: journal {journal.JournalId} was taken by recovery", first.Log, StringComparison.Ordinal);
        }

        await using var second = await ServerProcess.StartAsync(azurite.ConnectionString);
        var shown = await second.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = customer });
        Assert.Equal(available, shown.Summary.PointsAvailable);
        var again = await second.Ingestion.PublishAsync(Req(Purchase(customer, "o-2", Line("ball", "sports", 1, 1999))));
        Assert.Equal(Outcome.Applied, again.Outcome);
        Assert.True(again.Customer.PointsAvailable > available);
    }
}

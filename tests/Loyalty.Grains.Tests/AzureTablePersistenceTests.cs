using Azure.Data.Tables;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.TestKit;
using static Loyalty.Grains.Tests.TestEvents;

namespace Loyalty.Grains.Tests;

[Trait("Needs", "Azurite")]
[Collection(AzuriteClusterCollection.Name)]
public sealed class AzureTablePersistenceTests(AzuriteClusterFixture fixture)
{
    private DateTimeOffset Now => fixture.Time.GetUtcNow();

    [Fact]
    public async Task State_written_by_this_build_loads_again_after_a_full_cluster_restart()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        await grain.Apply([
            Purchase(id, "p1", Now, "o1", new LineItem("stroller", "baby", 1, 24999), new LineItem("ball", "sports", 2, 1999)),
            Game(id, "g1", Now, minutes: 30, difficulty: 3),
            new LoyaltyEvent { EventId = "s1", CustomerId = id, OccurredAt = Now, Payload = new SupportCase("case-1", SupportStatus.Resolved, SupportChannel.Human, 5, 2, 30) },
            new LoyaltyEvent { EventId = "u1", CustomerId = id, OccurredAt = Now, Payload = new ProfileUpdate("Ada", 1950, true, "Europe/Berlin") },
        ]);
        var before = await grain.Get();

        await fixture.RestartAsync();

        var after = await fixture.Customer(id).Get();
        Assert.NotNull(after);
        Assert.Equal(before!.Summary, after.Summary);
        Assert.Equal(before.Profile, after.Profile);
        Assert.Equal(before.Affinity, after.Affinity);
        // 249.99 baby x2 = 499 (499.98), 39.98 sports x1.5 = 59 (59.97) -> floor(559.95) = 559; 30 min x 3 = 90;
        // human resolution 100 + the sample's human-care-thanks rule (satisfaction 5 >= 4) 200
        Assert.Equal(559 + 90 + 100 + 200, after.Summary.PointsLifetime);
        Assert.Equal(before.Rewards, after.Rewards);
        Assert.Contains(after.Rewards, r => r.RewardId == "thank-you-coupon");
        Assert.Contains(after.Perks, p => p.Name == "priority_human_support" && p.UntilTicks is null); // aged 65+: green channel
        var replay = await fixture.Customer(id).Apply([Game(id, "g1", Now, minutes: 30, difficulty: 3)]);
        Assert.Equal(EventOutcome.Duplicate, replay[0].Outcome);
        Assert.Equal(90, replay[0].PointsDelta);
    }

    [Fact]
    public async Task Stored_state_is_readable_json_under_a_pinned_state_name_and_grain_type()
    {
        var id = NewCustomer();
        await fixture.Customer(id).Apply([Game(id, "g1", Now)]);
        // The state entity is a checkpoint, written lazily (at the latest when the customer deactivates, here at the
        // cluster's stop); the event itself is durable in the journal from the answer on.
        await fixture.RestartAsync();

        var table = new TableClient(fixture.Azurite.ConnectionString, "LoyaltyState");
        var rows = new List<TableEntity>();
        await foreach (var row in table.QueryAsync<TableEntity>())
        {
            rows.Add(row);
        }
        var mine = Assert.Single(rows, r => r.PartitionKey.Contains(id, StringComparison.Ordinal));
        Assert.Contains("customer", mine.PartitionKey + mine.RowKey, StringComparison.Ordinal);
        // Binary format (15 x 64 KB per entity); the bytes are the domain's UTF-8 JSON, deflated behind a header byte.
        var bytes = mine.Where(kv => kv.Value is byte[]).OrderBy(kv => kv.Key.Length).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .SelectMany(kv => (byte[])kv.Value).ToArray();
        Assert.Equal(DomainStateSerializer.Deflated, bytes[0]);
        var json = System.Text.Encoding.UTF8.GetString(DomainStateSerializer.Json(bytes));
        Assert.Contains("\"schema\":1", json, StringComparison.Ordinal);
        Assert.Contains($"\"id\":\"{id}\"", json, StringComparison.Ordinal);
    }
}

[Trait("Needs", "Azurite")]
[Collection(AzuriteClusterCollection.Name)]
public sealed class AzureTableLimitsTests(AzuriteClusterFixture fixture)
{
    [Fact]
    public async Task Largest_possible_state_is_written_to_azure_table_storage_and_loads_again()
    {
        var id = WorstCase.CustomerId(Guid.NewGuid().ToString("N")[..8]);
        // Surrogate pairs are stored escaped: the costliest characters (6 bytes of JSON each).
        var events = WorstCase.Events(id, fixture.Time.GetUtcNow(), EngineLimits.Default, fill: "😀");
        var grain = fixture.Customer(id);
        foreach (var chunk in events.Chunk(1000))
        {
            var results = await grain.Apply(chunk);
            Assert.All(results, r => Assert.Equal(EventOutcome.Applied, r.Outcome));
        }
        var before = await grain.Get();

        await fixture.Cluster.DeactivateAsync(grain);

        var after = await fixture.Customer(id).Get();
        Assert.Equal(before!.Summary, after!.Summary);
        Assert.Equal(events.Count, after.EventsApplied);
        var replay = await fixture.Customer(id).Apply([events[^1]]);
        Assert.Equal(EventOutcome.Duplicate, replay[0].Outcome);
    }
}

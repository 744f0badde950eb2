using Azure.Data.Tables;
using Loyalty.Grains.Webhooks;

namespace Loyalty.Grains.Tests;

/// <summary>The webhook outbox in Azure Table storage (Azurite): what a bucket reads back when it missed a hand-over.</summary>
[Trait("Needs", "Azurite")]
public sealed class AzureWebhookStoreTests(AzuriteFixture fixture) : IClassFixture<AzuriteFixture>
{
    [Fact]
    public async Task The_notices_a_bucket_missed_read_back_by_range_with_where_their_previous_notice_is()
    {
        var store = new AzureTableWebhookStore(new TableServiceClient(fixture.Azurite.ConnectionString), "W" + Guid.NewGuid().ToString("N")[..12]);
        var at = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        QueuedNotice Notice(string customer, long sequence, long after) => new(customer, sequence, "earn", "{}"u8.ToArray(), at, after);
        // Sequences 9 and 10 sort after 1 in the row keys only when padded: the range must hold by number.
        await store.EnqueueAsync("crm.000", [Notice("a", 1, 0), Notice("a", 2, 1), Notice("a", 9, 2), Notice("a", 10, 9), Notice("ab", 3, 2)]);

        var missed = await store.WaitingAsync("crm.000", "a", 1, 9);
        Assert.Equal([(2L, 1L), (9L, 2L)], missed.Select(n => (n.Sequence, n.After)));
        Assert.All(missed, n => Assert.Equal("a", n.CustomerId));
        Assert.Empty(await store.WaitingAsync("crm.000", "a", 10, 20));
        Assert.Equal([3L], (await store.WaitingAsync("crm.000", "ab", 0, 5)).Select(n => n.Sequence));
    }
}

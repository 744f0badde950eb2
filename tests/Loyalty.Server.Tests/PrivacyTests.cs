using System.Text.Json;
using Azure.Data.Tables;
using Grpc.Core;
using Loyalty.Contracts.V1;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[Collection(ServerCollection.Name)]
public sealed class PrivacyTests(ServerFixture fixture)
{
    [Fact]
    public async Task Export_returns_everything_and_erase_leaves_nothing_in_storage()
    {
        var id = NewCustomer();
        var profile = Base(id);
        profile.ProfileUpdate = new ProfileUpdate { DisplayName = "Ada", BirthYear = 1950 };
        await fixture.Server.Ingestion.PublishAsync(Req(profile));
        // Acknowledged means in the journal: a page (inflated) holds the customer's id and name.
        var journal = new TableClient(fixture.Azurite.ConnectionString, "LoyaltyJournal");
        var needle = System.Text.Encoding.UTF8.GetBytes(id);
        async Task<int> PagesMentioning()
        {
            var n = 0;
            await foreach (var row in journal.QueryAsync<TableEntity>(r => r.RowKey.CompareTo("b") >= 0 && r.RowKey.CompareTo("c") < 0))
            {
                n += PageBytes(row).AsSpan().IndexOf(needle) >= 0 ? 1 : 0;
            }
            return n;
        }
        Assert.True(await PagesMentioning() > 0, "the acknowledged profile update is not in any journal page");
        // 300 events: the ledger spills into its archive rows.
        for (var batch = 0; batch < 3; batch++)
        {
            var request = new PublishBatchRequest();
            request.Events.AddRange(Enumerable.Range(0, 100).Select(i => Game(id, minutes: 1, difficulty: 1, eventId: $"g{batch}-{i}")));
            await fixture.Server.Ingestion.PublishBatchAsync(request);
        }
        var customers = fixture.Server.Customers;

        var export = await customers.ExportCustomerAsync(new ExportCustomerRequest { CustomerId = id });
        using (var doc = JsonDocument.Parse(export.Json))
        {
            var state = doc.RootElement.GetProperty("state");
            Assert.Equal("Ada", state.GetProperty("profile").GetProperty("name").GetString());
            Assert.Equal(300, state.GetProperty("available").GetInt64());
            // 300 earn entries and the notice of the tier the customer reached.
            var entries = state.GetProperty("ledger").EnumerateArray().Concat(doc.RootElement.GetProperty("archivedLedger").EnumerateArray()).ToList();
            Assert.Equal(300, entries.Count(e => e.GetProperty("k").GetString() == "earn"));
            Assert.Equal(state.GetProperty("ledgerSeq").GetInt64(), entries.Count);
        }

        var ledgerTable = new TableClient(fixture.Azurite.ConnectionString, "LoyaltyLedger");
        var stateTable = new TableClient(fixture.Azurite.ConnectionString, "LoyaltyState");
        async Task<int> Rows(TableClient table, Func<TableEntity, bool> mine)
        {
            var n = 0;
            await foreach (var row in table.QueryAsync<TableEntity>())
            {
                n += mine(row) ? 1 : 0;
            }
            return n;
        }
        // The archive's partition key: "c" + base64url of the customer id.
        var partition = "c" + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(id)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        // The state entity is a checkpoint written lazily; whether it exists yet does not matter here.

        var erased = await customers.EraseCustomerAsync(new EraseCustomerRequest { CustomerId = id });
        Assert.True(erased.Erased);

        Assert.Equal(0, await Rows(ledgerTable, r => r.PartitionKey == partition));
        Assert.Equal(0, await Rows(stateTable, r => r.PartitionKey.Contains(id, StringComparison.Ordinal)));
        var gone = await Assert.ThrowsAsync<RpcException>(() => customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
        var again = await Assert.ThrowsAsync<RpcException>(() => customers.EraseCustomerAsync(new EraseCustomerRequest { CustomerId = id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, again.StatusCode);

        // The journal records that held the customer's events (names and all) are deleted too: the erase covers them,
        // and their batches go once every other customer in them has checkpointed (CheckpointAfter, 5 s in tests).
        var until = DateTime.UtcNow.AddSeconds(40);
        while (await PagesMentioning() > 0)
        {
            Assert.True(DateTime.UtcNow < until, "journal pages still hold the erased customer's records");
            await Task.Delay(500);
        }
    }

    /// <summary>A journal page's records as stored: properties D00, D01, ... concatenated, inflated when Z = 1; in a
    /// shared page row (key ending ".g"), each batch's property G00, G01, ... inflated (docs/journal.md), so the check
    /// looks at the content and not at compressed bytes.</summary>
    private static byte[] PageBytes(TableEntity page)
    {
        if (page.RowKey.EndsWith(".g", StringComparison.Ordinal))
        {
            return [.. page.Where(kv => kv.Key.Length == 3 && kv.Key[0] == 'G' && kv.Value is byte[]).SelectMany(kv => Inflate((byte[])kv.Value))];
        }
        var data = page.Where(kv => kv.Key.Length == 3 && kv.Key[0] == 'D' && kv.Value is byte[]).OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .SelectMany(kv => (byte[])kv.Value).ToArray();
        if (page.GetInt32("Z") != 1)
        {
            return data;
        }
        return Inflate(data);
    }

    private static byte[] Inflate(byte[] data)
    {
        using var inflate = new System.IO.Compression.DeflateStream(new MemoryStream(data), System.IO.Compression.CompressionMode.Decompress);
        using var output = new MemoryStream();
        inflate.CopyTo(output);
        return output.ToArray();
    }
}

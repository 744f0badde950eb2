using Azure.Data.Tables;
using Loyalty.Domain.Customers;
using Microsoft.Extensions.DependencyInjection;
using static Loyalty.Grains.Tests.TestEvents;

namespace Loyalty.Grains.Tests;

[Collection(MemoryClusterCollection.Name)]
public sealed class LedgerPagingTests(MemoryClusterFixture fixture)
{
    [Fact]
    public async Task A_long_ledger_moves_to_the_archive_and_pages_completely_newest_first()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        var now = fixture.Time.GetUtcNow();
        for (var batch = 0; batch < 10; batch++)
        {
            // 50 events per call, 1..3 minutes each: points 1..3 (x1 at Bronze; Silver's x1.25 floors 1->1, 2->2, 3->3)
            await grain.Apply([.. Enumerable.Range(batch * 50, 50).Select(i => Game(id, $"e{i}", now, minutes: 1 + i % 3))]);
        }
        await grain.Apply([Game(id, "last", now)]); // a write after the archiving trims the state

        var entries = new List<LedgerEntry>();
        string? token = null;
        do
        {
            var page = (await grain.ListLedger(37, token))!;
            entries.AddRange(page.Entries);
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        // 501 earn entries, plus the notices of the tiers the customer reached, all of them, newest first.
        Assert.Equal(Enumerable.Range(1, entries.Count).Reverse().Select(i => (long)i), entries.Select(e => e.Sequence));
        Assert.Equal(501, entries.Count(e => e.Kind == "earn"));
        var view = (await grain.Get())!;
        Assert.Equal(view.Summary.PointsAvailable, entries.Sum(e => e.Points));
        Assert.Equal(view.Summary.PointsAvailable, entries[0].BalanceAfter);
    }

    /// <summary>The ledger-tail backstop: records of many events make a checkpoint due (which moves the tail to the
    /// archive) long before the record count (200) or the age (60 s) would, once the tail passes the kept entries by 480.</summary>
    [Fact]
    public async Task Records_of_many_events_make_a_checkpoint_due_by_their_ledger_tail_past_480_entries()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        var now = fixture.Time.GetUtcNow();
        var archive = fixture.Cluster.GetSiloServiceProvider(fixture.Cluster.Silos[0].SiloAddress).GetRequiredService<ILedgerArchive>();
        async Task<bool> Archived() => (await archive.ReadAsync(id, long.MaxValue, 1)).Count > 0;
        var calls = 0;
        async Task Apply(int count)
        {
            for (var i = 0; i < count; i++, calls++)
            {
                await grain.Apply([.. Enumerable.Range(calls * 50, 50).Select(e => Game(id, $"e{e}", now))]);
            }
        }

        await Apply(9); // 9 records, ~450 entries: short of 16 + 480
        await Task.Delay(500);
        Assert.False(await Archived(), "a checkpoint came due before the ledger tail passed 480 entries");

        await Apply(3); // 12 records, ~600 entries
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await Archived() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        Assert.True(await Archived(), "no checkpoint moved the ledger tail to the archive");
    }
}

[Trait("Needs", "Azurite")]
[Collection(AzuriteClusterCollection.Name)]
public sealed class LedgerAzureArchiveTests(AzuriteClusterFixture fixture)
{
    [Fact]
    public async Task Archived_ledger_entries_are_rows_of_their_own_and_survive_a_restart()
    {
        var id = NewCustomer();
        var now = fixture.Time.GetUtcNow();
        for (var batch = 0; batch < 4; batch++)
        {
            await fixture.Customer(id).Apply([.. Enumerable.Range(batch * 50, 50).Select(i => Game(id, $"e{i}", now))]);
        }
        await fixture.Customer(id).Apply([Game(id, "last", now)]);
        // Entries move to the archive when a checkpoint is written (here at the latest on deactivation, at the stop).
        await fixture.RestartAsync();

        var rows = new List<TableEntity>();
        await foreach (var row in new TableClient(fixture.Azurite.ConnectionString, "LoyaltyLedger")
            .QueryAsync<TableEntity>(r => r.PartitionKey == AzureTableLedgerArchive.Partition(id)))
        {
            rows.Add(row);
        }
        // Many entries to a row (a deflated binary run in one property): far fewer rows than entries.
        Assert.All(rows, r => Assert.Null(r.GetBinary("E")));
        // An earlier build reads property Z (deflated JSON) and fails rather than take the row for something else.
        Assert.All(rows, r => Assert.ThrowsAny<System.Text.Json.JsonException>(() =>
            System.Text.Json.JsonSerializer.Deserialize<List<LedgerEntry>>(Deflation.Inflate(r.GetBinary("Z")!), Loyalty.Domain.DomainJson.Options)));
        var runs = rows.Select(r => LedgerBinary.Read(Deflation.Inflate(r.GetBinary(AzureTableLedgerArchive.Binary)!))).ToList();
        var archived = runs.Sum(r => r.Count);
        // Stored compact: the rows take a fraction of the entries' JSON.
        var stored = rows.Sum(r => r.GetBinary(AzureTableLedgerArchive.Binary)!.Length);
        var json = runs.Sum(r => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(r, Loyalty.Domain.DomainJson.Options).Length);
        Assert.True(stored * 6 < json, $"{stored} bytes stored for {json} bytes of JSON");
        Assert.True(archived >= 200 - 2 * EngineLimits.Default.LedgerKept, $"only {archived} archived entries");
        Assert.True(rows.Count < archived / 10, $"{rows.Count} rows for {archived} entries");

        var all = new List<LedgerEntry>();
        string? token = null;
        do
        {
            var page = (await fixture.Customer(id).ListLedger(100, token))!;
            all.AddRange(page.Entries);
            token = page.NextPageToken;
        }
        while (token.Length > 0);
        Assert.Equal(Enumerable.Range(1, 201).Reverse().Select(i => (long)i), all.Select(e => e.Sequence));
        Assert.Equal(201, all.Sum(e => e.Points));
    }
}

[Trait("Needs", "Azurite")]
[Collection(AzuriteClusterCollection.Name)]
public sealed class LedgerArchiveFormatTests(AzuriteClusterFixture fixture)
{
    [Fact]
    public async Task Rows_of_one_entry_plain_and_deflated_json_rows_written_by_earlier_builds_read_with_binary_rows_and_duplicates_count_once()
    {
        var service = new TableServiceClient(fixture.Azurite.ConnectionString);
        var tableName = "ArchiveFormat" + Guid.NewGuid().ToString("N")[..8];
        var archive = new AzureTableLedgerArchive(service, tableName);
        var customer = "c-format";
        LedgerEntry Entry(long seq) => new(seq, "earn", seq, seq * (seq + 1) / 2, $"e{seq}", "", "v1", DateTimeOffset.UnixEpoch.AddDays(20_000 + seq));
        // Yesterday's format: one entry per row, written by hand exactly as earlier builds did.
        await archive.AppendAsync(customer, [Entry(1)]); // creates the table
        await archive.DeleteAllAsync(customer);
        var table = service.GetTableClient(tableName);
        for (long seq = 1; seq <= 5; seq++)
        {
            var e = Entry(seq);
            await table.UpsertEntityAsync(new TableEntity(AzureTableLedgerArchive.Partition(customer), (long.MaxValue - seq).ToString("D19", System.Globalization.CultureInfo.InvariantCulture))
            {
                ["Kind"] = e.Kind, ["Points"] = e.Points, ["Balance"] = e.BalanceAfter, ["Event"] = e.EventKey, ["Rule"] = e.RuleId,
                ["Version"] = e.ProgramVersion, ["At"] = e.At, ["Pending"] = 0L, ["Note"] = "", ["Ref"] = "",
            });
        }
        // Today's format, including an overlap with what is already there (a retried checkpoint).
        await archive.AppendAsync(customer, [.. Enumerable.Range(4, 600).Select(i => Entry(i))]);
        await archive.AppendAsync(customer, [.. Enumerable.Range(4, 600).Select(i => Entry(i))]);
        // A stale writer that started elsewhere: its rows overlap the others inside their blocks.
        await archive.AppendAsync(customer, [.. Enumerable.Range(300, 101).Select(i => Entry(i))]);
        // Rows of the builds before deflated rows: a plain JSON array, here the run 600..610 (overlapping 600..603).
        var plain = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(Enumerable.Range(600, 11).Select(i => Entry(i)).ToList(), Loyalty.Domain.DomainJson.Options);
        await table.UpsertEntityAsync(new TableEntity(AzureTableLedgerArchive.Partition(customer),
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{long.MaxValue - (2 * 256 + 1):D19}.{long.MaxValue - 600:D19}.{long.MaxValue - 610:D19}")) { ["E"] = plain });
        // Rows of the builds before binary rows: a deflated JSON array, here the run 590..612 (overlapping both).
        var deflated = Deflation.Deflate(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(Enumerable.Range(590, 23).Select(i => Entry(i)).ToList(), Loyalty.Domain.DomainJson.Options));
        await table.UpsertEntityAsync(new TableEntity(AzureTableLedgerArchive.Partition(customer),
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{long.MaxValue - (2 * 256 + 1):D19}.{long.MaxValue - 590:D19}.{long.MaxValue - 612:D19}")) { ["Z"] = deflated });

        var all = new List<LedgerEntry>();
        var before = long.MaxValue;
        while (true)
        {
            var page = await archive.ReadAsync(customer, before, 97);
            if (page.Count == 0)
            {
                break;
            }
            all.AddRange(page);
            before = page[^1].Sequence;
        }
        Assert.Equal(Enumerable.Range(1, 612).Reverse().Select(i => (long)i), all.Select(e => e.Sequence));
        Assert.Equal(Entry(2), all.Single(e => e.Sequence == 2));
        Assert.Equal(Entry(300), all.Single(e => e.Sequence == 300));
        Assert.Equal(Entry(607), all.Single(e => e.Sequence == 607));
        Assert.Equal(Entry(612), all.Single(e => e.Sequence == 612));
        Assert.True(await archive.DeleteAllAsync(customer) > 0);
        Assert.Empty(await archive.ReadAsync(customer, long.MaxValue, 10));
    }
}

[Trait("Needs", "Azurite")]
[Collection(AzuriteClusterCollection.Name)]
public sealed class LedgerArchiveStaleWriterTests(AzuriteClusterFixture fixture)
{
    [Fact]
    public async Task A_stale_writers_shorter_run_from_the_same_first_entry_lands_last_and_every_entry_still_reads()
    {
        // A silo declared dead archived entries 1..40 at a checkpoint that storage answered late; recovery meanwhile
        // archived 1..300 from the same base. The late, shorter run must not take the longer one's place.
        var archive = new AzureTableLedgerArchive(new TableServiceClient(fixture.Azurite.ConnectionString), "StaleRuns" + Guid.NewGuid().ToString("N")[..8]);
        var customer = "c-stale";
        LedgerEntry Entry(long seq) => new(seq, "earn", 1, seq, $"e{seq}", "", "v1", DateTimeOffset.UnixEpoch.AddDays(20_000 + seq));
        await archive.AppendAsync(customer, [.. Enumerable.Range(1, 300).Select(i => Entry(i))]);
        await archive.AppendAsync(customer, [.. Enumerable.Range(1, 40).Select(i => Entry(i))]);
        await archive.AppendAsync(customer, [.. Enumerable.Range(257, 10).Select(i => Entry(i))]); // the same in the second block

        var read = await archive.ReadAsync(customer, long.MaxValue, 1000);
        Assert.Equal(Enumerable.Range(1, 300).Reverse().Select(i => (long)i), read.Select(e => e.Sequence));
        Assert.Equal(300, read.Sum(e => e.Points));
        Assert.True(await archive.DeleteAllAsync(customer) > 0);
    }

    /// <summary>Entries with long texts fill a row (60,000 bytes before deflating) before their block of 256 ends: the
    /// block takes several rows, each run starting afresh (its first entry relative to nothing), and every entry reads
    /// back equal, the ones that start a row included.</summary>
    [Fact]
    public async Task Entries_too_large_for_one_row_take_several_rows_of_their_block_and_each_reads_back_whole()
    {
        var service = new TableServiceClient(fixture.Azurite.ConnectionString);
        var tableName = "FullRows" + Guid.NewGuid().ToString("N")[..8];
        var archive = new AzureTableLedgerArchive(service, tableName);
        var customer = "c-full";
        // ~1.2 KB of text an entry (a note and a reference that differ each time, so nothing repeats): 256 of them do
        // not fit one row.
        LedgerEntry Entry(long seq) => new(seq, "adjust", seq % 7 - 3, 1_000 + seq, $"e{seq}", "", "v1", DateTimeOffset.UnixEpoch.AddDays(20_000).AddMinutes(seq))
        {
            Note = $"n{seq}-" + new string((char)('a' + seq % 26), 600),
            Ref = $"r{seq}-" + new string('é', 300),
        };
        var written = Enumerable.Range(1, 300).Select(i => Entry(i)).ToList();
        await archive.AppendAsync(customer, written);

        var rows = await service.GetTableClient(tableName).QueryAsync<TableEntity>($"PartitionKey eq '{AzureTableLedgerArchive.Partition(customer)}'").ToListAsync();
        Assert.True(rows.Count >= 6, $"{rows.Count} rows for 300 entries of ~1.2 KB");
        Assert.All(rows, r => Assert.NotNull(r.GetBinary(AzureTableLedgerArchive.Binary)));
        var read = await archive.ReadAsync(customer, long.MaxValue, 1000);
        Assert.Equal(written.AsEnumerable().Reverse(), read);
        Assert.True(await archive.DeleteAllAsync(customer) > 0);
    }

    /// <summary>An erase run twice at once (a retried call, two silos): the one whose delete finds rows gone already
    /// still ends, and nothing of the customer's archive is left.</summary>
    [Fact]
    public async Task An_archive_erased_twice_at_once_ends_without_error_and_leaves_nothing()
    {
        var table = "Erased" + Guid.NewGuid().ToString("N")[..8];
        var customer = "c-erased";
        LedgerEntry Entry(long seq) => new(seq, "earn", 1, seq, $"e{seq}", "", "v1", DateTimeOffset.UnixEpoch.AddDays(20_000 + seq));
        await new AzureTableLedgerArchive(new TableServiceClient(fixture.Azurite.ConnectionString), table).AppendAsync(customer, [.. Enumerable.Range(1, 300).Select(i => Entry(i))]);
        var hold = new HoldSecondWrite(batchesOnly: true);
        var options = new TableClientOptions();
        options.AddPolicy(hold, Azure.Core.HttpPipelinePosition.PerCall);
        var slow = new AzureTableLedgerArchive(new TableServiceClient(fixture.Azurite.ConnectionString, options), table);

        var erasing = slow.DeleteAllAsync(customer);   // its delete is held once it has listed the rows
        await hold.Halfway.WaitAsync(TimeSpan.FromSeconds(30));
        var other = new AzureTableLedgerArchive(new TableServiceClient(fixture.Azurite.ConnectionString), table);
        Assert.True(await other.DeleteAllAsync(customer) > 0);
        hold.Release();
        await erasing;
        Assert.Empty(await other.ReadAsync(customer, long.MaxValue, 1000));
    }
}

[Trait("Category", "Load")]
[Collection(MemoryClusterCollection.Name)]
public sealed class LongLedgerTests(MemoryClusterFixture fixture)
{
    [Fact]
    public async Task A_customer_with_100000_ledger_entries_pages_all_of_them_and_keeps_a_small_ledger_in_state()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        var start = fixture.Time.GetUtcNow().AddDays(-20);
        for (var batch = 0; batch < 100; batch++)
        {
            // Distinct occurred_at per event (the dedupe table keeps the newest 3,000 ids).
            await grain.Apply([.. Enumerable.Range(batch * 1000, 1000).Select(i => Game(id, $"e{i}", start.AddSeconds(i)))]);
        }

        var first = (await grain.ListLedger(1, null))!.Entries[0].Sequence;   // 100,000 earn entries + tier notices
        var expected = first;
        var seen = 0;
        long sum = 0;
        string? token = null;
        do
        {
            var page = (await grain.ListLedger(1000, token))!;
            foreach (var e in page.Entries)
            {
                Assert.Equal(expected--, e.Sequence);
                sum += e.Points;
                seen += e.Kind == "earn" ? 1 : 0;
            }
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        Assert.Equal(0, expected);
        Assert.Equal(100_000, seen);
        var view = (await grain.Get())!;
        Assert.Equal(view.Summary.PointsAvailable, sum);
        var exported = System.Text.Json.JsonDocument.Parse((await grain.Export())!);
        Assert.True(exported.RootElement.GetProperty("state").GetProperty("ledger").GetArrayLength() <= 2 * EngineLimits.Default.LedgerKept + 1000);
    }
}

/// <summary>A clock of its own: this test moves it through 27 years.</summary>
public sealed class LongHistoryClusterFixture : ClusterFixtureBase
{
    protected override LoyaltyStorageOptions Storage => new() { Provider = "Memory" };
}

[Trait("Category", "Load")]
public sealed class LongHistoryTests(LongHistoryClusterFixture fixture) : IClassFixture<LongHistoryClusterFixture>
{
    [Fact]
    public async Task A_customer_with_100000_ledger_entries_over_27_years_keeps_a_state_under_32_KB()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        // Ten game sessions a day for 10,000 days.
        for (var day = 0; day < 10_000; day++)
        {
            var now = fixture.Time.GetUtcNow();
            await grain.Apply([.. Enumerable.Range(0, 10).Select(i => Game(id, $"d{day}-{i}", now.AddMinutes(-i), minutes: 1 + i % 3))]);
            fixture.Time.Advance(TimeSpan.FromDays(1));
        }

        var expected = (await grain.ListLedger(1, null))!.Entries[0].Sequence;   // 100,000 earn entries + tier notices
        long sum = 0, earned = 0;
        string? token = null;
        do
        {
            var page = (await grain.ListLedger(1000, token))!;
            foreach (var e in page.Entries)
            {
                Assert.Equal(expected--, e.Sequence);
                sum += e.Total;
                earned += e.Kind == "earn" ? 1 : 0;
            }
            token = page.NextPageToken;
        }
        while (token.Length > 0);
        Assert.Equal(0, expected);
        Assert.Equal(100_000, earned);
        Assert.Equal((await grain.Get())!.Summary.PointsAvailable, sum);

        // The stored checkpoint is what must stay small: deactivate (which checkpoints) and read it back.
        await fixture.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var state = System.Text.Json.JsonDocument.Parse((await grain.Export())!).RootElement.GetProperty("state").GetRawText();
        var size = System.Text.Encoding.UTF8.GetByteCount(state);
        Assert.True(size < 32 * 1024, $"state is {size} bytes");
    }
}

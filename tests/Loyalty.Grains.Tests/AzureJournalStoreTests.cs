using Azure.Data.Tables;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Grains.Journal;
using Loyalty.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace Loyalty.Grains.Tests;

/// <summary>A real Azurite for the journal's storage layer.</summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    public AzuriteProcess Azurite { get; private set; } = null!;

    public async Task InitializeAsync() => Azurite = await AzuriteProcess.StartAsync();

    public async Task DisposeAsync() => await Azurite.DisposeAsync();
}

/// <summary>The journal in Azure Table storage: appends fenced by the head, outcomes resolved after failures, owner
/// marks, pages within the entity and property limits, and recovery reading back exactly what was appended.</summary>
[Trait("Needs", "Azurite")]
public sealed class AzureJournalStoreTests(AzuriteFixture fixture) : IClassFixture<AzuriteFixture>
{
    private AzureTableJournalStore NewStore(string table) => new(new TableServiceClient(fixture.Azurite.ConnectionString), table);

    private static string Table() => "J" + Guid.NewGuid().ToString("N")[..12];

    private static JournalRecord Record(string customer, long sequence, int payloadBytes = 0) =>
        new(customer, sequence, DateTimeOffset.UnixEpoch.AddDays(20_000), "v1",
            payloadBytes == 0
                ? new CustomerCommand { Kind = CommandKind.Adjust, Id = $"a{sequence}", Points = sequence, Text = "test" }
                : new CustomerCommand { Kind = CommandKind.Adjust, Id = $"a{sequence}", Points = sequence, Text = new string('x', payloadBytes) },
            null);

    [Fact]
    public async Task Appended_batches_read_back_in_order_and_the_directory_lists_the_journal()
    {
        var table = Table();
        var store = NewStore(table);
        await store.OpenAsync("j-a", "silo-a", default);
        await store.AppendAsync("j-a", 1, [Record("c1", 1), Record("c2", 1)], null, ["c1", "c2"], [], null, default);
        await store.AppendAsync("j-a", 2, [Record("c1", 2)], null, [], [], null, default);

        var records = await NewStore(table).ReadAllAsync("j-a", default);
        Assert.Equal(["c1#1", "c2#1", "c1#2"], records.Select(r => $"{r.CustomerId}#{r.Sequence}"));
        var listed = Assert.Single(await store.ListAsync(default));
        Assert.Equal(("j-a", "silo-a", 2L), (listed.JournalId, listed.Owner, listed.HeadBatch));
        Assert.True(await store.HasMarkAsync("j-a", "c1", default));
        Assert.False(await store.HasMarkAsync("j-a", "c3", default));

        await store.AppendAsync("j-a", 3, [], null, [], ["c1"], null, default);
        Assert.False(await store.HasMarkAsync("j-a", "c1", default));
        Assert.True(await store.HasMarkAsync("j-a", "c2", default));
    }

    [Fact]
    public async Task A_journal_taken_by_recovery_refuses_its_writer_and_the_writer_learns_it_is_fenced()
    {
        var table = Table();
        var writer = NewStore(table);
        await writer.OpenAsync("j-b", "silo-b", default);
        await writer.AppendAsync("j-b", 1, [Record("c1", 1)], null, ["c1"], [], null, default);

        // Another silo (its own store instance) takes the head: the dead silo's next append must fail.
        Assert.True(await NewStore(table).FenceAsync("j-b", "silo-r", default));
        await Assert.ThrowsAnyAsync<Exception>(() => writer.AppendAsync("j-b", 2, [Record("c1", 2)], null, [], [], null, default));
        await Assert.ThrowsAsync<JournalFencedException>(() => writer.ResolveAsync("j-b", 2, default));

        var records = await NewStore(table).ReadAllAsync("j-b", default);
        Assert.Equal([1L], records.Select(r => r.Sequence)); // what was refused is not there
    }

    [Fact]
    public async Task After_a_lost_answer_resolving_tells_stored_from_not_stored_and_a_not_stored_batch_can_never_land()
    {
        var table = Table();
        var store = NewStore(table);
        await store.OpenAsync("j-c", "silo-c", default);
        await store.AppendAsync("j-c", 1, [Record("c1", 1)], null, ["c1"], [], null, default);
        // Batch 1 is stored: resolving it says so.
        Assert.True(await store.ResolveAsync("j-c", 1, default));
        // Batch 2 never reached storage: resolving says not stored and moves the head, so a late copy of the request
        // (same If-Match ETag) cannot land afterwards.
        var head = await new TableClient(fixture.Azurite.ConnectionString, table).GetEntityAsync<TableEntity>("j-c", "head");
        Assert.False(await store.ResolveAsync("j-c", 2, default));
        var stale = new TableTransactionAction(TableTransactionActionType.UpdateMerge, new TableEntity("j-c", "head") { ["Batch"] = 2L }, head.Value.ETag);
        var lateAdd = new TableTransactionAction(TableTransactionActionType.Add, new TableEntity("j-c", "b0000000000000000002.00"));
        await Assert.ThrowsAsync<TableTransactionFailedException>(() =>
            new TableClient(fixture.Azurite.ConnectionString, table).SubmitTransactionAsync([stale, lateAdd]));
        // The writer goes on with batch 2 after the resolution.
        await store.AppendAsync("j-c", 2, [Record("c1", 2)], null, [], [], null, default);
        Assert.Equal([1L, 2L], (await store.ReadAllAsync("j-c", default)).Select(r => r.Sequence));
    }

    [Fact]
    public async Task A_two_megabyte_batch_of_large_records_fits_azure_limits_and_reads_back()
    {
        var table = Table();
        var store = NewStore(table);
        await store.OpenAsync("j-d", "silo-d", default);
        // 40 records of ~50 KB: pages of at most 960,000 bytes in 64,000-byte properties, one transaction.
        var records = Enumerable.Range(1, 40).Select(i => Record($"c{i}", 1, 50_000)).ToList();
        var encoded = EncodedRecords.Of(records);
        Assert.True(encoded.Length <= AzureTableJournalStore.MaxBatchBytes);
        await store.AppendAsync("j-d", 1, records, encoded, [], [], null, default);
        var back = await store.ReadAllAsync("j-d", default);
        Assert.Equal(records.Select(r => r.CustomerId), back.Select(r => r.CustomerId));
        Assert.All(back, r => Assert.Equal(50_000, r.Command.Text.Length));
    }

    /// <summary>A customer that reactivates on its silo before a checkpoint reads its uncovered records back from the
    /// journal: from every batch that holds one, in sequence order, only its own, and only those after its checkpoint. A
    /// record the journal no longer holds is an error, never a customer rebuilt without it.</summary>
    [Fact]
    public async Task Uncovered_records_are_read_back_from_their_batches_and_a_missing_one_is_an_error()
    {
        var table = Table();
        var store = NewStore(table);
        var writer = new JournalWriter(store, JournalOptions.Default, "j-u", NullLogger<JournalWriter>.Instance);
        await writer.StartAsync(default);
        for (var s = 1; s <= 4; s++)
        {
            // One append per sequence: the customer's records are spread over batches shared with another customer.
            await Task.WhenAll(writer.AppendAsync(Record("c", s, s * 100)), writer.AppendAsync(Record($"other-{s}", 1)));
        }
        var all = await writer.UncoveredAsync("c", 0, default);
        Assert.Equal([1L, 2, 3, 4], all.Select(r => r.Sequence));
        Assert.All(all, r => Assert.Equal("c", r.CustomerId));
        Assert.Equal(400, all[3].Command.Text.Length);
        writer.Covered("c", 2);
        Assert.Equal([3L, 4], (await writer.UncoveredAsync("c", 0, default)).Select(r => r.Sequence));
        Assert.Equal([4L], (await writer.UncoveredAsync("c", 3, default)).Select(r => r.Sequence));

        // The pages of record 3's batch disappear behind the writer's back.
        var rows = new TableClient(fixture.Azurite.ConnectionString, table);
        var pages = rows.QueryAsync<TableEntity>(e => e.PartitionKey == "j-u");
        var batchOf3 = new List<TableEntity>();
        await foreach (var page in pages)
        {
            if (page.RowKey.StartsWith('b') && AzureTableJournalStore.RecordsOf(page).Any(r => r.CustomerId == "c" && r.Sequence == 3))
            {
                batchOf3.Add(page);
            }
        }
        Assert.NotEmpty(batchOf3);
        foreach (var page in batchOf3)
        {
            await rows.DeleteEntityAsync(page.PartitionKey, page.RowKey);
        }
        var missing = await Assert.ThrowsAsync<InvalidOperationException>(() => writer.UncoveredAsync("c", 0, default));
        Assert.Contains("c#3", missing.Message, StringComparison.Ordinal);
        await writer.StopAsync(default);
    }

    [Fact]
    public async Task The_writer_packs_many_customers_into_few_requests_and_removes_a_fully_checkpointed_journal_at_stop()
    {
        var table = Table();
        var store = NewStore(table);
        var writer = new JournalWriter(store, JournalOptions.Default, "j-e", NullLogger<JournalWriter>.Instance);
        await writer.StartAsync(default);
        await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => writer.AppendAsync(Record($"c{i}", 1))));
        // 1,000 customers' records in few requests (any number of new owner marks share an append's mark rows); the
        // head counts appends (and the idle writer's heartbeats, one a second).
        var appends = Assert.Single(await store.ListAsync(default)).HeadBatch;
        Assert.InRange(appends, 1, 30);
        Assert.Equal(1000, (await store.ReadAllAsync("j-e", default)).Count);
        // The writer keeps where each uncovered record is, not its bytes: a reactivation reads it back from the journal,
        // and finds exactly its own record among the other customers' records of the same pages.
        for (var i = 0; i < 1000; i += 37)
        {
            Assert.Equal(JournalCodec.Encode(Record($"c{i}", 1)), JournalCodec.Encode(Assert.Single(await writer.UncoveredAsync($"c{i}", 0, default))));
        }
        Assert.Empty(await writer.UncoveredAsync("c7", 1, default));

        for (var i = 0; i < 1000; i++)
        {
            writer.Covered($"c{i}", 1);
        }
        Assert.Empty(await writer.UncoveredAsync("c7", 0, default));
        await writer.StopAsync(default);
        Assert.Empty(await store.ListAsync(default));
        Assert.Empty(await store.ReadAllAsync("j-e", default));
    }
    /// <summary>Truncation deletes the pages of batches this process appended by key, reading nothing back: a range query
    /// every round held up the appends behind it in the emulator (open-loop p99 of ~500 ms at 5,000 events/s). Batches it
    /// did not append (another process's) are still found by reading back.</summary>
    [Fact]
    public async Task Truncation_deletes_the_pages_it_appended_by_key_and_reads_back_only_the_pages_of_other_batches()
    {
        var table = Table();
        var requests = new RequestLog();
        var options = new TableClientOptions();
        options.AddPolicy(requests, Azure.Core.HttpPipelinePosition.PerCall);
        var store = new AzureTableJournalStore(new TableServiceClient(fixture.Azurite.ConnectionString, options), table);
        await store.OpenAsync("j-t", "silo-t", default);
        await store.AppendAsync("j-t", 1, [Record("c1", 1)], null, ["c1"], [], null, default);
        // Two records of 700 KB: two pages in one batch.
        await store.AppendAsync("j-t", 2, [Record("c1", 2, 700_000), Record("c2", 1, 700_000)], null, ["c2"], [], null, default);
        await store.AppendAsync("j-t", 3, [Record("c2", 2)], null, [], [], null, default);
        var client = new TableServiceClient(fixture.Azurite.ConnectionString).GetTableClient(table);
        async Task<List<string>> Pages() =>
            await client.QueryAsync<TableEntity>(e => e.PartitionKey == "j-t", select: ["RowKey"]).Select(e => e.RowKey).Where(k => k.StartsWith('b')).ToListAsync();
        Assert.Equal(4, (await Pages()).Count);

        requests.Clear();
        await store.DeleteBatchesAsync("j-t", [1, 2], default);
        Assert.Equal(["POST"], requests.Methods.Distinct()); // one transaction, no query
        Assert.Equal(["c2#2"], (await NewStore(table).ReadAllAsync("j-t", default)).Select(r => $"{r.CustomerId}#{r.Sequence}"));
        Assert.Single(await Pages());

        // Deleting again is harmless (rows already gone are left out), and another process, which never appended these
        // batches, reads their pages back to delete them.
        await store.DeleteBatchesAsync("j-t", [1, 2], default);
        await NewStore(table).DeleteBatchesAsync("j-t", [3], default);
        Assert.Empty(await Pages());
        Assert.True(await store.HasMarkAsync("j-t", "c2", default)); // the marks and the head are not pages
        Assert.Equal(3, Assert.Single(await store.ListAsync(default)).HeadBatch);
    }

    /// <summary>Small batches share page rows (up to 32 a row): the journal's partition holds a row per 32 small appends
    /// instead of one per append, and truncation deletes a row once for all of them. Recovery reads what it read before:
    /// every record in batch order, with a larger batch in rows of its own between shared rows. A batch reads back alone
    /// from its shared row, in this process and in another one. An earlier build, which knows only rows of pages,
    /// refuses a shared row rather than read it as a page without records.</summary>
    [Fact]
    public async Task Small_batches_share_page_rows_read_back_in_order_and_a_shared_row_goes_once_its_batches_are_covered()
    {
        var table = Table();
        var store = NewStore(table);
        await store.OpenAsync("j-s", "silo-s", default);
        var expected = new List<string>();
        for (var b = 1L; b <= 70; b++)
        {
            List<JournalRecord> records = b == 40
                ? [Record("big", b, 700_000), Record("big-2", b, 700_000)]
                : [Record($"c{b % 7}", b), Record("x", b)];
            await store.AppendAsync("j-s", b, records, null, [], [], null, default);
            expected.AddRange(records.Select(r => $"{r.CustomerId}#{r.Sequence}"));
        }
        static string Key(long batch, string suffix) => $"b{batch:D19}.{suffix}";
        var client = new TableClient(fixture.Azurite.ConnectionString, table);
        async Task<List<string>> Rows() =>
            await client.QueryAsync<TableEntity>(e => e.PartitionKey == "j-s", select: ["RowKey"]).Select(e => e.RowKey).Where(k => k.StartsWith('b')).ToListAsync();
        // 1-32 fill a row; 33-39 start the next, which batch 40 (two pages of its own) closes; 41-70 share a third.
        Assert.Equal([Key(1, "g"), Key(33, "g"), Key(40, "00"), Key(40, "01"), Key(41, "g")], await Rows());

        static IEnumerable<string> Names(IEnumerable<JournalRecord> records) => records.Select(r => $"{r.CustomerId}#{r.Sequence}");
        Assert.Equal(expected, Names(await NewStore(table).ReadAllAsync("j-s", default)));
        Assert.Equal(["c5#5", "x#5"], Names(await store.ReadBatchesAsync("j-s", [5], default)));
        Assert.Equal(["c3#45", "x#45", "c6#69", "x#69"], Names(await NewStore(table).ReadBatchesAsync("j-s", [45, 69], default)));
        Assert.Equal(["big#40", "big-2#40"], Names(await NewStore(table).ReadBatchesAsync("j-s", [40], default)));

        var sharedRow = (await client.GetEntityAsync<TableEntity>("j-s", Key(1, "g"))).Value;
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => JournalCodec.Read(AzureTableJournalStore.Unpage(sharedRow)));

        // A shared row stays while any batch in it is uncovered; once all are covered it goes, the open one included
        // (an erased customer's records must not wait for more traffic), and the next batch starts a new row.
        await store.DeleteBatchesAsync("j-s", [.. Enumerable.Range(1, 31).Select(b => (long)b)], default);
        Assert.Equal(5, (await Rows()).Count);
        await store.DeleteBatchesAsync("j-s", [.. Enumerable.Range(32, 9).Select(b => (long)b)], default);
        Assert.Equal([Key(41, "g")], await Rows());
        await store.DeleteBatchesAsync("j-s", [.. Enumerable.Range(41, 29).Select(b => (long)b)], default);
        await store.AppendAsync("j-s", 71, [Record("c", 71)], null, [], [], null, default);
        Assert.Equal([Key(41, "g")], await Rows());
        await store.DeleteBatchesAsync("j-s", [70, 71], default);
        Assert.Empty(await Rows());
        await store.AppendAsync("j-s", 72, [Record("c", 72)], null, [], [], null, default);
        Assert.Equal([Key(72, "g")], await Rows());
        Assert.Equal(["c#72"], Names(await NewStore(table).ReadAllAsync("j-s", default)));
    }

    /// <summary>A batch of one page whose records do not deflate into one property (64,000 bytes) gets a page row of its
    /// own, deflated once, and closes the open shared row: row keys stay in batch order.</summary>
    [Fact]
    public async Task A_one_page_batch_too_large_for_a_shared_slot_gets_a_page_row_of_its_own()
    {
        var table = Table();
        var store = NewStore(table);
        await store.OpenAsync("j-p", "silo-p", default);
        var noise = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(90_000));
        await store.AppendAsync("j-p", 1, [Record("a", 1)], null, [], [], null, default);
        await store.AppendAsync("j-p", 2, [Record("b", 1) with { Command = new CustomerCommand { Kind = CommandKind.Adjust, Id = "n", Points = 1, Text = noise } }], null, [], [], null, default);
        await store.AppendAsync("j-p", 3, [Record("a", 2)], null, [], [], null, default);

        var rows = await new TableClient(fixture.Azurite.ConnectionString, table).QueryAsync<TableEntity>(e => e.PartitionKey == "j-p", select: ["RowKey"])
            .Select(e => e.RowKey).Where(k => k.StartsWith('b')).ToListAsync();
        Assert.Equal([$"b{1:D19}.g", $"b{2:D19}.00", $"b{3:D19}.g"], rows);
        Assert.Equal(["a#1", "b#1", "a#2"], (await NewStore(table).ReadAllAsync("j-p", default)).Select(r => $"{r.CustomerId}#{r.Sequence}"));
        Assert.Equal(noise, Assert.Single(await NewStore(table).ReadBatchesAsync("j-p", [2], default)).Command.Text);
    }

    /// <summary>The HTTP method of every request a client sends.</summary>
    private sealed class RequestLog : Azure.Core.Pipeline.HttpPipelineSynchronousPolicy
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _methods = new();

        public IReadOnlyList<string> Methods => [.. _methods];

        public void Clear() => _methods.Clear();

        public override void OnSendingRequest(Azure.Core.HttpMessage message) => _methods.Enqueue(message.Request.Method.ToString());
    }

    /// <summary>Seen by a scan on another silo while a journal is halfway open, the journal must not look removed (listed
    /// without a head): recovery took such a journal for dead and removed it under its live writer, whose every append
    /// then failed, and the writer asked forever whether its first batch had landed (a cluster chaos run hung on it).</summary>
    [Fact]
    public async Task A_journal_halfway_open_is_never_listed_without_its_head()
    {
        var table = Table();
        await NewStore(table).ListAsync(default); // the table exists: opening writes only the journal's rows
        var hold = new HoldSecondWrite();
        var options = new TableClientOptions();
        options.AddPolicy(hold, Azure.Core.HttpPipelinePosition.PerCall);
        var opener = new AzureTableJournalStore(new TableServiceClient(fixture.Azurite.ConnectionString, options), table);

        var open = opener.OpenAsync("j-h", "silo-h", default);
        await hold.Halfway.WaitAsync(TimeSpan.FromSeconds(30));
        var listed = await NewStore(table).ListAsync(default);
        Assert.DoesNotContain(listed, j => j.HeadBatch < 0);
        hold.Release();
        await open;
        var journal = Assert.Single(await NewStore(table).ListAsync(default));
        Assert.Equal(("j-h", 0L), (journal.JournalId, journal.HeadBatch));
    }

    /// <summary>A journal that recovery removed is fenced for its writer: asking whether a batch landed answers so,
    /// rather than failing on the missing head for as long as the writer asks.</summary>
    [Fact]
    public async Task A_writer_whose_journal_was_removed_learns_it_is_fenced()
    {
        var table = Table();
        var writer = NewStore(table);
        await writer.OpenAsync("j-r", "silo-r", default);
        await writer.AppendAsync("j-r", 1, [Record("c1", 1)], null, ["c1"], [], null, default);

        await NewStore(table).RemoveAsync("j-r", default);
        await Assert.ThrowsAnyAsync<Exception>(() => writer.AppendAsync("j-r", 2, [Record("c1", 2)], null, [], [], null, default));
        await Assert.ThrowsAsync<JournalFencedException>(() => writer.ResolveAsync("j-r", 2, default));
        Assert.Empty(await NewStore(table).ReadAllAsync("j-r", default));
    }

    /// <summary>Two silos recovering one journal both remove it: the one whose deletes find rows already gone still
    /// ends (a chaos run logged "Journal recovery failed" on the 404 and closed its activation gate until a retry).</summary>
    [Fact]
    public async Task Removing_a_journal_that_another_silo_removed_meanwhile_ends_without_error()
    {
        var table = Table();
        var writer = NewStore(table);
        await writer.OpenAsync("j-x", "silo-x", default);
        for (var b = 1; b <= 3; b++)
        {
            await writer.AppendAsync("j-x", b, [Record($"c{b}", 1), Record($"d{b}", 1)], null, [$"c{b}", $"d{b}"], [], null, default);
        }
        var hold = new HoldSecondWrite(batchesOnly: true);
        var options = new TableClientOptions();
        options.AddPolicy(hold, Azure.Core.HttpPipelinePosition.PerCall);
        var slow = new AzureTableJournalStore(new TableServiceClient(fixture.Azurite.ConnectionString, options), table);

        var removing = slow.RemoveAsync("j-x", default);   // its deletes are held once it has listed the rows
        await hold.Halfway.WaitAsync(TimeSpan.FromSeconds(30));
        await NewStore(table).RemoveAsync("j-x", default);
        hold.Release();
        await removing;
        Assert.Empty(await NewStore(table).ListAsync(default));
        Assert.Empty(await NewStore(table).ReadAllAsync("j-x", default));
    }

    [Fact]
    public async Task Owner_marks_of_thousands_of_customers_take_at_most_one_row_per_bucket_and_read_back_from_another_silo()
    {
        var table = Table();
        var store = NewStore(table);
        await store.OpenAsync("j-m", "silo-a", default);
        var customers = Enumerable.Range(0, 2_000).Select(i => $"cust-{i}").ToArray();
        var batch = 0L;
        foreach (var chunk in customers.Chunk(95))
        {
            await store.AppendAsync("j-m", ++batch, [.. chunk.Select(c => Record(c, 1))], null, chunk, [], null, default);
        }
        await store.AppendAsync("j-m", ++batch, [], null, [], customers[..90], null, default);

        // Another silo's store, which knows the journal only from the directory.
        var other = NewStore(table);
        Assert.Single(await other.ListAsync(default));
        foreach (var customer in customers[..90])
        {
            Assert.False(await other.HasMarkAsync("j-m", customer, default));
        }
        foreach (var customer in customers[90..])
        {
            Assert.True(await other.HasMarkAsync("j-m", customer, default));
        }
        Assert.False(await other.HasMarkAsync("j-m", "cust-2000", default));
        var rows = new List<string>();
        await foreach (var row in new TableServiceClient(fixture.Azurite.ConnectionString).GetTableClient(table)
            .QueryAsync<TableEntity>(e => e.PartitionKey == "j-m", select: ["RowKey"]))
        {
            rows.Add(row.RowKey);
        }
        var markRows = rows.Where(r => r.StartsWith('k')).ToList();
        Assert.InRange(markRows.Count, MarkBuckets.Buckets - 10, MarkBuckets.Buckets);
        Assert.DoesNotContain(rows, r => r.StartsWith('m'));
    }

    [Fact]
    public async Task An_append_that_never_landed_leaves_the_mark_rows_as_they_were()
    {
        var table = Table();
        var store = NewStore(table);
        await store.OpenAsync("j-n", "silo-a", default);
        var first = "n-0";
        var bucket = MarkBuckets.BucketOf(MarkBuckets.KeyOf(first));
        var same = Enumerable.Range(1, 100_000).Select(i => $"n-{i}").Where(c => MarkBuckets.BucketOf(MarkBuckets.KeyOf(c)) == bucket).Take(2).ToArray();
        await store.AppendAsync("j-n", 1, [Record(first, 1)], null, [first], [], null, default);

        // Batch 2 fails before it is sent, and is resolved as not stored: its mark never counts.
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.AppendAsync("j-n", 2, [Record(same[0], 1)], null, [same[0]], [], null, cancelled.Token));
        Assert.False(await store.ResolveAsync("j-n", 2, default));
        // Batch 2 again, with another customer of the same bucket: the row it writes holds the first and this one only.
        await store.AppendAsync("j-n", 2, [Record(same[1], 1)], null, [same[1]], [], null, default);

        var other = NewStore(table);
        await other.ListAsync(default);
        Assert.True(await other.HasMarkAsync("j-n", first, default));
        Assert.False(await other.HasMarkAsync("j-n", same[0], default));
        Assert.True(await other.HasMarkAsync("j-n", same[1], default));
    }

    [Fact]
    public async Task A_journal_of_an_earlier_build_with_a_row_per_mark_still_tells_who_is_marked()
    {
        var table = Table();
        var client = new TableServiceClient(fixture.Azurite.ConnectionString).GetTableClient(table);
        await client.CreateAsync();
        // As earlier builds opened a journal and marked customer "old-1": no "Marks" in the directory row.
        await client.AddEntityAsync(new TableEntity("j-old", "head") { ["Owner"] = "silo-old", ["State"] = "open", ["Batch"] = 1L });
        await client.AddEntityAsync(new TableEntity(AzureTableJournalStore.DirectoryPartition, "j-old") { ["Owner"] = "silo-old" });
        await client.AddEntityAsync(new TableEntity("j-old", "m" + Convert.ToBase64String("old-1"u8.ToArray()).TrimEnd('=')));

        // Before the directory was read, and after.
        Assert.True(await NewStore(table).HasMarkAsync("j-old", "old-1", default));
        var store = NewStore(table);
        Assert.Single(await store.ListAsync(default));
        Assert.True(await store.HasMarkAsync("j-old", "old-1", default));
        Assert.False(await store.HasMarkAsync("j-old", "old-2", default));
    }
}

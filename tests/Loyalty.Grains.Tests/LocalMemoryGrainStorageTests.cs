using Loyalty.Domain.Customers;
using Orleans.Storage;

namespace Loyalty.Grains.Tests;

/// <summary>The memory provider keeps what was written in its stored form, with a real store's etags.</summary>
public sealed class LocalMemoryGrainStorageTests
{
    private static readonly GrainId Customer = GrainId.Create("customer", "c-1");

    [Fact]
    public async Task A_state_reads_back_as_written_not_as_the_written_object_became_later()
    {
        var storage = new LocalMemoryGrainStorage(new DomainStateSerializer());
        var written = new GrainState<CustomerState> { State = new CustomerState { CustomerId = "c-1", PointsAvailable = 40, Tier = "Gold" } };
        await storage.WriteStateAsync(CustomerGrain.StateName, Customer, written);

        // The writer goes on changing its object (a checkpoint's snapshot is the grain's to drop or reuse).
        written.State.PointsAvailable = 999;
        written.State.Ledger.Add(new LedgerEntry(1, "earn", 999, 999, "e-1", "r", "v1", DateTimeOffset.UnixEpoch));

        var read = new GrainState<CustomerState>();
        await storage.ReadStateAsync(CustomerGrain.StateName, Customer, read);
        Assert.True(read.RecordExists);
        Assert.Equal(written.ETag, read.ETag);
        Assert.NotSame(written.State, read.State);
        Assert.Equal(40, read.State!.PointsAvailable);
        Assert.Equal("Gold", read.State.Tier);
        Assert.Empty(read.State.Ledger);
    }

    [Fact]
    public async Task A_write_with_a_stale_etag_is_refused_and_changes_nothing()
    {
        var storage = new LocalMemoryGrainStorage(new DomainStateSerializer());
        var first = new GrainState<CustomerState> { State = new CustomerState { CustomerId = "c-1", PointsAvailable = 1 } };
        await storage.WriteStateAsync(CustomerGrain.StateName, Customer, first);
        var stale = new GrainState<CustomerState> { State = new CustomerState { CustomerId = "c-1", PointsAvailable = 2 }, ETag = "not-it" };

        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(CustomerGrain.StateName, Customer, stale));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(CustomerGrain.StateName, Customer,
            new GrainState<CustomerState> { State = new CustomerState() })); // a first write, but one is stored

        var read = new GrainState<CustomerState>();
        await storage.ReadStateAsync(CustomerGrain.StateName, Customer, read);
        Assert.Equal(1, read.State!.PointsAvailable);
        await storage.ClearStateAsync(CustomerGrain.StateName, Customer, read);
        var gone = new GrainState<CustomerState>();
        await storage.ReadStateAsync(CustomerGrain.StateName, Customer, gone);
        Assert.False(gone.RecordExists);
        Assert.Null(gone.ETag);
    }
}

public sealed class LongLivedBytesTests
{
    [Fact]
    public void A_copy_holds_the_same_bytes_on_the_heap_that_young_collections_do_not_copy()
    {
        var bytes = Enumerable.Range(0, 5_000).Select(i => (byte)i).ToArray();
        var kept = Grains.LongLivedBytes.Copy(bytes);

        Assert.Equal(bytes, kept);
        Assert.NotSame(bytes, kept);
        // An ordinary array this size starts young; one on the pinned heap is counted with the oldest generation.
        Assert.Equal(GC.MaxGeneration, GC.GetGeneration(kept));
    }

    [Fact]
    public void The_memory_store_keeps_plain_json_as_long_lived_bytes_and_the_durable_store_deflates()
    {
        var state = new CustomerState { CustomerId = "c-1", PointsAvailable = 40, Tier = "Gold" };

        var data = DomainStateSerializer.InMemory.Serialize(state);
        var durable = new DomainStateSerializer().Serialize(state).ToArray();

        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(data.ToMemory(), out var kept));
        Assert.Equal((byte)'{', kept.Array![0]);
        Assert.Equal(GC.MaxGeneration, GC.GetGeneration(kept.Array));
        Assert.Equal(DomainStateSerializer.Deflated, durable[0]);
        Assert.Equal(40, DomainStateSerializer.InMemory.Deserialize<CustomerState>(data).PointsAvailable);
        Assert.Equal(40, DomainStateSerializer.InMemory.Deserialize<CustomerState>(new BinaryData(durable)).PointsAvailable);
    }
}

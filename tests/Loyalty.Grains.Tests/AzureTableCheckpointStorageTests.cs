using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using Loyalty.Domain.Customers;
using static Loyalty.Grains.Tests.TestEvents;

namespace Loyalty.Grains.Tests;

[Trait("Needs", "Azurite")]
[Collection(AzuriteClusterCollection.Name)]
public sealed class AzureTableCheckpointStorageTests(AzuriteClusterFixture fixture)
{
    [Fact]
    public async Task A_customer_without_a_checkpoint_is_read_without_an_error_response()
    {
        var statuses = new Statuses();
        var storage = Storage(statuses);
        var state = new GrainState<CustomerState>();

        await storage.ReadStateAsync(CustomerGrain.StateName, GrainId.Create("customer", NewCustomer()), state);

        Assert.False(state.RecordExists);
        Assert.Null(state.ETag);
        Assert.NotNull(state.State);
        // A point read of a missing entity is answered 404, which the emulator serves on its costly error path.
        Assert.NotEmpty(statuses.Seen);
        Assert.All(statuses.Seen, status => Assert.Equal(200, status));
    }

    [Fact]
    public async Task A_checkpoint_written_by_the_engine_is_read_with_its_etag()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        await grain.Apply([Game(id, "g1", fixture.Time.GetUtcNow(), minutes: 30, difficulty: 3)]);
        var grainId = ((IAddressable)grain).GetGrainId();
        await fixture.RestartAsync(); // the checkpoint is written when the customer deactivates

        var storage = Storage(new Statuses());
        var state = new GrainState<CustomerState>();
        await storage.ReadStateAsync(CustomerGrain.StateName, grainId, state);

        Assert.True(state.RecordExists);
        Assert.Equal(id, state.State!.CustomerId);
        Assert.Equal(90, state.State.PointsLifetime);
        var stored = await Table().GetEntityAsync<TableEntity>(storage.PartitionKey(grainId), CustomerGrain.StateName);
        Assert.Equal(stored.Value.ETag.ToString(), state.ETag);
        // The engine writes with that etag: the next checkpoint after a restart succeeds.
        await fixture.Customer(id).Apply([Game(id, "g2", fixture.Time.GetUtcNow(), minutes: 10, difficulty: 1)]);
        await fixture.RestartAsync();
        await storage.ReadStateAsync(CustomerGrain.StateName, grainId, state);
        Assert.Equal(100, state.State!.PointsLifetime);
    }

    private AzureTableCheckpointStorage Storage(Statuses statuses)
    {
        var options = new TableClientOptions();
        options.AddPolicy(statuses, HttpPipelinePosition.PerRetry);
        var table = new TableClient(fixture.Azurite.ConnectionString, "LoyaltyState", options);
        return new AzureTableCheckpointStorage(new NoWrites(), table, fixture.Cluster.Options.ServiceId, new DomainStateSerializer());
    }

    private TableClient Table() => new(fixture.Azurite.ConnectionString, "LoyaltyState");

    private sealed class Statuses : HttpPipelineSynchronousPolicy
    {
        public List<int> Seen { get; } = [];

        public override void OnReceivedResponse(HttpMessage message)
        {
            lock (Seen)
            {
                Seen.Add(message.Response.Status);
            }
        }
    }

    private sealed class NoWrites : Orleans.Storage.IGrainStorage
    {
        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => throw new NotSupportedException();
        public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => throw new NotSupportedException();
        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => throw new NotSupportedException();
    }
}

using Loyalty.Domain.Customers;
using Loyalty.Domain.Programs;
using Loyalty.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Runtime.Hosting;
using Orleans.TestingHost;

namespace Loyalty.Grains.Tests;

/// <summary>A real in-process Orleans cluster running the customer grain with the sample program, a fake
/// clock, and the storage chosen by the subclass.</summary>
public abstract class ClusterFixtureBase : IAsyncLifetime
{
    private readonly string _serviceId = "loyalty-test-" + Guid.NewGuid().ToString("N")[..8];

    public FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);
    private ActiveProgram? _program;
    /// <summary>The program the silos start with (the sample program unless a fixture says otherwise).</summary>
    public ActiveProgram Program => _program ??= LoadProgram();

    protected virtual ActiveProgram LoadProgram() => ProgramLoader.LoadFile(RepoPaths.SampleProgram);

    protected virtual int SiloCount => 1;
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;

    protected virtual EngineLimits Limits => EngineLimits.Default;

    protected virtual Loyalty.Grains.Journal.JournalOptions JournalOptions => Loyalty.Grains.Journal.JournalOptions.Default;

    protected abstract LoyaltyStorageOptions Storage { get; }

    protected virtual Loyalty.Grains.Webhooks.WebhookOptions Webhooks => Loyalty.Grains.Webhooks.WebhookOptions.None;

    protected virtual void ConfigureSilo(ISiloBuilder silo)
    {
    }

    public ICustomerGrain Customer(string id) => Client.GetGrain<ICustomerGrain>(id);

    public virtual async Task InitializeAsync()
    {
        Cluster = BuildCluster();
        await Cluster.DeployAsync();
    }

    /// <summary>Stops every silo and starts a fresh cluster on the same storage (a full restart).</summary>
    public async Task RestartAsync()
    {
        await Cluster.DisposeAsync();
        Cluster = BuildCluster();
        await Cluster.DeployAsync();
    }

    private InProcessTestCluster BuildCluster()
    {
        var builder = new InProcessTestClusterBuilder((short)SiloCount);
        // Stored state is keyed by service id: a restarted cluster must keep it to find its customers.
        builder.Options.ServiceId = _serviceId;
        builder.ConfigureHost(host => host.Services.AddLoyaltySerialization());
        ConfigureBuilder(builder);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton(new EngineClock(Time));
            ConfigureSilo(silo);
            silo.AddLoyalty(Program, Storage, Limits, JournalOptions, Webhooks);
        });
        return builder.Build();
    }

    protected virtual void ConfigureBuilder(InProcessTestClusterBuilder builder)
    {
    }

    public virtual async Task DisposeAsync() => await Cluster.DisposeAsync();
}

/// <summary>Memory storage: for grain behaviour where storage is not the point.</summary>
public sealed class MemoryClusterFixture : ClusterFixtureBase
{
    protected override LoyaltyStorageOptions Storage => new() { Provider = "Memory" };
}

/// <summary>Checkpoint storage and journal that can be slowed and broken on demand; checkpoints after 5 records.</summary>
public sealed class FaultyClusterFixture : ClusterFixtureBase
{
    public FaultInjectingStorage Storage_ { get; } = new();

    public FaultInjectingJournalStore Journal { get; } = new();

    protected override LoyaltyStorageOptions Storage => new() { Provider = "External" };

    protected override Loyalty.Grains.Journal.JournalOptions JournalOptions => new()
    {
        CheckpointEveryRecords = 5, CheckpointAfter = TimeSpan.FromMilliseconds(500), TruncateEvery = TimeSpan.FromMilliseconds(200),
    };

    protected override void ConfigureSilo(ISiloBuilder silo)
    {
        silo.Services.AddGrainStorage(CustomerGrain.StorageName, (_, _) => Storage_);
        silo.Services.AddSingleton<Loyalty.Grains.Journal.IJournalStore>(Journal);
    }
}

/// <summary>Real Azure Table storage on a real Azurite started for this fixture.</summary>
public class AzuriteClusterFixture : ClusterFixtureBase
{
    private AzuriteProcess? _azurite;

    public AzuriteProcess Azurite => _azurite ?? throw new InvalidOperationException("not started");

    protected override LoyaltyStorageOptions Storage => new() { Provider = "AzureTable", ConnectionString = Azurite.ConnectionString, TableName = "LoyaltyState" };

    public override async Task InitializeAsync()
    {
        _azurite = await AzuriteProcess.StartAsync();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class MemoryClusterCollection : ICollectionFixture<MemoryClusterFixture>
{
    public const string Name = "memory cluster";
}

[CollectionDefinition(Name)]
public sealed class FaultyClusterCollection : ICollectionFixture<FaultyClusterFixture>
{
    public const string Name = "faulty storage cluster";
}

[CollectionDefinition(Name)]
public sealed class AzuriteClusterCollection : ICollectionFixture<AzuriteClusterFixture>
{
    public const string Name = "azurite cluster";
}

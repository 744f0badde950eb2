using Loyalty.Domain;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Programs;
using Loyalty.Grains.Journal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;

namespace Loyalty.Grains;

/// <summary>Where customer state lives. Azure Table storage is the default; memory only when asked for.</summary>
public sealed record LoyaltyStorageOptions
{
    /// <summary>"AzureTable" (default), "Memory" (explicit opt-in: state is lost on restart), or "External"
    /// (the host registers its own IGrainStorage named <see cref="CustomerGrain.StorageName"/>, e.g. a fault-injecting one in tests).</summary>
    public string Provider { get; init; } = "AzureTable";
    public string ConnectionString { get; init; } = "";
    public string TableName { get; init; } = "LoyaltyState";
    /// <summary>Table of archived ledger entries (one row per entry, partition per customer).</summary>
    public string LedgerTableName { get; init; } = "LoyaltyLedger";
    /// <summary>Table of the journal: every applied request as a record, many customers per storage request
    /// (docs/journal.md); customer state entities are checkpoints of it.</summary>
    public string JournalTableName { get; init; } = "LoyaltyJournal";
    /// <summary>Table of the webhook outbox: notices waiting for delivery and each customer's delivery cursor.</summary>
    public string WebhooksTableName { get; init; } = "LoyaltyWebhooks";
    /// <summary>Another storage account for the webhook outbox (empty: the same as <see cref="ConnectionString"/>), so
    /// delivery bookkeeping never competes with the journal for one account's request rate.</summary>
    public string WebhooksConnectionString { get; init; } = "";
    /// <summary>Table of the reminders that wake inactive customers when due work (activation, expiry) falls due.</summary>
    public string RemindersTableName { get; init; } = "LoyaltyReminders";
    /// <summary>Connections the silo opens to storage for customer data (checkpoints, journal, archive), shared by
    /// them. Thousands of customers arriving at once otherwise open thousands of connections, and the storage
    /// endpoint (Azurite above all) spends its time accepting them instead of answering. Membership and health checks
    /// have their own connections, so a busy data path never delays a heartbeat.</summary>
    public int MaxConnections { get; init; } = 64;

    private Azure.Core.Pipeline.HttpClientTransport? _transport;

    /// <summary>A client on the silo's shared, bounded connection pool for customer data.</summary>
    public Azure.Data.Tables.TableServiceClient DataClient()
    {
        if (MaxConnections < 1)
        {
            throw new InvalidOperationException($"Loyalty:Storage:MaxConnections must be at least 1, not {MaxConnections}");
        }
        _transport ??= new Azure.Core.Pipeline.HttpClientTransport(new System.Net.Http.SocketsHttpHandler
        {
            MaxConnectionsPerServer = MaxConnections,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        });
        return new Azure.Data.Tables.TableServiceClient(ConnectionString, new Azure.Data.Tables.TableClientOptions { Transport = _transport });
    }
}

public static class LoyaltySiloBuilderExtensions
{
    private const string CheckpointWriterName = "loyalty-checkpoint-writer";

    /// <summary>Domain values cross silos as JSON, so the domain library stays free of Orleans. Within a silo the
    /// immutable hot-path values are passed by reference (registered first, so it wins over the JSON copier).</summary>
    public static IServiceCollection AddLoyaltySerialization(this IServiceCollection services) =>
        services.AddSerializer(serializer =>
        {
            serializer.Services.AddSingleton<Orleans.Serialization.Cloning.IGeneralizedCopier, ImmutableDomainCopier>();
            serializer.AddJsonSerializer(
                isSupported: type => type.Namespace?.StartsWith("Loyalty.Domain", StringComparison.Ordinal) == true,
                jsonSerializerOptions: new System.Text.Json.JsonSerializerOptions(DomainJson.Options));
        });

    public static ISiloBuilder AddLoyalty(this ISiloBuilder silo, ActiveProgram program, LoyaltyStorageOptions storage, EngineLimits? limits = null,
        JournalOptions? journal = null, Webhooks.WebhookOptions? webhooks = null)
    {
        // Webhooks: stored ledger entries go to an outbox, and one grain per (endpoint, bucket) delivers them. The
        // host provides the sender (HTTP, signing, retries); without endpoints nothing is queued.
        silo.Services.AddSingleton((webhooks ?? Webhooks.WebhookOptions.None).Named());
        silo.Services.AddSingleton<Webhooks.WebhookOutbox>();
        silo.Services.AddSingleton<Webhooks.WebhookBoard>();
        silo.Services.TryAddSingleton<Webhooks.IWebhookSender, Webhooks.NoWebhookSender>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, Webhooks.WebhookStartup>();
        // The write path for every provider: a silo-wide journal writer (group commit across customers), recovery of
        // dead silos' journals before their customers answer again, and lazily written checkpoints.
        silo.Services.AddSingleton(journal ?? JournalOptions.Default);
        silo.Services.AddSingleton<JournalWriter>();
        silo.Services.AddSingleton<ICustomerJournal>(sp => sp.GetRequiredService<JournalWriter>());
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<JournalWriter>());
        silo.Services.AddSingleton<JournalRecovery>();
        silo.Services.AddSingleton<Customers.CheckpointSlots>();
        silo.Services.AddSingleton<RewardFeedPublisher>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<JournalRecovery>());
        silo.Services.AddSingleton<ProgramVersions>();
        // Lazy checkpoints rely on one activation per customer: the strongly consistent grain directory (Orleans 9+)
        // keeps that through membership changes, where the default one may briefly allow two.
#pragma warning disable ORLEANSEXP002, ORLEANSEXP003 // evaluation API; it is Orleans' own directory, opted into on purpose
        silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP002, ORLEANSEXP003
        silo.Services.AddLoyaltySerialization();
        silo.Services.AddSingleton<IProgramCatalog>(new ProgramCatalog(program));
        silo.Services.AddHostedService<ProgramRefresher>();
        silo.Services.AddSingleton<BudgetLeases>();
        silo.Services.AddHostedService(sp => sp.GetRequiredService<BudgetLeases>());
        silo.Services.AddSingleton(limits ?? EngineLimits.Default);
        silo.Services.TryAddSingleton(EngineClock.System);
        // The console's live view: this silo's counts, reported to the cluster-wide ILiveGrain.
        silo.Services.TryAddSingleton<LiveActivity>();
        silo.Services.AddHostedService<LiveReporter>();
        // Idle customers deactivate after a few minutes, so memory follows active customers rather than every customer
        // ever seen (their state is in storage; a reminder wakes those with due work).
        silo.Configure<Orleans.Configuration.GrainCollectionOptions>(options =>
            options.ClassSpecificCollectionAge[typeof(CustomerGrain).FullName!] = (limits ?? EngineLimits.Default).IdleCustomerDeactivation);

        switch (storage.Provider)
        {
            case "AzureTable":
                if (string.IsNullOrWhiteSpace(storage.ConnectionString))
                {
                    throw new InvalidOperationException(
                        "Loyalty:Storage:ConnectionString is required for Azure Table storage (set Loyalty:Storage:Provider=Memory to opt into volatile in-memory state).");
                }
                silo.Services.AddSingleton<ILedgerArchive>(new AzureTableLedgerArchive(storage.DataClient(), storage.LedgerTableName));
                silo.Services.AddSingleton<IJournalStore>(new AzureTableJournalStore(storage.DataClient(), storage.JournalTableName));
                silo.Services.AddSingleton<Webhooks.IWebhookStore>(new Webhooks.AzureTableWebhookStore(
                    storage.WebhooksConnectionString.Length > 0 ? new Azure.Data.Tables.TableServiceClient(storage.WebhooksConnectionString) : storage.DataClient(),
                    storage.WebhooksTableName));
                // Orleans' provider writes and deletes checkpoints; they are read as point queries (see the type).
                silo.AddAzureTableGrainStorage(CheckpointWriterName, options =>
                {
                    options.TableServiceClient = storage.DataClient();
                    options.TableName = storage.TableName;
                    // Binary holds 15 x 64 KB per entity; string format only half of that.
                    options.UseStringFormat = false;
                    // Erasing a customer deletes the entity rather than leaving an empty one behind.
                    options.DeleteStateOnClear = true;
                    options.GrainStorageSerializer = new DomainStateSerializer();
                });
                silo.Services.AddGrainStorage(CustomerGrain.StorageName, (services, _) => new AzureTableCheckpointStorage(
                    services.GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(CheckpointWriterName),
                    storage.DataClient().GetTableClient(storage.TableName),
                    services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Orleans.Configuration.ClusterOptions>>().Value.ServiceId,
                    new DomainStateSerializer()));
                // Reminders wake customers with due work (pending points, expiry, tier period ends) while inactive.
                silo.UseAzureTableReminderService(options =>
                {
                    options.TableServiceClient = new Azure.Data.Tables.TableServiceClient(storage.ConnectionString);
                    options.TableName = storage.RemindersTableName;
                });
                break;
            case "Memory":
                silo.Services.AddGrainStorage(CustomerGrain.StorageName, (_, _) => new LocalMemoryGrainStorage(DomainStateSerializer.InMemory));
                silo.Services.AddSingleton<ILedgerArchive, MemoryLedgerArchive>();
                silo.Services.AddSingleton<IJournalStore, MemoryJournalStore>();
                silo.Services.AddSingleton<Webhooks.IWebhookStore, Webhooks.MemoryWebhookStore>();
                silo.UseInMemoryReminderService();
                break;
            case "External":
                silo.Services.TryAddSingleton<ILedgerArchive, MemoryLedgerArchive>();
                silo.Services.TryAddSingleton<IJournalStore, MemoryJournalStore>();
                silo.Services.TryAddSingleton<Webhooks.IWebhookStore, Webhooks.MemoryWebhookStore>();
                // Reminders only wake customers early; every customer also catches up whenever it activates.
                silo.UseInMemoryReminderService();
                break;
            default:
                throw new InvalidOperationException($"Loyalty:Storage:Provider '{storage.Provider}' is unknown; use AzureTable, Memory or External.");
        }
        return silo;
    }
}

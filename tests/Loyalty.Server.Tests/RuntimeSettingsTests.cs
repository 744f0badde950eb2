using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Loyalty.Domain.Customers;

namespace Loyalty.Server.Tests;

/// <summary>The server's runtime settings (its runtimeconfig.json, built from Loyalty.Server.csproj) fit what a busy
/// customer's state holds.</summary>
public sealed class RuntimeSettingsTests
{
    private static JsonElement ConfigProperties()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Loyalty.Server.runtimeconfig.json");
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        return json.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").Clone();
    }

    [Fact]
    public void The_server_runs_server_GC_with_DATAS()
    {
        var config = ConfigProperties();
        Assert.True(config.GetProperty("System.GC.Server").GetBoolean());
        Assert.Equal(1, config.GetProperty("System.GC.DynamicAdaptationMode").GetInt32());
    }

    /// <summary>A busy customer's ledger list and remembered ids are young objects, not large ones: the arrays a list
    /// grows to (the ledger up to four times its usual 512 slots while a checkpoint is late, the ids' list doubling past
    /// the bound) all stay under the large-object threshold. A ledger whose checkpoints are further behind than that
    /// (4,096 entries, 786 KB, seen in closed-loop durable runs) is a large object again; durable `game` ran the same with
    /// the default threshold and with this one (docs/benchmarks.md, nineteenth session).</summary>
    [Fact]
    public void A_busy_customers_lists_are_below_the_large_object_threshold()
    {
        var threshold = ConfigProperties().GetProperty("System.GC.LOHThreshold").GetInt64();
        const int arrayHeader = 24;
        long ledger = 4L * CustomerState.LedgerGrowsTo * Unsafe.SizeOf<LedgerEntry>() + arrayHeader;
        long seen = (long)BitOperations.RoundUpToPowerOf2((uint)new EngineLimits().DedupeMaxIds + 1) * Unsafe.SizeOf<SeenEvent>() + arrayHeader;
        Assert.True(ledger < threshold, $"a ledger list of {4 * CustomerState.LedgerGrowsTo} entries is {ledger} bytes, over the {threshold}-byte threshold");
        Assert.True(seen < threshold, $"the remembered ids' array is {seen} bytes, over the {threshold}-byte threshold");
        // Not so large that every buffer of a journal flush or a checkpoint would be copied by young collections.
        Assert.InRange(threshold, 85_000, 1 << 20);
    }
}

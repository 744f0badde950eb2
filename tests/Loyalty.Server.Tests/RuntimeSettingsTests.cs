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

    /// <summary>A busy customer's ledger blocks and remembered ids are young objects, not large ones: a ledger block
    /// (however late its checkpoint, a ledger only adds blocks) and the array the ids' list doubles to past the bound
    /// stay under the large-object threshold (docs/benchmarks.md, nineteenth and twenty-second sessions).</summary>
    [Fact]
    public void A_busy_customers_lists_are_below_the_large_object_threshold()
    {
        var threshold = ConfigProperties().GetProperty("System.GC.LOHThreshold").GetInt64();
        const int arrayHeader = 24;
        long ledger = (long)LedgerList.BlockSize * Unsafe.SizeOf<LedgerEntry>() + arrayHeader;
        long seen = (long)BitOperations.RoundUpToPowerOf2((uint)new EngineLimits().DedupeMaxIds + 1) * Unsafe.SizeOf<SeenEvent>() + arrayHeader;
        Assert.True(ledger < threshold, $"a ledger block of {LedgerList.BlockSize} entries is {ledger} bytes, over the {threshold}-byte threshold");
        Assert.True(seen < threshold, $"the remembered ids' array is {seen} bytes, over the {threshold}-byte threshold");
        // Not so large that every buffer of a journal flush or a checkpoint would be copied by young collections.
        Assert.InRange(threshold, 85_000, 1 << 20);
    }
}

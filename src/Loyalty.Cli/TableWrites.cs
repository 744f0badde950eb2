using System.Diagnostics;
using Azure;
using Azure.Data.Tables;

namespace Loyalty.Cli;

/// <summary>
/// <c>loyalty bench table-writes</c>: the raw rate of single-entity writes the storage sustains, measured with the Azure
/// SDK and no engine in between (one upsert per "event", each to its own customer's partition, a state-sized binary
/// property). The engine's own figures are compared with this: group commit must beat one write per event.
/// </summary>
internal static class TableWrites
{
    public static async Task<int> RunAsync(BenchCommand.Options o, string connectionString, int entityBytes, bool json, CancellationToken ct)
    {
        var table = new TableClient(connectionString, $"LoyaltyBenchRaw{Guid.NewGuid():N}"[..36]);
        await table.CreateIfNotExistsAsync(ct);
        var stats = new BenchCommand.Stats();
        stats.MeasureFrom(Stopwatch.GetTimestamp() + (long)(o.Warmup.TotalSeconds * Stopwatch.Frequency));
        var watch = Stopwatch.StartNew();
        using var progress = new Timer(_ => stats.Progress(watch.Elapsed, json), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        var end = DateTime.UtcNow + o.Warmup + o.Duration;
        var payload = new byte[Math.Min(entityBytes, 64 * 1024)];
        Random.Shared.NextBytes(payload);
        try
        {
            await Task.WhenAll(Enumerable.Range(0, o.Concurrency).Select(worker => Task.Run(async () =>
            {
                var random = new Random(worker);
                long n = 0;
                while (DateTime.UtcNow < end && !ct.IsCancellationRequested)
                {
                    var started = Stopwatch.GetTimestamp();
                    var entity = new TableEntity($"c{random.Next(Math.Max(1, o.Customers))}", "state")
                    {
                        ["Data"] = payload,
                        ["Seq"] = n++,
                    };
                    try
                    {
                        await table.UpsertEntityAsync(entity, TableUpdateMode.Replace, ct);
                        stats.Acked(started, 1, 0);
                    }
                    catch (RequestFailedException e) when (!ct.IsCancellationRequested)
                    {
                        stats.Failed($"HTTP {e.Status}", 1);
                    }
                }
            }, ct)));
        }
        finally
        {
            await table.DeleteAsync(CancellationToken.None);
        }
        var wall = watch.Elapsed;
        stats.Report(o, wall > o.Warmup ? wall - o.Warmup : wall, wall, new Dictionary<string, double>(), new Dictionary<string, double>(), measuredWindow: false, 0, json);
        return stats.Events == 0 ? 1 : 0;
    }
}

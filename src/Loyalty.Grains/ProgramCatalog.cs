using Loyalty.Domain.Programs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Loyalty.Grains;

/// <summary>The silo-local copy of the active program: evaluating an event never needs a grain call.</summary>
public interface IProgramCatalog
{
    ActiveProgram Current { get; }

    /// <summary>Switches this silo to a program version (no-op when it is already active).</summary>
    void Activate(ActiveProgram program);
}

public sealed class ProgramCatalog(ActiveProgram initial) : IProgramCatalog
{
    private volatile ActiveProgram _current = initial;

    public ActiveProgram Current => _current;

    public void Activate(ActiveProgram program)
    {
        if (program.Version != _current.Version)
        {
            _current = program;
        }
    }
}

/// <summary>
/// Keeps this silo's <see cref="IProgramCatalog"/> on the published version: at start it seeds the program grain with
/// the configured program (only if nothing was ever published), then polls the active version every
/// <see cref="Interval"/> and loads a new one when it changes.
/// </summary>
public sealed class ProgramRefresher(IGrainFactory grains, IProgramCatalog catalog, ILogger<ProgramRefresher> logger) : BackgroundService
{
    public static TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var program = grains.GetGrain<IProgramGrain>(ProgramGrain.Key);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var seeded = await program.Seed(catalog.Current.DefinitionJson, "configuration");
                Load(seeded);
                break;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Could not reach the program grain yet; retrying");
                await Task.Delay(Interval, stoppingToken);
            }
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(Interval, stoppingToken).ConfigureAwait(false);
            try
            {
                var version = await program.GetActiveVersion();
                if (version is not null && version != catalog.Current.Version && await program.Get(version) is { } record)
                {
                    Load(record);
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Program refresh failed; keeping version {Version}", catalog.Current.Version);
            }
        }
    }

    private void Load(ProgramRecord record)
    {
        if (record.Version == catalog.Current.Version)
        {
            return;
        }
        catalog.Activate(ProgramLoader.Parse(record.Json, $"program version {record.Version}"));
        logger.LogInformation("Program version {Version} (#{Number}) is now active on this silo", record.Version, record.Number);
    }
}

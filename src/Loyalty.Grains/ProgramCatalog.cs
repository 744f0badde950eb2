using Loyalty.Domain.Programs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Loyalty.Grains;

/// <summary>The silo-local copy of the active program: evaluating an event never needs a grain call.</summary>
public interface IProgramCatalog
{
    ActiveProgram Current { get; }

    /// <summary>Completes once this silo has loaded the cluster's active version (not just its configured file).</summary>
    Task Ready { get; }

    /// <summary>Switches this silo to a program version (no-op when it is already active).</summary>
    void Activate(ActiveProgram program);

    void MarkReady();
}

public sealed class ProgramCatalog(ActiveProgram initial) : IProgramCatalog
{
    private volatile ActiveProgram _current = initial;

    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ActiveProgram Current => _current;

    public Task Ready => _ready.Task;

    public void MarkReady() => _ready.TrySetResult();

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

    private string? _refused;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var program = grains.GetGrain<IProgramGrain>(ProgramGrain.Key);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var seeded = await program.Seed(catalog.Current.DefinitionJson, "configuration");
                try
                {
                    Load(seeded);
                }
                catch (ProgramValidationException e)
                {
                    // A version stored by an older build that this build's stricter validation refuses.
                    logger.LogError("Active program version {Version} does not validate in this build ({Problem}); this silo keeps its configured program",
                        seeded.Version, e.Message);
                }
                catalog.MarkReady();
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
                if (version is not null && version != catalog.Current.Version && version != _refused && await program.Get(version) is { } record)
                {
                    try
                    {
                        Load(record);
                    }
                    catch (ProgramValidationException e)
                    {
                        _refused = version;
                        logger.LogError("Program version {Version} does not validate in this build ({Problem}); keeping {Current}",
                            version, e.Message, catalog.Current.Version);
                    }
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

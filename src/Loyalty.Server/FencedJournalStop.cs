using Loyalty.Grains.Journal;

namespace Loyalty.Server;

/// <summary>
/// Stops the engine when recovery took its journal. Another silo took this one for dead (the membership declared it,
/// or its journal looked abandoned) and rebuilt its customers: every event it took from then on would be refused, so
/// it reports not ready, stops, and exits with code 3. Started again, it opens a new journal and serves normally; an
/// orchestrator restarts it on its own.
/// </summary>
public sealed class FencedJournalStop(JournalWriter journal, IHostApplicationLifetime lifetime, ILogger<FencedJournalStop> logger) : BackgroundService
{
    public const int ExitCode = 3;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var fenced = await journal.Fenced.WaitAsync(stoppingToken);
        logger.LogCritical("Stopping: journal {JournalId} was taken by recovery ({Why}); this engine can acknowledge nothing more. Start it again: it opens a new journal",
            journal.JournalId, fenced.Message);
        Environment.ExitCode = ExitCode;
        lifetime.StopApplication();
    }
}

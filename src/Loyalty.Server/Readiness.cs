using Loyalty.Grains;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Runtime;

namespace Loyalty.Server;

/// <summary>Ready = this silo is active in the cluster, has the active program, is not shutting down, and storage
/// answers. Drives /readyz and the gRPC health service.</summary>
/// <remarks>The health-check service's own log (an error line per unhealthy check, every second) is filtered out; this
/// check logs when readiness changes instead: the normal states of starting and stopping at Information, anything
/// else at Warning.</remarks>
public sealed class ReadinessCheck(ISiloStatusOracle silo, IProgramCatalog programs, IHostApplicationLifetime lifetime, LoyaltySettings settings,
    ILogger<ReadinessCheck> logger)
    : IHealthCheck
{
    private string? _lastReported = "";
    private static readonly TimeSpan StorageTimeout = TimeSpan.FromSeconds(2);
    private readonly Azure.Data.Tables.TableServiceClient? _tables = settings.Storage.Provider == "AzureTable"
        ? new Azure.Data.Tables.TableServiceClient(settings.Storage.ConnectionString)
        : null;
    private (DateTime At, string? Problem) _lastStorageCheck = (DateTime.MinValue, null);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var result = await Check(cancellationToken);
        var problem = result.Status == HealthStatus.Healthy ? null : result.Description;
        if (!string.Equals(Interlocked.Exchange(ref _lastReported, problem), problem, StringComparison.Ordinal))
        {
            if (problem is null)
            {
                logger.LogInformation("Ready: {Description}", result.Description);
            }
            else if (problem is NotLoaded or ShuttingDown || problem.StartsWith("silo is ", StringComparison.Ordinal) && !lifetime.ApplicationStarted.IsCancellationRequested)
            {
                logger.LogInformation("Not ready: {Problem}", problem);
            }
            else
            {
                logger.LogWarning("Not ready: {Problem}", problem);
            }
        }
        return result;
    }

    private const string NotLoaded = "the active program is not loaded yet";
    private const string ShuttingDown = "shutting down";

    private async Task<HealthCheckResult> Check(CancellationToken cancellationToken)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy(ShuttingDown);
        }
        if (silo.CurrentStatus != SiloStatus.Active)
        {
            return HealthCheckResult.Unhealthy($"silo is {silo.CurrentStatus}, not active in the cluster");
        }
        if (!programs.Ready.IsCompleted)
        {
            return HealthCheckResult.Unhealthy(NotLoaded);
        }
        if (await StorageProblem(cancellationToken) is { } problem)
        {
            return HealthCheckResult.Unhealthy(problem);
        }
        return HealthCheckResult.Healthy($"silo {silo.SiloAddress} active, storage {settings.Storage.Provider} answers");
    }

    private async Task<string?> StorageProblem(CancellationToken cancellationToken)
    {
        if (_tables is null)
        {
            return null;
        }
        if (DateTime.UtcNow - _lastStorageCheck.At < TimeSpan.FromSeconds(2))
        {
            return _lastStorageCheck.Problem;
        }
        string? problem = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(StorageTimeout);
            await foreach (var _ in _tables.QueryAsync(maxPerPage: 1, cancellationToken: timeout.Token).AsPages(pageSizeHint: 1))
            {
                break;
            }
        }
        catch (Exception ex) when (ex is Azure.RequestFailedException or OperationCanceledException or AggregateException or HttpRequestException)
        {
            problem = $"storage does not answer: {ex.GetType().Name}";
        }
        _lastStorageCheck = (DateTime.UtcNow, problem);
        return problem;
    }
}

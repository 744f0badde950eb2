using System.Diagnostics.Metrics;
using Loyalty.Grains;
using Loyalty.Server.Application;

namespace Loyalty.Server.Reports;

/// <summary>
/// The points liability as Prometheus gauges (loyalty_points_outstanding and the rest), refreshed every 30 s off the
/// scrape path: a scrape reads the last report, never storage. Every silo exports the same cluster-wide figures (take
/// max() across instances, not sum()).
/// </summary>
public sealed class LiabilityGauges(LiabilityReportQuery query, ILogger<LiabilityGauges> logger) : BackgroundService
{
    public static readonly TimeSpan RefreshEvery = TimeSpan.FromSeconds(30);
    private static readonly Meter Meter = new(LoyaltyMetrics.MeterName);
    private static LiabilityReportQuery.Report? _last;

    static LiabilityGauges()
    {
        Meter.CreateObservableGauge("loyalty.points.outstanding", () => Read(r => r.Totals.Available + r.Totals.Pending), unit: "{point}",
            description: "Points available and pending across every customer (the points liability)");
        Meter.CreateObservableGauge("loyalty.points.available", () => Read(r => r.Totals.Available), unit: "{point}",
            description: "Spendable points across every customer");
        Meter.CreateObservableGauge("loyalty.points.pending", () => Read(r => r.Totals.Pending), unit: "{point}",
            description: "Points waiting out a return window, across every customer");
        Meter.CreateObservableGauge("loyalty.customers.with_balance", () => Read(r => r.Totals.CustomersWithBalance), unit: "{customer}",
            description: "Customers holding available or pending points");
        Meter.CreateObservableGauge("loyalty.points.outstanding_by_tier", () => _last is { } r
                ? r.Totals.Tiers.Select(t => new Measurement<long>(t.Value.Available + t.Value.Pending, new KeyValuePair<string, object?>("loyalty.tier", t.Key)))
                : [],
            unit: "{point}", description: "Points available and pending, by tier");
        Meter.CreateObservableGauge("loyalty.points.expiring", () => _last is { } r
                ? r.Expiring.Select(e => new Measurement<long>(e.Points, new KeyValuePair<string, object?>("loyalty.month", e.Month.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture))))
                : [],
            unit: "{point}", description: "Spendable points expiring in each of the next 12 months (UTC)");
    }

    private static IEnumerable<Measurement<long>> Read(Func<LiabilityReportQuery.Report, long> value) =>
        _last is { } r ? [new Measurement<long>(value(r))] : [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The silo starts first; a report before it is up would only fail.
        await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var today = DateOnly.FromDateTime(DateTime.UtcNow);
                _last = await query.GetAsync(today, today, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Could not refresh the points-liability gauges; they keep the last report");
            }
            await Task.Delay(RefreshEvery, stoppingToken);
        }
    }
}

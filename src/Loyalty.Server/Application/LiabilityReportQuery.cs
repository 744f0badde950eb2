using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Grains;

namespace Loyalty.Server.Application;

/// <summary>The points-liability report (docs/reports.md), once for every front end: the gRPC/JSON API, the CLI (through
/// it), the console and the Prometheus gauges. The sums come from the journals (<see cref="ILiabilityGrain"/>); this
/// shapes them for a moment and a date range.</summary>
public sealed class LiabilityReportQuery(IGrainFactory grains, EngineClock clock)
{
    public const int MonthsAhead = 12;
    public const int MaxDays = 3660;

    public sealed record Movements(DateOnly? Date, long Issued, long IssuedPending, long Redeemed, long Expired, long Adjusted, long Reversed,
        long Imported, long Erased, long Activated)
    {
        public static Movements Of(DateOnly? date, long[] f) => new(date,
            f[(int)LiabilityFlow.Earned] + f[(int)LiabilityFlow.EarnedPending], f[(int)LiabilityFlow.EarnedPending],
            -f[(int)LiabilityFlow.Spent], -f[(int)LiabilityFlow.Expired], f[(int)LiabilityFlow.Adjusted], -f[(int)LiabilityFlow.Reversed],
            f[(int)LiabilityFlow.Imported], -f[(int)LiabilityFlow.Erased], f[(int)LiabilityFlow.Activated]);
    }

    public sealed record Report(DateTimeOffset AsOf, LiabilityTotals Totals, IReadOnlyList<(DateOnly Month, long Points)> Expiring, long ExpiringLater,
        long ExpiringOverdue, DateOnly From, DateOnly To, IReadOnlyList<Movements> Days, Movements Period)
    {
        /// <summary>Expired / issued over the period; 0 when nothing was issued.</summary>
        public double Breakage => Period.Issued == 0 ? 0 : (double)Period.Expired / Period.Issued;
    }

    /// <summary>The range a request names (defaults: the 30 days up to today, UTC), or the field at fault.</summary>
    public FieldError? TryRange(string from, string to, out DateOnly start, out DateOnly end)
    {
        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        start = end = today;
        if (!TryParse(to, out var last) || !TryParse(from, out var first))
        {
            var field = TryParse(to, out _) ? "from" : "to";
            return new FieldError(field, $"'{Printable(field == "from" ? from : to)}' is not a date (YYYY-MM-DD)");
        }
        end = last ?? today;
        start = first ?? end.AddDays(-29);
        return start > end ? new FieldError("from", "is after to")
            : end.DayNumber - start.DayNumber >= MaxDays ? new FieldError("from", $"the range is longer than {MaxDays} days")
            : null;
    }

    private static bool TryParse(string value, out DateOnly? date)
    {
        date = null;
        if (value.Length == 0)
        {
            return true;
        }
        if (DateOnly.TryParseExact(value, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var d))
        {
            date = d;
            return true;
        }
        return false;
    }

    private static string Printable(string value) => value.Length > 20 ? value[..20] + "…" : value;

    public async Task<Report> GetAsync(DateOnly from, DateOnly to, CancellationToken cancellationToken)
    {
        var totals = await grains.GetGrain<ILiabilityGrain>(0).Totals().WaitAsync(cancellationToken);
        var now = clock.GetUtcNow();
        var thisMonth = LiabilityTotals.MonthOf(now.UtcTicks);
        var expiring = Enumerable.Range(thisMonth, MonthsAhead)
            .Select(m => (LiabilityTotals.FirstDayOfMonth(m), totals.Expiring.GetValueOrDefault(m))).ToList();
        var later = totals.Expiring.Where(e => e.Key >= thisMonth + MonthsAhead).Sum(e => e.Value);
        var overdue = totals.Expiring.Where(e => e.Key < thisMonth).Sum(e => e.Value);
        var days = new List<Movements>();
        var sum = new long[LiabilityTotals.FlowKinds];
        var first = LiabilityTotals.DayOf(new DateTimeOffset(from.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero));
        var last = LiabilityTotals.DayOf(new DateTimeOffset(to.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero));
        foreach (var (day, flows) in totals.Days)
        {
            if (day < first || day > last)
            {
                continue;
            }
            days.Add(Movements.Of(LiabilityTotals.DateOfDay(day), flows));
            for (var k = 0; k < Math.Min(flows.Length, sum.Length); k++)
            {
                sum[k] += flows[k];
            }
        }
        return new Report(now, totals, expiring, later, overdue, from, to, days, Movements.Of(null, sum));
    }
}

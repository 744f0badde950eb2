using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Loyalty.Server.Application;
using Loyalty.Server.Auth;
using Loyalty.Server.Services;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Reports;

/// <summary>Finance reports: an adapter over <see cref="LiabilityReportQuery"/>.</summary>
public sealed class ReportsService(LiabilityReportQuery query) : V1.Reports.ReportsBase
{
    [RpcPolicy(Scopes.Reports)]
    public override async Task<V1.PointsLiability> GetPointsLiability(V1.GetPointsLiabilityRequest request, ServerCallContext context)
    {
        if (query.TryRange(request.From, request.To, out var from, out var to) is { } invalid)
        {
            throw RpcErrors.InvalidArgument(invalid);
        }
        return ToProto(await query.GetAsync(from, to, context.CancellationToken));
    }

    public static V1.PointsLiability ToProto(LiabilityReportQuery.Report r)
    {
        var t = r.Totals;
        var proto = new V1.PointsLiability
        {
            AsOf = Timestamp.FromDateTimeOffset(r.AsOf),
            PointsAvailable = t.Available,
            PointsPending = t.Pending,
            PointsOutstanding = t.Available + t.Pending,
            Customers = t.Customers,
            CustomersWithBalance = t.CustomersWithBalance,
            ExpiringLater = r.ExpiringLater,
            ExpiringOverdue = r.ExpiringOverdue,
            From = Date(r.From),
            To = Date(r.To),
            Period = ToProto(r.Period),
            Breakage = r.Breakage,
        };
        proto.Tiers.AddRange(t.Tiers.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => new V1.TierLiability
        {
            Tier = x.Key, Customers = x.Value.Customers, CustomersWithBalance = x.Value.CustomersWithBalance,
            PointsAvailable = x.Value.Available, PointsPending = x.Value.Pending,
        }));
        proto.Expiring.AddRange(r.Expiring.Select(e => new V1.MonthExpiry { Month = e.Month.ToString("yyyy-MM", CultureInfo.InvariantCulture), Points = e.Points }));
        proto.Days.AddRange(r.Days.Select(ToProto));
        return proto;
    }

    private static V1.DayMovements ToProto(LiabilityReportQuery.Movements m) => new()
    {
        Date = m.Date is { } d ? Date(d) : "",
        Issued = m.Issued, IssuedPending = m.IssuedPending, Redeemed = m.Redeemed, Expired = m.Expired, Adjusted = m.Adjusted,
        Reversed = m.Reversed, Imported = m.Imported, Erased = m.Erased, Activated = m.Activated,
    };

    private static string Date(DateOnly d) => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}

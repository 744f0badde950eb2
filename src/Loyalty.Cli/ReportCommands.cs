using System.CommandLine;
using System.Globalization;
using Loyalty.Contracts.V1;

namespace Loyalty.Cli;

/// <summary><c>loyalty report liability</c>: the points the program owes, for finance.</summary>
internal static class ReportCommands
{
    public static Command Build()
    {
        var report = new Command("report", "Reports for finance (needs reports:read)");
        report.Subcommands.Add(Liability());
        return report;
    }

    private static Command Liability()
    {
        var from = new Option<string>("--from") { Description = "First day of the movements, YYYY-MM-DD (UTC; default: 30 days before --to)" };
        var to = new Option<string>("--to") { Description = "Last day of the movements, YYYY-MM-DD (UTC, inclusive; default: today)" };
        var liability = new Command("liability", "Outstanding points by tier, what expires when, and the movements and breakage of a period") { from, to };
        liability.SetAction((parse, ct) => CliApp.Run(parse, async (client, json) =>
        {
            var r = await new Reports.ReportsClient(client).GetPointsLiabilityAsync(new GetPointsLiabilityRequest
            {
                From = parse.GetValue(from) ?? "", To = parse.GetValue(to) ?? "",
            }, cancellationToken: ct);
            if (json)
            {
                return CliApp.Print(r);
            }
            Console.WriteLine($"Points liability as of {r.AsOf?.ToDateTimeOffset():u}");
            Console.WriteLine($"  outstanding  {N(r.PointsOutstanding)} points ({N(r.PointsAvailable)} available, {N(r.PointsPending)} pending)");
            Console.WriteLine($"  customers    {N(r.Customers)} ({N(r.CustomersWithBalance)} with a balance)");

            if (r.Tiers.Count > 0)
            {
                Console.WriteLine();
                Console.WriteLine($"  {"tier",-16} {"customers",12} {"with balance",14} {"available",16} {"pending",14}");
                foreach (var t in r.Tiers)
                {
                    Console.WriteLine($"  {t.Tier,-16} {N(t.Customers),12} {N(t.CustomersWithBalance),14} {N(t.PointsAvailable),16} {N(t.PointsPending),14}");
                }
            }

            Console.WriteLine();
            Console.WriteLine("  expiring (UTC months)");
            foreach (var m in r.Expiring)
            {
                Console.WriteLine($"    {m.Month,-9} {N(m.Points),16}");
            }
            Console.WriteLine($"    {"later",-9} {N(r.ExpiringLater),16}");
            // Past their expiry but still on the balances: the customers have not changed since (they catch up then).
            Console.WriteLine($"    {"overdue",-9} {N(r.ExpiringOverdue),16}");

            var p = r.Period ?? new DayMovements();
            Console.WriteLine();
            Console.WriteLine($"  movements {r.From} .. {r.To}");
            Console.WriteLine($"    issued    {N(p.Issued),16}{(p.IssuedPending != 0 ? $"  ({N(p.IssuedPending)} into pending)" : "")}");
            Console.WriteLine($"    activated {N(p.Activated),16}  (pending points that became spendable)");
            Console.WriteLine($"    redeemed  {N(p.Redeemed),16}");
            Console.WriteLine($"    expired   {N(p.Expired),16}");
            Console.WriteLine($"    adjusted  {Signed(p.Adjusted),16}");
            Console.WriteLine($"    reversed  {N(p.Reversed),16}");
            Console.WriteLine($"    imported  {N(p.Imported),16}");
            Console.WriteLine($"    erased    {N(p.Erased),16}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    breakage  {r.Breakage * 100,14:F2} %  (expired / issued)"));
            return 0;
        }));
        return liability;
    }

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Signed(long value) => value > 0 ? "+" + N(value) : N(value);
}

using System.Globalization;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Rules;

/// <summary>What a condition can look at: the event, the customer after the event's own effects, the program and the time.</summary>
public sealed class RuleContext
{
    public RuleContext(CustomerState state, LoyaltyEvent e, ActiveProgram program, DateTimeOffset now, long basePoints)
    {
        State = state;
        Event = e;
        Program = program;
        Now = now;
        BasePoints = basePoints;
        LocalNow = TimeZoneInfo.ConvertTime(now, program.TimeZone);
        LocalOccurred = TimeZoneInfo.ConvertTime(e.OccurredAt ?? now, program.TimeZone);
        Today = program.LocalDay(now);
    }

    public CustomerState State { get; }
    public LoyaltyEvent Event { get; }
    public ActiveProgram Program { get; }
    public DateTimeOffset Now { get; }
    public DateTimeOffset LocalNow { get; }
    public DateTimeOffset LocalOccurred { get; }
    public int Today { get; }
    /// <summary>Points the event earned under the base earning rules (after the tier multiplier).</summary>
    public long BasePoints { get; }

    public static long OrderValue(Purchase p) => p.Lines.Sum(l => l.UnitPriceMinor * l.Quantity);

    public string Money(long minor)
    {
        var unit = Program.Definition.MinorUnitsPerUnit;
        var decimals = unit switch { 1 => 0, 10 => 1, 100 => 2, _ => 3 };
        return ((decimal)minor / unit).ToString("F" + decimals, CultureInfo.InvariantCulture);
    }

    public long GameMinutes(int days) => State.Activity.Where(a => a.Day > Today - days).Sum(a => a.GameMinutes);

    public int SupportContacts(int days) => State.Activity.Where(a => a.Day > Today - days).Sum(a => a.SupportContacts);

    public bool HoldsPerk(string perk) =>
        State.Perks.Any(p => p.Name == perk && (p.UntilTicks is null || p.UntilTicks > Now.UtcTicks));

    /// <summary>(share, in-category amount, total amount) per the condition's basis and window.</summary>
    public (double Share, double InCategory, double Total) CategoryShare(CategoryShareAtLeast c)
    {
        var category = c.Category;
        double inCategory, total;
        if (c.Purchases is { } n)
        {
            var orders = State.Orders.TakeLast(n).ToList();
            var key = StoredKey.Of(category);
            inCategory = c.ByCount
                ? orders.Count(o => o.Spend.Any(s => s.Category == key))
                : orders.Sum(o => o.Spend.Where(s => s.Category == key).Sum(s => (double)s.ValueMinor));
            total = c.ByCount ? orders.Count : orders.Sum(o => o.Spend.Sum(s => (double)s.ValueMinor));
        }
        else
        {
            var from = Today - (c.Days ?? Program.Definition.History.AffinityWindowDays);
            if (c.ByCount)
            {
                var key = StoredKey.Of(category);
                var orders = State.Orders.Where(o => o.Day > from).ToList();
                inCategory = orders.Count(o => o.Spend.Any(s => s.Category == key));
                total = orders.Count;
            }
            else
            {
                var buckets = State.Categories.Where(b => b.Day > from).ToList();
                inCategory = buckets.Where(b => b.Category == category).Sum(b => (double)b.SpendMinor);
                total = buckets.Sum(b => (double)b.SpendMinor);
            }
        }
        return (total == 0 ? 0 : inCategory / total, inCategory, total);
    }
}

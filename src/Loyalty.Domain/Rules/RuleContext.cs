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

    private HashSet<string>? _purchaseCategories;

    /// <summary>The event's line categories, lower-cased (empty for other events).</summary>
    public HashSet<string> PurchaseCategories => _purchaseCategories ??= Event.Payload is Purchase p
        ? p.Lines.Select(l => l.Category.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal)
        : [];

    public string Money(long minor)
    {
        var unit = Program.Definition.MinorUnitsPerUnit;
        var decimals = unit switch { 1 => 0, 10 => 1, 100 => 2, _ => 3 };
        return ((decimal)minor / unit).ToString("F" + decimals, CultureInfo.InvariantCulture);
    }

    // Aggregates are computed once per event and window, however many rules ask: rule evaluation stays
    // proportional to the number of rules, not rules x history.
    private Dictionary<int, (long Minutes, int Contacts)>? _activity;
    private Dictionary<int, (Dictionary<string, double> ByCategory, double Total)>? _spend;

    public long GameMinutes(int days) => Activity(days).Minutes;

    public int SupportContacts(int days) => Activity(days).Contacts;

    private (long Minutes, int Contacts) Activity(int days)
    {
        _activity ??= [];
        if (!_activity.TryGetValue(days, out var totals))
        {
            var from = Today - days;
            foreach (var a in State.Activity)
            {
                if (a.Day > from)
                {
                    totals = (totals.Minutes + a.GameMinutes, totals.Contacts + a.SupportContacts);
                }
            }
            _activity[days] = totals;
        }
        return totals;
    }

    private (Dictionary<string, double> ByCategory, double Total) SpendByCategory(int days)
    {
        _spend ??= [];
        if (!_spend.TryGetValue(days, out var spend))
        {
            var from = Today - days;
            var byCategory = new Dictionary<string, double>(StringComparer.Ordinal);
            double total = 0;
            foreach (var b in State.Categories)
            {
                if (b.Day > from)
                {
                    byCategory[b.Category] = byCategory.GetValueOrDefault(b.Category) + b.SpendMinor;
                    total += b.SpendMinor;
                }
            }
            _spend[days] = spend = (byCategory, total);
        }
        return spend;
    }

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
                var spend = SpendByCategory(c.Days ?? Program.Definition.History.AffinityWindowDays);
                inCategory = spend.ByCategory.GetValueOrDefault(category);
                total = spend.Total;
            }
        }
        return (total == 0 ? 0 : inCategory / total, inCategory, total);
    }
}

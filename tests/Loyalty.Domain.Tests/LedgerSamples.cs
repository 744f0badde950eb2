using Loyalty.Domain.Customers;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

/// <summary>Ledger entries for the tests of their stored forms (JSON written by hand, the archive's binary runs).</summary>
internal static class LedgerSamples
{
    /// <summary>Text a stored form must carry unchanged: quotes, markup, escapes, control characters, CJK, an emoji.</summary>
    public const string Odd = "Zoë \"quoted\" <b>&amp;</b> \\ 日本語 \u0001\t\n 😀 '";

    /// <summary>An instant with ticks below the second and an offset of −3:30.</summary>
    public static readonly DateTimeOffset OddInstant = new DateTimeOffset(2026, 12, 6, 9, 30, 15, TimeSpan.FromHours(-3.5)).AddTicks(7);

    /// <summary>The real entries of a purchase, a game session and a partial refund (at least three).</summary>
    public static List<LedgerEntry> Applied()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("bib", "baby", 2, 1000), Line("ball", "sports", 1, 2000)));
        customer.Earn(Game(600, 3));
        customer.Earn(Refund("o-1", Line("bib", "baby", 1, 1000)));
        var entries = customer.State.Ledger.ToList();
        Assert.True(entries.Count >= 3);
        return entries;
    }
}

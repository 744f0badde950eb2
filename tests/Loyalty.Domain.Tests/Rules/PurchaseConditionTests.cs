using static Loyalty.Domain.Tests.Pay;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>Purchase conditions. Rules see the customer as the event left them, so the purchase being evaluated
/// counts in its own category affinity.</summary>
public class PurchaseConditionTests
{
    [Theory]
    [InlineData("baby", true)]
    [InlineData("BaBy", true)]   // categories ignore case, in the event and in the program ("Baby")
    [InlineData("toys", true)]
    [InlineData("books", false)]
    public void CategoryIn_holds_when_any_line_is_in_a_listed_category(string category, bool fires)
    {
        var customer = CustomerWhen("""{ "categoryIn": ["Baby", "toys"] }""");

        Assert.Equal(fires, customer.Fires(Buy("o-1", Line("novel", "books", 1, 1000), Line("x", category, 1, 100))));
    }

    [Fact]
    public void CategoryIn_does_not_hold_for_other_event_kinds()
    {
        Assert.False(CustomerWhen("""{ "categoryIn": ["baby"] }""").Fires(Game(600, 1)));
    }

    [Theory]
    [InlineData(1, 5000, true)]   // exactly 50.00
    [InlineData(2, 2500, true)]   // 2 x 25.00 = 50.00: quantity counts
    [InlineData(1, 4999, false)]  // 49.99
    [InlineData(3, 1666, false)]  // 3 x 16.66 = 49.98
    public void OrderValueAtLeast_compares_the_sum_of_quantity_times_unit_price(int quantity, long unitPriceMinor, bool fires)
    {
        var customer = CustomerWhen("""{ "orderValueAtLeast": 5000 }""");

        Assert.Equal(fires, customer.Fires(Buy("o-1", Line("x", "books", quantity, unitPriceMinor))));
    }

    [Fact]
    public void OrderValueAtLeast_does_not_hold_for_other_event_kinds()
    {
        Assert.False(CustomerWhen("""{ "orderValueAtLeast": 0 }""").Fires(Match(1, 2)));
    }

    [Theory]
    [InlineData(3, true)]
    [InlineData(4, true)]
    [InlineData(2, false)]
    public void LineCountAtLeast_counts_the_lines_of_the_order(int lines, bool fires)
    {
        var customer = CustomerWhen("""{ "lineCountAtLeast": 3 }""");
        var items = Enumerable.Range(1, lines).Select(i => Line($"sku-{i}", "books", 1, 100)).ToArray();

        Assert.Equal(fires, customer.Fires(Buy("o-1", items)));
    }

    [Theory]
    [InlineData(4000, true)]   // 40.00 / (60.00 + 40.00) = 0.4 exactly
    [InlineData(3999, false)]  // 39.99 / 99.99 = 0.39994
    public void CategoryShareAtLeast_by_spend_over_days_includes_the_purchase_itself(long babyMinor, bool fires)
    {
        var customer = CustomerWhen("""{ "categoryShareAtLeast": { "category": "baby", "share": 0.4, "days": 30 } }""");
        Assert.False(customer.Fires(Buy("o-1", Line("novel", "books", 1, 6000))));  // 0 / 60.00
        customer.Clock.Advance(TimeSpan.FromDays(10));

        Assert.Equal(fires, customer.Fires(Buy("o-2", Line("bib", "baby", 1, babyMinor))));
    }

    [Theory]
    // 100.00 in books 40 days ago, then 10.00 in baby today.
    [InlineData("\"days\": 30", true)]   // only today's purchase is in the window: 10.00 / 10.00 = 1
    [InlineData("\"days\": 60", false)]  // 10.00 / 110.00 = 0.09
    [InlineData("\"days\": 41", false)]  // the window reaches back 40 days: 0.09
    [InlineData("\"days\": 40", true)]   // the day 40 days back is just outside: 1
    public void CategoryShareAtLeast_by_spend_only_looks_at_the_last_n_program_days(string window, bool fires)
    {
        var customer = CustomerWhen($$"""{ "categoryShareAtLeast": { "category": "baby", "share": 0.5, {{window}} } }""");
        customer.Applied(Buy("o-1", Line("atlas", "books", 1, 10_000)));
        customer.Clock.Advance(TimeSpan.FromDays(40));

        Assert.Equal(fires, customer.Fires(Buy("o-2", Line("bib", "baby", 1, 1000))));
    }

    [Fact]
    public void CategoryShareAtLeast_without_a_window_uses_the_programs_affinity_window()
    {
        // Sample: affinityWindowDays 90. 100.00 books 40 days ago is inside: 10.00 / 110.00 = 0.09 < 0.5.
        var customer = CustomerWhen("""{ "categoryShareAtLeast": { "category": "baby", "share": 0.5 } }""");
        customer.Applied(Buy("o-1", Line("atlas", "books", 1, 10_000)));
        customer.Clock.Advance(TimeSpan.FromDays(40));
        Assert.False(customer.Fires(Buy("o-2", Line("bib", "baby", 1, 1000))));

        // 91 days after o-1 it has left the 90-day window: (10.00 + 10.00) / 20.00 in baby = 1.
        customer.Clock.Advance(TimeSpan.FromDays(51));
        Assert.True(customer.Fires(Buy("o-3", Line("bib", "baby", 1, 1000))));
    }

    [Fact]
    public void CategoryShareAtLeast_by_count_counts_orders_with_a_line_in_the_category()
    {
        var customer = CustomerWhen("""{ "categoryShareAtLeast": { "category": "baby", "share": 0.5, "basis": "count", "days": 30 } }""");

        Assert.False(customer.Fires(Buy("o-1", Line("atlas", "books", 1, 10_000))));                             // 0 of 1
        Assert.True(customer.Fires(Buy("o-2", Line("bib", "baby", 1, 100), Line("novel", "books", 1, 9_900)))); // 1 of 2 = 0.5
        Assert.False(customer.Fires(Buy("o-3", Line("atlas-2", "books", 1, 10_000))));                         // 1 of 3
        Assert.True(customer.Fires(Buy("o-4", Line("bib-2", "baby", 1, 100))));                                 // 2 of 4 = 0.5
    }

    [Fact]
    public void CategoryShareAtLeast_by_spend_on_the_same_history_does_not_hold()
    {
        var customer = CustomerWhen("""{ "categoryShareAtLeast": { "category": "baby", "share": 0.5, "basis": "spend", "days": 30 } }""");
        customer.Applied(Buy("o-1", Line("atlas", "books", 1, 10_000)));
        customer.Applied(Buy("o-2", Line("bib", "baby", 1, 100), Line("novel", "books", 1, 9_900)));
        customer.Applied(Buy("o-3", Line("atlas-2", "books", 1, 10_000)));

        // 2.00 in baby of 301.00 spent = 0.007: the basis matters.
        Assert.False(customer.Fires(Buy("o-4", Line("bib-2", "baby", 1, 100))));
    }

    [Fact]
    public void CategoryShareAtLeast_over_the_last_n_purchases_ignores_older_ones()
    {
        var customer = CustomerWhen("""{ "categoryShareAtLeast": { "category": "sports", "share": 0.5, "purchases": 2 } }""");

        Assert.False(customer.Fires(Buy("o-1", Line("atlas", "books", 1, 30_000))));  // [o-1]: 0 / 300.00
        Assert.False(customer.Fires(Buy("o-2", Line("ball", "sports", 1, 5_000))));   // [o-1, o-2]: 50.00 / 350.00 = 0.14
        Assert.True(customer.Fires(Buy("o-3", Line("novel", "books", 1, 5_000))));    // [o-2, o-3]: 50.00 / 100.00 = 0.5
        Assert.False(customer.Fires(Buy("o-4", Line("novel-2", "books", 1, 5_000)))); // [o-3, o-4]: 0
    }

    [Fact]
    public void CategoryShareAtLeast_over_days_on_the_same_history_does_not_hold()
    {
        var customer = CustomerWhen("""{ "categoryShareAtLeast": { "category": "sports", "share": 0.5, "days": 30 } }""");
        customer.Applied(Buy("o-1", Line("atlas", "books", 1, 30_000)));
        customer.Applied(Buy("o-2", Line("ball", "sports", 1, 5_000)));

        // 50.00 / 400.00 = 0.125 over the days; the last two purchases alone would give 0.5.
        Assert.False(customer.Fires(Buy("o-3", Line("novel", "books", 1, 5_000))));
    }

    [Fact]
    public void CategoryShareAtLeast_by_count_over_the_last_n_purchases()
    {
        var customer = CustomerWhen("""{ "categoryShareAtLeast": { "category": "sports", "share": 0.5, "purchases": 2, "basis": "count" } }""");

        Assert.False(customer.Fires(Buy("o-1", Line("atlas", "books", 1, 30_000))));  // 0 of 1
        Assert.True(customer.Fires(Buy("o-2", Line("socks", "sports", 1, 1))));       // 1 of 2, though 0.01 of 300.01 spent
        Assert.True(customer.Fires(Buy("o-3", Line("novel", "books", 1, 5_000))));    // [o-2, o-3]: 1 of 2
        Assert.False(customer.Fires(Buy("o-4", Line("novel-2", "books", 1, 5_000)))); // [o-3, o-4]: 0 of 2
    }

    [Fact]
    public void CategoryShareAtLeast_of_a_customer_without_purchases_does_not_hold()
    {
        // No spend at all is a share of 0.
        var customer = CustomerWhen("""{ "categoryShareAtLeast": { "category": "baby", "share": 0.01 } }""");

        Assert.False(customer.Fires(Game(600, 1)));
    }
}

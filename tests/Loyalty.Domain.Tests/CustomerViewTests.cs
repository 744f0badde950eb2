using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

public class CustomerViewTests
{
    [Fact]
    public void Unknown_customer_has_no_view()
    {
        Assert.Null(CustomerView.Of(new CustomerState(), Sample.Program, Sample.Now));
    }

    [Fact]
    public void Affinity_shows_spend_count_and_share_per_category()
    {
        var customer = new TestCustomer();
        // baby 2 x 12.50 + 3.99 = 28.99 EUR; sports 20.99 EUR
        customer.Earn(Buy("o-1",
            Line("stroller-wheel", "baby", 2, 1250), Line("bib", "baby", 1, 399), Line("ball", "sports", 1, 2099)));
        // baby again, written with another case: 10.00 EUR
        customer.Earn(Buy("o-2", Line("bib", "Baby", 1, 1000)));

        var view = customer.View();

        // baby 2899 + 1000 = 3899 in 2 orders; sports 2099 in 1; total 5998
        Assert.Equal(90, view.AffinityWindowDays);
        Assert.Collection(view.Affinity,
            baby =>
            {
                Assert.Equal(("baby", 3899L, 2), (baby.Category, baby.SpendMinor, baby.PurchaseCount));
                Assert.Equal(3899.0 / 5998, baby.SpendShare, 12);
            },
            sports =>
            {
                Assert.Equal(("sports", 2099L, 1), (sports.Category, sports.SpendMinor, sports.PurchaseCount));
                Assert.Equal(2099.0 / 5998, sports.SpendShare, 12);
            });
    }

    [Fact]
    public void Affinity_counts_only_purchases_inside_its_window()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("bib", "baby", 1, 1000)));      // Berlin day D

        customer.Clock.Advance(TimeSpan.FromDays(89));                 // window D+89-90 < day: D is in
        Assert.Equal(["baby"], customer.View().Affinity.Select(a => a.Category));

        customer.Clock.Advance(TimeSpan.FromDays(1));                  // D+90: D falls out
        Assert.Empty(customer.View().Affinity);
    }

    [Fact]
    public void Refund_does_not_change_affinity_spend()
    {
        // Affinity measures what the customer chose to buy; a refund changes points, not that history.
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("bib", "baby", 1, 1000)));
        customer.Earn(Refund("o-1", Line("bib", "baby", 1, 1000)));

        var baby = Assert.Single(customer.View().Affinity);
        Assert.Equal(1000, baby.SpendMinor);
    }

    [Fact]
    public void Tier_progress_names_the_next_tier_and_the_points_still_needed()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("tv", "electronics", 1, 30_000)));  // 300

        var progress = customer.View().TierProgress;

        // Silver needs 1000: 1000 - 300 = 700 to go.
        Assert.Equal(new TierProgress("Bronze", "Silver", 300, 700, 365), progress);
    }

    [Fact]
    public void Tier_progress_counts_only_the_qualifying_window()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("tv", "electronics", 1, 120_000)));  // 1200 -> Silver

        customer.Clock.Advance(TimeSpan.FromDays(365));

        // The Silver tier is kept, but none of its points qualify any more: 5000 - 0 to Gold.
        Assert.Equal(new TierProgress("Silver", "Gold", 0, 5000, 365), customer.View().TierProgress);
    }

    [Fact]
    public void Top_tier_has_no_next_tier()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("car", "electronics", 1, 2_000_000)));  // 20000 -> Platinum

        Assert.Equal(new TierProgress("Platinum", "", 20_000, 0, 365), customer.View().TierProgress);
    }

    [Fact]
    public void Activity_totals_games_and_support_inside_the_window()
    {
        var customer = new TestCustomer();
        customer.Earn(Game(150, 3));                                                             // 2 min
        customer.Earn(Game(600, 1));                                                             // 10 min
        customer.Earn(Support("k-1", SupportStatus.Opened, SupportChannel.Human));                  // contact, not rated
        customer.Earn(Support("k-1", SupportStatus.Resolved, SupportChannel.Human, satisfaction: 4)); // rated 4
        customer.Earn(Support("k-2", SupportStatus.Resolved, SupportChannel.Bot, satisfaction: 5));   // rated 5

        var activity = customer.View().Activity;

        // 2 + 10 minutes in 2 sessions; 1 opened contact; ratings (4 + 5) / 2 = 4.5
        Assert.Equal(new ActivityTotals(30, 12, 2, 1, 2, 4.5), activity);
    }

    [Fact]
    public void Activity_outside_the_window_is_not_counted()
    {
        var customer = new TestCustomer();
        customer.Earn(Game(600, 1));

        customer.Clock.Advance(TimeSpan.FromDays(29));
        Assert.Equal(10, customer.View().Activity.GameMinutes);

        customer.Clock.Advance(TimeSpan.FromDays(1));
        Assert.Equal(new ActivityTotals(30, 0, 0, 0, 0, 0), customer.View().Activity);
    }

    [Fact]
    public void View_shows_summary_profile_and_history_dates()
    {
        var customer = new TestCustomer();
        customer.Earn(Game(600, 1), occurredAt: Sample.Now.AddMinutes(-30));  // 10
        customer.Earn(Profile(name: "Ada"), occurredAt: Sample.Now.AddMinutes(-10));
        // Out of order: the last event time does not go backwards.
        customer.Earn(Match(1, 2), occurredAt: Sample.Now.AddMinutes(-20));    // 50

        var view = customer.View();

        Assert.Equal(new CustomerSummary("c-1", 60, 0, 60, "Bronze"), view.Summary);
        Assert.Equal("Ada", view.Profile.DisplayName);
        Assert.Equal(Sample.Now, view.FirstSeen);
        Assert.Equal(Sample.Now.AddMinutes(-10), view.LastEventAt);
        Assert.Equal(3, view.EventsApplied);
    }
}

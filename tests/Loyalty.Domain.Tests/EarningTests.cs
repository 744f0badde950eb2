using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

/// <summary>Earning under the sample program at Bronze (earn multiplier 1): 1 point per EUR, baby x2,
/// sports x1.5, gift-cards x0; 1 point per minute per difficulty; rank bonuses 50/20/5 for ranks 1/3/10;
/// achievements 25 (first-win), 100 (marathon), else 10; support 100 (human) or 10 (bot) per resolved case.</summary>
public class EarningTests
{
    [Fact]
    public void Purchase_of_three_lines_in_two_categories_earns_weighted_points()
    {
        var customer = new TestCustomer();

        var points = customer.Earn(Buy("o-1",
            Line("stroller-wheel", "baby", 2, 1250),  // 2 x 12.50 = 25.00 EUR x 2   = 50
            Line("bib", "baby", 1, 399),              // 3.99 EUR x 2                = 7.98
            Line("ball", "sports", 1, 2099)));        // 20.99 EUR x 1.5             = 31.485

        // 50 + 7.98 + 31.485 = 89.465 -> 89
        Assert.Equal(89, points);
        Assert.Equal(89, customer.State.PointsAvailable);
        Assert.Equal(89, customer.State.PointsLifetime);
        Assert.Equal("Bronze", customer.State.Tier);
    }

    [Fact]
    public void Purchase_with_category_multiplier_earns_floor_of_weighted_value()
    {
        // 0.99 EUR x 1.5 = 1.485 -> 1
        Assert.Equal(1, new TestCustomer().Earn(Buy("o-1", Line("socks", "sports", 1, 99))));
    }

    [Fact]
    public void Purchase_floors_the_order_total_once_not_each_line()
    {
        // 3 x (0.99 x 1.5) = 4.455 -> 4; flooring each line first would give 1 + 1 + 1 = 3.
        var points = new TestCustomer().Earn(Buy("o-1",
            Line("socks-a", "sports", 1, 99), Line("socks-b", "sports", 1, 99), Line("socks-c", "sports", 1, 99)));

        Assert.Equal(4, points);
    }

    [Fact]
    public void Category_not_in_the_program_earns_at_multiplier_one()
    {
        // 12.34 EUR x 1 = 12.34 -> 12
        Assert.Equal(12, new TestCustomer().Earn(Buy("o-1", Line("novel", "books", 1, 1234))));
    }

    [Fact]
    public void Category_multiplier_ignores_case()
    {
        // 10.00 EUR x 2 = 20
        Assert.Equal(20, new TestCustomer().Earn(Buy("o-1", Line("bib", "BaBy", 1, 1000))));
    }

    [Fact]
    public void Gift_cards_earn_nothing()
    {
        var customer = new TestCustomer();

        // 50.00 EUR x 0 = 0, yet the purchase is applied and remembered.
        Assert.Equal(0, customer.Earn(Buy("o-1", Line("card", "gift-cards", 1, 5000))));
        Assert.Equal(1, customer.State.EventsApplied);
    }

    [Theory]
    [InlineData(150, 3, 6)]      // 2 whole minutes x 3 x 1
    [InlineData(59, 10, 0)]      // 0 whole minutes
    [InlineData(60, 1, 1)]       // 1 x 1 x 1
    [InlineData(3599, 10, 590)]  // 59 whole minutes x 10 x 1
    [InlineData(86_400, 10, 14_400)] // 1440 minutes x 10
    public void Game_session_earns_whole_minutes_times_difficulty_times_points_per_minute(int seconds, int difficulty, long expected)
    {
        Assert.Equal(expected, new TestCustomer().Earn(Game(seconds, difficulty)));
    }

    [Theory]
    [InlineData(1, 50)]
    [InlineData(2, 20)]
    [InlineData(3, 20)]
    [InlineData(4, 5)]
    [InlineData(10, 5)]
    [InlineData(11, 0)]
    [InlineData(100, 0)]
    public void Match_rank_earns_the_bonus_of_the_best_band_it_reaches(int rank, long expected)
    {
        Assert.Equal(expected, new TestCustomer().Earn(Match(rank, participants: 100)));
    }

    [Fact]
    public void Achievement_pays_its_listed_points_once()
    {
        var customer = new TestCustomer();

        Assert.Equal(25, customer.Earn(Achieved("first-win")));
        Assert.Equal(0, customer.Earn(Achieved("first-win")));
        Assert.Equal(100, customer.Earn(Achieved("marathon")));
        // Not listed: the default.
        Assert.Equal(10, customer.Earn(Achieved("speedrun")));
        // The same achievement in another game is another achievement.
        Assert.Equal(25, customer.Earn(Achieved("first-win", gameId: "go")));
        // 25 + 0 + 100 + 10 + 25
        Assert.Equal(160, customer.State.PointsAvailable);
    }

    [Fact]
    public void Resolved_human_support_case_earns_its_bonus_once()
    {
        var customer = new TestCustomer();

        Assert.Equal(0, customer.Earn(Support("k-1", SupportStatus.Opened, SupportChannel.Human)));
        Assert.Equal(100, customer.Earn(Support("k-1", SupportStatus.Resolved, SupportChannel.Human, satisfaction: 5)));
        var again = customer.Apply(Support("k-1", SupportStatus.Resolved, SupportChannel.Human));

        // A second resolution of the same case is a new event: applied, but it pays nothing.
        Assert.Equal(EventOutcome.Applied, again.Outcome);
        Assert.Equal(0, again.PointsDelta);
        Assert.Equal(100, customer.State.PointsAvailable);
        Assert.Contains("already paid", customer.State.Interactions[^1].Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolved_bot_support_case_earns_the_bot_bonus()
    {
        Assert.Equal(10, new TestCustomer().Earn(Support("k-1", SupportStatus.Resolved, SupportChannel.Bot)));
    }

    [Theory]
    [InlineData(SupportStatus.Opened)]
    [InlineData(SupportStatus.Escalated)]
    public void Support_case_that_is_not_resolved_earns_nothing(SupportStatus status)
    {
        Assert.Equal(0, new TestCustomer().Earn(Support("k-1", status, SupportChannel.Human)));
    }

    [Fact]
    public void Profile_update_changes_only_the_given_fields_and_earns_nothing()
    {
        var customer = new TestCustomer();

        Assert.Equal(0, customer.Earn(Profile(name: "Ada", birthYear: 1990, access: true, timeZone: "Europe/Paris")));
        Assert.Equal(0, customer.Earn(Profile(name: "Ada L.")));

        Assert.Equal(new CustomerProfile { DisplayName = "Ada L.", BirthYear = 1990, AccessibilityNeeds = true, TimeZone = "Europe/Paris" },
            customer.State.Profile);
        Assert.Equal(0, customer.State.PointsAvailable);
        Assert.Equal(2, customer.State.EventsApplied);
    }

    [Fact]
    public void Profile_summary_names_fields_but_never_their_values()
    {
        var customer = new TestCustomer();

        customer.Earn(Profile(name: "Ada Lovelace", birthYear: 1990));

        var summary = customer.State.Interactions[^1].Summary;
        Assert.Equal("profile updated: display_name, birth_year", summary);
    }

    [Fact]
    public void First_applied_event_creates_the_customer_at_the_lowest_tier()
    {
        var customer = new TestCustomer();

        var result = customer.Apply(Game(60, 1));

        Assert.Equal(new CustomerSummary("c-1", 1, 0, 1, "Bronze"), result.Customer);
        Assert.Equal(Sample.Program.Version, result.ProgramVersion);
        Assert.Equal(Sample.Now, customer.State.FirstSeen);
        Assert.Equal(Sample.Now.AddMinutes(-5), customer.State.LastEventAt);
    }

    [Fact]
    public void Event_for_another_customer_is_rejected()
    {
        var customer = new TestCustomer();
        customer.Earn(Game(60, 1));
        var before = customer.Json();

        var result = customer.Apply(customer.Event(Game(60, 1)) with { CustomerId = "c-2" });

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.Equal("event.customer_id", result.ErrorField);
        Assert.Equal(before, customer.Json());
    }

    [Fact]
    public void Interaction_records_what_the_event_did()
    {
        var customer = new TestCustomer();

        customer.Earn(Buy("o-1", Line("ball", "sports", 2, 1000)), eventId: "evt-42");

        var interaction = Assert.Single(customer.State.Interactions);
        Assert.Equal(1, interaction.Sequence);
        Assert.Equal("evt-42", interaction.EventId);
        Assert.Equal("purchase", interaction.Kind);
        Assert.Equal("test", interaction.Source);
        Assert.Equal(Sample.Now.AddMinutes(-5), interaction.OccurredAt);
        Assert.Equal(Sample.Now, interaction.AppliedAt);
        // 2 x 10.00 x 1.5 = 30
        Assert.Equal(30, interaction.PointsDelta);
        Assert.Equal("purchase o-1: 1 lines, 20.00 EUR", interaction.Summary);
        Assert.Equal("Bronze", interaction.TierAfter);
    }
}

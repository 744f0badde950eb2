using Grpc.Core;
using Loyalty.Contracts.V1;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>End to end over HTTP/2 gRPC against the real engine (its host in the test process, memory storage), with the sample program.</summary>
[Collection(InProcessCollection.Name)]
public sealed class EarningTests(InProcessEngineFixture fixture)
{
    private Ingestion.IngestionClient Ingestion => fixture.Server.Ingestion;
    private Customers.CustomersClient Customers => fixture.Server.Customers;

    [Fact]
    public async Task Purchase_of_three_lines_in_two_categories_earns_points_with_the_category_multiplier()
    {
        var id = NewCustomer();
        // baby x2: (249.99 + 2 x 12.99) x 2 = 551.94; sports x1.5: 29.99 x 1.5 = 44.985; floor(596.925) = 596
        var result = await Ingestion.PublishAsync(Req(Purchase(id, "o-1",
            Line("stroller", "baby", 1, 24999), Line("onesie", "baby", 2, 1299), Line("ball", "sports", 1, 2999))));

        Assert.Equal(Outcome.Applied, result.Outcome);
        Assert.Equal(596, result.PointsDelta);
        Assert.Equal(596, result.Customer.PointsAvailable);
        Assert.Equal(596, result.Customer.PointsLifetime);
        Assert.Equal("Bronze", result.Customer.Tier);

        var customer = await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        var baby = Assert.Single(customer.Affinity, a => a.Category == "baby");
        Assert.Equal(24999 + 2 * 1299, baby.SpendMinor);
        Assert.Equal(1, baby.PurchaseCount);
        Assert.Equal(2999, Assert.Single(customer.Affinity, a => a.Category == "sports").SpendMinor);
    }

    [Fact]
    public async Task Game_session_earns_minutes_times_difficulty()
    {
        var id = NewCustomer();
        var result = await Ingestion.PublishAsync(Req(Game(id, minutes: 30, difficulty: 3)));
        Assert.Equal(Outcome.Applied, result.Outcome);
        Assert.Equal(90, result.PointsDelta);
        var customer = await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.Equal(30, customer.Activity.GameMinutes);
    }

    [Fact]
    public async Task Resolved_human_support_case_earns_its_bonus_and_a_bot_resolution_earns_less()
    {
        var id = NewCustomer();
        var opened = await Ingestion.PublishAsync(Req(Support(id, SupportStatus.Opened, SupportChannel.Bot)));
        var human = await Ingestion.PublishAsync(Req(Support(id, SupportStatus.Resolved, SupportChannel.Human, satisfaction: 5)));
        var bot = await Ingestion.PublishAsync(Req(Support(id, SupportStatus.Resolved, SupportChannel.Bot)));
        Assert.Equal(0, opened.PointsDelta);
        Assert.Equal(100 + 200, human.PointsDelta); // base 100 + the sample's human-care-thanks rule (satisfaction 5)
        Assert.Equal(10, bot.PointsDelta);
        Assert.Equal(310, bot.Customer.PointsLifetime);
    }

    [Fact]
    public async Task A_support_case_pays_its_thank_you_reward_once_whatever_the_event_ids()
    {
        // Issue 16, finding 7 (verified before the fix: the second event answered APPLIED +200 with a second coupon).
        var id = NewCustomer();
        Event Resolved(string caseId)
        {
            var e = Support(id, SupportStatus.Resolved, SupportChannel.Human, satisfaction: 5);
            e.SupportCase.CaseId = caseId;
            return e;
        }
        var first = await Ingestion.PublishAsync(Req(Resolved("case-a")));
        var again = await Ingestion.PublishAsync(Req(Resolved("case-a")));   // a new event id, the same case
        var other = await Ingestion.PublishAsync(Req(Resolved("case-b")));
        Assert.Equal((Outcome.Applied, 300), (first.Outcome, first.PointsDelta));
        Assert.Single(first.Rewards, r => r.RewardId == "thank-you-coupon");
        Assert.Equal((Outcome.Applied, 0L), (again.Outcome, again.PointsDelta));
        Assert.Empty(again.Rewards);
        Assert.Equal(300, other.PointsDelta);
        Assert.Single(other.Rewards, r => r.RewardId == "thank-you-coupon");
        Assert.Equal(600, other.Customer.PointsLifetime);
    }

    [Fact]
    public async Task Profile_update_changes_the_profile_and_earns_nothing()
    {
        var id = NewCustomer();
        await Ingestion.PublishAsync(Req(Game(id, minutes: 10, difficulty: 1)));
        var e = Base(id);
        e.ProfileUpdate = new ProfileUpdate { DisplayName = "Ada", BirthYear = 1950, AccessibilityNeeds = true, TimeZone = "Europe/Vienna" };
        var result = await Ingestion.PublishAsync(Req(e));

        Assert.Equal(Outcome.Applied, result.Outcome);
        Assert.Equal(0, result.PointsDelta);
        Assert.Equal(10, result.Customer.PointsAvailable);
        var profile = (await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).Profile;
        Assert.Equal(("Ada", 1950, true, "Europe/Vienna"), (profile.DisplayName, profile.BirthYear, profile.AccessibilityNeeds, profile.TimeZone));

        // Unset fields keep their values.
        var partial = Base(id);
        partial.ProfileUpdate = new ProfileUpdate { DisplayName = "Ada L." };
        await Ingestion.PublishAsync(Req(partial));
        profile = (await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).Profile;
        Assert.Equal(("Ada L.", 1950, true), (profile.DisplayName, profile.BirthYear, profile.AccessibilityNeeds));
    }

    [Fact]
    public async Task Crossing_a_tier_threshold_upgrades_on_that_event_and_later_earning_uses_the_new_multiplier()
    {
        var id = NewCustomer();
        var below = await Ingestion.PublishAsync(Req(Purchase(id, "o-1", Line("tv", "electronics", 1, 99_900)))); // 999 points
        Assert.Equal("Bronze", below.Customer.Tier);
        var crossing = await Ingestion.PublishAsync(Req(Game(id, minutes: 1, difficulty: 1))); // 1 point -> 1000
        Assert.Equal(1, crossing.PointsDelta);
        Assert.Equal("Silver", crossing.Customer.Tier);
        var after = await Ingestion.PublishAsync(Req(Game(id, minutes: 10, difficulty: 2))); // 20 x 1.25 = 25
        Assert.Equal(25, after.PointsDelta);
        var progress = (await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).TierProgress;
        Assert.Equal(("Silver", "Gold", 1025L, 5000L - 1025L), (progress.CurrentTier, progress.NextTier, progress.QualifyingPoints, progress.PointsToNextTier));
        var history = (await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).TierHistory;
        var change = Assert.Single(history);
        Assert.Equal(("Bronze", "Silver", crossing.EventId, 1000L), (change.From, change.To, change.EventId, change.QualifyingPoints));
    }

    [Fact]
    public async Task Same_event_five_times_gives_one_applied_and_four_duplicates_with_equal_delta()
    {
        var id = NewCustomer();
        var e = Game(id, minutes: 7, difficulty: 2);
        var results = new List<PublishResult>();
        for (var i = 0; i < 5; i++)
        {
            results.Add(await Ingestion.PublishAsync(Req(e)));
        }
        Assert.Equal(1, results.Count(r => r.Outcome == Outcome.Applied));
        Assert.Equal(4, results.Count(r => r.Outcome == Outcome.Duplicate));
        Assert.All(results, r => Assert.Equal(14, r.PointsDelta));
        Assert.All(results, r => Assert.Equal(e.EventId, r.EventId));
        var customer = await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.Equal(14, customer.Summary.PointsLifetime);
        Assert.Equal(1, customer.EventsApplied);
    }

    [Fact]
    public async Task Two_thousand_events_published_concurrently_for_one_customer_from_64_tasks_sum_exactly()
    {
        var id = NewCustomer();
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 64).Select(task => Task.Run(async () =>
        {
            var mine = new List<PublishResult>();
            for (var i = task; i < 2000; i += 64)
            {
                // 1 minute at difficulty 1 earns 1 point at Bronze, Silver (floor 1.25) and Gold (floor 1.5).
                mine.Add(await Ingestion.PublishAsync(Req(Game(id, minutes: 1, difficulty: 1, eventId: $"e-{i}"))));
            }
            return mine;
        })));
        var all = outcomes.SelectMany(o => o).ToList();
        Assert.Equal(2000, all.Count);
        Assert.All(all, r => Assert.Equal(Outcome.Applied, r.Outcome));
        var customer = await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.Equal(2000, customer.Summary.PointsLifetime);
        Assert.Equal(2000, customer.EventsApplied);
        Assert.Equal(2000, all.Sum(r => r.PointsDelta));
    }

    [Fact]
    public async Task Stale_event_outside_the_dedupe_window_is_rejected_with_a_reason_and_changes_nothing()
    {
        var id = NewCustomer();
        var e = Game(id, minutes: 5, difficulty: 1);
        e.OccurredAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-31));
        var result = await Ingestion.PublishAsync(Req(e));
        Assert.Equal(Outcome.Rejected, result.Outcome);
        Assert.Contains("deduplication window", result.Error, StringComparison.Ordinal);
        var error = await Assert.ThrowsAsync<RpcException>(() => Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }
}

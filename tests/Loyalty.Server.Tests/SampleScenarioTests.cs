using System.Text.RegularExpressions;
using Loyalty.Contracts.V1;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>The sample program's reward stories, end to end over gRPC against the real engine (its host in the test process, memory storage).</summary>
[Collection(InProcessCollection.Name)]
public sealed partial class SampleScenarioTests(InProcessEngineFixture fixture)
{
    private Ingestion.IngestionClient Ingestion => fixture.Server.Ingestion;
    private Customers.CustomersClient Customers => fixture.Server.Customers;

    [GeneratedRegex("^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")]
    private static partial Regex CodeBody();

    private static void AssertCode(string prefix, string code)
    {
        Assert.StartsWith(prefix + "-", code, StringComparison.Ordinal);
        Assert.Matches(CodeBody(), code[(prefix.Length + 1)..]);
    }

    private static void AssertExpiresInDays(RewardGrant grant, int days) =>
        Assert.Equal(grant.GrantedAt.ToDateTimeOffset().AddDays(days), grant.ExpiresAt.ToDateTimeOffset());

    [Fact]
    public async Task Mother_and_baby_buyer_gets_the_formula_coupon_and_a_sports_lover_the_sports_discount()
    {
        var mother = NewCustomer();
        // baby 60.00 of 80.00 = 75 % >= 40 %: baby coupon. Points: 60.00 x 2 + 20.00 x 1 = 140.
        var result = await Ingestion.PublishAsync(Req(Purchase(mother, "o-1", Line("formula", "baby", 3, 2000), Line("pan", "kitchen", 1, 1000), Line("towel", "home", 1, 1000))));
        Assert.Equal(140, result.PointsDelta);
        var coupon = Assert.Single(result.Rewards, r => r.RewardId == "baby-care-coupon");
        Assert.Equal(("coupon", "baby-affinity-coupon", 500L), (coupon.Kind, coupon.RuleId, coupon.ValueMinor));
        AssertCode("BABY", coupon.Code);
        AssertExpiresInDays(coupon, 30);
        Assert.DoesNotContain(result.Rewards, r => r.RewardId == "sports-gear-discount");
        // Once per 30 days.
        var again = await Ingestion.PublishAsync(Req(Purchase(mother, "o-2", Line("diapers", "baby", 1, 1500))));
        Assert.DoesNotContain(again.Rewards, r => r.RewardId == "baby-care-coupon");

        var athlete = NewCustomer();
        var sports = await Ingestion.PublishAsync(Req(Purchase(athlete, "o-1", Line("shoes", "sports", 1, 8000))));
        var discount = Assert.Single(sports.Rewards, r => r.RewardId == "sports-gear-discount");
        Assert.Equal((15, 0L), (discount.Percent, discount.ValueMinor));
        AssertCode("SPORT", discount.Code);

        // Baby goods as 30 % of spend is not enough.
        var occasional = NewCustomer();
        var mixed = await Ingestion.PublishAsync(Req(Purchase(occasional, "o-1", Line("bib", "baby", 1, 3000), Line("tv", "electronics", 1, 7000))));
        Assert.DoesNotContain(mixed.Rewards, r => r.RewardId == "baby-care-coupon");
        var eligible = await Customers.ListEligibleRewardsAsync(new ListEligibleRewardsRequest { CustomerId = occasional });
        // (0.4 x 100.00 - 30.00) / 0.6 = 16.666.. -> 16.67 more in baby makes 46.67 / 116.67 >= 40 %
        var miss = Assert.Single(eligible.NearMisses, m => m.RuleId == "baby-affinity-coupon");
        Assert.Equal("spend 16.67 more in baby", miss.Missing);
        Assert.Equal(["baby-care-coupon"], miss.RewardIds);
    }

    [Fact]
    public async Task Players_earn_gold_by_minutes_times_difficulty_and_a_chest_for_top_3_at_most_three_a_day()
    {
        var player = NewCustomer();
        var session = Base(player);
        session.GameSession = new GameSession { GameId = "arena", DurationSeconds = 30 * 60, Difficulty = 4, Score = 900 };
        var played = await Ingestion.PublishAsync(Req(session));
        Assert.Equal(120, played.PointsDelta); // 30 min x difficulty 4 x 1 point
        var gold = Assert.Single(played.Rewards);
        Assert.Equal(("arena-gold", "currency", 240L), (gold.RewardId, gold.Kind, gold.Amount)); // 30 x 4 x 2

        var chests = new List<PublishResult>();
        foreach (var rank in new[] { 2, 1, 3, 2, 5 })
        {
            var match = Base(player);
            match.MatchResult = new MatchResult { GameId = "arena", MatchId = match.EventId, Rank = rank, Participants = 10 };
            chests.Add(await Ingestion.PublishAsync(Req(match)));
        }
        Assert.Equal([1, 1, 1, 0, 0], chests.Select(c => c.Rewards.Count(r => r.RewardId == "golden-chest")));
        Assert.All(chests.Take(3), c => Assert.Equal("game_item", c.Rewards[0].Kind));
    }

    [Fact]
    public async Task A_human_resolution_rated_4_or_more_brings_a_thank_you_coupon_and_200_bonus_points()
    {
        var id = NewCustomer();
        var happy = await Ingestion.PublishAsync(Req(Support(id, SupportStatus.Resolved, SupportChannel.Human, satisfaction: 4)));
        Assert.Equal(100 + 200, happy.PointsDelta);
        var coupon = Assert.Single(happy.Rewards);
        Assert.Equal(("thank-you-coupon", 1000L), (coupon.RewardId, coupon.ValueMinor));
        AssertCode("THANKS", coupon.Code);
        AssertExpiresInDays(coupon, 60);

        var lukewarm = await Ingestion.PublishAsync(Req(Support(NewCustomer(), SupportStatus.Resolved, SupportChannel.Human, satisfaction: 3)));
        Assert.Equal(100, lukewarm.PointsDelta);
        Assert.Empty(lukewarm.Rewards);
        var byBot = await Ingestion.PublishAsync(Req(Support(NewCustomer(), SupportStatus.Resolved, SupportChannel.Bot, satisfaction: 5)));
        Assert.Empty(byBot.Rewards);
    }

    [Fact]
    public async Task Service_recovery_after_a_long_bot_loop_or_wait_grants_an_apology_coupon_and_30_days_of_priority_support()
    {
        foreach (var (turns, wait) in new[] { (6, 0), (0, 700) })
        {
            var id = NewCustomer();
            var e = Support(id, SupportStatus.Escalated, SupportChannel.Human);
            e.SupportCase.BotTurns = turns;
            e.SupportCase.WaitSeconds = wait;
            var result = await Ingestion.PublishAsync(Req(e));
            var apology = Assert.Single(result.Rewards);
            Assert.Equal(("apology-coupon", 1500L), (apology.RewardId, apology.ValueMinor));
            AssertCode("SORRY", apology.Code);
            var perk = Assert.Single(result.Perks);
            Assert.Equal("priority_human_support", perk.Name);
            Assert.Equal(perk.Since.ToDateTimeOffset().AddDays(30), perk.Until.ToDateTimeOffset());

            var customer = await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
            Assert.Single(customer.Perks, p => p.Name == "priority_human_support");
            Assert.Single(customer.Rewards, r => r.Code == apology.Code);
        }

        var quick = Support(NewCustomer(), SupportStatus.Escalated, SupportChannel.Human);
        quick.SupportCase.BotTurns = 4;
        quick.SupportCase.WaitSeconds = 599;
        Assert.Empty((await Ingestion.PublishAsync(Req(quick))).Perks);
    }

    [Fact]
    public async Task Customers_aged_65_or_with_accessibility_needs_hold_priority_support_permanently()
    {
        var year = DateTimeOffset.UtcNow.Year;
        foreach (var (update, expected) in new (ProfileUpdate, bool)[]
        {
            (new ProfileUpdate { BirthYear = year - 70 }, true),
            (new ProfileUpdate { AccessibilityNeeds = true }, true),
            (new ProfileUpdate { BirthYear = year - 40 }, false),
        })
        {
            var id = NewCustomer();
            var e = Base(id);
            e.ProfileUpdate = update;
            var result = await Ingestion.PublishAsync(Req(e));
            var customer = await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
            if (expected)
            {
                var perk = Assert.Single(customer.Perks);
                Assert.Equal(("priority_human_support", "green-channel"), (perk.Name, perk.RuleId));
                Assert.Null(perk.Until); // permanent
                Assert.Single(result.Perks);
            }
            else
            {
                Assert.Empty(customer.Perks);
            }
        }
    }

    [Fact]
    public async Task Eligible_rewards_show_the_points_price_and_what_is_missing()
    {
        var id = NewCustomer();
        await Ingestion.PublishAsync(Req(Purchase(id, "o-1", Line("tv", "electronics", 1, 60_000)))); // 600 points
        var eligible = await Customers.ListEligibleRewardsAsync(new ListEligibleRewardsRequest { CustomerId = id });
        var shipping = Assert.Single(eligible.Rewards, r => r.RewardId == "free-shipping");
        Assert.Equal((500L, true, 0L), (shipping.PointsPrice, shipping.RedeemableNow, shipping.PointsMissing));
        var cinema = Assert.Single(eligible.Rewards, r => r.RewardId == "cinema-voucher");
        Assert.Equal((1500L, false, 900L), (cinema.PointsPrice, cinema.RedeemableNow, cinema.PointsMissing));
        Assert.False(string.IsNullOrEmpty(eligible.ProgramVersion));
    }

    [Fact]
    public async Task A_duplicate_returns_no_new_rewards_and_codes_differ_between_customers()
    {
        var a = NewCustomer();
        var b = NewCustomer();
        var ea = Support(a, SupportStatus.Resolved, SupportChannel.Human, satisfaction: 5);
        var eb = Support(b, SupportStatus.Resolved, SupportChannel.Human, satisfaction: 5);
        var first = await Ingestion.PublishAsync(Req(ea));
        var retry = await Ingestion.PublishAsync(Req(ea));
        var other = await Ingestion.PublishAsync(Req(eb));
        Assert.Equal(Outcome.Duplicate, retry.Outcome);
        Assert.Empty(retry.Rewards);
        Assert.Equal(first.PointsDelta, retry.PointsDelta);
        Assert.NotEqual(first.Rewards[0].Code, other.Rewards[0].Code);
        var customer = await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = a });
        Assert.Single(customer.Rewards); // granted once
    }
}

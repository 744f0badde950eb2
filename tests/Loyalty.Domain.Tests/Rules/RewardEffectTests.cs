using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;
using static Loyalty.Domain.Tests.Pay;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>grantReward for each kind of the catalogue, scaled currency grants, and reward codes.
/// The clock is at 2026-11-25 12:00 UTC.</summary>
public partial class RewardEffectTests
{
    /// <summary>PREFIX-XXXX-XXXX-XXXX in Crockford base32: digits and upper-case letters without I, L, O, U.</summary>
    [GeneratedRegex("^(?<prefix>[A-Z0-9]+)-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")]
    private static partial Regex CodeFormat();

    private static readonly DateTimeOffset Now = Sample.Now;

    private static ActiveProgram Granting(string rewardId, string when = "\"any\"") =>
        Program($$"""[{ "id": "r", "when": [{{when}}], "then": [{ "grantReward": "{{rewardId}}" }] }]""", Catalogue);

    private static void AssertCode(string code, string prefix)
    {
        Assert.Matches(CodeFormat(), code);
        Assert.Equal(prefix, CodeFormat().Match(code).Groups["prefix"].Value);
    }

    [Fact]
    public void Value_coupon_is_granted_with_a_code_a_value_and_an_expiry()
    {
        var program = Granting("baby-5", "\"purchase\"");
        var customer = new TestCustomer(program: program);
        var e = customer.Event(Buy("o-1", Line("bib", "baby", 1, 1000)));

        var result = customer.Apply(e);

        Assert.Equal(20, result.PointsDelta);  // 10.00 x 2 (baby); a coupon adds no points
        var reward = Assert.Single(result.Rewards);
        Assert.Equal("baby-5", reward.RewardId);
        Assert.Equal("r", reward.RuleId);
        Assert.Equal("coupon", reward.Kind);
        Assert.Equal("5.00 off baby care", reward.Description);
        Assert.Equal(500, reward.ValueMinor);
        Assert.Equal(0, reward.Percent);
        Assert.Equal(0, reward.Amount);
        AssertCode(reward.Code, "BABY");
        Assert.Equal(Now, reward.GrantedAt);
        Assert.Equal(new DateTimeOffset(2026, 12, 25, 12, 0, 0, TimeSpan.Zero), reward.ExpiresAt);  // now + 30 days
        Assert.Equal(e.EventId, reward.EventId);
        Assert.Equal(program.Version, reward.ProgramVersion);
        Assert.Equal(reward with { Description = "" }, Assert.Single(customer.State.Rewards)); // stored without the catalogue text
        Assert.Empty(result.Perks);
        Assert.Contains("; granted " + reward.Code, customer.State.Interactions[^1].Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Grants_answered_for_one_event_stay_its_own_after_later_events_on_the_same_thread()
    {
        // The engine collects grants in a list it reuses: what an earlier answer holds must not change.
        var customer = new TestCustomer(program: Granting("baby-5", "\"purchase\""));
        var first = customer.Apply(customer.Event(Buy("o-1", Line("bib", "baby", 1, 1000))));
        var code = Assert.Single(first.Rewards).Code;

        var second = customer.Apply(customer.Event(Buy("o-2", Line("bib", "baby", 1, 1000))));
        var third = customer.Apply(customer.Event(Buy("o-3", Line("bib", "baby", 1, 1000))));

        Assert.Equal(code, Assert.Single(first.Rewards).Code);
        Assert.NotEqual(code, Assert.Single(second.Rewards).Code);
        Assert.NotSame(second.Rewards, third.Rewards);
        Assert.Equal(3, customer.State.Rewards.Count);
    }

    [Fact]
    public void Percent_coupon_has_its_percent_the_default_prefix_and_its_own_validity()
    {
        var customer = new TestCustomer(program: Granting("sports-15"));

        var reward = Assert.Single(customer.Applied(Buy("o-1", Line("ball", "sports", 1, 1000))).Rewards);

        Assert.Equal("coupon", reward.Kind);
        Assert.Equal(15, reward.Percent);
        Assert.Equal(0, reward.ValueMinor);
        AssertCode(reward.Code, "LOY");
        Assert.Equal(new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero), reward.ExpiresAt);  // now + 7 days
    }

    [Fact]
    public void Game_item_is_granted_without_expiry()
    {
        var customer = new TestCustomer(program: Granting("golden-knight"));

        var result = customer.Applied(Match(1, 10));

        Assert.Equal(50, result.PointsDelta);  // rank 1 bonus only
        var reward = Assert.Single(result.Rewards);
        Assert.Equal("game_item", reward.Kind);
        Assert.Equal("golden-knight", reward.RewardId);
        Assert.Equal(0, reward.Amount);
        Assert.Null(reward.ExpiresAt);
        AssertCode(reward.Code, "LOY");
        Assert.Single(customer.State.Rewards);
    }

    [Fact]
    public void Currency_is_granted_with_its_fixed_amount()
    {
        var customer = new TestCustomer(program: Granting("gems-50"));

        var reward = Assert.Single(customer.Applied(Achieved("marathon")).Rewards);

        Assert.Equal("currency", reward.Kind);
        Assert.Equal(50, reward.Amount);
        Assert.Null(reward.ExpiresAt);
    }

    [Fact]
    public void Perk_reward_also_makes_the_perk_held()
    {
        var customer = new TestCustomer(program: Granting("priority"));

        var result = customer.Applied(Game(60, 1));

        var until = new DateTimeOffset(2026, 12, 25, 12, 0, 0, TimeSpan.Zero);  // now + 30 days
        var reward = Assert.Single(result.Rewards);
        Assert.Equal("perk", reward.Kind);
        Assert.Equal(until, reward.ExpiresAt);
        var perk = Assert.Single(result.Perks);
        Assert.Equal(new HeldPerk("priority_human_support", until.UtcTicks, "r", Now), perk);
        Assert.Equal(perk, Assert.Single(customer.State.Perks));
        Assert.Single(customer.State.Rewards);
    }

    [Theory]
    [InlineData(750, 3, 72)]   // 12 whole minutes x 3 x 2
    [InlineData(119, 5, 10)]   // 1 x 5 x 2
    public void Currency_per_minute_times_difficulty_scales_with_effort(int seconds, int difficulty, long amount)
    {
        var customer = new TestCustomer(program: Program(
            """[{ "id": "r", "when": ["any"], "then": [{ "grantCurrencyPerMinuteTimesDifficulty": { "reward": "gems", "perMinuteTimesDifficulty": 2 } }] }]""",
            Catalogue));

        var reward = Assert.Single(customer.Applied(Game(seconds, difficulty)).Rewards);

        Assert.Equal("gems", reward.RewardId);
        Assert.Equal("currency", reward.Kind);
        Assert.Equal(amount, reward.Amount);
    }

    [Fact]
    public void Currency_per_minute_times_difficulty_floors_a_fractional_amount()
    {
        var customer = new TestCustomer(program: Program(
            """[{ "id": "r", "when": ["any"], "then": [{ "grantCurrencyPerMinuteTimesDifficulty": { "reward": "gems", "perMinuteTimesDifficulty": 0.25 } }] }]""",
            Catalogue));

        // 7 x 3 x 0.25 = 5.25 -> 5
        Assert.Equal(5, Assert.Single(customer.Applied(Game(7 * 60, 3)).Rewards).Amount);
    }

    [Fact]
    public void Currency_per_minute_times_difficulty_grants_nothing_for_nothing()
    {
        var customer = new TestCustomer(program: Program(
            """[{ "id": "r", "when": ["any"], "then": [{ "grantCurrencyPerMinuteTimesDifficulty": { "reward": "gems" } }] }]""",
            Catalogue));

        Assert.Empty(customer.Applied(Game(59, 10)).Rewards);                              // no whole minute
        Assert.Empty(customer.Applied(Buy("o-1", Line("x", "books", 1, 100_000))).Rewards); // not a session
        Assert.Empty(customer.State.Rewards);
        Assert.Equal(7, Assert.Single(customer.Applied(Game(7 * 60, 1)).Rewards).Amount);  // default factor 1
    }

    [Fact]
    public void Rule_points_and_rewards_come_together()
    {
        var customer = new TestCustomer(program: Program(
            """[{ "id": "thanks", "when": ["support_case"], "then": [{ "grantReward": "baby-5" }, { "addPoints": 200 }] }]""", Catalogue));

        var result = customer.Applied(Support("k-1", SupportStatus.Resolved, SupportChannel.Human, 5));

        Assert.Equal(300, result.PointsDelta);  // 100 for a human resolution + 200
        Assert.Equal("thanks", Assert.Single(result.Rewards).RuleId);
        Assert.Equal(300, customer.State.PointsAvailable);
    }

    [Fact]
    public void Granted_rewards_accumulate_and_the_oldest_go_beyond_the_bound()
    {
        var customer = new TestCustomer(new EngineLimits { RewardsKept = 2 }, Granting("gems-50"));
        var codes = Enumerable.Range(1, 3).Select(_ => Assert.Single(customer.Applied(Game(60, 1)).Rewards).Code).ToList();

        Assert.Equal(codes[1..], customer.State.Rewards.Select(r => r.Code));
    }

    // ---- codes ----

    private static string CodeFor(string customerId, string eventId, EngineLimits? limits = null, ActiveProgram? program = null)
    {
        var customer = new TestCustomer(limits, program ?? Granting("baby-5"), customerId);
        var result = customer.Applied(customer.Event(Buy("o-1", Line("bib", "baby", 1, 1000)), eventId));
        return Assert.Single(result.Rewards).Code;
    }

    [Fact]
    public void Codes_are_the_same_for_the_same_customer_event_rule_and_reward()
    {
        var first = CodeFor("c-1", "e-1");
        // Another silo, a replay, a later time: the same code.
        var customer = new TestCustomer(program: Granting("baby-5"));
        customer.Clock.Advance(TimeSpan.FromHours(3));
        var later = Assert.Single(customer.Applied(customer.Event(Buy("o-1", Line("bib", "baby", 1, 1000)), "e-1")).Rewards).Code;

        Assert.Equal(first, CodeFor("c-1", "e-1"));
        Assert.Equal(first, later);
    }

    [Fact]
    public void Codes_differ_between_customers_events_and_secrets()
    {
        var codes = new[]
        {
            CodeFor("c-1", "e-1"),
            CodeFor("c-2", "e-1"),
            CodeFor("c-1", "e-2"),
            CodeFor("c-1", "e-1", new EngineLimits { RewardCodeSecret = "another-secret" }),
        };

        Assert.Equal(codes.Length, codes.Distinct().Count());
    }

    [Fact]
    public void Codes_differ_between_rules_granting_the_same_reward()
    {
        var program = Program("""
            [
              { "id": "a", "when": ["purchase"], "then": [{ "grantReward": "baby-5" }] },
              { "id": "b", "when": ["purchase"], "then": [{ "grantReward": "baby-5" }] }
            ]
            """, Catalogue);
        var customer = new TestCustomer(program: program);

        var rewards = customer.Applied(Buy("o-1", Line("bib", "baby", 1, 1000))).Rewards;

        Assert.Equal(["a", "b"], rewards.Select(r => r.RuleId));
        Assert.NotEqual(rewards[0].Code, rewards[1].Code);
    }

    [Fact]
    public void Two_grants_of_one_reward_by_one_rule_on_one_event_get_two_codes()
    {
        var customer = new TestCustomer(program: Program(
            """[{ "id": "r", "when": ["any"], "then": [{ "grantReward": "baby-5" }, { "grantReward": "baby-5" }] }]""", Catalogue));

        var rewards = customer.Applied(Game(60, 1)).Rewards;

        Assert.Equal(2, rewards.Count);
        Assert.NotEqual(rewards[0].Code, rewards[1].Code);
        Assert.Equal(2, customer.State.Rewards.Count);
    }

    [Fact]
    public void Code_is_sixty_bits_of_hmac_sha256_over_customer_event_rule_reward_and_index()
    {
        // Recomputed here from the documented derivation, so a change to it (which would change every code a
        // replay or simulation produces) is seen.
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes("loyalty-development-secret"),
            Encoding.UTF8.GetBytes("c-1\ne-1\nr\nbaby-5\n0"));
        var bits = BitConverter.ToUInt64(mac, 0);
        var text = new StringBuilder();
        for (var i = 0; i < 12; i++, bits >>= 5)
        {
            text.Append("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[(int)(bits & 31)]);
        }
        var s = text.ToString();

        Assert.Equal($"BABY-{s[..4]}-{s[4..8]}-{s[8..]}", CodeFor("c-1", "e-1"));
    }
}

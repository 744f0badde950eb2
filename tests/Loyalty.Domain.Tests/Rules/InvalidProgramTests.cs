using Loyalty.Domain.Programs;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>A program with a mistake in its rewards or rules never loads; each mistake is named by its exact JSON
/// path and what is wrong there.</summary>
public class InvalidProgramTests
{
    private static ProgramError SingleError(string rules, string rewards = Catalogue, Action<System.Text.Json.Nodes.JsonObject>? edit = null) =>
        Assert.Single(Errors(ProgramJson(rules, rewards, edit)));

    private static string RuleIf(string condition) =>
        $$"""[{ "id": "ok", "when": ["any"], "then": [{ "addPoints": 1 }] }, { "id": "r", "when": ["any"], "if": {{condition}}, "then": [{ "addPoints": 1 }] }]""";

    private static string RuleThen(string effects) =>
        $$"""[{ "id": "r", "when": ["any"], "then": {{effects}} }]""";

    [Fact]
    public void The_catalogue_and_rules_used_here_are_valid_without_the_mistakes()
    {
        var program = Program(RuleIf("""{ "all": [ { "categoryIn": ["baby"] }, { "orderValueAtLeast": 5000 } ] }"""), Catalogue);

        Assert.Equal(2, program.Definition.Rules.Count);
        Assert.Equal(6, program.Rewards.Count);
    }

    // ---- conditions (reported by the reader, with the path inside the condition) ----

    [Theory]
    [InlineData("""{ "categoryInn": ["baby"] }""", "$.rules[1].if.categoryInn", "unknown condition 'categoryInn'")]
    [InlineData("""{ "all": [ { "categoryIn": ["baby"] }, { "categoryInn": ["baby"] } ] }""", "$.rules[1].if.all[1].categoryInn", "unknown condition 'categoryInn'")]
    [InlineData("""{ "any": [ { "not": { "all": [ { "ordervalueAtLeast": 1 } ] } } ] }""", "$.rules[1].if.any[0].not.all[0].ordervalueAtLeast", "unknown condition 'ordervalueAtLeast'")]
    [InlineData("""{ "categoryIn": ["baby"], "orderValueAtLeast": 5000 }""", "$.rules[1].if", "exactly one property, not 2")]
    [InlineData("""{ "all": [ {} ] }""", "$.rules[1].if.all[0]", "exactly one property, not 0")]
    [InlineData("""{ "all": [] }""", "$.rules[1].if.all", "non-empty array of conditions")]
    [InlineData("""[ { "categoryIn": ["baby"] } ]""", "$.rules[1].if", "must be an object")]
    [InlineData("""{ "categoryShareAtLeast": { "category": "baby", "share": 1.5 } }""", "$.rules[1].if.categoryShareAtLeast.share", "fraction 0..1")]
    [InlineData("""{ "categoryShareAtLeast": { "category": "baby", "share": 40 } }""", "$.rules[1].if.categoryShareAtLeast.share", "fraction 0..1")]
    [InlineData("""{ "categoryShareAtLeast": { "category": "baby", "share": 0.4, "basis": "visits" } }""", "$.rules[1].if.categoryShareAtLeast.basis", "\"spend\" or \"count\", not \"visits\"")]
    [InlineData("""{ "categoryShareAtLeast": { "category": "baby", "share": 0.4, "window": 30 } }""", "$.rules[1].if.categoryShareAtLeast.window", "unknown property (expected category, share, days, purchases, basis)")]
    [InlineData("""{ "categoryShareAtLeast": { "category": "baby", "share": 0.4, "days": 30, "purchases": 5 } }""", "$.rules[1].if.categoryShareAtLeast", "either days or purchases, not both")]
    [InlineData("""{ "categoryShareAtLeast": { "share": 0.4 } }""", "$.rules[1].if.categoryShareAtLeast.category", "is required")]
    [InlineData("""{ "categoryShareAtLeast": { "category": "baby", "share": 0.4, "days": 0 } }""", "$.rules[1].if.categoryShareAtLeast.days", "whole number ≥ 1")]
    [InlineData("""{ "categoryIn": [] }""", "$.rules[1].if.categoryIn", "non-empty array of strings")]
    [InlineData("""{ "categoryIn": ["baby", ""] }""", "$.rules[1].if.categoryIn[1]", "non-empty string")]
    [InlineData("""{ "orderValueAtLeast": 49.99 }""", "$.rules[1].if.orderValueAtLeast", "whole number ≥ 0")]
    [InlineData("""{ "orderValueAtLeast": "5000" }""", "$.rules[1].if.orderValueAtLeast", "whole number ≥ 0")]
    [InlineData("""{ "lineCountAtLeast": 0 }""", "$.rules[1].if.lineCountAtLeast", "whole number ≥ 1")]
    [InlineData("""{ "topFractionAtMost": -0.1 }""", "$.rules[1].if.topFractionAtMost", "fraction 0..1")]
    [InlineData("""{ "gameMinutesAtLeast": { "minutes": 60 } }""", "$.rules[1].if.gameMinutesAtLeast.days", "is required")]
    [InlineData("""{ "gameMinutesAtLeast": { "minutes": 60, "days": 7, "hours": 1 } }""", "$.rules[1].if.gameMinutesAtLeast.hours", "unknown property")]
    [InlineData("""{ "supportStatusIn": ["resolved", "closed"] }""", "$.rules[1].if.supportStatusIn[1]", "'closed' is not one of opened, escalated, resolved")]
    [InlineData("""{ "channelIs": "email" }""", "$.rules[1].if.channelIs", "'email' is not one of bot, human")]
    [InlineData("""{ "satisfactionAtLeast": 6 }""", "$.rules[1].if.satisfactionAtLeast", "whole number 1..5")]
    [InlineData("""{ "supportContactsAtLeast": { "contacts": 0, "days": 7 } }""", "$.rules[1].if.supportContactsAtLeast.contacts", "whole number ≥ 1")]
    [InlineData("""{ "ageAtLeast": 151 }""", "$.rules[1].if.ageAtLeast", "whole number 0..150")]
    [InlineData("""{ "accessibilityNeeds": "yes" }""", "$.rules[1].if.accessibilityNeeds", "true or false")]
    [InlineData("""{ "hasPerk": "" }""", "$.rules[1].if.hasPerk", "non-empty string")]
    [InlineData("""{ "dateBetween": { "from": "2026/11/25", "to": "2026-11-30" } }""", "$.rules[1].if.dateBetween.from", "date yyyy-MM-dd")]
    [InlineData("""{ "dateBetween": { "from": "2026-11-25", "to": "2026-02-30" } }""", "$.rules[1].if.dateBetween.to", "date yyyy-MM-dd")]
    [InlineData("""{ "dateBetween": { "from": "2026-11-25", "to": "2026-11-24" } }""", "$.rules[1].if.dateBetween.to", "is before from")]
    [InlineData("""{ "dayOfWeekIn": ["monday", "funday"] }""", "$.rules[1].if.dayOfWeekIn[1]", "'funday' is not a day of the week")]
    [InlineData("""{ "dayOfWeekIn": ["1"] }""", "$.rules[1].if.dayOfWeekIn[0]", "'1' is not a day of the week")]
    [InlineData("""{ "dayOfWeekIn": ["monday,tuesday"] }""", "$.rules[1].if.dayOfWeekIn[0]", "'monday,tuesday' is not a day of the week")]
    [InlineData("""{ "hourBetween": { "from": 25, "to": 6 } }""", "$.rules[1].if.hourBetween.from", "whole number 0..23")]
    [InlineData("""{ "hourBetween": { "from": 22, "to": 25 } }""", "$.rules[1].if.hourBetween.to", "whole number 0..24")]
    [InlineData("""{ "hourBetween": { "from": 22 } }""", "$.rules[1].if.hourBetween.to", "is required")]
    public void Condition_mistake_is_reported_at_its_path(string condition, string path, string problem)
    {
        var error = SingleError(RuleIf(condition));

        Assert.Equal(path, error.Path);
        Assert.Contains(problem, error.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "tierAtLeast": "Diamond" }""", "$.rules[1].if.tierAtLeast", "no tier 'Diamond' in $.tiers.levels")]
    [InlineData("""{ "all": [ { "orderValueAtLeast": 1 }, { "not": { "tierAtLeast": "silver" } } ] }""", "$.rules[1].if.all[1].not.tierAtLeast", "no tier 'silver'")]
    [InlineData("""{ "categoryShareAtLeast": { "category": "baby", "share": 0.4, "days": 91 } }""", "$.rules[1].if.categoryShareAtLeast.days", "91 days is longer than $.history.affinityWindowDays (90)")]
    [InlineData("""{ "any": [ { "gameMinutesAtLeast": { "minutes": 60, "days": 31 } } ] }""", "$.rules[1].if.any[0].gameMinutesAtLeast.days", "31 days is longer than $.history.activityWindowDays (30)")]
    [InlineData("""{ "supportContactsAtLeast": { "contacts": 3, "days": 45 } }""", "$.rules[1].if.supportContactsAtLeast.days", "45 days is longer than $.history.activityWindowDays (30)")]
    public void Condition_that_does_not_fit_the_program_is_reported_at_its_path(string condition, string path, string problem)
    {
        var error = SingleError(RuleIf(condition));

        Assert.Equal(path, error.Path);
        Assert.Contains(problem, error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Affinity_window_of_a_condition_is_checked_against_the_programs_own_history()
    {
        var rules = RuleIf("""{ "categoryShareAtLeast": { "category": "baby", "share": 0.4, "days": 120 } }""");

        Assert.Equal("$.rules[1].if.categoryShareAtLeast.days", SingleError(rules).Path);
        // The same rule is valid where 120 days of spend are kept.
        var program = ProgramLoader.Parse(ProgramJson(rules, Catalogue, p => p["history"]!["affinityWindowDays"] = 120));
        Assert.Equal(2, program.Definition.Rules.Count);
    }

    // ---- effects ----

    [Theory]
    [InlineData("""[{ "grantReward": "no-such-reward" }]""", "$.rules[0].then[0].grantReward", "no reward 'no-such-reward' in $.rewards")]
    [InlineData("""[{ "addPoints": 5 }, { "addPoints": 5, "grantPerk": { "perk": "vip" } }]""", "$.rules[0].then[1]", "must set exactly one effect")]
    [InlineData("""[{}]""", "$.rules[0].then[0]", "must set exactly one effect")]
    [InlineData("""[]""", "$.rules[0].then", "must have at least one effect")]
    [InlineData("""[null]""", "$.rules[0].then[0]", "must not be null")]
    [InlineData("""[{ "grantCurrencyPerMinuteTimesDifficulty": { "reward": "baby-5" } }]""", "$.rules[0].then[0].grantCurrencyPerMinuteTimesDifficulty.reward", "'baby-5' is not a currency reward")]
    [InlineData("""[{ "grantPerk": { "perk": "vip", "days": 0 } }]""", "$.rules[0].then[0].grantPerk.days", "must be 1..36600 (omit for permanent)")]
    [InlineData("""[{ "grantPerk": { "perk": " " } }]""", "$.rules[0].then[0].grantPerk.perk", "must be 1..64 characters")]
    [InlineData("""[{ "multiplyBasePoints": 101 }]""", "$.rules[0].then[0].multiplyBasePoints", "must be 0..100")]
    [InlineData("""[{ "pointsPerCurrencyUnit": -1 }]""", "$.rules[0].then[0].pointsPerCurrencyUnit", "must be 0..100")]
    [InlineData("""[{ "addPoints": 5, "bonus": 5 }]""", "$.rules[0].then[0].bonus", "'bonus'")]
    public void Effect_mistake_is_reported_at_its_path(string effects, string path, string problem)
    {
        var error = SingleError(RuleThen(effects));

        Assert.Equal(path, error.Path);
        Assert.Contains(problem, error.Problem, StringComparison.Ordinal);
    }

    // ---- rules ----

    [Theory]
    [InlineData("""[{ "id": "r", "when": ["any"], "then": [{ "addPoints": 1 }] }, { "id": "r", "when": ["purchase"], "then": [{ "addPoints": 2 }] }]""",
        "$.rules[1].id", "rule 'r' is defined twice")]
    [InlineData("""[{ "id": "r", "when": ["purchase", "purchases"], "then": [{ "addPoints": 1 }] }]""",
        "$.rules[0].when[1]", "'purchases' is not an event kind")]
    [InlineData("""[{ "id": "r", "when": [], "then": [{ "addPoints": 1 }] }]""", "$.rules[0].when", "at least one event kind")]
    [InlineData("""[{ "id": "", "when": ["any"], "then": [{ "addPoints": 1 }] }]""", "$.rules[0].id", "must be 1..64 characters")]
    [InlineData("""[{ "id": "r", "when": ["any"] }]""", "$.rules[0]", "'then'")]
    [InlineData("""[{ "id": "r", "when": ["any"], "then": [{ "addPoints": 1 }], "limits": { "startDate": "25.11.2026" } }]""",
        "$.rules[0].limits.startDate", "could not be converted")]
    [InlineData("""[{ "id": "r", "when": ["any"], "then": [{ "addPoints": 1 }], "limits": { "startDate": "2026-11-30", "endDate": "2026-11-01" } }]""",
        "$.rules[0].limits.endDate", "is before startDate")]
    [InlineData("""[{ "id": "r", "when": ["any"], "then": [{ "addPoints": 1 }], "limits": { "maxPerCustomer": 0 } }]""",
        "$.rules[0].limits.maxPerCustomer", "must be 1..50")]
    [InlineData("""[{ "id": "r", "when": ["any"], "then": [{ "addPoints": 1 }], "limits": { "maxPerCustomer": 51 } }]""",
        "$.rules[0].limits.maxPerCustomer", "must be 1..50")]
    [InlineData("""[{ "id": "r", "when": ["any"], "then": [{ "addPoints": 1 }], "limits": { "cooldownHours": 0 } }]""",
        "$.rules[0].limits.cooldownHours", "must be positive")]
    [InlineData("""[{ "id": "r", "when": ["any"], "then": [{ "addPoints": 1 }], "limits": { "periodDays": 0 } }]""",
        "$.rules[0].limits.periodDays", "must be 1..36600")]
    [InlineData("""[{ "id": "r", "when": ["any"], "then": [{ "addPoints": 1 }], "limit": { "maxPerCustomer": 1 } }]""",
        "$.rules[0].limit", "'limit'")]
    public void Rule_mistake_is_reported_at_its_path(string rules, string path, string problem)
    {
        var error = SingleError(rules);

        Assert.Equal(path, error.Path);
        Assert.Contains(problem, error.Problem, StringComparison.Ordinal);
    }

    // ---- rewards ----

    [Theory]
    [InlineData("""[{ "id": "a", "coupon": { "valueMinor": 500 } }, { "id": "a", "coupon": { "percent": 10 } }]""", "$.rewards[1].id", "reward 'a' is defined twice")]
    [InlineData("""[{ "id": "a", "coupon": { "valueMinor": 500, "percent": 10 } }]""", "$.rewards[0].coupon", "exactly one of valueMinor and percent")]
    [InlineData("""[{ "id": "a", "coupon": { "validityDays": 30 } }]""", "$.rewards[0].coupon", "exactly one of valueMinor and percent")]
    [InlineData("""[{ "id": "a", "coupon": { "valueMinor": 500 }, "perk": { "name": "vip" } }]""", "$.rewards[0]", "exactly one of coupon, gameItem, currency, perk")]
    [InlineData("""[{ "id": "a", "description": "nothing at all" }]""", "$.rewards[0]", "exactly one of coupon, gameItem, currency, perk")]
    [InlineData("""[{ "id": "a", "coupon": { "percent": 101 } }]""", "$.rewards[0].coupon.percent", "must be 1..100")]
    [InlineData("""[{ "id": "a", "coupon": { "valueMinor": 500, "validityDays": 0 } }]""", "$.rewards[0].coupon.validityDays", "must be 1..3660")]
    [InlineData("""[{ "id": "a", "coupon": { "valueMinor": 500, "codePrefix": "BABY-1" } }]""", "$.rewards[0].coupon.codePrefix", "1..12 letters or digits")]
    [InlineData("""[{ "id": "a", "currency": { "gameId": "chess", "amount": -5 } }]""", "$.rewards[0].currency.amount", "must not be negative")]
    [InlineData("""[{ "id": "a", "perk": { "name": "vip", "durationDays": 0 } }]""", "$.rewards[0].perk.durationDays", "must be 1..36600")]
    [InlineData("""[{ "id": "a", "pointsPrice": 0, "coupon": { "valueMinor": 500 } }]""", "$.rewards[0].pointsPrice", "must be at least 1")]
    [InlineData("""[{ "id": "a", "gameItem": { "gameId": "chess" } }]""", "$.rewards[0].gameItem", "'itemId'")]
    public void Reward_mistake_is_reported_at_its_path(string rewards, string path, string problem)
    {
        var error = SingleError("[]", rewards);

        Assert.Equal(path, error.Path);
        Assert.Contains(problem, error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_mistake_the_validator_finds_is_reported_at_once()
    {
        var errors = Errors(ProgramJson("""
            [
              { "id": "a", "when": ["purchase"], "then": [{ "grantReward": "missing" }] },
              { "id": "a", "when": ["sale"], "if": { "tierAtLeast": "Diamond" }, "then": [] }
            ]
            """, """[{ "id": "x", "coupon": { "valueMinor": 1, "percent": 1 } }, { "id": "x", "gameItem": { "gameId": "g", "itemId": "i" } }]"""));

        Assert.Equal(
        [
            "$.rewards[0].coupon",
            "$.rewards[1].id",
            "$.rules[0].then[0].grantReward",
            "$.rules[1].id",
            "$.rules[1].when[0]",
            "$.rules[1].then",
            "$.rules[1].if.tierAtLeast",
        ], errors.Select(e => e.Path));
    }

    [Fact]
    public void The_error_message_names_the_source_and_every_problem()
    {
        var e = Assert.Throws<ProgramValidationException>(() =>
            ProgramLoader.Parse(ProgramJson(RuleThen("""[{ "grantReward": "nope" }]""")), "draft.json"));

        Assert.Contains("'draft.json'", e.Message, StringComparison.Ordinal);
        Assert.Contains("$.rules[0].then[0].grantReward: no reward 'nope' in $.rewards", e.Message, StringComparison.Ordinal);
    }
}

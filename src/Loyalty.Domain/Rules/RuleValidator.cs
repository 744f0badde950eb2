using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Rules;

/// <summary>Checks the rewards catalogue and the rules beyond their shape: references, exclusivity, windows.</summary>
public static class RuleValidator
{
    public static void Validate(LoyaltyProgram p, List<ProgramError> errors)
    {
        void Check(bool ok, string path, string problem)
        {
            if (!ok)
            {
                errors.Add(new ProgramError(path, problem));
            }
        }

        var rewardIds = new HashSet<string>();
        for (var i = 0; i < p.Rewards.Count; i++)
        {
            var r = p.Rewards[i];
            var path = $"$.rewards[{i}]";
            if (r is null)
            {
                errors.Add(new ProgramError(path, "must not be null"));
                continue;
            }
            Check(!string.IsNullOrWhiteSpace(r.Id) && r.Id.Length <= 64, $"{path}.id", "must be 1..64 characters");
            Check(r.Description.Length <= 200, $"{path}.description", "must be at most 200 characters");
            Check(rewardIds.Add(r.Id), $"{path}.id", $"reward '{r.Id}' is defined twice");
            var kinds = new object?[] { r.Coupon, r.GameItem, r.Currency, r.Perk }.Count(x => x is not null);
            Check(kinds == 1, path, "must define exactly one of coupon, gameItem, currency, perk");
            Check(r.PointsPrice is null or >= 1, $"{path}.pointsPrice", "must be at least 1 when set");
            Check(r.MaxPerCustomer is null or (>= 1 and <= 50), $"{path}.maxPerCustomer", "must be 1..50");
            Check(r.PeriodDays is >= 1 and <= 36600, $"{path}.periodDays", "must be 1..36600");
            if (r.Coupon is { } c)
            {
                Check(c.ValueMinor is null != c.Percent is null, $"{path}.coupon", "must set exactly one of valueMinor and percent");
                Check(c.ValueMinor is null or >= 1, $"{path}.coupon.valueMinor", "must be at least 1");
                Check(c.Percent is null or (>= 1 and <= 100), $"{path}.coupon.percent", "must be 1..100");
                Check(c.ValidityDays is >= 1 and <= 3660, $"{path}.coupon.validityDays", "must be 1..3660");
                Check(c.CodePrefix.Length is >= 1 and <= 12 && c.CodePrefix.All(char.IsAsciiLetterOrDigit), $"{path}.coupon.codePrefix", "must be 1..12 letters or digits");
            }
            if (r.Currency is { } cur)
            {
                Check(cur.Amount >= 0, $"{path}.currency.amount", "must not be negative");
            }
            if (r.Perk is { } perk)
            {
                Check(!string.IsNullOrWhiteSpace(perk.Name) && perk.Name.Length <= 64, $"{path}.perk.name", "must be 1..64 characters");
                Check(perk.DurationDays is null or (>= 1 and <= 36600), $"{path}.perk.durationDays", "must be 1..36600 (omit for permanent)");
            }
        }

        var ruleIds = new HashSet<string>();
        var tiers = p.Tiers.Levels.Where(t => t is not null).Select(t => t.Name).ToHashSet();
        for (var i = 0; i < p.Rules.Count; i++)
        {
            var rule = p.Rules[i];
            var path = $"$.rules[{i}]";
            if (rule is null)
            {
                errors.Add(new ProgramError(path, "must not be null"));
                continue;
            }
            Check(!string.IsNullOrWhiteSpace(rule.Id) && rule.Id.Length <= 64 && !rule.Id.Contains('/'), $"{path}.id", "must be 1..64 characters without '/'");
            Check(ruleIds.Add(rule.Id), $"{path}.id", $"rule '{rule.Id}' is defined twice");
            Check(rule.When.Count > 0, $"{path}.when", "must name at least one event kind");
            for (var w = 0; w < rule.When.Count; w++)
            {
                Check(rule.When[w] == "any" || EventKinds.All.Contains(rule.When[w]), $"{path}.when[{w}]",
                    $"'{rule.When[w]}' is not an event kind ({string.Join(", ", EventKinds.All)}, or any)");
            }
            Check(rule.Then.Count > 0, $"{path}.then", "must have at least one effect");
            for (var t = 0; t < rule.Then.Count; t++)
            {
                var effect = rule.Then[t];
                var ep = $"{path}.then[{t}]";
                if (effect is null)
                {
                    errors.Add(new ProgramError(ep, "must not be null"));
                    continue;
                }
                var set = new object?[]
                {
                    effect.AddPoints, effect.PointsPerCurrencyUnit, effect.PointsPerMinuteTimesDifficulty, effect.MultiplyBasePoints,
                    effect.GrantReward, effect.GrantCurrencyPerMinuteTimesDifficulty, effect.GrantPerk,
                }.Count(x => x is not null);
                Check(set == 1, ep, "must set exactly one effect (addPoints, pointsPerCurrencyUnit, pointsPerMinuteTimesDifficulty, multiplyBasePoints, grantReward, grantCurrencyPerMinuteTimesDifficulty, grantPerk)");
                Check(effect.AddPoints is null or (>= -1_000_000_000 and <= 1_000_000_000), $"{ep}.addPoints", "must be within ±1000000000");
                Check(effect.PointsPerCurrencyUnit is null or (>= 0 and <= 100), $"{ep}.pointsPerCurrencyUnit", "must be 0..100");
                Check(effect.PointsPerMinuteTimesDifficulty is null or (>= 0 and <= 1000), $"{ep}.pointsPerMinuteTimesDifficulty", "must be 0..1000");
                Check(effect.MultiplyBasePoints is null or (>= 0 and <= 100), $"{ep}.multiplyBasePoints", "must be 0..100");
                if (effect.GrantReward is { } id)
                {
                    Check(rewardIds.Contains(id), $"{ep}.grantReward", $"no reward '{id}' in $.rewards");
                }
                if (effect.GrantCurrencyPerMinuteTimesDifficulty is { } scaled)
                {
                    var target = p.Rewards.FirstOrDefault(r => r?.Id == scaled.Reward);
                    Check(target?.Currency is not null, $"{ep}.grantCurrencyPerMinuteTimesDifficulty.reward", $"'{scaled.Reward}' is not a currency reward in $.rewards");
                    Check(scaled.PerMinuteTimesDifficulty is >= 0 and <= 1000, $"{ep}.grantCurrencyPerMinuteTimesDifficulty.perMinuteTimesDifficulty", "must be 0..1000");
                }
                if (effect.GrantPerk is { } perk)
                {
                    Check(!string.IsNullOrWhiteSpace(perk.Perk) && perk.Perk.Length <= 64, $"{ep}.grantPerk.perk", "must be 1..64 characters");
                    Check(perk.Days is null or (>= 1 and <= 36600), $"{ep}.grantPerk.days", "must be 1..36600 (omit for permanent)");
                }
            }
            var limits = rule.Limits;
            Check(limits.MaxPerCustomer is null or (>= 1 and <= 50), $"{path}.limits.maxPerCustomer", "must be 1..50 (each firing in the period is remembered on the customer)");
            Check(limits.PeriodDays is >= 1 and <= 36600, $"{path}.limits.periodDays", "must be 1..36600");
            Check(limits.MaxPerCase is >= 1 and <= 50, $"{path}.limits.maxPerCase", "must be 1..50 (firings per support case)");
            Check(limits.MaxPerCase == 1 || rule.When is ["support_case"], $"{path}.limits.maxPerCase", "applies to rules on support_case only");
            Check(limits.CooldownHours is null or (> 0 and <= 876_000), $"{path}.limits.cooldownHours", "must be positive");
            Check(limits.StartDate is null || limits.EndDate is null || limits.StartDate <= limits.EndDate, $"{path}.limits.endDate", "is before startDate");
            if (limits.Budget is { } budget)
            {
                Check(budget.MaxGrants is not null || budget.MaxPoints is not null, $"{path}.limits.budget", "must set maxGrants, maxPoints or both");
                Check(budget.MaxGrants is null or >= 1, $"{path}.limits.budget.maxGrants", "must be at least 1");
                Check(budget.MaxPoints is null or >= 1, $"{path}.limits.budget.maxPoints", "must be at least 1");
                Check(budget.PeriodDays is null or (>= 1 and <= 36600), $"{path}.limits.budget.periodDays", "must be 1..36600");
            }
            if (rule.If is { } condition)
            {
                Walk(condition, $"{path}.if", p, tiers, errors);
            }
        }
    }

    private static void Walk(Condition c, string path, LoyaltyProgram p, HashSet<string> tiers, List<ProgramError> errors)
    {
        switch (c)
        {
            case AllOf all:
                for (var i = 0; i < all.Conditions.Count; i++)
                {
                    Walk(all.Conditions[i], $"{path}.all[{i}]", p, tiers, errors);
                }
                break;
            case AnyOf any:
                for (var i = 0; i < any.Conditions.Count; i++)
                {
                    Walk(any.Conditions[i], $"{path}.any[{i}]", p, tiers, errors);
                }
                break;
            case NotOf not:
                Walk(not.Inner, $"{path}.not", p, tiers, errors);
                break;
            case TierAtLeast t when !tiers.Contains(t.Tier):
                errors.Add(new ProgramError($"{path}.tierAtLeast", $"no tier '{t.Tier}' in $.tiers.levels"));
                break;
            case CategoryShareAtLeast s when s.Days > p.History.AffinityWindowDays:
                errors.Add(new ProgramError($"{path}.categoryShareAtLeast.days", $"{s.Days} days is longer than $.history.affinityWindowDays ({p.History.AffinityWindowDays}), the spend history kept"));
                break;
            case GameMinutesAtLeast g when g.Days > p.History.ActivityWindowDays:
                errors.Add(new ProgramError($"{path}.gameMinutesAtLeast.days", $"{g.Days} days is longer than $.history.activityWindowDays ({p.History.ActivityWindowDays}), the activity history kept"));
                break;
            case SupportContactsAtLeast s when s.Days > p.History.ActivityWindowDays:
                errors.Add(new ProgramError($"{path}.supportContactsAtLeast.days", $"{s.Days} days is longer than $.history.activityWindowDays ({p.History.ActivityWindowDays}), the activity history kept"));
                break;
        }
    }
}

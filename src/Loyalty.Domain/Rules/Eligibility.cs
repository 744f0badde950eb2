using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Rules;

public sealed record EligibleReward(string RewardId, string Kind, string Description, long PointsPrice, bool RedeemableNow, long PointsMissing);

public sealed record NearMiss(string RuleId, string Description, IReadOnlyList<string> RewardIds, string Missing);

/// <summary>What a customer can have now and what they are close to.</summary>
public sealed record Eligibility(IReadOnlyList<EligibleReward> Rewards, IReadOnlyList<NearMiss> NearMisses, string ProgramVersion)
{
    public static Eligibility Of(CustomerState state, ActiveProgram program, DateTimeOffset now)
    {
        var rewards = program.Definition.Rewards
            .Where(r => r.PointsPrice is not null)
            .Select(r => new EligibleReward(r.Id, r.Kind, r.Description, r.PointsPrice!.Value,
                state.PointsAvailable >= r.PointsPrice, Math.Max(0, r.PointsPrice!.Value - state.PointsAvailable)))
            .OrderByDescending(r => r.RedeemableNow).ThenBy(r => r.PointsPrice)
            .ToList();

        // Near misses look at the customer as they are now, with no event: what one more step would unlock.
        var probe = new LoyaltyEvent { EventId = "", CustomerId = state.CustomerId, OccurredAt = now };
        var context = new RuleContext(state, probe, program, now, basePoints: 0);
        var misses = new List<NearMiss>();
        foreach (var rule in program.Definition.Rules)
        {
            if (rule.If is not { } condition || !InWindow(rule, context))
            {
                continue;
            }
            if (MaxedOut(rule, state, now))
            {
                continue;
            }
            if (Missing(condition, context) is { } missing)
            {
                var granted = rule.Then.Select(t => t.GrantReward ?? t.GrantCurrencyPerMinuteTimesDifficulty?.Reward ?? t.GrantPerk?.Perk)
                    .OfType<string>().ToList();
                misses.Add(new NearMiss(rule.Id, rule.Description, granted, missing));
            }
        }
        return new Eligibility(rewards, misses, program.Version);
    }

    /// <summary>A phrase for what is missing, when every failing part of the condition can say it.</summary>
    public static string? Missing(Condition c, RuleContext context)
    {
        switch (c)
        {
            case AllOf all:
                // Near: something about the customer is missing and can be said; what the next event must be
                // (a category, a difficulty) is added when it can be said too.
                var failing = all.Conditions.Where(x => !x.Holds(context)).ToList();
                var customerSide = failing.Where(x => !IsAboutTheEvent(x)).Select(x => Missing(x, context)).ToList();
                if (customerSide.Count == 0 || customerSide.Any(p => p is null))
                {
                    return null;
                }
                var eventSide = failing.Where(IsAboutTheEvent).Select(x => x.Missing(context)).OfType<string>();
                return string.Join(" and ", customerSide.Concat(eventSide));
            case AnyOf any:
                return any.Holds(context) ? null : any.Conditions.Select(x => Missing(x, context)).FirstOrDefault(p => p is not null);
            default:
                return c.Holds(context) || IsAboutTheEvent(c) ? null : c.Missing(context);
        }
    }

    /// <summary>Conditions on the event itself (its category, value, difficulty...) are met by the next event,
    /// not by the customer's history; a near miss describes the customer's side only.</summary>
    private static bool IsAboutTheEvent(Condition c) => c is CategoryIn or OrderValueAtLeast or LineCountAtLeast or GameIdIn
        or MinutesAtLeast or DifficultyAtLeast or ScoreAtLeast or RankAtMost or TopFractionAtMost or AchievementIn
        or SupportStatusIn or ChannelIs or SatisfactionAtLeast or BotTurnsAtLeast or WaitSecondsAtLeast
        or DateBetween or DayOfWeekIn or HourBetween;

    private static bool InWindow(RuleDefinition rule, RuleContext c)
    {
        var date = DateOnly.FromDateTime(c.LocalNow.DateTime);
        return !(rule.Limits.StartDate is { } s && date < s || rule.Limits.EndDate is { } e && date > e);
    }

    private static bool MaxedOut(RuleDefinition rule, CustomerState state, DateTimeOffset now)
    {
        if (rule.Limits.MaxPerCustomer is not { } max)
        {
            return false;
        }
        var from = RuleFiring.MinuteOf(now) - rule.Limits.PeriodDays * 1440;
        return (state.Firings.Find(f => f.RuleId == rule.Id)?.Minutes.Count(m => m > from) ?? 0) >= max;
    }
}

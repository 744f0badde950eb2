using System.Text.Json.Serialization;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;

namespace Loyalty.Domain.Rules;

/// <summary>A test on the event, the customer and the time. Written in JSON as an object with exactly one
/// property naming the condition, e.g. <c>{"orderValueAtLeast": 5000}</c> or <c>{"all": [ ... ]}</c>.</summary>
[JsonConverter(typeof(ConditionJsonConverter))]
public abstract record Condition
{
    public abstract bool Holds(RuleContext c);

    /// <summary>What is still missing for this condition to hold, when that can be said in one phrase
    /// ("spend 30.00 more in sports"); null when it holds or cannot be said.</summary>
    public virtual string? Missing(RuleContext c) => null;
}

public sealed record AllOf(IReadOnlyList<Condition> Conditions) : Condition
{
    public override bool Holds(RuleContext c)
    {
        // By index: a foreach over the interface would box its enumerator for every event.
        var conditions = Conditions;
        for (var i = 0; i < conditions.Count; i++)
        {
            if (!conditions[i].Holds(c))
            {
                return false;
            }
        }
        return true;
    }
    public override string? Missing(RuleContext c)
    {
        var failing = Conditions.Where(x => !x.Holds(c)).ToList();
        return failing.Count == 1 ? failing[0].Missing(c) : null;
    }
}

public sealed record AnyOf(IReadOnlyList<Condition> Conditions) : Condition
{
    public override bool Holds(RuleContext c)
    {
        var conditions = Conditions;
        for (var i = 0; i < conditions.Count; i++)
        {
            if (conditions[i].Holds(c))
            {
                return true;
            }
        }
        return false;
    }
    public override string? Missing(RuleContext c) => Conditions.Select(x => x.Missing(c)).FirstOrDefault(m => m is not null);
}

public sealed record NotOf(Condition Inner) : Condition
{
    public override bool Holds(RuleContext c) => !Inner.Holds(c);
}

// ---- purchase ----

public sealed record CategoryIn(IReadOnlyList<string> Categories) : Condition
{
    public override bool Holds(RuleContext c)
    {
        foreach (var category in Categories)
        {
            if (c.PurchaseCategories.Contains(category))
            {
                return true;
            }
        }
        return false;
    }
}

public sealed record OrderValueAtLeast(long Minor) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is Purchase p && RuleContext.OrderValue(p) >= Minor;
    public override string? Missing(RuleContext c) => c.Event.Payload is Purchase p && RuleContext.OrderValue(p) < Minor
        ? $"an order of at least {c.Money(Minor)}" : null;
}

public sealed record LineCountAtLeast(int Lines) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is Purchase p && p.Lines.Count >= Lines;
}

/// <summary>The customer's share of spend (or of purchases) in a category, over the last N days or the last
/// N purchases, is at least the given fraction.</summary>
public sealed record CategoryShareAtLeast(string Category, double Share, int? Days, int? Purchases, bool ByCount) : Condition
{
    public override bool Holds(RuleContext c) => c.CategoryShare(this).Share >= Share;

    public override string? Missing(RuleContext c)
    {
        var (share, inCategory, total) = c.CategoryShare(this);
        if (share >= Share || ByCount || Share >= 1)
        {
            return null; // a share of 100 % cannot be reached by spending more in the category
        }
        // Spend x more in the category so that (in + x) / (total + x) >= Share.
        var more = (long)Math.Ceiling((Share * total - inCategory) / (1 - Share));
        return more > 0 ? $"spend {c.Money(more)} more in {Category}" : null;
    }
}

// ---- game ----

public sealed record GameIdIn(IReadOnlyList<string> Games) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload switch
    {
        GameSession g => Games.Contains(g.GameId),
        MatchResult m => Games.Contains(m.GameId),
        Achievement a => Games.Contains(a.GameId),
        _ => false,
    };
}

public sealed record MinutesAtLeast(int Minutes) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is GameSession g && g.DurationSeconds / 60 >= Minutes;
    public override string? Missing(RuleContext c) => c.Event.Payload is GameSession g && g.DurationSeconds / 60 < Minutes
        ? $"{Minutes - g.DurationSeconds / 60} more minutes in one session" : null;
}

public sealed record DifficultyAtLeast(int Difficulty) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is GameSession g && g.Difficulty >= Difficulty;
    public override string? Missing(RuleContext c) => $"a session at difficulty ≥ {Difficulty}";
}

public sealed record ScoreAtLeast(long Score) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is GameSession g && g.Score >= Score;
}

public sealed record RankAtMost(int Rank) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is MatchResult m && m.Rank <= Rank;
    public override string? Missing(RuleContext c) => $"a top-{Rank} finish";
}

public sealed record TopFractionAtMost(double Fraction) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is MatchResult m && (double)m.Rank / m.Participants <= Fraction;
}

public sealed record AchievementIn(IReadOnlyList<string> Achievements) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is Achievement a && Achievements.Contains(a.AchievementId);
}

public sealed record GameMinutesAtLeast(long Minutes, int Days) : Condition
{
    public override bool Holds(RuleContext c) => c.GameMinutes(Days) >= Minutes;
    public override string? Missing(RuleContext c)
    {
        var have = c.GameMinutes(Days);
        return have < Minutes ? $"{Minutes - have} more minutes played within {Days} days" : null;
    }
}

// ---- support ----

public sealed record SupportStatusIn(IReadOnlyList<SupportStatus> Statuses) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is SupportCase s && Statuses.Contains(s.Status);
}

public sealed record ChannelIs(SupportChannel Channel) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is SupportCase s && s.Channel == Channel;
}

public sealed record SatisfactionAtLeast(int Rating) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is SupportCase { Satisfaction: { } r } && r >= Rating;
}

public sealed record BotTurnsAtLeast(int Turns) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is SupportCase s && s.BotTurns >= Turns;
}

public sealed record WaitSecondsAtLeast(int Seconds) : Condition
{
    public override bool Holds(RuleContext c) => c.Event.Payload is SupportCase s && s.WaitSeconds >= Seconds;
}

public sealed record SupportContactsAtLeast(int Contacts, int Days) : Condition
{
    public override bool Holds(RuleContext c) => c.SupportContacts(Days) >= Contacts;
}

// ---- customer ----

public sealed record TierAtLeast(string Tier) : Condition
{
    public override bool Holds(RuleContext c) => c.Program.TierRank(c.State.Tier) >= c.Program.TierRank(Tier);
    public override string? Missing(RuleContext c) => $"tier {Tier}";
}

public sealed record PointsAvailableAtLeast(long Points) : Condition
{
    public override bool Holds(RuleContext c) => c.State.PointsAvailable >= Points;
    public override string? Missing(RuleContext c) =>
        c.State.PointsAvailable < Points ? $"{Points - c.State.PointsAvailable} more points" : null;
}

public sealed record PointsLifetimeAtLeast(long Points) : Condition
{
    public override bool Holds(RuleContext c) => c.State.PointsLifetime >= Points;
    public override string? Missing(RuleContext c) =>
        c.State.PointsLifetime < Points ? $"{Points - c.State.PointsLifetime} more lifetime points" : null;
}

public sealed record AgeAtLeast(int Years) : Condition
{
    public override bool Holds(RuleContext c) => c.State.Profile.BirthYear > 0 && c.LocalNow.Year - c.State.Profile.BirthYear >= Years;
}

public sealed record AccessibilityNeeds(bool Value) : Condition
{
    public override bool Holds(RuleContext c) => c.State.Profile.AccessibilityNeeds == Value;
}

public sealed record HasPerk(string Perk) : Condition
{
    public override bool Holds(RuleContext c) => c.HoldsPerk(Perk);
}

// ---- time (program-local, at the event's occurred_at) ----

public sealed record DateBetween(DateOnly From, DateOnly To) : Condition
{
    public override bool Holds(RuleContext c)
    {
        var d = DateOnly.FromDateTime(c.LocalOccurred.DateTime);
        return d >= From && d <= To;
    }
}

public sealed record DayOfWeekIn(IReadOnlyList<DayOfWeek> Days) : Condition
{
    public override bool Holds(RuleContext c) => Days.Contains(c.LocalOccurred.DayOfWeek);
}

/// <summary>From (inclusive) to (exclusive) in local hours; wraps past midnight when From > To.</summary>
public sealed record HourBetween(int From, int To) : Condition
{
    public override bool Holds(RuleContext c)
    {
        var h = c.LocalOccurred.Hour;
        return From <= To ? h >= From && h < To : h >= From || h < To;
    }
}

using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Customers;

/// <summary>Spendable points that expire at <see cref="At"/>.</summary>
public sealed record ExpiringPoints(DateTimeOffset At, long Points);

public sealed record TierProgress(string CurrentTier, string NextTier, long QualifyingPoints, long PointsToNextTier, int WindowDays);

public sealed record CategoryAffinity(string Category, long SpendMinor, int PurchaseCount, double SpendShare);

public sealed record ActivityTotals(int WindowDays, long GameMinutes, int GameSessions, int SupportContacts, int SupportRatings, double AverageSatisfaction);

/// <summary>Everything GetCustomer shows, computed from the state at a point in time.</summary>
public sealed record CustomerView(
    CustomerSummary Summary,
    TierProgress TierProgress,
    CustomerProfile Profile,
    IReadOnlyList<CategoryAffinity> Affinity,
    int AffinityWindowDays,
    ActivityTotals Activity,
    DateTimeOffset FirstSeen,
    DateTimeOffset? LastEventAt,
    long EventsApplied)
{
    /// <summary>Granted rewards, newest first.</summary>
    public IReadOnlyList<GrantedReward> Rewards { get; init; } = [];
    /// <summary>Perks held at the time of the view.</summary>
    public IReadOnlyList<HeldPerk> Perks { get; init; } = [];
    /// <summary>Tier changes, newest first.</summary>
    public IReadOnlyList<TierChange> TierHistory { get; init; } = [];
    /// <summary>Spendable points expiring within <see cref="ExpiringWindowDays"/> days, by expiry instant.</summary>
    public IReadOnlyList<ExpiringPoints> Expiring { get; init; } = [];
    public int ExpiringWindowDays { get; init; } = ExpiringSoonDays;
    /// <summary>When pending points next activate (null = none pending).</summary>
    public DateTimeOffset? NextActivation { get; init; }
    /// <summary>End of the current tier period (null = the tier does not go down) and of a grace period.</summary>
    public DateTimeOffset? TierPeriodEnd { get; init; }
    public DateTimeOffset? GraceUntil { get; init; }
    /// <summary>Points owed after refunds of points already spent.</summary>
    public long Debt { get; init; }

    public const int ExpiringSoonDays = 30;

    /// <summary>The customer as of <paramref name="now"/>: what fell due since the last change (activations, expiry,
    /// tier period ends) is shown as done, on a copy (the stored state catches up on its next write).</summary>
    public static CustomerView? Of(CustomerState state, ActiveProgram program, DateTimeOffset now)
    {
        if (!state.Exists)
        {
            return null;
        }
        if (DueWork.NextDue(state) is { } due && due <= now || !BooksAgree(state))
        {
            state = state.Snapshot();
            DueWork.Advance(state, program, now);
        }
        var today = program.LocalDay(now);
        var definition = program.Definition;

        var qualifyingFrom = today - definition.Tiers.QualifyingWindowDays;
        var qualifying = state.Qualifying.Where(d => d.Day > qualifyingFrom).Sum(d => d.Points);
        var rank = program.TierRank(state.Tier);
        var next = rank + 1 < program.Tiers.Count ? program.Tiers[rank + 1] : null;
        var progress = new TierProgress(state.Tier, next?.Name ?? "", qualifying,
            next is null ? 0 : Math.Max(0, next.QualifyingPoints - qualifying), definition.Tiers.QualifyingWindowDays);

        var affinityFrom = today - definition.History.AffinityWindowDays;
        var categories = state.Categories.Where(c => c.Day > affinityFrom)
            .GroupBy(c => c.Category)
            .Select(g => (Category: g.Key, Spend: g.Sum(c => c.SpendMinor), Count: g.Sum(c => c.Purchases)))
            .ToList();
        var totalSpend = categories.Sum(c => c.Spend);
        var affinity = categories
            .Select(c => new CategoryAffinity(c.Category, c.Spend, c.Count, totalSpend == 0 ? 0 : (double)c.Spend / totalSpend))
            .OrderByDescending(a => a.SpendMinor).ThenBy(a => a.Category, StringComparer.Ordinal)
            .ToList();

        var activityFrom = today - definition.History.ActivityWindowDays;
        var days = state.Activity.Where(a => a.Day > activityFrom).ToList();
        var ratings = days.Sum(a => a.Ratings);
        var activity = new ActivityTotals(definition.History.ActivityWindowDays,
            days.Sum(a => a.GameMinutes), days.Sum(a => a.GameSessions), days.Sum(a => a.SupportContacts), ratings,
            ratings == 0 ? 0 : (double)days.Sum(a => a.RatingSum) / ratings);

        return new CustomerView(CustomerSummary.Of(state), progress, state.Profile, affinity,
            definition.History.AffinityWindowDays, activity, state.FirstSeen!.Value, state.LastEventAt, state.EventsApplied)
        {
            // Descriptions come from the catalogue (the stored grant omits them).
            Rewards = [.. Enumerable.Reverse(state.Rewards).Select(r => r.Description.Length == 0 && program.Rewards.TryGetValue(r.RewardId, out var d) ? r with { Description = d.Description } : r)],
            Perks = [.. state.Perks.Where(p => p.UntilTicks is null || p.UntilTicks > now.UtcTicks)],
            TierHistory = [.. Enumerable.Reverse(state.TierHistory)],
            Expiring = PointsBook.ExpiringWithin(state, now, TimeSpan.FromDays(ExpiringSoonDays)),
            NextActivation = state.Lots.Where(l => l.IsPending).Select(l => (long?)l.PendingUntilTicks).Min() is { } t
                ? new DateTimeOffset(t, TimeSpan.Zero) : null,
            TierPeriodEnd = state.TierPeriodEndTicks == 0 ? null : new DateTimeOffset(state.TierPeriodEndTicks, TimeSpan.Zero),
            GraceUntil = state.GraceUntilTicks == 0 ? null : new DateTimeOffset(state.GraceUntilTicks, TimeSpan.Zero),
            Debt = state.Debt,
        };
    }

    private static bool BooksAgree(CustomerState state) =>
        state.Lots.Where(l => !l.IsPending).Sum(l => l.Points) - state.Debt == state.PointsAvailable;
}

/// <summary>A page of the ledger, newest first. Tokens name the last sequence returned, so they stay valid as entries
/// are added and as older ones move to the archive.</summary>
public sealed record LedgerPage(IReadOnlyList<LedgerEntry> Entries, string NextPageToken)
{
    public static bool TryParseToken(string token, out long before)
    {
        before = 0;
        return token.Length > 1 && token[0] == 'l'
            && long.TryParse(token.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out before)
            && before > 0;
    }

    public static string Token(long sequence) => "l" + sequence.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A page of interactions, newest first.</summary>
public sealed record InteractionPage(IReadOnlyList<Interaction> Interactions, string NextPageToken)
{
    public const int DefaultPageSize = 20;
    public const int MaxPageSize = 100;

    /// <summary>Pages newest first. The token is the sequence number of the last interaction returned,
    /// so it stays valid however many interactions arrive after it was issued.</summary>
    public static InteractionPage Of(CustomerState state, int pageSize, string? pageToken)
    {
        var size = pageSize <= 0 ? DefaultPageSize : Math.Min(pageSize, MaxPageSize);
        var before = long.MaxValue;
        if (!string.IsNullOrEmpty(pageToken))
        {
            if (!TryParseToken(pageToken, out before))
            {
                throw new ArgumentException("page_token is not a token this API issued", nameof(pageToken));
            }
        }
        var page = new List<Interaction>(size);
        for (var i = state.Interactions.Count - 1; i >= 0 && page.Count < size; i--)
        {
            if (state.Interactions.SequenceAt(i) < before)
            {
                page.Add(state.Interactions[i]);
            }
        }
        var more = page.Count == size && state.Interactions.Count > 0 && state.Interactions.SequenceAt(0) < page[^1].Sequence;
        return new InteractionPage(page, more ? "s" + page[^1].Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture) : "");
    }

    public static bool TryParseToken(string token, out long before)
    {
        before = 0;
        return token.Length > 1 && long.TryParse(token.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out before)
        && token[0] == 's' && before > 0;
    }
}

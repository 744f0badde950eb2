using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Events;

/// <summary>A malformed field, named by its path in the public API (e.g. <c>event.purchase.lines[1].quantity</c>).</summary>
public sealed record FieldError(string Field, string Message)
{
    public override string ToString() => $"{Field}: {Message}";
}

/// <summary>Checks the shape of an event against the API contract and the active program.
/// An event that fails here changes nothing.</summary>
public static class EventValidator
{
    public const int MaxIdLength = 128;
    public const int MaxShortText = 128;
    public const int MaxLines = 1000;
    public const int MaxQuantity = 1_000_000;
    /// <summary>10^12 minor units (10 billion in currency units): keeps every sum far from overflow.</summary>
    public const long MaxUnitPriceMinor = 1_000_000_000_000;
    /// <summary>Bound on the value of all lines together (sum of quantity x unit price): the per-line bounds alone
    /// allow 10^18 per line, and a thousand such lines overflow the engine's sums.</summary>
    public const long MaxLinesValueMinor = 1_000_000_000_000;
    public static readonly TimeSpan MaxFutureSkew = TimeSpan.FromMinutes(5);

    public static FieldError? Validate(LoyaltyEvent e, ActiveProgram program, DateTimeOffset now)
    {
        return Id(e.EventId, "event.event_id")
            ?? Id(e.CustomerId, "event.customer_id")
            ?? OccurredAt(e.OccurredAt, now)
            ?? Text(e.Source, "event.source", required: false)
            ?? Payload(e.Payload, program, now);
    }

    private static FieldError? OccurredAt(DateTimeOffset? occurredAt, DateTimeOffset now)
    {
        if (occurredAt is not { } at)
        {
            return new FieldError("event.occurred_at", "is required");
        }
        if (at > now + MaxFutureSkew)
        {
            return new FieldError("event.occurred_at", $"is more than {MaxFutureSkew.TotalMinutes:0} minutes in the future");
        }
        if (at.Year < 2000)
        {
            return new FieldError("event.occurred_at", "is before the year 2000");
        }
        return null;
    }

    private static FieldError? Payload(EventPayload? payload, ActiveProgram program, DateTimeOffset now) => payload switch
    {
        null => new FieldError("event.payload", "exactly one payload (purchase, refund, game_session, match_result, achievement, support_case, profile_update) is required"),
        Purchase p => Purchase(p, program),
        Refund r => Id(r.OrderId, "event.refund.order_id") ?? Lines(r.Lines, "event.refund"),
        GameSession g => GameSession(g, program),
        MatchResult m => MatchResult(m),
        Achievement a => Id(a.GameId, "event.achievement.game_id") ?? Id(a.AchievementId, "event.achievement.achievement_id"),
        SupportCase s => SupportCase(s),
        ProfileUpdate u => Profile(u, now),
        _ => new FieldError("event.payload", "unknown payload"),
    };

    private static FieldError? Purchase(Purchase p, ActiveProgram program)
    {
        if (Id(p.OrderId, "event.purchase.order_id") is { } error)
        {
            return error;
        }
        if (string.IsNullOrEmpty(p.Currency))
        {
            return new FieldError("event.purchase.currency", "is required");
        }
        if (!string.Equals(p.Currency, program.Definition.Currency, StringComparison.Ordinal))
        {
            return new FieldError("event.purchase.currency", $"'{Printable(p.Currency)}' is not the program's currency {program.Definition.Currency}");
        }
        if (p.CouponCodes.Count > MaxCouponCodes)
        {
            return new FieldError("event.purchase.coupon_codes", $"at most {MaxCouponCodes} coupons per purchase, not {p.CouponCodes.Count}");
        }
        for (var i = 0; i < p.CouponCodes.Count; i++)
        {
            if (Id(p.CouponCodes[i], $"event.purchase.coupon_codes[{i}]") is { } codeError)
            {
                return codeError;
            }
        }
        return Lines(p.Lines, "event.purchase");
    }

    public const int MaxCouponCodes = 10;

    private static FieldError? Lines(IReadOnlyList<LineItem> lines, string prefix)
    {
        if (lines.Count == 0)
        {
            return new FieldError($"{prefix}.lines", "at least one line is required");
        }
        if (lines.Count > MaxLines)
        {
            return new FieldError($"{prefix}.lines", $"at most {MaxLines} lines are allowed");
        }
        long value = 0;
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            var path = $"{prefix}.lines[{i}]";
            var error = Id(line.Sku, $"{path}.sku") ?? Id(line.Category, $"{path}.category");
            if (error is not null)
            {
                return error;
            }
            if (line.Quantity <= 0)
            {
                return new FieldError($"{path}.quantity", "must be positive");
            }
            if (line.Quantity > MaxQuantity)
            {
                return new FieldError($"{path}.quantity", $"must be at most {MaxQuantity}");
            }
            if (line.UnitPriceMinor < 0)
            {
                return new FieldError($"{path}.unit_price_minor", "must not be negative");
            }
            if (line.UnitPriceMinor > MaxUnitPriceMinor)
            {
                return new FieldError($"{path}.unit_price_minor", $"must be at most {MaxUnitPriceMinor}");
            }
            // Cannot overflow: value is at most 10^12 before adding one line of at most 10^18.
            value += line.UnitPriceMinor * line.Quantity;
            if (value > MaxLinesValueMinor)
            {
                return new FieldError($"{prefix}.lines", $"total value must be at most {MaxLinesValueMinor} minor units");
            }
        }
        return null;
    }

    private static FieldError? GameSession(GameSession g, ActiveProgram program)
    {
        var max = program.Definition.Earning.GameSession.MaxDifficulty;
        return Id(g.GameId, "event.game_session.game_id")
            ?? (g.DurationSeconds is <= 0 or > 86_400 ? new FieldError("event.game_session.duration_seconds", "must be 1..86400") : null)
            ?? (g.Difficulty < 1 || g.Difficulty > max ? new FieldError("event.game_session.difficulty", $"must be 1..{max}") : null)
            ?? (g.Score < 0 ? new FieldError("event.game_session.score", "must not be negative") : null);
    }

    private static FieldError? MatchResult(MatchResult m) =>
        Id(m.GameId, "event.match_result.game_id")
        ?? Id(m.MatchId, "event.match_result.match_id")
        ?? (m.Participants is < 1 or > 1_000_000 ? new FieldError("event.match_result.participants", "must be 1..1000000") : null)
        ?? (m.Rank < 1 || m.Rank > m.Participants ? new FieldError("event.match_result.rank", "must be 1..participants") : null);

    private static FieldError? SupportCase(SupportCase s) =>
        Id(s.CaseId, "event.support_case.case_id")
        ?? (s.Status is SupportStatus.Opened or SupportStatus.Escalated or SupportStatus.Resolved
            ? null : new FieldError("event.support_case.status", $"unknown or unspecified status ({(int)s.Status})"))
        ?? (s.Channel is SupportChannel.Bot or SupportChannel.Human
            ? null : new FieldError("event.support_case.channel", $"unknown or unspecified channel ({(int)s.Channel})"))
        ?? (s.Satisfaction is { } rating && rating is < 1 or > 5 ? new FieldError("event.support_case.satisfaction", "must be 1..5 (leave it unset when not rated)") : null)
        ?? (s.BotTurns is < 0 or > 100_000 ? new FieldError("event.support_case.bot_turns", "must be 0..100000") : null)
        ?? (s.WaitSeconds is < 0 or > 30 * 86_400 ? new FieldError("event.support_case.wait_seconds", "must be 0..2592000") : null);

    private static FieldError? Profile(ProfileUpdate u, DateTimeOffset now)
    {
        if (u.DisplayName is null && u.BirthYear is null && u.AccessibilityNeeds is null && u.TimeZone is null)
        {
            return new FieldError("event.profile_update", "sets no field");
        }
        if (u.DisplayName is not null && Text(u.DisplayName, "event.profile_update.display_name", required: false) is { } error)
        {
            return error;
        }
        if (u.BirthYear is { } year && (year < 1900 || year > now.Year))
        {
            return new FieldError("event.profile_update.birth_year", $"must be 1900..{now.Year}");
        }
        if (u.TimeZone is { } zone && (zone.Length > 64 || !TimeZoneInfo.TryFindSystemTimeZoneById(zone, out _)))
        {
            return new FieldError("event.profile_update.time_zone", $"unknown time zone '{Printable(zone)}'");
        }
        return null;
    }

    /// <summary>The rule for every id (events, customers, orders, redemptions...): 1..128 characters, not blank, no
    /// leading or trailing spaces, no control or invisible characters.</summary>
    public static FieldError? Id(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
        {
            return new FieldError(field, "is required");
        }
        if (value.Length > MaxIdLength)
        {
            return new FieldError(field, $"is longer than {MaxIdLength} characters");
        }
        if (char.IsWhiteSpace(value[0]) || char.IsWhiteSpace(value[^1]))
        {
            return new FieldError(field, "must not be blank or start or end with spaces");
        }
        return Text(value, field, required: true);
    }

    internal static FieldError? Text(string? value, string field, bool required)
    {
        if (string.IsNullOrEmpty(value))
        {
            return required ? new FieldError(field, "is required") : null;
        }
        if (value.Length > MaxShortText)
        {
            return new FieldError(field, $"is longer than {MaxShortText} characters");
        }
        if (!IsWellFormed(value))
        {
            return new FieldError(field, "contains invalid UTF-16 (an unpaired surrogate)");
        }
        foreach (var c in value)
        {
            // Control, format, separator, private-use and unassigned characters are refused: they are never
            // meaningful in ids and names, and would be stored escaped (six bytes each).
            switch (char.GetUnicodeCategory(c))
            {
                case System.Globalization.UnicodeCategory.Control:
                case System.Globalization.UnicodeCategory.Format:
                case System.Globalization.UnicodeCategory.LineSeparator:
                case System.Globalization.UnicodeCategory.ParagraphSeparator:
                case System.Globalization.UnicodeCategory.PrivateUse:
                case System.Globalization.UnicodeCategory.OtherNotAssigned:
                    return new FieldError(field, "contains control, format, separator, private-use or unassigned characters");
            }
        }
        if (string.IsNullOrWhiteSpace(value))
        {
            return new FieldError(field, "must not be blank");
        }
        return null;
    }

    private static bool IsWellFormed(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]))
            {
                if (i + 1 >= value.Length || !char.IsLowSurrogate(value[i + 1]))
                {
                    return false;
                }
                i++;
            }
            else if (char.IsLowSurrogate(value[i]))
            {
                return false;
            }
        }
        return true;
    }

    private static string Printable(string value) =>
        value.Length > 16 ? value[..16] + "…" : value;
}

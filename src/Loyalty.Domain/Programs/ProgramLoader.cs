using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Loyalty.Domain.Programs;

/// <summary>One problem in a program definition, located by its JSON path.</summary>
public sealed record ProgramError(string Path, string Problem)
{
    public override string ToString() => $"{Path}: {Problem}";
}

/// <summary>Thrown when a program definition is malformed or invalid; it names every problem found.</summary>
public sealed class ProgramValidationException(string source, IReadOnlyList<ProgramError> errors)
    : Exception($"Invalid loyalty program '{source}': " + string.Join("; ", errors))
{
    public string Source_ { get; } = source;
    public IReadOnlyList<ProgramError> Errors { get; } = errors;
}

/// <summary>Parses and validates program definitions. A program that fails here is never activated.</summary>
public static class ProgramLoader
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        NumberHandling = JsonNumberHandling.Strict,
    };

    public static ActiveProgram LoadFile(string path)
    {
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ProgramValidationException(path, [new ProgramError("$", $"cannot read the file: {e.Message}")]);
        }
        return Parse(json, path);
    }

    public static ActiveProgram Parse(string json, string source = "program")
    {
        LoyaltyProgram? program;
        try
        {
            program = JsonSerializer.Deserialize<LoyaltyProgram>(json, Options);
        }
        catch (JsonException e)
        {
            var path = string.IsNullOrEmpty(e.Path) ? "$" : e.Path;
            var message = e.Message;
            if (e is Rules.ConditionJsonException condition)
            {
                // A condition reported a path inside itself, e.g. ".all[1].categoryShareAtLeast.share".
                throw new ProgramValidationException(source, [new ProgramError(path + condition.RelativePath, condition.Problem)]);
            }
            var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
            throw new ProgramValidationException(source, [new ProgramError(path, cut > 0 ? message[..cut] : message)]);
        }
        if (program is null)
        {
            throw new ProgramValidationException(source, [new ProgramError("$", "the document is empty (null)")]);
        }

        var errors = Validate(program);
        if (errors.Count > 0)
        {
            throw new ProgramValidationException(source, errors);
        }
        return new ActiveProgram(program, VersionOf(json), json);
    }

    /// <summary>The version of a definition: a short hash of its exact bytes.</summary>
    public static string VersionOf(string json) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..12];

    private const long MaxBonus = 1_000_000_000;

    public static List<ProgramError> Validate(LoyaltyProgram p)
    {
        var errors = new List<ProgramError>();
        void Check(bool ok, string path, string problem)
        {
            if (!ok)
            {
                errors.Add(new ProgramError(path, problem));
            }
        }

        // Nullable annotations do not reach list elements, so `[null]` deserializes; refuse it here, before the
        // checks below dereference the entries.
        for (var i = 0; i < p.Earning.MatchResult.RankBonuses.Count; i++)
        {
            Check(p.Earning.MatchResult.RankBonuses[i] is not null, $"$.earning.matchResult.rankBonuses[{i}]", "must not be null");
        }
        for (var i = 0; i < p.Tiers.Levels.Count; i++)
        {
            Check(p.Tiers.Levels[i] is not null, $"$.tiers.levels[{i}]", "must not be null");
        }
        if (errors.Count > 0)
        {
            return errors;
        }

        Check(!string.IsNullOrWhiteSpace(p.Id) && p.Id.Length <= 64, "$.id", "must be 1..64 characters");
        Check(!string.IsNullOrWhiteSpace(p.Name), "$.name", "must not be empty");
        Check(p.Currency is { Length: 3 } && p.Currency.All(char.IsAsciiLetterUpper), "$.currency",
            $"must be an ISO 4217 code of three upper-case letters, not '{p.Currency}'");
        Check(p.MinorUnitsPerUnit is 1 or 10 or 100 or 1000, "$.minorUnitsPerUnit", "must be 1, 10, 100 or 1000");
        Check(TryTimeZone(p.TimeZone), "$.timeZone", $"unknown time zone '{p.TimeZone}' (use an IANA id such as Europe/Berlin)");

        var purchase = p.Earning.Purchase;
        // Caps keep every event's points far inside a long, whatever the order value the API accepts.
        Check(purchase.PointsPerCurrencyUnit is >= 0 and <= 100, "$.earning.purchase.pointsPerCurrencyUnit", "must be 0..100");
        foreach (var (category, multiplier) in purchase.CategoryMultipliers)
        {
            var path = $"$.earning.purchase.categoryMultipliers['{category}']";
            Check(!string.IsNullOrWhiteSpace(category), path, "category name must not be empty");
            Check(multiplier >= 0 && multiplier <= 100, path, "multiplier must be between 0 and 100");
        }
        var lowered = purchase.CategoryMultipliers.Keys.GroupBy(k => k.ToLowerInvariant()).FirstOrDefault(g => g.Count() > 1);
        Check(lowered is null, "$.earning.purchase.categoryMultipliers", $"category '{lowered?.Key}' is listed twice (categories ignore case)");

        Check(p.Earning.GameSession.PointsPerMinute is >= 0 and <= 1000, "$.earning.gameSession.pointsPerMinute", "must be 0..1000");
        Check(p.Earning.GameSession.MaxDifficulty is >= 1 and <= 1000, "$.earning.gameSession.maxDifficulty", "must be 1..1000");

        var bonuses = p.Earning.MatchResult.RankBonuses;
        for (var i = 0; i < bonuses.Count; i++)
        {
            Check(bonuses[i].MaxRank >= 1, $"$.earning.matchResult.rankBonuses[{i}].maxRank", "must be at least 1");
            Check(bonuses[i].Points is >= 0 and <= MaxBonus, $"$.earning.matchResult.rankBonuses[{i}].points", "must be 0..1000000000");
        }
        var dupRank = bonuses.GroupBy(b => b.MaxRank).FirstOrDefault(g => g.Count() > 1);
        Check(dupRank is null, "$.earning.matchResult.rankBonuses", $"maxRank {dupRank?.Key} appears twice");

        Check(p.Earning.Achievement.DefaultPoints is >= 0 and <= MaxBonus, "$.earning.achievement.defaultPoints", "must be 0..1000000000");
        foreach (var (id, points) in p.Earning.Achievement.Points)
        {
            Check(points is >= 0 and <= MaxBonus, $"$.earning.achievement.points['{id}']", "must be 0..1000000000");
        }
        Check(p.Earning.Support.ResolvedByHuman is >= 0 and <= MaxBonus, "$.earning.support.resolvedByHuman", "must be 0..1000000000");
        Check(p.Earning.Support.ResolvedByBot is >= 0 and <= MaxBonus, "$.earning.support.resolvedByBot", "must be 0..1000000000");

        var tiers = p.Tiers;
        Check(tiers.QualifyingWindowDays is >= 1 and <= 3660, "$.tiers.qualifyingWindowDays", "must be 1..3660 days");
        Check(tiers.Levels.Count >= 1, "$.tiers.levels", "at least one tier is required");
        for (var i = 0; i < tiers.Levels.Count; i++)
        {
            var level = tiers.Levels[i];
            var path = $"$.tiers.levels[{i}]";
            Check(!string.IsNullOrWhiteSpace(level.Name) && level.Name.Length <= 64, $"{path}.name", "must be 1..64 characters");
            Check(level.EarnMultiplier is >= 0 and <= 100, $"{path}.earnMultiplier", "must be between 0 and 100");
            if (i == 0)
            {
                Check(level.QualifyingPoints == 0, $"{path}.qualifyingPoints", "the first tier must need 0 points");
            }
            else
            {
                Check(level.QualifyingPoints > tiers.Levels[i - 1].QualifyingPoints, $"{path}.qualifyingPoints",
                    string.Create(CultureInfo.InvariantCulture, $"must be greater than the previous tier's ({tiers.Levels[i - 1].QualifyingPoints})"));
            }
        }
        var dupTier = tiers.Levels.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        Check(dupTier is null, "$.tiers.levels", $"tier '{dupTier?.Key}' is defined twice");

        Check(tiers.PeriodMonths is null or (>= 1 and <= 120), "$.tiers.periodMonths", "must be 1..120 months (or absent: tiers never go down)");
        Check(tiers.Downgrade is TierDowngrade.OneTier or TierDowngrade.ToQualifying, "$.tiers.downgrade",
            $"must be \"{TierDowngrade.OneTier}\" or \"{TierDowngrade.ToQualifying}\", not '{tiers.Downgrade}'");
        Check(tiers.GraceDays is >= 0 and <= 366, "$.tiers.graceDays", "must be 0..366 days");
        Check(tiers.CareAge is >= 18 and <= 120, "$.tiers.careAge", "must be 18..120 years");
        var pointsRules = p.Points ?? new PointsRules();
        Check(p.Points is not null, "$.points", "must not be null");
        Check(p.Points?.Expiry is not null || p.Points is null, "$.points.expiry", "must not be null");
        Check(pointsRules.PendingDays is >= 0 and <= 365, "$.points.pendingDays", "must be 0..365 days");
        Check(pointsRules.RefundAfterSpend is RefundPolicy.Negative or RefundPolicy.PendingFirst, "$.points.refundAfterSpend",
            $"must be \"{RefundPolicy.Negative}\" or \"{RefundPolicy.PendingFirst}\", not '{pointsRules.RefundAfterSpend}'");
        if (pointsRules.Expiry is { } expiry)
        {
            Check(expiry.Policy is ExpiryPolicy.None or ExpiryPolicy.Rolling or ExpiryPolicy.EndOfMonth or ExpiryPolicy.EndOfYear,
                "$.points.expiry.policy", $"must be none, rolling, endOfMonth or endOfYear, not '{expiry.Policy}'");
            Check(expiry.Months is >= 0 and <= 120 && (expiry.Policy != ExpiryPolicy.Rolling || expiry.Months >= 1),
                "$.points.expiry.months", "must be 0..120 (at least 1 for rolling)");
            Check(expiry.Years is >= 0 and <= 10, "$.points.expiry.years", "must be 0..10");
        }

        Check(p.History.AffinityWindowDays is >= 1 and <= 366, "$.history.affinityWindowDays", "must be 1..366 days");
        Check(p.History.ActivityWindowDays is >= 1 and <= 366, "$.history.activityWindowDays", "must be 1..366 days");
        Rules.RuleValidator.Validate(p, errors);
        return errors;
    }

    private static bool TryTimeZone(string id)
    {
        if (string.IsNullOrWhiteSpace(id))
        {
            return false;
        }
        return TimeZoneInfo.TryFindSystemTimeZoneById(id, out _);
    }
}

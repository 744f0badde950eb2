using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Loyalty.Domain.Events;

namespace Loyalty.Domain.Rules;

/// <summary>
/// Reads a condition: an object with exactly one property naming it. Problems are reported as a JSON path
/// relative to where the condition starts (e.g. <c>.all[1].categoryShareAtLeast.share</c>), so the loader can
/// name the full path.
/// </summary>
public sealed class ConditionJsonConverter : JsonConverter<Condition>
{

    public static readonly IReadOnlyList<string> Names =
    [
        "all", "any", "not",
        "categoryIn", "orderValueAtLeast", "lineCountAtLeast", "categoryShareAtLeast",
        "gameIdIn", "minutesAtLeast", "difficultyAtLeast", "scoreAtLeast", "rankAtMost", "topFractionAtMost", "achievementIn", "gameMinutesAtLeast",
        "supportStatusIn", "channelIs", "satisfactionAtLeast", "botTurnsAtLeast", "waitSecondsAtLeast", "supportContactsAtLeast",
        "tierAtLeast", "pointsAvailableAtLeast", "pointsLifetimeAtLeast", "ageAtLeast", "accessibilityNeeds", "hasPerk",
        "dateBetween", "dayOfWeekIn", "hourBetween",
    ];

    public override Condition Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var doc = JsonDocument.ParseValue(ref reader);
        return Parse(doc.RootElement, "");
    }

    public override void Write(Utf8JsonWriter writer, Condition value, JsonSerializerOptions options) =>
        throw new NotSupportedException("Conditions are read from program files, never written.");

    private static ConditionJsonException Error(string path, string problem) => new(path, problem);

    private static Condition Parse(JsonElement e, string path)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw Error(path, "a condition must be an object with one property, e.g. {\"orderValueAtLeast\": 5000}");
        }
        var props = e.EnumerateObject().ToList();
        if (props.Count != 1)
        {
            throw Error(path, $"a condition must have exactly one property, not {props.Count}");
        }
        var (name, v) = (props[0].Name, props[0].Value);
        var p = $"{path}.{name}";
        return name switch
        {
            "all" => new AllOf(List(v, p)),
            "any" => new AnyOf(List(v, p)),
            "not" => new NotOf(Parse(v, p)),
            "categoryIn" => new CategoryIn(Strings(v, p).Select(s => s.ToLowerInvariant()).ToList()),
            "orderValueAtLeast" => new OrderValueAtLeast(Long(v, p, 0)),
            "lineCountAtLeast" => new LineCountAtLeast(Int(v, p, 1)),
            "categoryShareAtLeast" => CategoryShare(v, p),
            "gameIdIn" => new GameIdIn(Strings(v, p)),
            "minutesAtLeast" => new MinutesAtLeast(Int(v, p, 0)),
            "difficultyAtLeast" => new DifficultyAtLeast(Int(v, p, 1)),
            "scoreAtLeast" => new ScoreAtLeast(Long(v, p, 0)),
            "rankAtMost" => new RankAtMost(Int(v, p, 1)),
            "topFractionAtMost" => new TopFractionAtMost(Fraction(v, p)),
            "achievementIn" => new AchievementIn(Strings(v, p)),
            "gameMinutesAtLeast" => Only(v, p, "minutes", "days") is var _ ? new GameMinutesAtLeast(Long(Prop(v, p, "minutes"), p + ".minutes", 1), Int(Prop(v, p, "days"), p + ".days", 1)) : null!,
            "supportStatusIn" => new SupportStatusIn(Strings(v, p).Select((s, i) => Enum<SupportStatus>(s, $"{p}[{i}]", "opened", "escalated", "resolved")).ToList()),
            "channelIs" => new ChannelIs(Enum<SupportChannel>(String(v, p), p, "bot", "human")),
            "satisfactionAtLeast" => new SatisfactionAtLeast(IntIn(v, p, 1, 5)),
            "botTurnsAtLeast" => new BotTurnsAtLeast(Int(v, p, 0)),
            "waitSecondsAtLeast" => new WaitSecondsAtLeast(Int(v, p, 0)),
            "supportContactsAtLeast" => Only(v, p, "contacts", "days") is var _ ? new SupportContactsAtLeast(Int(Prop(v, p, "contacts"), p + ".contacts", 1), Int(Prop(v, p, "days"), p + ".days", 1)) : null!,
            "tierAtLeast" => new TierAtLeast(String(v, p)),
            "pointsAvailableAtLeast" => new PointsAvailableAtLeast(Long(v, p, 0)),
            "pointsLifetimeAtLeast" => new PointsLifetimeAtLeast(Long(v, p, 0)),
            "ageAtLeast" => new AgeAtLeast(IntIn(v, p, 0, 150)),
            "accessibilityNeeds" => new AccessibilityNeeds(Bool(v, p)),
            "hasPerk" => new HasPerk(String(v, p)),
            "dateBetween" => DateRange(v, p),
            "dayOfWeekIn" => new DayOfWeekIn(Strings(v, p).Select((s, i) => Day(s, $"{p}[{i}]")).ToList()),
            "hourBetween" => Hours(v, p),
            _ => throw Error(p, $"unknown condition '{name}' (known: {string.Join(", ", Names)})"),
        };
    }

    private static HourBetween Hours(JsonElement v, string p)
    {
        Only(v, p, "from", "to");
        var from = IntIn(Prop(v, p, "from"), p + ".from", 0, 23);
        var to = IntIn(Prop(v, p, "to"), p + ".to", 0, 24);
        return from != to ? new HourBetween(from, to) : throw Error(p + ".to", "equals from: the range would never hold");
    }

    private static CategoryShareAtLeast CategoryShare(JsonElement v, string p)
    {
        Only(v, p, "category", "share", "days", "purchases", "basis");
        var days = v.TryGetProperty("days", out var d) ? Int(d, p + ".days", 1) : (int?)null;
        var purchases = v.TryGetProperty("purchases", out var n) ? Int(n, p + ".purchases", 1) : (int?)null;
        if (days is not null && purchases is not null)
        {
            throw Error(p, "give either days or purchases, not both");
        }
        var basis = v.TryGetProperty("basis", out var b) ? String(b, p + ".basis") : "spend";
        if (basis is not ("spend" or "count"))
        {
            throw Error(p + ".basis", $"must be \"spend\" or \"count\", not \"{basis}\"");
        }
        return new CategoryShareAtLeast(String(Prop(v, p, "category"), p + ".category").ToLowerInvariant(),
            Fraction(Prop(v, p, "share"), p + ".share"), days, purchases, basis == "count");
    }

    private static DateBetween DateRange(JsonElement v, string p)
    {
        Only(v, p, "from", "to");
        var from = Date(Prop(v, p, "from"), p + ".from");
        var to = Date(Prop(v, p, "to"), p + ".to");
        if (to < from)
        {
            throw Error(p + ".to", "is before from");
        }
        return new DateBetween(from, to);
    }

    private static List<Condition> List(JsonElement v, string p)
    {
        if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() == 0)
        {
            throw Error(p, "must be a non-empty array of conditions");
        }
        return v.EnumerateArray().Select((x, i) => Parse(x, $"{p}[{i}]")).ToList();
    }

    private static JsonElement Prop(JsonElement v, string p, string name)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            throw Error(p, "must be an object");
        }
        return v.TryGetProperty(name, out var x) ? x : throw Error($"{p}.{name}", "is required");
    }

    /// <summary>Refuses properties other than the named ones; returns nothing useful (for use in expressions).</summary>
    private static int Only(JsonElement v, string p, params string[] names)
    {
        if (v.ValueKind != JsonValueKind.Object)
        {
            throw Error(p, "must be an object");
        }
        foreach (var prop in v.EnumerateObject())
        {
            if (!names.Contains(prop.Name))
            {
                throw Error($"{p}.{prop.Name}", $"unknown property (expected {string.Join(", ", names)})");
            }
        }
        return 0;
    }

    private static string String(JsonElement v, string p) =>
        v.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(v.GetString()) ? v.GetString()! : throw Error(p, "must be a non-empty string");

    private static List<string> Strings(JsonElement v, string p)
    {
        if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() == 0)
        {
            throw Error(p, "must be a non-empty array of strings");
        }
        return v.EnumerateArray().Select((x, i) => String(x, $"{p}[{i}]")).ToList();
    }

    private static long Long(JsonElement v, string p, long min) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var x) && x >= min ? x : throw Error(p, $"must be a whole number ≥ {min}");

    private static int Int(JsonElement v, string p, int min) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var x) && x >= min ? x : throw Error(p, $"must be a whole number ≥ {min}");

    private static int IntIn(JsonElement v, string p, int min, int max) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var x) && x >= min && x <= max ? x : throw Error(p, $"must be a whole number {min}..{max}");

    private static double Fraction(JsonElement v, string p) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var x) && x is >= 0 and <= 1 ? x : throw Error(p, "must be a fraction 0..1 (0.4 means 40 %)");

    private static bool Bool(JsonElement v, string p) =>
        v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw Error(p, "must be true or false");

    private static DateOnly Date(JsonElement v, string p) =>
        v.ValueKind == JsonValueKind.String && DateOnly.TryParseExact(v.GetString(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
            ? d : throw Error(p, "must be a date yyyy-MM-dd");

    // A day's name exactly: Enum.TryParse would also take numbers and comma lists ("monday,tuesday" is 1 | 2, Wednesday).
    private static DayOfWeek Day(string s, string p) =>
        System.Enum.GetValues<DayOfWeek>().Where(d => string.Equals(d.ToString(), s, StringComparison.OrdinalIgnoreCase)).Select(d => (DayOfWeek?)d).FirstOrDefault()
            ?? throw Error(p, $"'{s}' is not a day of the week (monday..sunday)");

    private static T Enum<T>(string s, string p, params string[] allowed) where T : struct, System.Enum =>
        allowed.Contains(s) && System.Enum.TryParse<T>(s, ignoreCase: true, out var x) ? x : throw Error(p, $"'{s}' is not one of {string.Join(", ", allowed)}");
}

/// <summary>A problem inside a condition, located relative to where the condition starts.</summary>
public sealed class ConditionJsonException(string relativePath, string problem) : JsonException(problem)
{
    public string RelativePath { get; } = relativePath;
    public string Problem { get; } = problem;
}

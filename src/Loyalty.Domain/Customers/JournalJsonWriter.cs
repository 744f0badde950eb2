using System.Text.Json;
using Loyalty.Domain.Events;

namespace Loyalty.Domain.Customers;

/// <summary>Writes a journal record's JSON member by member: the stored form <see cref="JournalCodec"/> documents, byte for
/// byte what <see cref="JournalCodec.SerializerOptions"/> would write (members in declaration order, a command's defaults
/// and absent budget answers left out, enums in snake case, the payload's kind first as <c>$k</c>). A member added to a
/// record, a command, an event or a payload must be added here too; the codec's tests compare the two writers on every
/// kind of command and payload.</summary>
internal static class JournalJsonWriter
{
    private static readonly JsonEncodedText C = JsonEncodedText.Encode("c"), S = JsonEncodedText.Encode("s"),
        T = JsonEncodedText.Encode("t"), P = JsonEncodedText.Encode("p"), Cmd = JsonEncodedText.Encode("cmd"),
        B = JsonEncodedText.Encode("b"), V = JsonEncodedText.Encode("v");

    private static readonly JsonEncodedText K = JsonEncodedText.Encode("k"), Ev = JsonEncodedText.Encode("ev"),
        Id = JsonEncodedText.Encode("id"), Rw = JsonEncodedText.Encode("rw"), Pt = JsonEncodedText.Encode("pt"),
        Ttl = JsonEncodedText.Encode("ttl"), Txt = JsonEncodedText.Encode("txt"), Mem = JsonEncodedText.Encode("mem"),
        Earn = JsonEncodedText.Encode("earn");

    private static readonly JsonEncodedText EventId = Name("EventId"), CustomerId = Name("CustomerId"),
        OccurredAt = Name("OccurredAt"), Source = Name("Source"), Payload = Name("Payload"), Kind = JsonEncodedText.Encode("$k");

    private static readonly JsonEncodedText OrderId = Name("OrderId"), Currency = Name("Currency"), Lines = Name("Lines"),
        CouponCodes = Name("CouponCodes"), Sku = Name("Sku"), Category = Name("Category"), Quantity = Name("Quantity"),
        UnitPriceMinor = Name("UnitPriceMinor"), GameId = Name("GameId"), DurationSeconds = Name("DurationSeconds"),
        Difficulty = Name("Difficulty"), Score = Name("Score"), MatchId = Name("MatchId"), Rank = Name("Rank"),
        Participants = Name("Participants"), AchievementId = Name("AchievementId"), CaseId = Name("CaseId"),
        Status = Name("Status"), Channel = Name("Channel"), Satisfaction = Name("Satisfaction"), BotTurns = Name("BotTurns"),
        WaitSeconds = Name("WaitSeconds"), DisplayName = Name("DisplayName"), BirthYear = Name("BirthYear"),
        AccessibilityNeeds = Name("AccessibilityNeeds"), TimeZone = Name("TimeZone");

    private static readonly JsonEncodedText[] Commands = EnumNames<CommandKind>();
    private static readonly JsonEncodedText[] Statuses = EnumNames<SupportStatus>();
    private static readonly JsonEncodedText[] Channels = EnumNames<SupportChannel>();
    private static readonly Dictionary<Type, JsonEncodedText> PayloadKinds = PayloadDiscriminators();

    private static JsonEncodedText Name(string member) => JsonEncodedText.Encode(JsonNamingPolicy.CamelCase.ConvertName(member));

    /// <summary>The names the serializer's enum converter writes, by value (values are 0..n without gaps).</summary>
    private static JsonEncodedText[] EnumNames<TEnum>() where TEnum : struct, Enum
    {
        var values = Enum.GetValues<TEnum>();
        var names = new JsonEncodedText[values.Length];
        foreach (var value in values)
        {
            names[Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture)] =
                JsonEncodedText.Encode(JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString()));
        }
        return names;
    }

    private static Dictionary<Type, JsonEncodedText> PayloadDiscriminators() =>
        typeof(EventPayload).GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonDerivedTypeAttribute), false)
            .Cast<System.Text.Json.Serialization.JsonDerivedTypeAttribute>()
            .ToDictionary(a => a.DerivedType, a => JsonEncodedText.Encode((string)a.TypeDiscriminator!));

    public static void Write(Utf8JsonWriter writer, JournalRecord record)
    {
        writer.WriteStartObject();
        writer.WriteString(C, record.CustomerId);
        writer.WriteNumber(S, record.Sequence);
        writer.WriteString(T, record.AppliedAt);
        writer.WriteString(P, record.ProgramVersion);
        writer.WritePropertyName(Cmd);
        WriteCommand(writer, record.Command);
        if (record.BudgetAnswers is { } answers)
        {
            writer.WriteStartArray(B);
            for (var i = 0; i < answers.Count; i++)
            {
                writer.WriteBooleanValue(answers[i]);
            }
            writer.WriteEndArray();
        }
        writer.WriteNumber(V, record.Format);
        writer.WriteEndObject();
    }

    private static void WriteCommand(Utf8JsonWriter writer, CustomerCommand? command)
    {
        if (command is null)
        {
            writer.WriteNullValue();
            return;
        }
        writer.WriteStartObject();
        writer.WritePropertyName(K);
        WriteEnum(writer, Commands, (int)command.Kind);
        if (command.Events is { } events)
        {
            writer.WriteStartArray(Ev);
            for (var i = 0; i < events.Count; i++)
            {
                WriteEvent(writer, events[i]);
            }
            writer.WriteEndArray();
        }
        if (!string.IsNullOrEmpty(command.Id))
        {
            writer.WriteString(Id, command.Id);
        }
        if (!string.IsNullOrEmpty(command.RewardId))
        {
            writer.WriteString(Rw, command.RewardId);
        }
        if (command.Points != 0)
        {
            writer.WriteNumber(Pt, command.Points);
        }
        if (command.TtlTicks != 0)
        {
            writer.WriteNumber(Ttl, command.TtlTicks);
        }
        if (!string.IsNullOrEmpty(command.Text))
        {
            writer.WriteString(Txt, command.Text);
        }
        if (command.Member is { } member)
        {
            // Imports are rare, and a member has many members of its own: the serializer writes it.
            writer.WritePropertyName(Mem);
            JsonSerializer.Serialize(writer, member, JournalCodec.SerializerOptions);
        }
        if (command.EarnPoints)
        {
            writer.WriteBoolean(Earn, true);
        }
        writer.WriteEndObject();
    }

    private static void WriteEvent(Utf8JsonWriter writer, LoyaltyEvent? e)
    {
        if (e is null)
        {
            writer.WriteNullValue();
            return;
        }
        writer.WriteStartObject();
        writer.WriteString(EventId, e.EventId);
        writer.WriteString(CustomerId, e.CustomerId);
        if (e.OccurredAt is { } at)
        {
            writer.WriteString(OccurredAt, at);
        }
        else
        {
            writer.WriteNull(OccurredAt);
        }
        writer.WriteString(Source, e.Source);
        writer.WritePropertyName(Payload);
        WritePayload(writer, e.Payload);
        writer.WriteEndObject();
    }

    private static void WritePayload(Utf8JsonWriter writer, EventPayload? payload)
    {
        if (payload is null)
        {
            writer.WriteNullValue();
            return;
        }
        if (!PayloadKinds.TryGetValue(payload.GetType(), out var kind))
        {
            // A payload type the serializer does not know as a derived type: let it say so in its own words.
            JsonSerializer.Serialize(writer, payload, JournalCodec.SerializerOptions);
            return;
        }
        writer.WriteStartObject();
        writer.WriteString(Kind, kind);
        switch (payload)
        {
            case GameSession g:
                writer.WriteString(GameId, g.GameId);
                writer.WriteNumber(DurationSeconds, g.DurationSeconds);
                writer.WriteNumber(Difficulty, g.Difficulty);
                writer.WriteNumber(Score, g.Score);
                break;
            case Purchase p:
                writer.WriteString(OrderId, p.OrderId);
                writer.WriteString(Currency, p.Currency);
                WriteLines(writer, p.Lines);
                WriteStrings(writer, CouponCodes, p.CouponCodes);
                break;
            case Refund r:
                writer.WriteString(OrderId, r.OrderId);
                WriteLines(writer, r.Lines);
                break;
            case MatchResult m:
                writer.WriteString(GameId, m.GameId);
                writer.WriteString(MatchId, m.MatchId);
                writer.WriteNumber(Rank, m.Rank);
                writer.WriteNumber(Participants, m.Participants);
                break;
            case Achievement a:
                writer.WriteString(GameId, a.GameId);
                writer.WriteString(AchievementId, a.AchievementId);
                break;
            case SupportCase s:
                writer.WriteString(CaseId, s.CaseId);
                writer.WritePropertyName(Status);
                WriteEnum(writer, Statuses, (int)s.Status);
                writer.WritePropertyName(Channel);
                WriteEnum(writer, Channels, (int)s.Channel);
                WriteNumber(writer, Satisfaction, s.Satisfaction);
                writer.WriteNumber(BotTurns, s.BotTurns);
                writer.WriteNumber(WaitSeconds, s.WaitSeconds);
                break;
            case ProfileUpdate u:
                writer.WriteString(DisplayName, u.DisplayName);
                WriteNumber(writer, BirthYear, u.BirthYear);
                if (u.AccessibilityNeeds is { } needs)
                {
                    writer.WriteBoolean(AccessibilityNeeds, needs);
                }
                else
                {
                    writer.WriteNull(AccessibilityNeeds);
                }
                writer.WriteString(TimeZone, u.TimeZone);
                break;
            default:
                throw new NotSupportedException($"payload {payload.GetType().Name} has a discriminator but no writer in the journal codec");
        }
        writer.WriteEndObject();
    }

    private static void WriteLines(Utf8JsonWriter writer, IReadOnlyList<LineItem>? lines)
    {
        if (lines is null)
        {
            writer.WriteNull(Lines);
            return;
        }
        writer.WriteStartArray(Lines);
        for (var i = 0; i < lines.Count; i++)
        {
            if (lines[i] is not { } line)
            {
                writer.WriteNullValue();
                continue;
            }
            writer.WriteStartObject();
            writer.WriteString(Sku, line.Sku);
            writer.WriteString(Category, line.Category);
            writer.WriteNumber(Quantity, line.Quantity);
            writer.WriteNumber(UnitPriceMinor, line.UnitPriceMinor);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
    }

    private static void WriteStrings(Utf8JsonWriter writer, JsonEncodedText name, IReadOnlyList<string>? values)
    {
        if (values is null)
        {
            writer.WriteNull(name);
            return;
        }
        writer.WriteStartArray(name);
        for (var i = 0; i < values.Count; i++)
        {
            writer.WriteStringValue(values[i]);
        }
        writer.WriteEndArray();
    }

    private static void WriteNumber(Utf8JsonWriter writer, JsonEncodedText name, int? value)
    {
        if (value is { } v)
        {
            writer.WriteNumber(name, v);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    /// <summary>As the serializer's enum converter: the name, or the number for a value without one.</summary>
    private static void WriteEnum(Utf8JsonWriter writer, JsonEncodedText[] names, int value)
    {
        if ((uint)value < (uint)names.Length)
        {
            writer.WriteStringValue(names[value]);
        }
        else
        {
            writer.WriteNumberValue(value);
        }
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Loyalty.Domain.Customers;

/// <summary>
/// Writes the entries a customer keeps many of (remembered ids, ledger entries, rewards) member by member, byte for
/// byte what the serializer writes through their properties, but with their ids and codes written from the entry
/// itself (<see cref="InlineKey.WriteTo"/>): through the properties a checkpoint made a string for every id, key, note
/// and code of every entry it stored, about 2 KB per event applied. Reading is the serializer's own.
/// </summary>
internal abstract class EntryJsonConverter<T> : JsonConverter<T>
{
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        JsonSerializer.Deserialize<T>(ref reader, DomainJson.PlainOptions)!;
}

internal sealed class SeenEventJsonConverter : EntryJsonConverter<SeenEvent>
{
    private static readonly JsonEncodedText I = JsonEncodedText.Encode("i"), T = JsonEncodedText.Encode("t"), D = JsonEncodedText.Encode("d");

    public override void Write(Utf8JsonWriter writer, SeenEvent value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        value.Key.WriteTo(writer, I);
        writer.WriteNumber(T, value.OccurredTicks);
        writer.WriteNumber(D, value.PointsDelta);
        writer.WriteEndObject();
    }
}

internal sealed class LedgerEntryJsonConverter : EntryJsonConverter<LedgerEntry>
{
    public override void Write(Utf8JsonWriter writer, LedgerEntry value, JsonSerializerOptions options) => LedgerJson.Write(writer, value);
}

internal sealed class GrantedRewardJsonConverter : EntryJsonConverter<GrantedReward>
{
    private static readonly JsonEncodedText Reward = JsonEncodedText.Encode("reward"), Rule = JsonEncodedText.Encode("rule"),
        Kind = JsonEncodedText.Encode("kind"), Code = JsonEncodedText.Encode("code"), Text = JsonEncodedText.Encode("text"),
        Value = JsonEncodedText.Encode("value"), Percent = JsonEncodedText.Encode("percent"), Amount = JsonEncodedText.Encode("amount"),
        At = JsonEncodedText.Encode("at"), Until = JsonEncodedText.Encode("until"), Event = JsonEncodedText.Encode("event"),
        Version = JsonEncodedText.Encode("version"), Revoked = JsonEncodedText.Encode("revoked"), Used = JsonEncodedText.Encode("used");

    public override void Write(Utf8JsonWriter writer, GrantedReward value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString(Reward, value.RewardId);
        writer.WriteString(Rule, value.RuleId);
        writer.WriteString(Kind, value.Kind);
        value.CodeValue.WriteTo(writer, Code);
        writer.WriteString(Text, value.Description);
        writer.WriteNumber(Value, value.ValueMinor);
        writer.WriteNumber(Percent, value.Percent);
        writer.WriteNumber(Amount, value.Amount);
        writer.WriteString(At, value.GrantedAt);
        WriteInstant(writer, Until, value.ExpiresAt);
        value.EventIdValue.WriteTo(writer, Event);
        writer.WriteString(Version, value.ProgramVersion);
        WriteInstant(writer, Revoked, value.RevokedAt);
        WriteInstant(writer, Used, value.UsedAt);
        writer.WriteEndObject();
    }

    private static void WriteInstant(Utf8JsonWriter writer, JsonEncodedText name, DateTimeOffset? value)
    {
        if (value is { } at)
        {
            writer.WriteString(name, at);
        }
        else
        {
            writer.WriteNull(name);
        }
    }
}

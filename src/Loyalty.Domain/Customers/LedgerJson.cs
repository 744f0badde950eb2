using System.Text.Json;

namespace Loyalty.Domain.Customers;

/// <summary>Writes a ledger entry's JSON member by member, byte for byte what <see cref="DomainJson.Options"/> would write
/// (the archive stores entries in this form; a test compares the two). A member added to <see cref="LedgerEntry"/> must
/// be added here too.</summary>
public static class LedgerJson
{
    private static readonly JsonEncodedText S = JsonEncodedText.Encode("s"), K = JsonEncodedText.Encode("k"),
        P = JsonEncodedText.Encode("p"), B = JsonEncodedText.Encode("b"), E = JsonEncodedText.Encode("e"),
        R = JsonEncodedText.Encode("r"), V = JsonEncodedText.Encode("v"), At = JsonEncodedText.Encode("at"),
        Note = JsonEncodedText.Encode("note"), Pd = JsonEncodedText.Encode("pd"), Ref = JsonEncodedText.Encode("ref");

    public static void Write(Utf8JsonWriter writer, in LedgerEntry entry)
    {
        writer.WriteStartObject();
        writer.WriteNumber(S, entry.Sequence);
        writer.WriteString(K, entry.Kind);
        writer.WriteNumber(P, entry.Points);
        writer.WriteNumber(B, entry.BalanceAfter);
        entry.EventKeyValue.WriteTo(writer, E);
        writer.WriteString(R, entry.RuleId);
        writer.WriteString(V, entry.ProgramVersion);
        writer.WriteString(At, entry.At);
        entry.NoteValue.WriteTo(writer, Note);
        writer.WriteNumber(Pd, entry.PendingPoints);
        writer.WriteString(Ref, entry.Ref);
        writer.WriteEndObject();
    }
}

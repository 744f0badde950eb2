using System.Text.Json;
using System.Text.Json.Serialization;

namespace Loyalty.Domain;

/// <summary>The one set of JSON options for domain values, in storage and between grains.</summary>
public static class DomainJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    /// <summary>For domain JSON written by hand (journal records, ledger entries): the same escaping as
    /// <see cref="Options"/> (non-ASCII text as UTF-8), no validation (the code writing it is ours).</summary>
    public static JsonWriterOptions WriterOptions { get; } = new() { Encoder = Options.Encoder, SkipValidation = true };

    /// <summary><see cref="Options"/> without the converters that write kept entries by hand (they read with these).</summary>
    internal static JsonSerializerOptions PlainOptions { get; } = Create(entryWriters: false);

    private static JsonSerializerOptions Create(bool entryWriters = true)
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
            NumberHandling = JsonNumberHandling.Strict,
            // Non-ASCII text as UTF-8 (up to 3 bytes a character) instead of \uXXXX escapes (6 bytes): it keeps the
            // stored state within one Azure Table entity. Safe here: this JSON is never embedded in HTML or script.
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        if (entryWriters)
        {
            options.Converters.Add(new Customers.SeenEventJsonConverter());
            options.Converters.Add(new Customers.LedgerEntryJsonConverter());
            options.Converters.Add(new Customers.GrantedRewardJsonConverter());
        }
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

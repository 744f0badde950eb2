using System.Globalization;
using System.Text.Json;
using CsvHelper;
using Google.Protobuf;
using Loyalty.Contracts.V1;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace Loyalty.Cli;

/// <summary>The kinds of member file <c>loyalty import members</c> reads.</summary>
public enum ImportFileFormat
{
    Csv,
    Jsonl,
}

/// <summary>A line that is not imported: rejected while reading the file, or by the server.</summary>
/// <param name="Line">The physical line in the file (1 = the first line, the header of a CSV file).</param>
/// <param name="Field">The field at fault, as the server names them (<c>points_available</c>, <c>lots[0].expires_at</c>).</param>
public sealed record ImportRejection(long Line, string CustomerId, string EventId, string Field, string Reason);

/// <summary>One line of an import file: the record to send, or why it is not sent.</summary>
public sealed record ImportLine<T>(long Line, T? Record, ImportRejection? Rejection)
    where T : class;

/// <summary>
/// Reads a member file, one record at a time so that a million-line file is never in memory at once. A line that
/// does not parse (a bad number or date, bad lots syntax, a customer_id seen on an earlier line) comes out as a
/// rejection with its line number, and the reading goes on. Problems with the file as a whole (an unknown or missing
/// column) throw <see cref="InvalidDataException"/> when the reader is created, before anything is read or sent.
/// </summary>
public sealed class MemberFileReader : IDisposable
{
    /// <summary>The columns (CSV) or fields (JSONL) of a member file; customer_id is required.</summary>
    public static readonly IReadOnlyList<string> Fields =
    [
        "customer_id", "display_name", "birth_year", "accessibility_needs", "time_zone", "points_available",
        "points_lifetime", "tier", "tier_since", "qualifying_points", "lots",
    ];

    private readonly TextReader text;
    private readonly CsvReader? csv;
    private readonly string[] columns = [];
    private readonly int idColumn;
    // The line each customer was first seen on: a later line with the same id is a mistake in the file, and sending
    // it would make the server reject it as already imported (or, worse, import whichever line came first).
    private readonly Dictionary<string, long> seen = new(StringComparer.Ordinal);
    private readonly Queue<ImportRejection> malformed = new();

    private MemberFileReader(TextReader text, bool isCsv)
    {
        this.text = text;
        if (!isCsv)
        {
            return;
        }
        csv = CsvReader.Create(text, new CsvReaderOptions
        {
            // Never guessed from the data: a lots cell is full of semicolons.
            Separator = ',',
            HasHeader = true,
            TrackLineNumbers = true,
            SkipEmptyLines = true,
            MalformedData = CsvMalformedDataHandling.Skip,
            FieldCountMismatch = CsvFieldCountHandling.Skip,
            OnMalformedRecord = r => malformed.Enqueue(new ImportRejection(r.LineNumber, "", "", "csv", Malformed(r.Reason))),
        }, leaveOpen: true);
        try
        {
            csv.ReadHeader();
        }
        catch (CsvFormatException e)
        {
            throw new InvalidDataException($"line 1: the header does not parse: {e.Message}", e);
        }
        columns = [.. csv.Headers.Select(h => h.Trim().ToLowerInvariant())];
        if (columns.Length == 0)
        {
            throw new InvalidDataException("the file is empty (a CSV member file starts with a header row: customer_id,...)");
        }
        for (var i = 0; i < columns.Length; i++)
        {
            if (columns[i].Length == 0)
            {
                throw new InvalidDataException($"column {i + 1} of the header has no name");
            }
            if (!Fields.Contains(columns[i]))
            {
                throw new InvalidDataException($"unknown column '{columns[i]}' (the columns are {string.Join(", ", Fields)})");
            }
            if (Array.IndexOf(columns, columns[i]) < i)
            {
                throw new InvalidDataException($"column '{columns[i]}' appears twice in the header");
            }
        }
        idColumn = Array.IndexOf(columns, "customer_id");
        if (idColumn < 0)
        {
            throw new InvalidDataException("the header has no customer_id column");
        }
    }

    /// <summary>A CSV member file with a header row. Throws <see cref="InvalidDataException"/> for a bad header.</summary>
    public static MemberFileReader Csv(TextReader text) => new(text, isCsv: true);

    /// <summary>A member file of JSON lines, one object per line with the fields in snake_case.</summary>
    public static MemberFileReader Jsonl(TextReader text) => new(text, isCsv: false);

    /// <summary>Opens <paramref name="path"/> as <paramref name="format"/>.</summary>
    public static MemberFileReader Open(string path, ImportFileFormat format)
    {
        var text = new StreamReader(path, detectEncodingFromByteOrderMarks: true);
        try
        {
            return format == ImportFileFormat.Csv ? Csv(text) : Jsonl(text);
        }
        catch
        {
            text.Dispose();
            throw;
        }
    }

    /// <summary>The format named by --format, else by the file's extension.</summary>
    public static ImportFileFormat FormatOf(string path, string? format) => (format?.ToLowerInvariant(), Path.GetExtension(path).ToLowerInvariant()) switch
    {
        ("csv", _) or (null or "", ".csv") => ImportFileFormat.Csv,
        ("jsonl" or "ndjson", _) or (null or "", ".jsonl" or ".ndjson") => ImportFileFormat.Jsonl,
        ({ Length: > 0 } other, _) => throw new ArgumentException($"--format: '{other}' is not csv or jsonl"),
        _ => throw new ArgumentException($"cannot tell the format of '{Path.GetFileName(path)}' from its extension: give --format csv or --format jsonl"),
    };

    /// <summary>The lines in file order. Enumerate once.</summary>
    public IEnumerable<ImportLine<MemberRecord>> Lines() => csv is not null ? CsvLines(csv) : JsonLines();

    public void Dispose()
    {
        csv?.Dispose();
        text.Dispose();
    }

    private IEnumerable<ImportLine<MemberRecord>> CsvLines(CsvReader reader)
    {
        while (true)
        {
            bool more;
            try
            {
                more = reader.Read();
            }
            catch (CsvFormatException e)
            {
                // Only what the reader cannot step over (a record too large to buffer): the rest of the file is lost.
                throw new InvalidDataException($"line {e.LineNumber}: {e.Message}", e);
            }
            // Records skipped for bad quoting or a wrong number of cells come before the one just read.
            while (malformed.TryDequeue(out var bad))
            {
                yield return new ImportLine<MemberRecord>(bad.Line, null, bad);
            }
            if (!more)
            {
                yield break;
            }
            var line = reader.LineNumber;
            var record = new MemberRecord { Line = line };
            // The id first, so that a rejection for another field still names its customer.
            var error = Apply(record, "customer_id", reader.GetString(idColumn));
            for (var i = 0; i < columns.Length && error is null; i++)
            {
                error = i == idColumn ? null : Apply(record, columns[i], reader.GetString(i));
            }
            yield return Finish(line, record, error);
        }
    }

    private IEnumerable<ImportLine<MemberRecord>> JsonLines()
    {
        long line = 0;
        while (text.ReadLine() is { } raw)
        {
            line++;
            if (string.IsNullOrWhiteSpace(raw))
            {
                continue;
            }
            var record = new MemberRecord { Line = line };
            (string Field, string Reason)? error;
            try
            {
                using var doc = JsonDocument.Parse(raw);
                error = ApplyJson(record, doc.RootElement);
            }
            catch (JsonException e)
            {
                error = ("json", $"not a JSON object: {e.Message}");
            }
            yield return Finish(line, record, error);
        }
    }

    private ImportLine<MemberRecord> Finish(long line, MemberRecord record, (string Field, string Reason)? error)
    {
        var id = record.CustomerId;
        if (id.Length > 0)
        {
            if (seen.TryGetValue(id, out var first))
            {
                error ??= ("customer_id", $"appears again (first on line {first})");
            }
            else
            {
                seen[id] = line;
            }
        }
        else if (error is null)
        {
            error = ("customer_id", "is required");
        }
        return error is { } e
            ? new ImportLine<MemberRecord>(line, null, new ImportRejection(line, id, "", e.Field, e.Reason))
            : new ImportLine<MemberRecord>(line, record, null);
    }

    private static (string Field, string Reason)? ApplyJson(MemberRecord record, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return ("json", $"not a JSON object but {Kind(root)}");
        }
        // The id first, so that a rejection for another field still names its customer.
        if (root.TryGetProperty("customer_id", out var id) && Scalar(id) is { } idText)
        {
            record.CustomerId = idText;
        }
        foreach (var property in root.EnumerateObject())
        {
            if (!Fields.Contains(property.Name))
            {
                return (property.Name, "unknown field");
            }
            var value = property.Value;
            if (property.Name == "lots" && value.ValueKind == JsonValueKind.Array)
            {
                if (ApplyJsonLots(record, value) is { } lotError)
                {
                    return lotError;
                }
                continue;
            }
            if (Scalar(value) is not { } scalar)
            {
                return (property.Name, $"must be a string, number or boolean, not {Kind(value)}");
            }
            if (Apply(record, property.Name, scalar) is { } error)
            {
                return error;
            }
        }
        return null;
    }

    private static (string Field, string Reason)? ApplyJsonLots(MemberRecord record, JsonElement lots)
    {
        var i = 0;
        foreach (var lot in lots.EnumerateArray())
        {
            var name = $"lots[{i++}]";
            if (lot.ValueKind != JsonValueKind.Object)
            {
                return (name, $"must be an object {{\"points\": N, \"expires_at\": \"...\"}}, not {Kind(lot)}");
            }
            var parsed = new OpeningLot();
            var hasPoints = false;
            foreach (var property in lot.EnumerateObject())
            {
                var field = $"{name}.{property.Name}";
                if (Scalar(property.Value) is not { } value)
                {
                    return (field, $"must be a string or number, not {Kind(property.Value)}");
                }
                switch (property.Name)
                {
                    case "points":
                        if (!long.TryParse(value.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var points))
                        {
                            return (field, NotANumber(value));
                        }
                        parsed.Points = points;
                        hasPoints = true;
                        break;
                    case "expires_at":
                        if (value.Trim().Length > 0)
                        {
                            if (!TryParseInstant(value, out var at))
                            {
                                return (field, NotAnInstant(value));
                            }
                            parsed.ExpiresAt = Timestamp.FromDateTimeOffset(at);
                        }
                        break;
                    default:
                        return (field, "unknown field (a lot has points and expires_at)");
                }
            }
            if (!hasPoints)
            {
                return ($"{name}.points", "is required");
            }
            record.Lots.Add(parsed);
        }
        return null;
    }

    /// <summary>Sets one field from its text; an empty text leaves it unset. Returns the field and reason if it does not parse.</summary>
    private static (string Field, string Reason)? Apply(MemberRecord record, string field, string value)
    {
        if (field is "customer_id" or "display_name" or "time_zone" or "tier")
        {
            // Text is taken as it is (a name may well start with a space); only the empty check ignores blanks.
            var given = value.Trim().Length == 0 ? "" : value;
            switch (field)
            {
                case "customer_id": record.CustomerId = given; break;
                case "display_name": record.DisplayName = given; break;
                case "time_zone": record.TimeZone = given.Trim(); break;
                default: record.Tier = given.Trim(); break;
            }
            return null;
        }
        var text = value.Trim();
        if (text.Length == 0)
        {
            return null;
        }
        switch (field)
        {
            case "birth_year":
                if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var year))
                {
                    return (field, NotANumber(text));
                }
                record.BirthYear = year;
                return null;
            case "accessibility_needs":
                switch (text.ToLowerInvariant())
                {
                    case "true" or "1" or "yes": record.AccessibilityNeeds = true; return null;
                    case "false" or "0" or "no": record.AccessibilityNeeds = false; return null;
                    default: return (field, $"'{Clip(text)}' is not true, false, 1, 0, yes or no");
                }
            case "points_available" or "points_lifetime" or "qualifying_points":
                if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var points))
                {
                    return (field, NotANumber(text));
                }
                if (field == "points_available")
                {
                    record.PointsAvailable = points;
                }
                else if (field == "points_lifetime")
                {
                    record.PointsLifetime = points;
                }
                else
                {
                    record.QualifyingPoints = points;
                }
                return null;
            case "tier_since":
                if (!TryParseInstant(text, out var since))
                {
                    return (field, NotAnInstant(text));
                }
                record.TierSince = Timestamp.FromDateTimeOffset(since);
                return null;
            case "lots":
                return ApplyCsvLots(record, text);
            default:
                return (field, "unknown field");
        }
    }

    /// <summary>The lots cell: <c>points@expires_at;points@expires_at</c>, with an empty (or no) expiry for never.</summary>
    private static (string Field, string Reason)? ApplyCsvLots(MemberRecord record, string text)
    {
        var parts = text.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            var at = parts[i].IndexOf('@', StringComparison.Ordinal);
            var (pointsText, expiresText) = at < 0 ? (parts[i], "") : (parts[i][..at].Trim(), parts[i][(at + 1)..].Trim());
            if (!long.TryParse(pointsText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var points))
            {
                return ($"lots[{i}].points", $"{NotANumber(pointsText)} (a lot is points@expires_at, e.g. 100@2026-12-31 or 100@ for never)");
            }
            var lot = new OpeningLot { Points = points };
            if (expiresText.Length > 0)
            {
                if (!TryParseInstant(expiresText, out var expires))
                {
                    return ($"lots[{i}].expires_at", NotAnInstant(expiresText));
                }
                lot.ExpiresAt = Timestamp.FromDateTimeOffset(expires);
            }
            record.Lots.Add(lot);
        }
        return null;
    }

    private static readonly string[] InstantFormats =
    [
        "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mmK",
        "yyyy-MM-dd HH:mm:ssK", "yyyy-MM-dd HH:mm:ss.FFFFFFFK", "yyyy-MM-dd HH:mmK",
    ];

    /// <summary>An ISO-8601 instant (no offset: UTC), or a date YYYY-MM-DD for its midnight UTC.</summary>
    internal static bool TryParseInstant(string text, out DateTimeOffset value)
    {
        text = text.Trim();
        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
        {
            value = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            return true;
        }
        return DateTimeOffset.TryParseExact(text, InstantFormats, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
    }

    /// <summary>A JSON value as the text a CSV cell would hold; null for objects and arrays.</summary>
    private static string? Scalar(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        JsonValueKind.Null => "",
        _ => null,
    };

    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        _ => value.GetRawText(),
    };

    private static string Malformed(CsvMalformedReason reason) => reason switch
    {
        CsvMalformedReason.FieldCountMismatch => "the line has a different number of cells than the header",
        CsvMalformedReason.StrayQuote => "a quote inside an unquoted cell (quote the whole cell and double the quote: \"a \"\"b\"\" c\")",
        CsvMalformedReason.TextAfterClosingQuote => "text after the closing quote of a cell",
        CsvMalformedReason.UnterminatedQuote => "a quoted cell is never closed",
        CsvMalformedReason.LineBreakInQuotes => "a line break inside a quoted cell",
        _ => $"malformed CSV ({reason})",
    };

    private static string NotANumber(string text) => $"'{Clip(text)}' is not a whole number";

    private static string NotAnInstant(string text) => $"'{Clip(text)}' is not an ISO-8601 instant or a date (YYYY-MM-DD)";

    internal static string Clip(string text) => text.Length > 40 ? text[..40] + "…" : text;
}

/// <summary>
/// Reads a history file: JSON lines, each a <c>loyalty.v1.Event</c> in protobuf JSON. A line that does not parse comes
/// out as a rejection (field "event", the parser's message) and the reading goes on.
/// </summary>
public sealed class HistoryFileReader : IDisposable
{
    // Unknown fields are errors: a misspelt field would otherwise import an event without it.
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(false));

    private readonly TextReader text;

    private HistoryFileReader(TextReader text) => this.text = text;

    public static HistoryFileReader Jsonl(TextReader text) => new(text);

    public static HistoryFileReader Open(string path) => new(new StreamReader(path, detectEncodingFromByteOrderMarks: true));

    /// <summary>The lines in file order. Enumerate once.</summary>
    public IEnumerable<ImportLine<HistoryLine>> Lines()
    {
        long line = 0;
        while (text.ReadLine() is { } raw)
        {
            line++;
            if (string.IsNullOrWhiteSpace(raw))
            {
                continue;
            }
            Event e;
            string? error;
            try
            {
                e = (Event)Parser.Parse(raw, Event.Descriptor);
                error = null;
            }
            catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException or FormatException)
            {
                e = new Event();
                error = ex.Message;
            }
            if (error is null)
            {
                yield return new ImportLine<HistoryLine>(line, new HistoryLine { Line = line, Event = e }, null);
                continue;
            }
            var (customer, eventId) = Ids(raw);
            yield return new ImportLine<HistoryLine>(line, null, new ImportRejection(line, customer, eventId, "event", error));
        }
    }

    public void Dispose() => text.Dispose();

    /// <summary>The ids of a line the protobuf parser refused, if it is JSON at all, so the rejection can name them.</summary>
    private static (string Customer, string EventId) Ids(string raw)
    {
        try
        {
            using var doc = JsonDocument.Parse(raw);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return ("", "");
            }
            return (Text(doc.RootElement, "customerId", "customer_id"), Text(doc.RootElement, "eventId", "event_id"));
        }
        catch (JsonException)
        {
            return ("", "");
        }

        static string Text(JsonElement o, string camel, string snake) =>
            (o.TryGetProperty(camel, out var v) || o.TryGetProperty(snake, out v)) && v.ValueKind == JsonValueKind.String
                ? MemberFileReader.Clip(v.GetString()!) : "";
    }
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Customers;

/// <summary>Points a member brings from the system they leave: spendable until <see cref="ExpiresAt"/> (null: never).</summary>
public sealed record OpeningLot(
    [property: JsonPropertyName("p")] long Points,
    [property: JsonPropertyName("x")] DateTimeOffset? ExpiresAt);

/// <summary>One member as the import file gives it. Stored in journal records: never rename the JSON names.</summary>
public sealed record MemberImport
{
    [JsonPropertyName("id")] public string CustomerId { get; init; } = "";
    [JsonPropertyName("name")] public string DisplayName { get; init; } = "";
    [JsonPropertyName("by")] public int BirthYear { get; init; }
    [JsonPropertyName("acc")] public bool AccessibilityNeeds { get; init; }
    [JsonPropertyName("tz")] public string TimeZone { get; init; } = "";
    [JsonPropertyName("avail")] public long PointsAvailable { get; init; }
    /// <summary>Points ever earned, the available ones included (0: the same as available).</summary>
    [JsonPropertyName("life")] public long PointsLifetime { get; init; }
    /// <summary>Empty: the program's lowest tier.</summary>
    [JsonPropertyName("tier")] public string Tier { get; init; } = "";
    /// <summary>When the member reached the tier (the tier period runs from there); null: at import.</summary>
    [JsonPropertyName("since")] public DateTimeOffset? TierSince { get; init; }
    [JsonPropertyName("qp")] public long QualifyingPoints { get; init; }
    /// <summary>How the available points expire; empty: one lot expiring as if earned at import.</summary>
    [JsonPropertyName("lots")] public IReadOnlyList<OpeningLot> Lots { get; init; } = [];

    /// <summary>Identifies the content: importing the same member under the same import id again is "unchanged",
    /// different content under the same id is refused.</summary>
    public string Fingerprint()
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(this, DomainJson.Options);
        return Convert.ToHexString(SHA256.HashData(json), 0, 16);
    }
}

/// <summary>Bringing members and their past in from another system (issue 18; rules in docs/import.md).</summary>
public static class CustomerImports
{
    public const int MaxLots = 100;
    /// <summary>History events kept for deduplication per customer (8 bytes each in the state).</summary>
    public const int MaxHistoryEvents = 10_000;
    public const string LedgerKind = "import";

    /// <summary>Checks a member record against the program; null when it can be imported.</summary>
    public static FieldError? Validate(MemberImport m, ActiveProgram program, DateTimeOffset now)
    {
        if (EventValidator.Id(m.CustomerId, "customer_id") is { } id)
        {
            return id;
        }
        if (EventValidator.Text(m.DisplayName, "display_name", required: false) is { } name)
        {
            return name;
        }
        if (m.BirthYear != 0 && (m.BirthYear < 1900 || m.BirthYear > now.Year))
        {
            return new FieldError("birth_year", $"must be 1900..{now.Year} (or empty)");
        }
        if (m.TimeZone.Length > 0 && (m.TimeZone.Length > 64 || !TimeZoneInfo.TryFindSystemTimeZoneById(m.TimeZone, out _)))
        {
            return new FieldError("time_zone", $"unknown time zone '{(m.TimeZone.Length > 16 ? m.TimeZone[..16] + "…" : m.TimeZone)}'");
        }
        if (m.PointsAvailable < 0)
        {
            return new FieldError("points_available", $"must not be negative ({m.PointsAvailable})");
        }
        if (m.PointsAvailable > 1_000_000_000_000)
        {
            return new FieldError("points_available", "is over 10^12");
        }
        if (m.PointsLifetime < 0 || m.PointsLifetime != 0 && m.PointsLifetime < m.PointsAvailable)
        {
            return new FieldError("points_lifetime", $"must be at least points_available ({m.PointsAvailable}), or empty");
        }
        if (m.PointsLifetime > 1_000_000_000_000)
        {
            return new FieldError("points_lifetime", "is over 10^12");
        }
        if (m.Tier.Length > 0 && !program.Tiers.Any(t => t.Name == m.Tier))
        {
            return new FieldError("tier", $"unknown tier '{(m.Tier.Length > 32 ? m.Tier[..32] + "…" : m.Tier)}' (the program has {string.Join(", ", program.Tiers.Select(t => t.Name))})");
        }
        if (m.TierSince is { } since && since > now)
        {
            return new FieldError("tier_since", "is in the future");
        }
        if (m.QualifyingPoints is < 0 or > 1_000_000_000_000)
        {
            return new FieldError("qualifying_points", "must be 0..10^12");
        }
        if (m.Lots.Count > MaxLots)
        {
            return new FieldError("lots", $"at most {MaxLots} lots");
        }
        for (var i = 0; i < m.Lots.Count; i++)
        {
            if (m.Lots[i].Points <= 0)
            {
                return new FieldError($"lots[{i}].points", "must be positive");
            }
            if (m.Lots[i].ExpiresAt is { } expires && expires <= now)
            {
                return new FieldError($"lots[{i}].expires_at", "is not in the future (expired points are not a balance)");
            }
        }
        if (m.Lots.Count > 0 && m.Lots.Sum(l => l.Points) != m.PointsAvailable)
        {
            return new FieldError("lots", $"add up to {m.Lots.Sum(l => l.Points)}, not points_available ({m.PointsAvailable})");
        }
        return null;
    }

    /// <summary>Creates the member (or completes a customer so far known only from imported history). Idempotent by
    /// (import id, customer): the same member again is a duplicate; anything else about an existing customer is refused,
    /// never merged.</summary>
    public static OperationResult ImportMember(CustomerState state, string importId, MemberImport m, ActiveProgram program, DateTimeOffset now)
    {
        if (Validate(m, program, now) is { } invalid)
        {
            return Refused(invalid.ToString(), state);
        }
        if (state.Exists && !string.Equals(state.CustomerId, m.CustomerId, StringComparison.Ordinal))
        {
            return Refused($"customer_id: '{m.CustomerId}' is not this customer", state);
        }
        var fingerprint = m.Fingerprint();
        if (state.Exists && state.MemberImport is { } done)
        {
            return done.ImportId == importId && done.Fingerprint == fingerprint
                ? new OperationResult(OperationOutcome.Duplicate, 0, null, null, CustomerSummary.Of(state))
                : done.ImportId == importId
                    ? Refused($"customer_id: '{m.CustomerId}' was imported by import '{importId}' with different data; nothing was changed", state)
                    : Refused($"customer_id: '{m.CustomerId}' already exists (imported by import '{done.ImportId}'); nothing was merged", state);
        }
        if (state.Exists && !state.HistoryOnly)
        {
            return Refused($"customer_id: '{m.CustomerId}' already exists (since {state.FirstSeen:yyyy-MM-dd}); an import never merges into a live customer", state);
        }

        DueWork.Advance(state, program, now);
        var key = StoredKey.Of("import/" + importId);
        if (!state.Exists)
        {
            state.CustomerId = m.CustomerId;
            state.FirstSeen = now;
            state.Tier = program.Tiers[0].Name;
        }
        state.Profile = state.Profile with
        {
            DisplayName = m.DisplayName,
            BirthYear = m.BirthYear,
            AccessibilityNeeds = m.AccessibilityNeeds,
            TimeZone = m.TimeZone,
        };
        var lots = m.Lots.Count > 0 || m.PointsAvailable == 0
            ? m.Lots
            : [new OpeningLot(m.PointsAvailable, program.ExpiryTicks(now) is var x and not 0 ? new DateTimeOffset(x, TimeSpan.Zero) : null)];
        foreach (var lot in lots)
        {
            PointsBook.Open(state, lot.Points, lot.ExpiresAt?.UtcTicks ?? 0, LedgerKind, key, program.Version, now,
                lot.ExpiresAt is { } e ? string.Create(CultureInfo.InvariantCulture, $"opening balance, expires {e:yyyy-MM-dd}") : "opening balance");
        }
        state.PointsLifetime += Math.Max(m.PointsLifetime, m.PointsAvailable);
        if (m.QualifyingPoints > 0)
        {
            CustomerEngine.AddQualifyingPoints(state, program.LocalDay(now), m.QualifyingPoints);
        }
        if (m.Tier.Length > 0 && m.Tier != state.Tier)
        {
            // The tier's lifecycle runs from tier_since: a period that ended since then is settled by the due work below
            // (requalify, grace or downgrade), exactly as if the member had been here all along.
            var since = m.TierSince ?? now;
            var from = state.Tier;
            state.Tier = m.Tier;
            TierLifecycle.StartPeriod(state, program, since);
            TierLifecycle.Record(state, from, m.Tier, since, key, CustomerEngine.QualifyingPoints(state), $"imported by {importId}", program.Version);
        }
        DueWork.Advance(state, program, now);
        state.MemberImport = new MemberImportMark(importId, fingerprint);
        state.HistoryOnly = false;
        return new OperationResult(OperationOutcome.Applied, m.PointsAvailable, null, null, CustomerSummary.Of(state));
    }

    private static OperationResult Refused(string reason, CustomerState state) =>
        new(OperationOutcome.Refused, 0, reason, null, state.Exists ? CustomerSummary.Of(state) : null);

    /// <summary>The 64-bit key of a history event id (deduplication within a customer's imported history).</summary>
    public static ulong HistoryKey(string eventId)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(eventId), hash);
        return BitConverter.ToUInt64(hash[..8]);
    }
}

/// <summary>Which import created the member, and with what content.</summary>
public sealed record MemberImportMark(
    [property: JsonPropertyName("id")] string ImportId,
    [property: JsonPropertyName("fp")] string Fingerprint);

/// <summary>Keys of the history events a customer imported, as a sorted array of 64-bit hashes stored base64 (8 bytes
/// an event): a history file run again finds its events already there.</summary>
public sealed class HistoryKeys
{
    private readonly List<ulong> _keys;

    public HistoryKeys(IEnumerable<ulong> keys) => _keys = [.. keys.Order()];

    public int Count => _keys.Count;

    public bool Contains(ulong key) => _keys.BinarySearch(key) >= 0;

    public bool Add(ulong key)
    {
        var i = _keys.BinarySearch(key);
        if (i >= 0)
        {
            return false;
        }
        _keys.Insert(~i, key);
        return true;
    }

    public string Encode()
    {
        var bytes = new byte[_keys.Count * 8];
        for (var i = 0; i < _keys.Count; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 8), _keys[i]);
        }
        return Convert.ToBase64String(bytes);
    }

    public static HistoryKeys Decode(string? encoded)
    {
        if (string.IsNullOrEmpty(encoded))
        {
            return new HistoryKeys([]);
        }
        var bytes = Convert.FromBase64String(encoded);
        var keys = new ulong[bytes.Length / 8];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(i * 8));
        }
        return new HistoryKeys(keys);
    }
}

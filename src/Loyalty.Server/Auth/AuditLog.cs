using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Azure.Data.Tables;
using Google.Protobuf.WellKnownTypes;
using Loyalty.Domain.Events;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Auth;

/// <summary>
/// The audit log of admin actions by authenticated callers (refusals of unauthenticated or rate-limited calls are
/// counted in metrics, never stored). Customers appear only as a pseudonym: a keyed hash of their id, so the log can
/// be searched by customer while the id exists, yet holds no id. Free-text reasons are kept apart, by customer, and
/// erased with the customer. With Azure Table storage: table <c>LoyaltyAudit</c>, rows spread over
/// <see cref="Shards"/> partitions with row keys that sort newest first, and table <c>LoyaltyAuditReasons</c>
/// partitioned by pseudonym; with memory storage it is all kept in memory like everything else.
/// </summary>
public sealed class AuditLog
{
    /// <summary>Partitions the rows are spread over (chosen at random per row), so no single partition takes them all.</summary>
    public const int Shards = 16;
    public const string Erased = "(erased with the customer)";
    private const int MemoryKept = 10_000;

    private sealed record Kept(V1.AuditEntry Entry, string? Pseudonym);

    private readonly TableClient? _table;
    private readonly TableClient? _reasons;
    private readonly byte[] _pseudonymKey;
    private readonly List<Kept> _memory = [];
    private readonly Dictionary<string, string> _memoryReasons = new(StringComparer.Ordinal);   // row id -> reason
    private bool _created;

    public AuditLog(LoyaltySettings settings)
    {
        // Derived from the reward code secret (which start-up checks): no second secret to manage. Rotating that
        // secret starts new pseudonyms; older rows stay readable but no longer match a customer search.
        _pseudonymKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(settings.Limits.RewardCodeSecret), 32,
            info: Encoding.UTF8.GetBytes("loyalty audit pseudonyms v1"));
        if (settings.Storage.Provider == "AzureTable" && settings.Storage.ConnectionString.Length > 0)
        {
            _table = new TableClient(settings.Storage.ConnectionString, "LoyaltyAudit");
            _reasons = new TableClient(settings.Storage.ConnectionString, "LoyaltyAuditReasons");
        }
    }

    /// <summary>How a customer appears in the log: <c>customer:</c> and 96 bits of HMAC-SHA256 of the id.</summary>
    public string Pseudonym(string customerId) =>
        "customer:" + Convert.ToHexStringLower(HMACSHA256.HashData(_pseudonymKey, Encoding.UTF8.GetBytes(customerId)).AsSpan(0, 12));

    /// <summary>Records one action. <paramref name="customerId"/>, if the action was about a customer, is stored only as
    /// its pseudonym (also in place of the id anywhere in the detail); a malformed id is not stored at all. The detail is
    /// clipped; the reason (caller-supplied free text) is kept apart and erased with the customer.</summary>
    public async Task RecordAsync(DateTimeOffset at, string caller, string action, string target, string outcome, string detail,
        string? customerId = null, string? reason = null)
    {
        string? pseudonym = null;
        if (customerId is not null)
        {
            if (EventValidator.Id(customerId, "customer_id") is null)
            {
                pseudonym = Pseudonym(customerId);
                target = pseudonym;
                detail = detail.Replace(customerId, pseudonym, StringComparison.Ordinal);
            }
            else
            {
                target = "(malformed customer id)";
                reason = null;
            }
        }
        var entry = new V1.AuditEntry
        {
            At = Timestamp.FromDateTimeOffset(at),
            Caller = Clip(caller, 128),
            Action = Clip(action, 128),
            Target = Clip(target, 128),
            Outcome = Clip(outcome, 64),
            Detail = Clip(detail, 500),
        };
        var rowKey = $"{DateTimeOffset.MaxValue.UtcTicks - at.UtcTicks:D19}-{Guid.NewGuid():N}";
        reason = string.IsNullOrEmpty(reason) ? null : Clip(reason, 500);
        if (_table is null || _reasons is null)
        {
            lock (_memory)
            {
                entry.Reason = reason ?? "";
                _memory.Add(new Kept(entry, pseudonym));
                if (_memory.Count > MemoryKept)
                {
                    _memory.RemoveAt(0);
                }
            }
            return;
        }
        await EnsureTablesAsync();
        if (reason is not null && pseudonym is not null)
        {
            await _reasons.UpsertEntityAsync(new TableEntity(pseudonym, rowKey) { ["Reason"] = reason });
        }
        await _table.AddEntityAsync(new TableEntity($"audit-{Random.Shared.Next(Shards):D2}", rowKey)
        {
            ["At"] = at,
            ["Caller"] = entry.Caller,
            ["Action"] = entry.Action,
            ["Target"] = entry.Target,
            ["Outcome"] = entry.Outcome,
            ["Detail"] = entry.Detail,
            ["HasReason"] = reason is not null && pseudonym is not null,
        });
    }

    /// <summary>Deletes the free-text reasons recorded about a customer (their rows stay, pseudonymous).</summary>
    public async Task EraseReasonsAsync(string customerId)
    {
        var pseudonym = Pseudonym(customerId);
        if (_table is null || _reasons is null)
        {
            lock (_memory)
            {
                foreach (var kept in _memory.Where(k => k.Pseudonym == pseudonym && k.Entry.Reason.Length > 0))
                {
                    kept.Entry.Reason = Erased;
                }
            }
            return;
        }
        await EnsureTablesAsync();
        // One by one (a customer has few), unconditionally: two erases of the same customer may race, and deleting a
        // row already gone succeeds.
        await foreach (var row in _reasons.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {pseudonym}"), select: ["RowKey"]))
        {
            await _reasons.DeleteEntityAsync(pseudonym, row.RowKey, Azure.ETag.All);
        }
    }

    /// <summary>Newest first, optionally only the rows about one customer; the page token is the row key to continue after.</summary>
    public async Task<V1.ListAuditEntriesResponse> ListAsync(int pageSize, string pageToken, string customerId = "")
    {
        var size = pageSize <= 0 ? 50 : Math.Min(pageSize, 500);
        var pseudonym = customerId.Length > 0 ? Pseudonym(customerId) : null;
        var response = new V1.ListAuditEntriesResponse();
        if (_table is null || _reasons is null)
        {
            lock (_memory)
            {
                var skip = int.TryParse(pageToken, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
                var matching = Enumerable.Reverse(_memory).Where(k => pseudonym is null || k.Pseudonym == pseudonym).ToList();
                var page = matching.Skip(skip).Take(size).Select(k => k.Entry.Clone()).ToList();
                response.Entries.AddRange(page);
                response.NextPageToken = skip + page.Count < matching.Count ? (skip + page.Count).ToString(CultureInfo.InvariantCulture) : "";
            }
            return response;
        }
        await EnsureTablesAsync();
        // Every partition's next rows, merged by row key (time, newest first); "audit" holds rows of older versions.
        var partitions = Enumerable.Range(0, Shards).Select(i => $"audit-{i:D2}").Append("audit");
        var pages = await Task.WhenAll(partitions.Select(async partition =>
        {
            var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition}");
            if (pageToken.Length > 0)
            {
                filter += " and " + TableClient.CreateQueryFilter($"RowKey gt {pageToken}");
            }
            if (pseudonym is not null)
            {
                filter += " and " + TableClient.CreateQueryFilter($"Target eq {pseudonym}");
            }
            var rows = new List<TableEntity>();
            await foreach (var row in _table.QueryAsync<TableEntity>(filter, maxPerPage: size))
            {
                rows.Add(row);
                if (rows.Count == size)
                {
                    break;
                }
            }
            return rows;
        }));
        var merged = pages.SelectMany(p => p).OrderBy(r => r.RowKey, StringComparer.Ordinal).Take(size).ToList();
        foreach (var row in merged)
        {
            var entry = new V1.AuditEntry
            {
                At = Timestamp.FromDateTimeOffset(row.GetDateTimeOffset("At") ?? DateTimeOffset.UnixEpoch),
                Caller = row.GetString("Caller") ?? "",
                Action = row.GetString("Action") ?? "",
                Target = row.GetString("Target") ?? "",
                Outcome = row.GetString("Outcome") ?? "",
                Detail = row.GetString("Detail") ?? "",
            };
            if (row.GetBoolean("HasReason") == true)
            {
                var kept = await _reasons.GetEntityIfExistsAsync<TableEntity>(entry.Target, row.RowKey);
                entry.Reason = kept.HasValue ? kept.Value!.GetString("Reason") ?? "" : Erased;
            }
            response.Entries.Add(entry);
        }
        response.NextPageToken = merged.Count == size ? merged[^1].RowKey : "";
        return response;
    }

    private async Task EnsureTablesAsync()
    {
        if (!_created)
        {
            await _table!.CreateIfNotExistsAsync();
            await _reasons!.CreateIfNotExistsAsync();
            _created = true;
        }
    }

    private static string Clip(string text, int max) => text.Length <= max ? text : text[..max] + "…";
}

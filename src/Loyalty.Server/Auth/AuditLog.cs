using System.Globalization;
using Azure.Data.Tables;
using Google.Protobuf.WellKnownTypes;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Auth;

/// <summary>
/// The audit log of admin actions. With Azure Table storage it is a table (<c>LoyaltyAudit</c>, row keys that sort
/// newest first); with memory storage it is kept in memory like everything else.
/// </summary>
public sealed class AuditLog
{
    private readonly TableClient? _table;
    private readonly List<V1.AuditEntry> _memory = [];
    private const int MemoryKept = 10_000;

    public AuditLog(LoyaltySettings settings)
    {
        if (settings.Storage.Provider == "AzureTable" && settings.Storage.ConnectionString.Length > 0)
        {
            _table = new TableClient(settings.Storage.ConnectionString, "LoyaltyAudit");
        }
    }

    /// <summary>Records one action; the detail is clipped (it may hold caller-supplied text).</summary>
    public Task RecordAsync(DateTimeOffset at, string caller, string action, string target, string outcome, string detail) =>
        RecordAsync(new V1.AuditEntry
        {
            At = Timestamp.FromDateTimeOffset(at),
            Caller = caller,
            Action = action,
            Target = target,
            Outcome = outcome,
            Detail = detail.Length > 500 ? detail[..500] : detail,
        });

    public async Task RecordAsync(V1.AuditEntry entry)
    {
        if (_table is null)
        {
            lock (_memory)
            {
                _memory.Add(entry);
                if (_memory.Count > MemoryKept)
                {
                    _memory.RemoveAt(0);
                }
            }
            return;
        }
        await _table.CreateIfNotExistsAsync();
        var at = entry.At.ToDateTimeOffset();
        var row = new TableEntity("audit", $"{DateTimeOffset.MaxValue.UtcTicks - at.UtcTicks:D19}-{Guid.NewGuid():N}")
        {
            ["At"] = at,
            ["Caller"] = entry.Caller,
            ["Action"] = entry.Action,
            ["Target"] = entry.Target,
            ["Outcome"] = entry.Outcome,
            ["Detail"] = entry.Detail,
        };
        await _table.AddEntityAsync(row);
    }

    /// <summary>Newest first; the page token is the row key to continue after.</summary>
    public async Task<V1.ListAuditEntriesResponse> ListAsync(int pageSize, string pageToken)
    {
        var size = pageSize <= 0 ? 50 : Math.Min(pageSize, 500);
        var response = new V1.ListAuditEntriesResponse();
        if (_table is null)
        {
            lock (_memory)
            {
                var skip = int.TryParse(pageToken, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
                var page = Enumerable.Reverse(_memory).Skip(skip).Take(size).ToList();
                response.Entries.AddRange(page);
                response.NextPageToken = skip + page.Count < _memory.Count ? (skip + page.Count).ToString(CultureInfo.InvariantCulture) : "";
            }
            return response;
        }
        await _table.CreateIfNotExistsAsync();
        var filter = pageToken.Length > 0
            ? TableClient.CreateQueryFilter($"PartitionKey eq 'audit' and RowKey gt {pageToken}")
            : "PartitionKey eq 'audit'";
        string last = "";
        await foreach (var row in _table.QueryAsync<TableEntity>(filter, maxPerPage: size))
        {
            response.Entries.Add(new V1.AuditEntry
            {
                At = Timestamp.FromDateTimeOffset(row.GetDateTimeOffset("At") ?? DateTimeOffset.UnixEpoch),
                Caller = row.GetString("Caller") ?? "",
                Action = row.GetString("Action") ?? "",
                Target = row.GetString("Target") ?? "",
                Outcome = row.GetString("Outcome") ?? "",
                Detail = row.GetString("Detail") ?? "",
            });
            last = row.RowKey;
            if (response.Entries.Count == size)
            {
                break;
            }
        }
        response.NextPageToken = response.Entries.Count == size ? last : "";
        return response;
    }
}

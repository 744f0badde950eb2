using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using Grpc.Core;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Grains;
using Loyalty.Server.Auth;
using Loyalty.Server.Services;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Imports;

/// <summary>
/// Member and history imports (docs/import.md). A call's lines go to their customers at once (one grain call per
/// customer); each line gets its own answer, so one bad line never stops the others and changes nothing itself.
/// Request-level problems (no import id, too many lines) are INVALID_ARGUMENT.
/// </summary>
public sealed partial class ImportsService(IGrainFactory grains, IProgramCatalog programs, EngineClock clock) : V1.Imports.ImportsBase
{
    public const int MaxLines = 1000;
    /// <summary>Customers one call works on at once. Each new customer costs storage reads (its checkpoint) and a
    /// journal record; a whole batch at once would queue a thousand activations on storage and time out under a slow
    /// store instead of finishing at its pace. Callers run several calls in parallel for throughput.</summary>
    public const int CustomersAtOnce = 32;

    private static readonly Meter Meter = new(LoyaltyMetrics.MeterName);
    private static readonly Counter<long> Lines = Meter.CreateCounter<long>(
        "loyalty.imports.lines", unit: "{line}", description: "Import lines answered, by import kind (members, history) and outcome (imported, unchanged, rejected)");

    [RpcPolicy(Scopes.Import)]
    public override async Task<V1.ImportMembersResponse> ImportMembers(V1.ImportMembersRequest request, ServerCallContext context)
    {
        CheckRequest(request.ImportId, request.Members.Count, "members");
        var response = new V1.ImportMembersResponse();
        var results = new V1.ImportLineResult[request.Members.Count];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var calls = new List<(V1.ImportLineResult Result, string CustomerId, MemberImport Member)>();
        for (var i = 0; i < request.Members.Count; i++)
        {
            var m = request.Members[i];
            var result = results[i] = new V1.ImportLineResult { Line = m.Line, CustomerId = RpcErrors.Clip(m.CustomerId, 200) };
            if (EventValidator.Id(m.CustomerId, "customer_id") is { } badId)
            {
                Reject(result, badId);
                continue;
            }
            if (!seen.Add(m.CustomerId))
            {
                Reject(result, new FieldError("customer_id", "appears more than once in this request"));
                continue;
            }
            var member = ToDomain(m);
            if (CustomerImports.Validate(member, programs.Current, clock.GetUtcNow()) is { } invalid)
            {
                Reject(result, invalid);
                continue;
            }
            calls.Add((result, m.CustomerId, member));
        }
        await Parallel.ForEachAsync(calls, new ParallelOptions { MaxDegreeOfParallelism = CustomersAtOnce, CancellationToken = context.CancellationToken },
            async (c, _) => await Import(c.Result, c.CustomerId, request.ImportId, c.Member));
        response.Results.AddRange(results);
        Count("members", results);
        return response;
    }

    private async Task Import(V1.ImportLineResult result, string customerId, string importId, MemberImport member)
    {
        var r = await grains.Customer(customerId).ImportMember(importId, member);
        switch (r?.Outcome)
        {
            case OperationOutcome.Applied:
                result.Outcome = V1.ImportOutcome.Imported;
                result.Points = r.PointsDelta;
                break;
            case OperationOutcome.Duplicate:
                result.Outcome = V1.ImportOutcome.Unchanged;
                break;
            default:
                Reject(result, Split(r?.Reason ?? "customer_id: refused"));
                break;
        }
    }

    [RpcPolicy(Scopes.Import)]
    public override async Task<V1.ImportHistoryResponse> ImportHistory(V1.ImportHistoryRequest request, ServerCallContext context)
    {
        CheckRequest(request.ImportId, request.Events.Count, "events");
        var results = new V1.ImportLineResult[request.Events.Count];
        var now = clock.GetUtcNow();
        // One call per customer with its events in request order (a refund must follow its purchase).
        var byCustomer = new Dictionary<string, List<(int Index, LoyaltyEvent Event)>>(StringComparer.Ordinal);
        for (var i = 0; i < request.Events.Count; i++)
        {
            var line = request.Events[i];
            var result = results[i] = new V1.ImportLineResult
            {
                Line = line.Line, CustomerId = RpcErrors.Clip(line.Event?.CustomerId ?? "", 200), EventId = RpcErrors.Clip(line.Event?.EventId ?? "", 200),
            };
            if (line.Event is null)
            {
                Reject(result, new FieldError("event", "is required"));
                continue;
            }
            var e = ProtoMapping.ToDomain(line.Event);
            if (EventValidator.Validate(e, programs.Current, now) is { } invalid)
            {
                Reject(result, invalid);
                continue;
            }
            if (!byCustomer.TryGetValue(e.CustomerId, out var list))
            {
                byCustomer[e.CustomerId] = list = [];
            }
            list.Add((i, e));
        }
        await Parallel.ForEachAsync(byCustomer, new ParallelOptions { MaxDegreeOfParallelism = CustomersAtOnce, CancellationToken = context.CancellationToken }, async (c, _) =>
        {
            var answers = await grains.Customer(c.Key).ImportHistory(request.ImportId, [.. c.Value.Select(x => x.Event)], request.EarnPoints);
            for (var k = 0; k < answers.Length; k++)
            {
                var result = results[c.Value[k].Index];
                switch (answers[k].Outcome)
                {
                    case EventOutcome.Applied:
                        result.Outcome = V1.ImportOutcome.Imported;
                        result.Points = answers[k].PointsDelta;
                        break;
                    case EventOutcome.Duplicate:
                        result.Outcome = V1.ImportOutcome.Unchanged;
                        break;
                    default:
                        Reject(result, answers[k].ErrorField is { } field
                            ? new FieldError(field, StripField(answers[k].Error ?? "", field))
                            : Split(answers[k].Error ?? "event: refused"));
                        break;
                }
            }
        });
        var response = new V1.ImportHistoryResponse();
        response.Results.AddRange(results);
        Count("history", results);
        return response;
    }

    private static void CheckRequest(string importId, int lines, string field)
    {
        if (EventValidator.Id(importId, "import_id") is { } bad)
        {
            throw RpcErrors.InvalidArgument(bad);
        }
        if (lines > MaxLines)
        {
            throw RpcErrors.InvalidArgument(field, $"at most {MaxLines} per call, not {lines}");
        }
    }

    private static void Reject(V1.ImportLineResult result, FieldError error)
    {
        result.Outcome = V1.ImportOutcome.Rejected;
        result.Field = RpcErrors.Clip(error.Field, 200);
        result.Reason = RpcErrors.Clip(error.Message);
    }

    /// <summary>Domain refusals read "field: why"; the field goes apart when the text starts with one.</summary>
    private static FieldError Split(string reason)
    {
        var m = FieldPrefix().Match(reason);
        return m.Success ? new FieldError(m.Groups[1].Value, reason[m.Length..]) : new FieldError("", reason);
    }

    private static string StripField(string error, string field) =>
        error.StartsWith(field + ": ", StringComparison.Ordinal) ? error[(field.Length + 2)..] : error;

    [GeneratedRegex(@"^([a-z_][a-z0-9_.\[\]]*): ")]
    private static partial Regex FieldPrefix();

    private static void Count(string kind, V1.ImportLineResult[] results)
    {
        foreach (var group in results.GroupBy(r => r.Outcome))
        {
            Lines.Add(group.Count(), new KeyValuePair<string, object?>("loyalty.import", kind),
                new KeyValuePair<string, object?>("loyalty.outcome", group.Key switch
                {
                    V1.ImportOutcome.Imported => "imported",
                    V1.ImportOutcome.Unchanged => "unchanged",
                    _ => "rejected",
                }));
        }
    }

    public static MemberImport ToDomain(V1.MemberRecord m) => new()
    {
        CustomerId = m.CustomerId,
        DisplayName = m.DisplayName,
        BirthYear = m.BirthYear,
        AccessibilityNeeds = m.AccessibilityNeeds,
        TimeZone = m.TimeZone,
        PointsAvailable = m.PointsAvailable,
        PointsLifetime = m.PointsLifetime,
        Tier = m.Tier,
        TierSince = m.TierSince?.ToDateTimeOffset(),
        QualifyingPoints = m.QualifyingPoints,
        Lots = [.. m.Lots.Select(l => new OpeningLot(l.Points, l.ExpiresAt?.ToDateTimeOffset()))],
    };
}

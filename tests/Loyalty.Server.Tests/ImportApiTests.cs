using System.Net;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Loyalty.Contracts;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>The Imports and Reports services over real gRPC (and JSON) on an engine of their own: line-by-line answers,
/// request-level errors, scopes, the audit row, and a liability report equal to the sum over every customer.</summary>
[RunsForAbout(25)]
public sealed class ImportApiTests : IAsyncLifetime
{
    private readonly ApiKeys.Created _importer = ApiKeys.Create("migration");
    private readonly ApiKeys.Created _finance = ApiKeys.Create("finance");
    private readonly ApiKeys.Created _reader = ApiKeys.Create("reader");
    private InProcessEngine _engine = null!;

    public async Task InitializeAsync()
    {
        _engine = new InProcessEngine(TestKeys.Settings([(_importer, ["customers:import"], []), (_finance, ["reports:read"], []), (_reader, ["customers:read"], [])], first: 1));
        await _engine.StartAsync();
    }

    public async Task DisposeAsync() => await _engine.DisposeAsync();

    private Contracts.V1.Imports.ImportsClient ImportsAs(ApiKeys.Created key) => new(TestKeys.Channel(_engine.Address, key.Key));

    private Contracts.V1.Reports.ReportsClient ReportsAs(ApiKeys.Created key) => new(TestKeys.Channel(_engine.Address, key.Key));

    private static MemberRecord Member(long line, string id, long points, string tier = "") => new()
    {
        Line = line, CustomerId = id, DisplayName = "Member " + line, BirthYear = 1960, TimeZone = "Europe/Paris",
        PointsAvailable = points, PointsLifetime = points * 2, Tier = tier,
        TierSince = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-30)),
    };

    [Fact]
    public async Task Members_are_answered_line_by_line_and_bad_lines_change_nothing()
    {
        var run = NewCustomer();
        var lots = Member(6, run + "-lots", 300);
        lots.Lots.Add(new OpeningLot { Points = 100, ExpiresAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(90)) });
        lots.Lots.Add(new OpeningLot { Points = 200 });
        var request = new ImportMembersRequest
        {
            ImportId = "members-" + run,
            Members =
            {
                Member(2, run + "-a", 1_000, "Gold"),
                Member(3, run + "-b", 0),
                Member(4, run + "-bad-tier", 10, "Diamond"),
                new MemberRecord(Member(5, run + "-negative", 10)) { PointsAvailable = -5 },
                lots,
                new MemberRecord(Member(7, run + "-tz", 10)) { TimeZone = "Mars/Olympus" },
                Member(8, run + "-a", 5),   // the same customer twice in one request
            },
        };
        var importer = ImportsAs(_importer);
        var answer = await importer.ImportMembersAsync(request);
        Assert.Equal([2L, 3, 4, 5, 6, 7, 8], answer.Results.Select(r => r.Line));
        Assert.Equal([ImportOutcome.Imported, ImportOutcome.Imported, ImportOutcome.Rejected, ImportOutcome.Rejected, ImportOutcome.Imported,
            ImportOutcome.Rejected, ImportOutcome.Rejected], answer.Results.Select(r => r.Outcome));
        Assert.Equal(["tier", "points_available", "time_zone", "customer_id"], answer.Results.Where(r => r.Outcome == ImportOutcome.Rejected).Select(r => r.Field));
        Assert.Contains("Diamond", answer.Results[2].Reason, StringComparison.Ordinal);
        Assert.Equal(1_000, answer.Results[0].Points);

        var a = await _engine.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = run + "-a" });
        Assert.Equal(1_000, a.Summary.PointsAvailable);
        Assert.Equal(2_000, a.Summary.PointsLifetime);
        Assert.Equal("Gold", a.Summary.Tier);
        var ledger = await _engine.Customers.ListLedgerAsync(new ListLedgerRequest { CustomerId = run + "-lots" });
        Assert.Equal([100L, 200], ledger.Entries.Where(e => e.Kind == "import").Select(e => e.Points).Order());
        foreach (var bad in new[] { "-bad-tier", "-negative", "-tz" })
        {
            var missing = await Assert.ThrowsAsync<RpcException>(() => _engine.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = run + bad }).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        }

        // Again: every line that was imported is unchanged; the bad ones are still rejected, the same way.
        var again = await importer.ImportMembersAsync(request);
        Assert.Equal([ImportOutcome.Unchanged, ImportOutcome.Unchanged, ImportOutcome.Rejected, ImportOutcome.Rejected, ImportOutcome.Unchanged,
            ImportOutcome.Rejected, ImportOutcome.Rejected], again.Results.Select(r => r.Outcome));
        Assert.Equal(1_000, (await _engine.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = run + "-a" })).Summary.PointsAvailable);
        // Another import naming an existing customer is refused, never merged.
        var other = await importer.ImportMembersAsync(new ImportMembersRequest { ImportId = "other-" + run, Members = { Member(2, run + "-a", 50) } });
        Assert.Equal(ImportOutcome.Rejected, other.Results[0].Outcome);
        Assert.Equal("customer_id", other.Results[0].Field);
        Assert.Contains("already exists", other.Results[0].Reason, StringComparison.Ordinal);

        // Request-level errors, and the scope.
        var noId = await Assert.ThrowsAsync<RpcException>(() => importer.ImportMembersAsync(new ImportMembersRequest { Members = { Member(2, run + "-x", 1) } }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, noId.StatusCode);
        Assert.StartsWith("import_id:", noId.Status.Detail, StringComparison.Ordinal);
        var tooMany = new ImportMembersRequest { ImportId = "big" };
        tooMany.Members.AddRange(Enumerable.Range(0, 1001).Select(i => Member(i, $"{run}-many-{i}", 1)));
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => importer.ImportMembersAsync(tooMany).ResponseAsync)).StatusCode);
        var denied = await Assert.ThrowsAsync<RpcException>(() => ImportsAs(_reader).ImportMembersAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);

        // One audit row per call, naming the import (not one per member).
        var audit = await new Audit.AuditClient(_engine.Channel).ListAuditEntriesAsync(new ListAuditEntriesRequest { PageSize = 500 });
        var rows = audit.Entries.Where(e => e.Action == "Imports/ImportMembers" && e.Target.Contains(run, StringComparison.Ordinal)).ToList();
        Assert.Equal(3, rows.Count(r => r.Outcome == "OK"));
    }

    [Fact]
    public async Task History_through_the_api_builds_affinity_without_points_or_rewards_unless_asked()
    {
        var customer = NewCustomer();
        var history = new ImportHistoryRequest { ImportId = "history-" + customer };
        for (var i = 0; i < 6; i++)
        {
            var e = Purchase(customer, $"old-{i}", Line("crib", "baby", 1, 40_000));
            e.EventId = $"h-{customer}-{i}";
            e.OccurredAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-80 + i * 10));
            history.Events.Add(new HistoryLine { Line = i + 1, Event = e });
        }
        var stale = Purchase(customer, "too-old", Line("crib", "baby", 1, 100));
        stale.EventId = "h-too-old";
        stale.OccurredAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-700));   // long past the 30-day dedupe window
        history.Events.Add(new HistoryLine { Line = 7, Event = stale });
        history.Events.Add(new HistoryLine { Line = 8, Event = new Event { EventId = "no-customer", OccurredAt = stale.OccurredAt, Purchase = stale.Purchase } });

        var answer = await ImportsAs(_importer).ImportHistoryAsync(history);
        Assert.All(answer.Results.Take(7), r => Assert.Equal(ImportOutcome.Imported, r.Outcome));
        Assert.Equal(ImportOutcome.Rejected, answer.Results[7].Outcome);
        Assert.Equal("event.customer_id", answer.Results[7].Field);
        var view = await _engine.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = customer });
        Assert.Equal(0, view.Summary.PointsAvailable + view.Summary.PointsPending);
        Assert.Equal("baby", view.Affinity[0].Category);
        Assert.Equal(6 * 40_000, view.Affinity[0].SpendMinor);   // the 700-day-old purchase is outside the 90-day window
        Assert.Empty(view.Rewards);

        // Again, earning points this time: the events are already there (deduplicated by event id), nothing changes.
        history.EarnPoints = true;
        var again = await ImportsAs(_importer).ImportHistoryAsync(history);
        Assert.All(again.Results.Take(7), r => Assert.Equal(ImportOutcome.Unchanged, r.Outcome));
        Assert.Equal(0, (await _engine.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = customer })).Summary.PointsAvailable);

        // New events with points asked for: booked as import entries.
        var earned = new ImportHistoryRequest { ImportId = "history-2-" + customer, EarnPoints = true };
        var recent = Purchase(customer, "recent", Line("ball", "sports", 1, 10_000));
        recent.OccurredAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-40));
        earned.Events.Add(new HistoryLine { Line = 1, Event = recent });
        var booked = (await ImportsAs(_importer).ImportHistoryAsync(earned)).Results.Single();
        Assert.True(booked.Points > 0);
        var after = await _engine.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = customer });
        Assert.Equal(booked.Points, after.Summary.PointsAvailable + after.Summary.PointsPending);
    }

    [Fact]
    public async Task The_liability_report_equals_the_sum_over_every_customer()
    {
        var ingestion = _engine.Ingestion;
        var customers = Enumerable.Range(0, 8).Select(_ => NewCustomer()).ToList();
        for (var i = 0; i < customers.Count; i++)
        {
            await ingestion.PublishAsync(Req(Purchase(customers[i], "o-" + i, Line("crib", "baby", 1 + i, 12_345))));
            await ingestion.PublishAsync(Req(Game(customers[i], 30 + i, 2)));
        }
        await _engine.Customers.AdjustAsync(new AdjustRequest { CustomerId = customers[0], AdjustmentId = "adj-1", Points = -40, Reason = "test: liability" });
        await _engine.Customers.AdjustAsync(new AdjustRequest { CustomerId = customers[1], AdjustmentId = "adj-2", Points = 75, Reason = "test: liability" });
        await ImportsAs(_importer).ImportMembersAsync(new ImportMembersRequest { ImportId = "liab", Members = { Member(2, customers[0] + "-imported", 5_000, "Silver") } });
        await _engine.Customers.EraseCustomerAsync(new EraseCustomerRequest { CustomerId = customers[7] });
        customers.RemoveAt(7);
        customers.Add(customers[0] + "-imported");

        long available = 0, pending = 0;
        var tiers = new Dictionary<string, long>();
        foreach (var id in customers)
        {
            var s = (await _engine.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).Summary;
            available += s.PointsAvailable;
            pending += s.PointsPending;
            tiers[s.Tier] = tiers.GetValueOrDefault(s.Tier) + s.PointsAvailable + s.PointsPending;
        }
        var report = await ReportsAs(_finance).GetPointsLiabilityAsync(new GetPointsLiabilityRequest());
        Assert.Equal(customers.Count, report.Customers);
        Assert.Equal(available, report.PointsAvailable);
        Assert.Equal(pending, report.PointsPending);
        Assert.Equal(available + pending, report.PointsOutstanding);
        Assert.Equal(tiers.OrderBy(t => t.Key), report.Tiers.Select(t => KeyValuePair.Create(t.Tier, t.PointsAvailable + t.PointsPending)).OrderBy(t => t.Key));
        Assert.Equal(12, report.Expiring.Count);
        Assert.Equal(5_000, report.Period.Imported);
        Assert.Equal(-40 + 75, report.Period.Adjusted);
        Assert.True(report.Period.Erased > 0);
        // Issued − redeemed − expired + adjusted − reversed + imported − erased = what is outstanding (one engine, from zero).
        var p = report.Period;
        Assert.Equal(report.PointsOutstanding, p.Issued - p.Redeemed - p.Expired + p.Adjusted - p.Reversed + p.Imported - p.Erased);

        // The scope: finance reads it; a customers:read key does not.
        Assert.Equal(StatusCode.PermissionDenied,
            (await Assert.ThrowsAsync<RpcException>(() => ReportsAs(_reader).GetPointsLiabilityAsync(new GetPointsLiabilityRequest()).ResponseAsync)).StatusCode);
        var badDate = await Assert.ThrowsAsync<RpcException>(() => ReportsAs(_finance).GetPointsLiabilityAsync(new GetPointsLiabilityRequest { From = "2026-13-01" }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, badDate.StatusCode);
        Assert.StartsWith("from:", badDate.Status.Detail, StringComparison.Ordinal);

        // As JSON over HTTP/1.1, and from the CLI.
        using var http = new HttpClient { BaseAddress = new Uri(_engine.HttpAddress), DefaultRequestVersion = HttpVersion.Version11 };
        http.DefaultRequestHeaders.Add(ApiKeys.Header, _finance.Key);
        var json = JsonDocument.Parse(await http.GetStringAsync("/v1/reports/liability")).RootElement;
        Assert.Equal(available + pending, Int64(json.GetProperty("pointsOutstanding")));
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/v1/reports/liability?to=yesterday")).StatusCode);
        var (exit, stdout, stderr) = await CliRunner.RunAsync(_engine.Address, "report", "liability", "--json");
        Assert.True(exit == 0, stderr);
        Assert.Equal(report.PointsOutstanding, Int64(JsonDocument.Parse(stdout).RootElement.GetProperty("pointsOutstanding")));
        (exit, stdout, stderr) = await CliRunner.RunAsync(_engine.Address, "report", "liability");
        Assert.True(exit == 0, stderr);
        Assert.Contains("breakage", stdout, StringComparison.OrdinalIgnoreCase);

        // Prometheus: the gauges, refreshed in the background (the first report 5 s after start).
        using var metricsHttp = new HttpClient();
        metricsHttp.DefaultRequestHeaders.Add(ApiKeys.Header, TestKeys.Admin.Key);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string metrics;
        while (!(metrics = await metricsHttp.GetStringAsync($"{_engine.OperatorAddress}/metrics")).Contains("loyalty_points_outstanding", StringComparison.Ordinal)
            && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
        }
        Assert.Contains("loyalty_points_outstanding", metrics, StringComparison.Ordinal);
        Assert.Contains("loyalty_points_expiring{", metrics, StringComparison.Ordinal);
    }

    /// <summary>An int64 in JSON: a number (the transcoded routes) or a string (protobuf's JSON form, the CLI's --json).</summary>
    private static long Int64(JsonElement e) =>
        e.ValueKind == JsonValueKind.String ? long.Parse(e.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : e.GetInt64();
}

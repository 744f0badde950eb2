using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Loyalty.Contracts;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using Xunit.Abstractions;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>One engine with a key per scope, a shop key limited to "shop-" sources and a rate-limited reader.</summary>
public sealed class AccessFixture : IAsyncLifetime
{
    private AzuriteProcess? _azurite;

    public ServerProcess Server { get; private set; } = null!;
    public Dictionary<string, ApiKeys.Created> ByScope { get; } = ApiKeys.Scopes.ToDictionary(s => s, s => ApiKeys.Create("k-" + s.Replace(':', '-')));
    public ApiKeys.Created Shop { get; } = ApiKeys.Create("shop-eu");
    public ApiKeys.Created Limited { get; } = ApiKeys.Create("limited");
    /// <summary>A support agent's role: read customers, record support cases, care (adjust, goodwill).</summary>
    public ApiKeys.Created Agent { get; } = ApiKeys.Create("agent-ann");
    public static readonly string[] AgentScopes = ["customers:read", "ingest:support", "customers:care"];
    /// <summary>Tries program drafts on real customers: programs:admin and customers:read.</summary>
    public ApiKeys.Created Analyst { get; } = ApiKeys.Create("analyst");
    public static readonly string[] AnalystScopes = ["programs:admin", "customers:read"];
    /// <summary>5 events/s, burst 5 (issue 16, finding 2): one key for streams, one for batches, so they don't share a bucket.</summary>
    public ApiKeys.Created ThrottledStream { get; } = ApiKeys.Create("throttled-stream");
    public ApiKeys.Created ThrottledBatch { get; } = ApiKeys.Create("throttled-batch");
    /// <summary>An agent's scopes at 0.2 calls/s, burst 1: its second call in a row is rate-limited.</summary>
    public ApiKeys.Created ThrottledAgent { get; } = ApiKeys.Create("throttled-agent");
    /// <summary>A second agent, for the daily care totals (issue 16, finding 6).</summary>
    public ApiKeys.Created CappedAgent { get; } = ApiKeys.Create("agent-bob");
    /// <summary>At most 2 open streams.</summary>
    public ApiKeys.Created TwoStreams { get; } = ApiKeys.Create("two-streams");
    public static readonly string[] GameReaderScopes = ["ingest:game", "customers:read"];
    /// <summary>Well-formed but never configured.</summary>
    public ApiKeys.Created Unknown { get; } = ApiKeys.Create("nobody");

    private static readonly string[] ShopScopes = ["ingest:shop", "customers:read"];
    private static readonly string[] ShopSources = ["shop-"];
    private static readonly string[] ReaderScopes = ["customers:read"];

    public async Task InitializeAsync()
    {
        _azurite = await AzuriteProcess.StartAsync();
        var keys = ByScope.Select(kv => (kv.Value, new[] { kv.Key }, Array.Empty<string>()))
            .Append((Shop, ShopScopes, ShopSources))
            .Append((Limited, ReaderScopes, Array.Empty<string>()))
            .Append((Agent, AgentScopes, Array.Empty<string>()))
            .Append((Analyst, AnalystScopes, Array.Empty<string>()))
            .Append((ThrottledStream, GameReaderScopes, Array.Empty<string>()))
            .Append((ThrottledBatch, GameReaderScopes, Array.Empty<string>()))
            .Append((TwoStreams, GameReaderScopes, Array.Empty<string>()))
            .Append((ThrottledAgent, AgentScopes, Array.Empty<string>()))
            .Append((CappedAgent, AgentScopes, Array.Empty<string>()));
        var settings = TestKeys.Settings(keys, first: 1);
        var limitedIndex = ByScope.Count + 2;
        settings[$"Loyalty__Auth__Keys__{limitedIndex}__RatePerSecond"] = "0.5";
        settings[$"Loyalty__Auth__Keys__{limitedIndex}__Burst"] = "2";
        foreach (var index in new[] { ByScope.Count + 5, ByScope.Count + 6 })
        {
            settings[$"Loyalty__Auth__Keys__{index}__RatePerSecond"] = "5";
            settings[$"Loyalty__Auth__Keys__{index}__Burst"] = "5";
        }
        settings[$"Loyalty__Auth__Keys__{ByScope.Count + 7}__MaxStreams"] = "2";
        settings[$"Loyalty__Auth__Keys__{ByScope.Count + 8}__RatePerSecond"] = "0.2";
        settings[$"Loyalty__Auth__Keys__{ByScope.Count + 8}__Burst"] = "1";
        settings["Loyalty__Api__MaxWatchersPerCustomer"] = "3";
        settings["Loyalty__Operator__SessionLifetime"] = "00:00:04";
        settings["Loyalty__Auth__CarePointsPerAgentPerDay"] = "25000";
        settings["Loyalty__Auth__CarePointsPerCustomerPerDay"] = "15000";
        settings["Loyalty__Auth__CareGoodwillPerAgentPerDay"] = "4";
        settings["Loyalty__Auth__CareGoodwillPerCustomerPerDay"] = "2";
        Server = await ServerProcess.StartAsync(_azurite.ConnectionString, settings);
    }

    public string StorageConnectionString => _azurite!.ConnectionString;

    public Grpc.Net.Client.GrpcChannel Channel(string? key) => TestKeys.Channel(Server.Address, key);

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }
}

[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[RunsForAbout(25)]
public sealed class AccessTests(AccessFixture fixture, ITestOutputHelper output) : IClassFixture<AccessFixture>
{
    private const string AnyKey = "";
    private const string AnyIngest = "ingest:";
    private const string AnyAdmin = "admin";
    private const string Care = "care";
    /// <summary>SimulateProgram on a real customer (the empty request: new_customer false): programs:admin and customers:read.</summary>
    private const string Analyst = "analyst";

    /// <summary>What each RPC needs, written out independently of the server's own table.</summary>
    private static readonly Dictionary<string, string> Expected = new()
    {
        ["/loyalty.v1.Ingestion/Publish"] = AnyIngest,
        ["/loyalty.v1.Ingestion/PublishBatch"] = AnyIngest,
        ["/loyalty.v1.Ingestion/PublishStream"] = AnyIngest,
        ["/loyalty.v1.Customers/GetCustomer"] = "customers:read",
        ["/loyalty.v1.Customers/ListInteractions"] = "customers:read",
        ["/loyalty.v1.Customers/ListEligibleRewards"] = "customers:read",
        ["/loyalty.v1.Customers/ListLedger"] = "customers:read",
        ["/loyalty.v1.Customers/Watch"] = "customers:read",
        ["/loyalty.v1.Customers/Redeem"] = "customers:redeem",
        ["/loyalty.v1.Customers/Reserve"] = "customers:redeem",
        ["/loyalty.v1.Customers/Confirm"] = "customers:redeem",
        ["/loyalty.v1.Customers/Cancel"] = "customers:redeem",
        ["/loyalty.v1.Customers/Adjust"] = Care,
        ["/loyalty.v1.Customers/GrantGoodwill"] = Care,
        ["/loyalty.v1.Customers/ExportCustomer"] = "customers:admin",
        ["/loyalty.v1.Customers/EraseCustomer"] = "customers:admin",
        ["/loyalty.v1.Programs/GetProgram"] = AnyKey,
        ["/loyalty.v1.Programs/ListProgramVersions"] = AnyKey,
        ["/loyalty.v1.Programs/ValidateProgram"] = "programs:admin",
        ["/loyalty.v1.Programs/SimulateProgram"] = Analyst,
        ["/loyalty.v1.Programs/PublishProgram"] = "programs:admin",
        ["/loyalty.v1.Programs/WatchRewards"] = "customers:read",
        ["/loyalty.v1.Audit/ListAuditEntries"] = "customers:admin",
    };

    private static IEnumerable<MethodDescriptor> AllMethods() =>
        new[] { IngestionReflection.Descriptor, CustomersReflection.Descriptor, ProgramsReflection.Descriptor, AuditReflection.Descriptor }
            .SelectMany(f => f.Services).SelectMany(s => s.Methods);

    [Fact]
    public async Task Every_rpc_answers_each_kind_of_credential_with_the_expected_status()
    {
        var rows = new List<string>();
        var methods = AllMethods().ToList();
        Assert.True(methods.Count >= 23, "every RPC of the API is in the table");
        foreach (var method in methods)
        {
            var path = $"/{method.Service.FullName}/{method.Name}";
            Assert.True(Expected.TryGetValue(path, out var scope), $"{path} is not in the table: decide which scope it needs");
            var right = scope switch
            {
                AnyKey => fixture.ByScope["customers:read"],
                AnyIngest => fixture.ByScope["ingest:shop"],
                AnyAdmin => fixture.ByScope["customers:admin"],
                Care => fixture.ByScope["customers:care"],
                Analyst => fixture.Analyst,
                _ => fixture.ByScope[scope],
            };
            var wrong = scope switch
            {
                AnyKey => null,   // any credential will do
                AnyIngest => fixture.ByScope["customers:admin"],
                AnyAdmin => fixture.ByScope["customers:read"],
                Care => fixture.ByScope["customers:redeem"],
                Analyst => fixture.ByScope["programs:admin"],   // issue 16, finding 8: programs:admin alone read customer data
                _ => fixture.ByScope[scope.StartsWith("ingest", StringComparison.Ordinal) ? "customers:read" : "ingest:game"],
            };
            var wrongSecret = right.Key[..^4] + (right.Key.EndsWith("AAAA", StringComparison.Ordinal) ? "BBBB" : "AAAA");

            var none = await Call(method, null);
            var unknown = await Call(method, fixture.Unknown.Key);
            var tampered = await Call(method, wrongSecret);
            var outOfScope = wrong is null ? (StatusCode?)null : await Call(method, wrong.Key);
            var inScope = await Call(method, right.Key);
            rows.Add($"{path,-45} none={none} unknown={unknown} tampered={tampered} wrong-scope={outOfScope?.ToString() ?? "-"} right-scope={inScope}");

            Assert.Equal(StatusCode.Unauthenticated, none);
            Assert.Equal(StatusCode.Unauthenticated, unknown);
            Assert.Equal(StatusCode.Unauthenticated, tampered);
            if (outOfScope is not null)
            {
                Assert.Equal(StatusCode.PermissionDenied, outOfScope);
            }
            Assert.DoesNotContain(inScope, new[] { StatusCode.Unauthenticated, StatusCode.PermissionDenied });
            if (scope == Care)
            {
                // customers:admin covers everything an agent's customers:care does.
                Assert.DoesNotContain(await Call(method, fixture.ByScope["customers:admin"].Key), new[] { StatusCode.Unauthenticated, StatusCode.PermissionDenied });
            }
        }
        output.WriteLine(string.Join("\n", rows));
        // The health service stays open for probes.
        var health = await new Grpc.Health.V1.Health.HealthClient(fixture.Channel(null)).CheckAsync(new Grpc.Health.V1.HealthCheckRequest());
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }

    /// <summary>Calls any method with an empty request (or an empty stream) and returns the status it ends with.</summary>
    private async Task<StatusCode> Call(MethodDescriptor method, string? key)
    {
        var marshaller = Marshallers.Create<IMessage>(m => m.ToByteArray(), bytes => method.OutputType.Parser.ParseFrom(bytes));
        var requestMarshaller = Marshallers.Create<IMessage>(m => m.ToByteArray(), bytes => method.InputType.Parser.ParseFrom(bytes));
        var type = (method.IsClientStreaming, method.IsServerStreaming) switch
        {
            (false, false) => MethodType.Unary,
            (false, true) => MethodType.ServerStreaming,
            (true, false) => MethodType.ClientStreaming,
            _ => MethodType.DuplexStreaming,
        };
        var grpcMethod = new Method<IMessage, IMessage>(type, method.Service.FullName, method.Name, requestMarshaller, marshaller);
        using var channel = fixture.Channel(key);
        var invoker = channel.CreateCallInvoker();
        var request = (IMessage)Activator.CreateInstance(method.InputType.ClrType)!;
        var options = new CallOptions(deadline: DateTime.UtcNow.AddSeconds(3));
        try
        {
            switch (type)
            {
                case MethodType.Unary:
                    await invoker.AsyncUnaryCall(grpcMethod, null, options, request);
                    return StatusCode.OK;
                case MethodType.ServerStreaming:
                    using (var call = invoker.AsyncServerStreamingCall(grpcMethod, null, options, request))
                    {
                        await call.ResponseStream.MoveNext(CancellationToken.None);
                        return StatusCode.OK;
                    }
                default:
                    using (var call = invoker.AsyncDuplexStreamingCall(grpcMethod, null, options))
                    {
                        await call.RequestStream.CompleteAsync();
                        while (await call.ResponseStream.MoveNext(CancellationToken.None))
                        {
                        }
                        return call.GetStatus().StatusCode;
                    }
            }
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    [Fact]
    public async Task A_key_limited_to_shop_sources_and_scopes_gets_the_rest_of_a_batch_or_stream_rejected_in_its_slot()
    {
        var ingestion = new Ingestion.IngestionClient(fixture.Channel(fixture.Shop.Key));
        var id = NewCustomer();
        var allowed = Purchase(id, "o-1", Line("ball", "sports", 1, 1000));
        allowed.Source = "shop-eu";
        var otherSource = Purchase(id, "o-2", Line("ball", "sports", 1, 1000));
        otherSource.Source = "pos-7";
        var game = Game(id, 10, 1);
        game.Source = "shop-eu";
        var batch = await ingestion.PublishBatchAsync(new PublishBatchRequest { Events = { allowed, otherSource, game } });
        Assert.Equal([Outcome.Applied, Outcome.Rejected, Outcome.Rejected], batch.Results.Select(r => r.Outcome));
        Assert.Contains("may only send events whose source starts with 'shop-'", batch.Results[1].Error);
        Assert.Equal("events[1]", batch.Results[1].ErrorField);
        Assert.Contains("lacks the scope ingest:game", batch.Results[2].Error);

        // The same through a stream.
        var second = Purchase(id, "o-3", Line("ball", "sports", 1, 1000));
        second.Source = "shop-eu";
        using var stream = ingestion.PublishStream();
        foreach (var e in new[] { Game(id, 5, 1), second, otherSource })
        {
            await stream.RequestStream.WriteAsync(new PublishRequest { Event = e });
        }
        await stream.RequestStream.CompleteAsync();
        var results = new List<PublishResult>();
        while (await stream.ResponseStream.MoveNext(CancellationToken.None))
        {
            results.Add(stream.ResponseStream.Current);
        }
        Assert.Equal([Outcome.Rejected, Outcome.Applied, Outcome.Rejected], results.Select(r => r.Outcome));

        // Unary: PERMISSION_DENIED, and nothing of it was applied.
        var denied = await Assert.ThrowsAsync<RpcException>(() => ingestion.PublishAsync(new PublishRequest { Event = game }).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        var customer = await new Customers.CustomersClient(fixture.Channel(fixture.Shop.Key)).GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.Equal(2, customer.EventsApplied);   // the two allowed purchases only
        Assert.Equal(0, customer.Activity.GameSessions);
    }

    [Fact]
    public async Task An_agent_cares_for_customers_but_cannot_erase_export_publish_programs_or_post_shop_events()
    {
        var id = NewCustomer();
        var channel = fixture.Channel(fixture.Agent.Key);
        var customers = new Customers.CustomersClient(channel);
        var ingestion = new Ingestion.IngestionClient(channel);
        await ingestion.PublishAsync(new PublishRequest { Event = Support(id, SupportStatus.Opened, SupportChannel.Bot) });
        await customers.AdjustAsync(new AdjustRequest { CustomerId = id, AdjustmentId = "adj-1", Points = 40, Reason = "parcel arrived late" });
        var goodwill = await customers.GrantGoodwillAsync(new GrantGoodwillRequest { CustomerId = id, GrantId = "gw-1", RewardId = "apology-coupon", Reason = "waited an hour on the phone" });
        Assert.Equal(Outcome.Applied, goodwill.Outcome);
        Assert.StartsWith("SORRY-", goodwill.Reward.Code, StringComparison.Ordinal);
        Assert.Equal("goodwill", goodwill.Reward.RuleId);
        var again = await customers.GrantGoodwillAsync(new GrantGoodwillRequest { CustomerId = id, GrantId = "gw-1", RewardId = "apology-coupon", Reason = "waited an hour on the phone" });
        Assert.Equal(Outcome.Duplicate, again.Outcome);
        Assert.Equal(goodwill.Reward.Code, again.Reward.Code);
        var seen = await customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.Equal(40, seen.Summary.PointsAvailable);   // an opened case earns nothing; the adjustment counted once
        Assert.Single(seen.Rewards, r => r.Code == goodwill.Reward.Code);

        async Task<StatusCode> Denied(Func<Task> call) => (await Assert.ThrowsAsync<RpcException>(call)).StatusCode;
        // An agent's adjustment is capped (Loyalty:Auth:CareMaxAdjustPoints, 10,000 by default); admins are not.
        Assert.Equal(StatusCode.PermissionDenied, await Denied(() => customers.AdjustAsync(new AdjustRequest { CustomerId = id, AdjustmentId = "adj-big", Points = 10_001, Reason = "typo" }).ResponseAsync));
        Assert.Equal(Outcome.Applied, (await new Customers.CustomersClient(fixture.Channel(fixture.ByScope["customers:admin"].Key))
            .AdjustAsync(new AdjustRequest { CustomerId = id, AdjustmentId = "adj-big", Points = 10_001, Reason = "migration" })).Outcome);
        await new Customers.CustomersClient(fixture.Channel(fixture.ByScope["customers:admin"].Key))
            .AdjustAsync(new AdjustRequest { CustomerId = id, AdjustmentId = "adj-back", Points = -10_001, Reason = "undo migration" });
        Assert.Equal(StatusCode.PermissionDenied, await Denied(() => customers.EraseCustomerAsync(new EraseCustomerRequest { CustomerId = id }).ResponseAsync));
        Assert.Equal(StatusCode.PermissionDenied, await Denied(() => customers.ExportCustomerAsync(new ExportCustomerRequest { CustomerId = id }).ResponseAsync));
        var programs = new Programs.ProgramsClient(channel);
        var active = await programs.GetProgramAsync(new GetProgramRequest());   // agents may read the program
        Assert.Equal(StatusCode.PermissionDenied, await Denied(() => programs.PublishProgramAsync(new PublishProgramRequest
            { ProgramJson = active.DefinitionJson, ExpectedVersion = active.Version, Author = "agent" }).ResponseAsync));
        Assert.Equal(StatusCode.PermissionDenied, await Denied(() => ingestion.PublishAsync(new PublishRequest { Event = Purchase(id, "o-1", Line("ball", "sports", 1, 1999)) }).ResponseAsync));

        var log = await new Audit.AuditClient(fixture.Channel(fixture.ByScope["customers:admin"].Key)).ListAuditEntriesAsync(new ListAuditEntriesRequest { PageSize = 100, CustomerId = id });
        Assert.Contains(log.Entries, e => e is { Action: "Customers/GrantGoodwill", Caller: "agent-ann", Outcome: "Applied", Reason: "waited an hour on the phone" }
            && e.Detail.Contains("apology-coupon", StringComparison.Ordinal));
        Assert.Contains(log.Entries, e => e is { Action: "Customers/EraseCustomer", Caller: "agent-ann", Outcome: "PermissionDenied" });
    }

    [Fact]
    public async Task Admin_actions_allowed_or_refused_are_in_the_audit_log_with_the_key_time_and_outcome()
    {
        var started = DateTimeOffset.UtcNow.AddSeconds(-1);
        var id = NewCustomer();
        var admin = new Customers.CustomersClient(fixture.Channel(fixture.ByScope["customers:admin"].Key));
        await new Ingestion.IngestionClient(fixture.Channel(fixture.ByScope["ingest:game"].Key)).PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });
        await admin.AdjustAsync(new AdjustRequest { CustomerId = id, AdjustmentId = "adj-1", Points = 25, Reason = "goodwill after a late delivery" });
        var refused = await Assert.ThrowsAsync<RpcException>(() => new Customers.CustomersClient(fixture.Channel(fixture.ByScope["customers:read"].Key))
            .EraseCustomerAsync(new EraseCustomerRequest { CustomerId = id }).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        await admin.EraseCustomerAsync(new EraseCustomerRequest { CustomerId = id });
        var programs = new Programs.ProgramsClient(fixture.Channel(fixture.ByScope["programs:admin"].Key));
        var active = await programs.GetProgramAsync(new GetProgramRequest());
        var stale = await Assert.ThrowsAsync<RpcException>(() => programs.PublishProgramAsync(new PublishProgramRequest
        {
            ProgramJson = active.DefinitionJson, ExpectedVersion = "not-the-active-version", Author = "ops",
        }).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, stale.StatusCode);
        // A draft tried on a real customer reads their state: audited (issue 16, finding 8).
        var other = NewCustomer();
        await new Ingestion.IngestionClient(fixture.Channel(fixture.ByScope["ingest:game"].Key)).PublishAsync(new PublishRequest { Event = Game(other, 10, 1) });
        await new Programs.ProgramsClient(fixture.Channel(fixture.Analyst.Key)).SimulateProgramAsync(new SimulateProgramRequest
        {
            ProgramJson = active.DefinitionJson, CustomerId = other, Events = { Game(other, 5, 1) },
        });
        // The audit log is customer data: customers:admin reads it, programs:admin no longer does.
        var denied = await Assert.ThrowsAsync<RpcException>(() => new Audit.AuditClient(fixture.Channel(fixture.ByScope["programs:admin"].Key))
            .ListAuditEntriesAsync(new ListAuditEntriesRequest { PageSize = 1 }).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        var auditor = new Audit.AuditClient(fixture.Channel(fixture.ByScope["customers:admin"].Key));
        var log = await auditor.ListAuditEntriesAsync(new ListAuditEntriesRequest { PageSize = 100 });
        var otherRows = await auditor.ListAuditEntriesAsync(new ListAuditEntriesRequest { PageSize = 100, CustomerId = other });
        Assert.Contains(otherRows.Entries, e => e is { Action: "Programs/SimulateProgram", Caller: "analyst", Outcome: "OK" });
        var about = (await auditor.ListAuditEntriesAsync(new ListAuditEntriesRequest { PageSize = 100, CustomerId = id })).Entries;
        var mine = about.Concat(log.Entries.Where(e => e.Action == "Programs/PublishProgram" && e.At.ToDateTimeOffset() >= started)).ToList();
        output.WriteLine(string.Join("\n", mine.Select(e => $"{e.At} {e.Caller} {e.Action} {e.Target} {e.Outcome} {e.Detail} {e.Reason}")));
        // The customer is a pseudonym in every row, and the reason typed about them went with the erase.
        Assert.All(about, e => Assert.StartsWith("customer:", e.Target, StringComparison.Ordinal));
        Assert.Single(about.Select(e => e.Target).Distinct());
        Assert.Contains(mine, e => e is { Action: "Customers/Adjust", Caller: "k-customers-admin", Outcome: "Applied", Reason: "(erased with the customer)" }
            && e.Detail.Contains("points 25", StringComparison.Ordinal));
        Assert.Contains(mine, e => e is { Action: "Customers/EraseCustomer", Caller: "k-customers-read", Outcome: "PermissionDenied" });
        Assert.Contains(mine, e => e is { Action: "Customers/EraseCustomer", Caller: "k-customers-admin", Outcome: "OK" });
        Assert.Contains(mine, e => e is { Action: "Programs/PublishProgram", Caller: "k-programs-admin", Outcome: "FailedPrecondition" } && e.Detail.Contains("author 'ops'", StringComparison.Ordinal));
        Assert.All(mine, e => Assert.InRange(e.At.ToDateTimeOffset(), started, DateTimeOffset.UtcNow.AddSeconds(1)));
        // Newest first.
        Assert.Equal(log.Entries.Select(e => e.At.ToDateTimeOffset()).OrderByDescending(t => t), log.Entries.Select(e => e.At.ToDateTimeOffset()));
    }

    [Fact]
    public async Task Operator_metrics_and_login_need_an_admin_key_while_probes_stay_open()
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        async Task<System.Net.HttpStatusCode> Metrics(string? key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{fixture.Server.OperatorAddress}/metrics");
            if (key is not null)
            {
                request.Headers.Add(ApiKeys.Header, key);
            }
            return (await http.SendAsync(request)).StatusCode;
        }
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, await Metrics(null));
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, await Metrics(fixture.ByScope["customers:read"].Key));
        Assert.Equal(System.Net.HttpStatusCode.OK, await Metrics(fixture.ByScope["programs:admin"].Key));
        // Prometheus needs no admin key (issue 16, finding 5): metrics:read reads metrics and nothing else.
        Assert.Equal(System.Net.HttpStatusCode.OK, await Metrics(fixture.ByScope["metrics:read"].Key));
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync($"{fixture.Server.OperatorAddress}/readyz")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync($"{fixture.Server.OperatorAddress}/healthz")).StatusCode);
    }

    /// <summary>Issue 16, finding 5: the browser sign-in took the key in the address and put the raw key in the cookie.
    /// Now the key is posted once and the browser holds an opaque, short-lived session.</summary>
    [Fact]
    public async Task Operators_sign_in_by_post_and_get_an_opaque_short_lived_session_never_the_key()
    {
        var op = fixture.Server.OperatorAddress;
        var admin = fixture.ByScope["customers:admin"].Key;
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false });
        Task<HttpResponseMessage> Post(string? key, string then = "/metrics", string? origin = null)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"{op}/operator/login")
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["key"] = key ?? "", ["then"] = then }),
            };
            if (origin is not null)
            {
                request.Headers.Add("Origin", origin);
            }
            return http.SendAsync(request);
        }
        async Task<System.Net.HttpStatusCode> Metrics(string? cookie)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{op}/metrics");
            if (cookie is not null)
            {
                request.Headers.Add("Cookie", cookie);
            }
            return (await http.SendAsync(request)).StatusCode;
        }

        // The key in an address is refused, and sets nothing; the page is a form that posts it.
        var byGet = await http.GetAsync($"{op}/operator/login?key={Uri.EscapeDataString(admin)}");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, byGet.StatusCode);
        Assert.False(byGet.Headers.Contains("Set-Cookie"));
        var form = await (await http.GetAsync($"{op}/operator/login?then=%2Fdashboard%2F")).Content.ReadAsStringAsync();
        Assert.Contains("method=\"post\"", form, StringComparison.Ordinal);
        Assert.Contains("type=\"password\"", form, StringComparison.Ordinal);

        Assert.Equal(System.Net.HttpStatusCode.Forbidden, (await Post(fixture.ByScope["metrics:read"].Key)).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, (await Post(fixture.ByScope["ingest:shop"].Key)).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await Post(fixture.Unknown.Key)).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, (await Post(admin, origin: "https://evil.example")).StatusCode);

        var ok = await Post(admin);
        Assert.Equal(System.Net.HttpStatusCode.SeeOther, ok.StatusCode);
        Assert.Equal("/metrics", ok.Headers.Location!.OriginalString);
        var setCookie = Assert.Single(ok.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith("loyalty_session=", setCookie, StringComparison.Ordinal);   // plain HTTP on loopback: no __Host- (it needs Secure)
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("max-age=", setCookie, StringComparison.OrdinalIgnoreCase);
        var cookie = setCookie.Split(';')[0];
        var token = cookie["loyalty_session=".Length..];
        Assert.True(token.Length >= 40, "an opaque random token");
        var secret = admin[^12..];
        Assert.DoesNotContain(secret, setCookie, StringComparison.Ordinal);
        Assert.DoesNotContain("k-customers-admin", setCookie, StringComparison.Ordinal);

        Assert.Equal(System.Net.HttpStatusCode.OK, await Metrics(cookie));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, await Metrics("loyalty_session=" + Uri.EscapeDataString(admin)));   // the key is not a session
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, await Metrics("loyalty_operator=" + Uri.EscapeDataString(admin)));   // nor is the old cookie

        // Never an open redirect; browsers drop a tab, so "/\t/evil.example" would become "//evil.example".
        foreach (var sneaky in new[] { "//evil.example", "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/\\evil.example", "/ /evil.example", "https://evil.example" })
        {
            Assert.Equal("/dashboard/", (await Post(admin, sneaky)).Headers.Location!.OriginalString);
        }

        // Signing out ends the session at once.
        using (var logout = new HttpRequestMessage(HttpMethod.Post, $"{op}/operator/logout"))
        {
            logout.Headers.Add("Cookie", cookie);
            Assert.Equal(System.Net.HttpStatusCode.SeeOther, (await http.SendAsync(logout)).StatusCode);
        }
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, await Metrics(cookie));

        // And a session is short-lived (this server: Loyalty:Operator:SessionLifetime = 4 s).
        var second = (await Post(admin)).Headers.GetValues("Set-Cookie").Single().Split(';')[0];
        Assert.Equal(System.Net.HttpStatusCode.OK, await Metrics(second));
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, await Metrics(second));
    }

    /// <summary>Issue 16, the design: one authentication and one set of policies for gRPC, the console and the operator
    /// port, so a credential means the same everywhere, and an operator's browser session never reaches the API.</summary>
    [Fact]
    public async Task A_key_is_read_the_same_way_on_every_port_and_an_operator_session_counts_on_the_operator_port_only()
    {
        var admin = fixture.ByScope["customers:admin"].Key;
        var reader = fixture.ByScope["customers:read"].Key;
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false });
        async Task<System.Net.HttpStatusCode> Get(string path, string? bearer = null, string? cookie = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{fixture.Server.OperatorAddress}{path}");
            if (bearer is not null)
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
            }
            if (cookie is not null)
            {
                request.Headers.Add("Cookie", cookie);
            }
            return (await http.SendAsync(request)).StatusCode;
        }

        // An API key as a bearer token: for gRPC as for /metrics and the console, with the same scopes.
        var anonymous = fixture.Channel(null);
        var asBearer = new Metadata { { "authorization", $"Bearer {reader}" } };
        var id = NewCustomer();
        await new Ingestion.IngestionClient(fixture.Channel(fixture.ByScope["ingest:game"].Key)).PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });
        Assert.Equal(1, (await new Customers.CustomersClient(anonymous).GetCustomerAsync(new GetCustomerRequest { CustomerId = id }, asBearer)).EventsApplied);
        var denied = await Assert.ThrowsAsync<RpcException>(() => new Customers.CustomersClient(anonymous)
            .EraseCustomerAsync(new EraseCustomerRequest { CustomerId = id }, asBearer).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Contains("lacks the scope customers:admin", denied.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(System.Net.HttpStatusCode.OK, await Get("/console/api/session", bearer: reader));
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, await Get("/metrics", bearer: reader));
        Assert.Equal(System.Net.HttpStatusCode.OK, await Get("/metrics", bearer: admin));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, await Get("/metrics", bearer: fixture.Unknown.Key));

        // An operator's session (signed in with an admin key) opens the operator pages, and is nobody on the API.
        using var login = new HttpRequestMessage(HttpMethod.Post, $"{fixture.Server.OperatorAddress}/operator/login")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["key"] = admin, ["then"] = "/metrics" }),
        };
        var cookie = (await http.SendAsync(login)).Headers.GetValues("Set-Cookie").Single().Split(';')[0];
        Assert.Equal(System.Net.HttpStatusCode.OK, await Get("/metrics", cookie: cookie));
        var onApi = await Assert.ThrowsAsync<RpcException>(() => new Customers.CustomersClient(anonymous)
            .GetCustomerAsync(new GetCustomerRequest { CustomerId = id }, new Metadata { { "cookie", cookie } }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, onApi.StatusCode);
    }

    [Fact]
    public async Task Operator_endpoints_are_chosen_by_the_port_a_connection_arrives_on_never_by_the_Host_header()
    {
        // Issue 16, finding 1 (verified black-box before the fix): `curl --http2-prior-knowledge -H 'Host: x:<operator
        // port>' http://127.0.0.1:<api port>/metrics` answered 200 with every metric and no key.
        using var http = new HttpClient();
        async Task<System.Net.HttpStatusCode> Get(int port, string path, string host, bool http2)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}{path}")
            {
                Version = http2 ? System.Net.HttpVersion.Version20 : System.Net.HttpVersion.Version11,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,   // HTTP/2 without TLS: prior knowledge, as curl does
            };
            request.Headers.Host = host;
            return (await http.SendAsync(request)).StatusCode;
        }
        var api = fixture.Server.Port;
        var op = fixture.Server.OperatorPort;
        foreach (var path in new[] { "/metrics", "/healthz", "/readyz", "/dashboard/", "/operator/login?key=x", "/console/" })
        {
            Assert.Equal(System.Net.HttpStatusCode.NotFound, await Get(api, path, $"x:{op}", http2: true));
            Assert.Equal(System.Net.HttpStatusCode.NotFound, await Get(api, path, $"127.0.0.1:{op}", http2: true));
        }
        // On the operator port the Host header does not matter either: metrics still need the key, probes answer.
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, await Get(op, "/metrics", $"x:{api}", http2: false));
        Assert.Equal(System.Net.HttpStatusCode.OK, await Get(op, "/healthz", $"x:{api}", http2: false));
    }

    [Fact]
    public async Task Metrics_name_the_service_loyalty_and_the_silo_not_unknown_service()
    {
        // Issue 16, finding 12.
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{fixture.Server.OperatorAddress}/metrics");
        request.Headers.Add(ApiKeys.Header, fixture.ByScope["programs:admin"].Key);
        var text = await (await http.SendAsync(request)).Content.ReadAsStringAsync();
        var info = text.Split('\n').FirstOrDefault(l => l.StartsWith("target_info{", StringComparison.Ordinal));
        Assert.NotNull(info);
        Assert.Contains("service_name=\"loyalty\"", info, StringComparison.Ordinal);
        Assert.Contains("service_instance_id=\"127.0.0.1:", info, StringComparison.Ordinal);
        Assert.Contains("loyalty_cluster_id=\"", info, StringComparison.Ordinal);
        Assert.DoesNotContain("unknown_service", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rate_limited_key_gets_resource_exhausted_with_retry_information_and_then_recovers()
    {
        var customers = new Customers.CustomersClient(fixture.Channel(fixture.Limited.Key));
        var request = new GetProgramRequest();
        var programs = new Programs.ProgramsClient(fixture.Channel(fixture.Limited.Key));
        await programs.GetProgramAsync(request);
        await programs.GetProgramAsync(request);
        var limited = await Assert.ThrowsAsync<RpcException>(() => programs.GetProgramAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, limited.StatusCode);
        var retry = limited.GetRpcStatus()!.GetDetail<Google.Rpc.RetryInfo>();
        Assert.NotNull(retry);
        var delay = retry.RetryDelay.ToTimeSpan();
        Assert.InRange(delay, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(2.2));
        Assert.Equal(((long)Math.Ceiling(delay.TotalMilliseconds)).ToString(System.Globalization.CultureInfo.InvariantCulture), limited.Trailers.GetValue("retry-after-ms"));
        await Task.Delay(delay + TimeSpan.FromMilliseconds(50));
        await programs.GetProgramAsync(request);   // recovered
        // Other keys are not affected by this key's bucket.
        await new Programs.ProgramsClient(fixture.Channel(fixture.ByScope["customers:read"].Key)).GetProgramAsync(request);
        _ = customers;
    }

    /// <summary>Issue 16, finding 2 (verified black-box): a key limited to 1 event/s sent 5,000 events through one
    /// PublishStream in 0.9 s. Every event on a stream pays its token; over budget the stream is held back.</summary>
    [Fact]
    public async Task A_stream_pays_a_token_per_event_and_is_held_back_at_its_keys_rate()
    {
        var ingestion = new Ingestion.IngestionClient(fixture.Channel(fixture.ThrottledStream.Key));
        var id = NewCustomer();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var stream = ingestion.PublishStream(cancellationToken: cts.Token);
        var started = System.Diagnostics.Stopwatch.StartNew();
        // 500 small events fit the HTTP/2 windows: the client writes them all at once, the server reads at the key's pace.
        for (var i = 0; i < 500; i++)
        {
            await stream.RequestStream.WriteAsync(new PublishRequest { Event = Game(id, 1, 1) });
        }
        var answered = 0;
        var window = TimeSpan.FromSeconds(3);
        using (var stop = new CancellationTokenSource(window - started.Elapsed))
        {
            try
            {
                while (await stream.ResponseStream.MoveNext(stop.Token))
                {
                    Assert.Equal(Outcome.Applied, stream.ResponseStream.Current.Outcome);
                    answered++;
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled || stop.IsCancellationRequested)
            {
            }
            catch (OperationCanceledException)
            {
            }
        }
        var elapsed = started.Elapsed.TotalSeconds;
        await cts.CancelAsync();
        output.WriteLine($"{answered} events answered in {elapsed:F1} s at 5/s, burst 5");
        // Burst 5 (one of it paid for opening the stream), then 5 a second: about 19 in 3 s; 5,000 before the fix.
        Assert.InRange(answered, 5, 5 + (int)Math.Ceiling(5 * elapsed) + 2);
        await Task.Delay(500);
        var customer = await new Customers.CustomersClient(fixture.Channel(fixture.ThrottledStream.Key)).GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.InRange(customer.EventsApplied, answered, 5 + (int)Math.Ceiling(5 * (elapsed + 0.5)) + 2);
    }

    /// <summary>Issue 16, finding 2: a batch's cost was capped at the bucket size. A batch bigger than the bucket is
    /// admitted when the bucket is full and held until every one of its events is paid for at the key's rate.</summary>
    [Fact]
    public async Task A_batch_pays_for_every_event_even_beyond_the_bucket()
    {
        var ingestion = new Ingestion.IngestionClient(fixture.Channel(fixture.ThrottledBatch.Key));
        var id = NewCustomer();
        var batch = new PublishBatchRequest { Events = { Enumerable.Range(0, 20).Select(_ => Game(id, 1, 1)) } };
        var started = System.Diagnostics.Stopwatch.StartNew();
        var first = await ingestion.PublishBatchAsync(batch);
        var took = started.Elapsed;
        output.WriteLine($"a batch of 20 at 5/s, burst 5, took {took.TotalMilliseconds:F0} ms");
        Assert.All(first.Results, r => Assert.Equal(Outcome.Applied, r.Outcome));
        // 20 events at 5/s: the 15 beyond the bucket of 5 are paid before the answer, about 3 s (not 0 s).
        Assert.InRange(took, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(10));
        // The bucket is empty afterwards: the next batch needs a full one again and is told when to come back.
        var refused = await Assert.ThrowsAsync<RpcException>(() => ingestion.PublishBatchAsync(batch).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        var delay = refused.GetRpcStatus()!.GetDetail<Google.Rpc.RetryInfo>()!.RetryDelay.ToTimeSpan();
        output.WriteLine($"retry after {delay.TotalMilliseconds:F0} ms");
        Assert.InRange(delay, TimeSpan.FromSeconds(0.3), TimeSpan.FromSeconds(1.5));
        await Task.Delay(delay + TimeSpan.FromMilliseconds(300));
        Assert.Equal(Outcome.Applied, (await ingestion.PublishAsync(new PublishRequest { Event = Game(id, 1, 1) })).Outcome);
        Assert.Equal(21, (await new Customers.CustomersClient(fixture.Channel(fixture.ThrottledBatch.Key)).GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).EventsApplied);
    }

    /// <summary>Issue 16, findings 2 and 9: streams per key are capped, and so are watchers per customer; a Watch on an
    /// id never seen is NOT_FOUND instead of pinning it.</summary>
    [Fact]
    public async Task Streams_per_key_and_watchers_per_customer_are_capped_and_an_unknown_id_is_not_found()
    {
        var key = fixture.TwoStreams.Key;
        var customers = new Customers.CustomersClient(fixture.Channel(key));
        var id = NewCustomer();
        await new Ingestion.IngestionClient(fixture.Channel(key)).PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });

        var ghost = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = customers.Watch(new WatchRequest { CustomerId = NewCustomer() });
            await call.ResponseStream.MoveNext();
        });
        Assert.Equal(StatusCode.NotFound, ghost.StatusCode);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        async Task<AsyncServerStreamingCall<LedgerEntry>> Open(Customers.CustomersClient client)
        {
            var call = client.Watch(new WatchRequest { CustomerId = id }, cancellationToken: cts.Token);
            Assert.True(await call.ResponseStream.MoveNext(cts.Token));   // the replayed earn entry: the stream is open
            return call;
        }
        var one = await Open(customers);
        var two = await Open(customers);
        var third = await Assert.ThrowsAsync<RpcException>(() => Open(customers));
        Assert.Equal(StatusCode.ResourceExhausted, third.StatusCode);
        Assert.Contains("2 open streams", third.Status.Detail, StringComparison.Ordinal);
        // A PublishStream counts too.
        var publish = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = new Ingestion.IngestionClient(fixture.Channel(key)).PublishStream();
            await call.RequestStream.CompleteAsync();
            await call.ResponseStream.MoveNext();
        });
        Assert.Equal(StatusCode.ResourceExhausted, publish.StatusCode);

        // Other keys watch the same customer up to its limit of 3 watchers; the 4th is refused.
        var reader = new Customers.CustomersClient(fixture.Channel(fixture.ByScope["customers:read"].Key));
        var three = await Open(reader);
        var fourth = await Assert.ThrowsAsync<RpcException>(() => Open(reader));
        Assert.Equal(StatusCode.ResourceExhausted, fourth.StatusCode);
        Assert.Contains("3 watchers", fourth.Status.Detail, StringComparison.Ordinal);

        // Closing a stream gives its slot back.
        one.Dispose();
        three.Dispose();
        await Task.Delay(300);
        using var again = await Open(customers);
        two.Dispose();
    }

    private async Task<double> RefusedMetric(string reason)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{fixture.Server.OperatorAddress}/metrics");
        request.Headers.Add(ApiKeys.Header, fixture.ByScope["metrics:read"].Key);
        var text = await (await http.SendAsync(request)).Content.ReadAsStringAsync();
        return text.Split('\n').Where(l => l.StartsWith("loyalty_access_refused_total{", StringComparison.Ordinal) && l.Contains($"loyalty_reason=\"{reason}\"", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Every stored audit row, straight from the tables.</summary>
    private async Task<List<Azure.Data.Tables.TableEntity>> RawRows(string table)
    {
        var client = new Azure.Data.Tables.TableClient(fixture.StorageConnectionString, table);
        await client.CreateIfNotExistsAsync();
        var rows = new List<Azure.Data.Tables.TableEntity>();
        await foreach (var row in client.QueryAsync<Azure.Data.Tables.TableEntity>())
        {
            rows.Add(row);
        }
        return rows;
    }

    private static bool Mentions(Azure.Data.Tables.TableEntity row, string text) =>
        ((IDictionary<string, object>)row).Values.OfType<string>().Append(row.PartitionKey).Append(row.RowKey).Any(v => v.Contains(text, StringComparison.Ordinal));

    /// <summary>Issue 16, finding 4 (verified black-box: 50 anonymous calls added 50 audit rows, in one partition, with the
    /// raw customer id).</summary>
    [Fact]
    public async Task Unauthenticated_and_rate_limited_refusals_are_counted_not_stored_and_stored_rows_are_clipped_and_spread()
    {
        var marker = "flood-" + Guid.NewGuid().ToString("N");
        var unauthenticatedBefore = await RefusedMetric("unauthenticated");
        var anonymous = new Customers.CustomersClient(fixture.Channel(null));
        for (var i = 0; i < 50; i++)
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => anonymous.AdjustAsync(new AdjustRequest { CustomerId = marker, AdjustmentId = $"a-{i}", Points = 1, Reason = marker }).ResponseAsync);
            Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        }
        // Rate-limited: the agent's first adjustment is recorded, the refused second is not.
        var id = NewCustomer();
        await new Ingestion.IngestionClient(fixture.Channel(fixture.ByScope["ingest:game"].Key)).PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });
        var agent = new Customers.CustomersClient(fixture.Channel(fixture.ThrottledAgent.Key));
        var rateLimitedBefore = await RefusedMetric("rate_limited");
        await agent.AdjustAsync(new AdjustRequest { CustomerId = id, AdjustmentId = "first", Points = 5, Reason = "first" });
        var limited = await Assert.ThrowsAsync<RpcException>(() => agent.AdjustAsync(new AdjustRequest { CustomerId = id, AdjustmentId = "second", Points = 5, Reason = "second" }).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, limited.StatusCode);
        // An authenticated caller's refusal is audited, with a malformed target never stored as sent.
        var huge = "x" + new string('y', 5_000);
        var invalid = await Assert.ThrowsAsync<RpcException>(() => new Customers.CustomersClient(fixture.Channel(fixture.ByScope["customers:admin"].Key))
            .AdjustAsync(new AdjustRequest { CustomerId = huge, AdjustmentId = "a", Points = 1, Reason = "clip me" }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);

        Assert.True(await RefusedMetric("unauthenticated") >= unauthenticatedBefore + 50, "each anonymous refusal is counted");
        Assert.True(await RefusedMetric("rate_limited") >= rateLimitedBefore + 1, "the rate-limited refusal is counted");
        var rows = await RawRows("LoyaltyAudit");
        var reasons = await RawRows("LoyaltyAuditReasons");
        Assert.DoesNotContain(rows.Concat(reasons), r => Mentions(r, marker));
        var auditor = new Audit.AuditClient(fixture.Channel(fixture.ByScope["customers:admin"].Key));
        Assert.Empty((await auditor.ListAuditEntriesAsync(new ListAuditEntriesRequest { CustomerId = marker })).Entries);
        var agentRows = (await auditor.ListAuditEntriesAsync(new ListAuditEntriesRequest { CustomerId = id })).Entries.Where(e => e.Caller == "throttled-agent").ToList();
        Assert.Equal(["Applied"], agentRows.Select(e => e.Outcome));
        Assert.Equal("first", agentRows[0].Reason);
        var clipped = Assert.Single(rows, r => r.GetString("Action") == "Customers/Adjust" && r.GetString("Target") == "(malformed customer id)"
            && r.GetString("Outcome") == "InvalidArgument");
        Assert.All(rows, r => Assert.All(((IDictionary<string, object>)r).Values.OfType<string>(), v => Assert.True(v.Length <= 501, $"a stored value of {v.Length} characters")));
        Assert.DoesNotContain(rows, r => Mentions(r, huge[..200]));
        _ = clipped;
        // Spread over partitions, not one.
        var partitions = rows.GroupBy(r => r.PartitionKey).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine($"{rows.Count} audit rows in {partitions.Count} partitions: {string.Join(", ", partitions.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}"))}");
        Assert.True(rows.Count < 10 || partitions.Count >= 3, "audit rows spread over partitions");
        Assert.DoesNotContain("audit", partitions.Keys);
    }

    /// <summary>Issue 16, finding 10: after EraseCustomer the audit rows kept the customer id and free-text reasons.</summary>
    [Fact]
    public async Task Erase_leaves_neither_the_id_nor_the_reasons_typed_about_the_customer_in_the_audit_tables()
    {
        var id = "erase-me-" + Guid.NewGuid().ToString("N");
        var reason = "told us about her illness " + Guid.NewGuid().ToString("N");
        await new Ingestion.IngestionClient(fixture.Channel(fixture.ByScope["ingest:game"].Key)).PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });
        var admin = new Customers.CustomersClient(fixture.Channel(fixture.ByScope["customers:admin"].Key));
        await admin.AdjustAsync(new AdjustRequest { CustomerId = id, AdjustmentId = "adj", Points = 5, Reason = reason });
        await new Customers.CustomersClient(fixture.Channel(fixture.Agent.Key)).GrantGoodwillAsync(new GrantGoodwillRequest
            { CustomerId = id, GrantId = "gw", RewardId = "apology-coupon", Reason = reason + " (goodwill)" });
        await admin.ExportCustomerAsync(new ExportCustomerRequest { CustomerId = id });
        // Before the erase: the reasons are there (kept apart), the id is not (rows carry a pseudonym).
        Assert.Equal(2, (await RawRows("LoyaltyAuditReasons")).Count(r => Mentions(r, reason)));
        Assert.DoesNotContain(await RawRows("LoyaltyAudit"), r => Mentions(r, id));
        var auditor = new Audit.AuditClient(fixture.Channel(fixture.ByScope["customers:admin"].Key));
        var before = (await auditor.ListAuditEntriesAsync(new ListAuditEntriesRequest { CustomerId = id })).Entries;
        Assert.Contains(before, e => e.Action == "Customers/Adjust" && e.Reason == reason);

        await admin.EraseCustomerAsync(new EraseCustomerRequest { CustomerId = id });

        var rows = await RawRows("LoyaltyAudit");
        var reasons = await RawRows("LoyaltyAuditReasons");
        Assert.DoesNotContain(rows.Concat(reasons), r => Mentions(r, id) || Mentions(r, reason));
        // What is kept: who did what and when, under the pseudonym; the reasons read as erased.
        var after = (await auditor.ListAuditEntriesAsync(new ListAuditEntriesRequest { CustomerId = id })).Entries;
        Assert.Equal(["Customers/EraseCustomer", "Customers/ExportCustomer", "Customers/GrantGoodwill", "Customers/Adjust"], after.Select(e => e.Action));
        Assert.All(after.Where(e => e.Action is "Customers/Adjust" or "Customers/GrantGoodwill"), e => Assert.Equal("(erased with the customer)", e.Reason));
        Assert.All(after, e => Assert.DoesNotContain(id, e.Target + e.Detail, StringComparison.Ordinal));
    }

    /// <summary>Issue 16, finding 6: one agent could add 1,000,000 points with 100 adjustments of +10,000, and goodwill
    /// was uncapped. Daily totals per agent and per customer now hold, a retry is counted once, an action that did not
    /// happen is given back, refusals name the limit, and admins are not held to them.</summary>
    [Fact]
    public async Task An_agent_is_held_to_daily_totals_per_agent_and_per_customer_for_points_and_goodwill()
    {
        var game = new Ingestion.IngestionClient(fixture.Channel(fixture.ByScope["ingest:game"].Key));
        var (c1, c2, c3) = (NewCustomer(), NewCustomer(), NewCustomer());
        foreach (var c in new[] { c1, c2, c3 })
        {
            await game.PublishAsync(new PublishRequest { Event = Game(c, 10, 1) });
        }
        var bob = new Customers.CustomersClient(fixture.Channel(fixture.CappedAgent.Key));
        var admin = new Customers.CustomersClient(fixture.Channel(fixture.ByScope["customers:admin"].Key));
        Task<AdjustResponse> Adjust(Customers.CustomersClient who, string customer, string id, long points) =>
            who.AdjustAsync(new AdjustRequest { CustomerId = customer, AdjustmentId = id, Points = points, Reason = "care" }).ResponseAsync;
        Task<GrantGoodwillResponse> Goodwill(string customer, string id) =>
            bob.GrantGoodwillAsync(new GrantGoodwillRequest { CustomerId = customer, GrantId = id, RewardId = "apology-coupon", Reason = "care" }).ResponseAsync;
        async Task<string> Refused(Func<Task> call)
        {
            var e = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
            return e.Status.Detail;
        }

        // Per customer: 15,000 points a day from all agents.
        await Adjust(bob, c1, "a1", 10_000);
        await Adjust(bob, c1, "a2", -5_000);   // either sign counts
        Assert.Contains("Loyalty:Auth:CarePointsPerCustomerPerDay", await Refused(() => Adjust(bob, c1, "a3", 1)));
        Assert.Equal(Outcome.Duplicate, (await Adjust(bob, c1, "a2", -5_000)).Outcome);   // a retry is counted once
        // A customer never seen: NOT_FOUND, and the allowance taken for it is given back.
        var ghost = await Assert.ThrowsAsync<RpcException>(() => Adjust(bob, NewCustomer(), "g", 5_000));
        Assert.Equal(StatusCode.NotFound, ghost.StatusCode);
        // Per agent: 25,000 points a day (15,000 so far).
        await Adjust(bob, c2, "b1", 10_000);
        var agentLimit = await Refused(() => Adjust(bob, c3, "c1", 1));
        Assert.Contains("Loyalty:Auth:CarePointsPerAgentPerDay", agentLimit);
        Assert.Contains("agent-bob", agentLimit);
        Assert.Equal(10, (await bob.GetCustomerAsync(new GetCustomerRequest { CustomerId = c3 })).Summary.PointsAvailable);   // the refusal changed nothing

        // Goodwill: 2 per customer, 4 per agent a day.
        Assert.Equal(Outcome.Applied, (await Goodwill(c1, "w1")).Outcome);
        Assert.Equal(Outcome.Applied, (await Goodwill(c1, "w2")).Outcome);
        Assert.Contains("Loyalty:Auth:CareGoodwillPerCustomerPerDay", await Refused(() => Goodwill(c1, "w3")));
        await Goodwill(c2, "w1");
        await Goodwill(c2, "w2");
        Assert.Contains("Loyalty:Auth:CareGoodwillPerAgentPerDay", await Refused(() => Goodwill(c3, "w1")));
        Assert.Equal(2, (await bob.GetCustomerAsync(new GetCustomerRequest { CustomerId = c1 })).Rewards.Count(r => r.RewardId == "apology-coupon"));

        // Admins are not held to agents' totals; the refusals are in the audit log with the limit named.
        Assert.Equal(Outcome.Applied, (await Adjust(admin, c1, "admin-1", 50_000)).Outcome);
        var log = await new Audit.AuditClient(fixture.Channel(fixture.ByScope["customers:admin"].Key)).ListAuditEntriesAsync(new ListAuditEntriesRequest { CustomerId = c3 });
        Assert.Contains(log.Entries, e => e is { Caller: "agent-bob", Action: "Customers/Adjust", Outcome: "PermissionDenied" }
            && e.Detail.Contains("CarePointsPerAgentPerDay", StringComparison.Ordinal));
    }

    /// <summary>The TCP ports a process listens on, from /proc (its socket inodes matched against the kernel's tables).</summary>
    private static HashSet<int> ListeningPorts(int pid)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fd in Directory.GetFiles($"/proc/{pid}/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal))
                {
                    inodes.Add(target["socket:[".Length..^1]);
                }
            }
            catch (IOException)
            {
                // closed meanwhile
            }
        }
        var ports = new HashSet<int>();
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f[3] == "0A" && inodes.Contains(f[9]))   // LISTEN
                {
                    ports.Add(int.Parse(f[1][(f[1].IndexOf(':', StringComparison.Ordinal) + 1)..], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture));
                }
            }
        }
        return ports;
    }

    /// <summary>Issue 16, finding 3: the engine listens on the API, the operator port and the silo port, and nothing else
    /// (no Orleans client gateway through which grains could be called without a key).</summary>
    [Fact]
    public void The_engine_listens_on_the_api_operator_and_silo_ports_only()
    {
        var ports = ListeningPorts(fixture.Server.Pid);
        output.WriteLine(string.Join(", ", ports.Order()));
        Assert.Contains(fixture.Server.Port, ports);
        Assert.Contains(fixture.Server.OperatorPort, ports);
        Assert.Equal(3, ports.Count);   // and the silo port
    }
}

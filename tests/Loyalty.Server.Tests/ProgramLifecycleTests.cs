using System.Text.Json.Nodes;
using Google.Rpc;
using Grpc.Core;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>Its own Azurite and engine: publishing changes the program for everyone on that storage.</summary>
public sealed class ProgramLifecycleFixture : IAsyncLifetime
{
    public AzuriteProcess Azurite { get; private set; } = null!;
    public ServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Azurite = await AzuriteProcess.StartAsync();
        Server = await ServerProcess.StartAsync(Azurite.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Azurite.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
[RunsForAbout(10)]
public sealed class ProgramLifecycleCollection : ICollectionFixture<ProgramLifecycleFixture>
{
    public const string Name = "program lifecycle";
}

[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[Collection(ProgramLifecycleCollection.Name)]
public sealed class ProgramLifecycleTests(ProgramLifecycleFixture fixture)
{
    private Programs.ProgramsClient Programs => fixture.Server.Programs;
    private Ingestion.IngestionClient Ingestion => fixture.Server.Ingestion;

    private static string Draft(Action<JsonNode> change)
    {
        var node = JsonNode.Parse(File.ReadAllText(RepoPaths.SampleProgram), documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!;
        change(node);
        return node.ToJsonString();
    }

    private async Task<string> ActiveVersion() => (await Programs.GetProgramAsync(new GetProgramRequest())).Version;

    [Fact]
    public async Task Validate_names_every_error_by_path_and_publish_refuses_an_invalid_or_stale_draft()
    {
        var broken = Draft(p =>
        {
            p["tiers"]!["levels"]![1]!["qualifyingPoints"] = -1;
            p["rules"]![0]!["then"]![0]!["grantReward"] = "no-such-reward";
        });
        var validation = await Programs.ValidateProgramAsync(new ValidateProgramRequest { ProgramJson = broken });
        Assert.False(validation.Valid);
        Assert.Contains(validation.Errors, e => e.Path == "$.tiers.levels[1].qualifyingPoints");
        Assert.Contains(validation.Errors, e => e.Path == "$.rules[0].then[0].grantReward" && e.Problem.Contains("no-such-reward", StringComparison.Ordinal));

        var active = await ActiveVersion();
        var invalid = await Assert.ThrowsAsync<RpcException>(() =>
            Programs.PublishProgramAsync(new PublishProgramRequest { ProgramJson = broken, ExpectedVersion = active }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Contains(invalid.GetRpcStatus()!.GetDetail<BadRequest>()!.FieldViolations, v => v.Field == "$.tiers.levels[1].qualifyingPoints");

        var draft = Draft(p => p["name"] = "ACME Rewards (stale attempt)");
        var stale = await Assert.ThrowsAsync<RpcException>(() =>
            Programs.PublishProgramAsync(new PublishProgramRequest { ProgramJson = draft, ExpectedVersion = "not-the-active-one" }).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, stale.StatusCode);
        Assert.Equal(active, await ActiveVersion());
    }

    [Fact]
    public async Task Publishing_while_events_flow_evaluates_each_event_under_exactly_one_version_and_loses_none()
    {
        var before = await ActiveVersion();
        var beforeJson = (await Programs.GetProgramAsync(new GetProgramRequest())).DefinitionJson;
        var node = JsonNode.Parse(beforeJson, documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!;
        node["earning"]!["gameSession"]!["pointsPerMinute"] = 3;
        node["name"] = "ACME Rewards " + Guid.NewGuid().ToString("N")[..6];
        var draft = node.ToJsonString();

        var customers = Enumerable.Range(0, 8).Select(_ => NewCustomer()).ToArray();
        using var stop = new CancellationTokenSource();
        var flowing = customers.Select(c => Task.Run(async () =>
        {
            var results = new List<PublishResult>();
            while (!stop.IsCancellationRequested || results.Count < 20)
            {
                results.Add(await Ingestion.PublishAsync(Req(Game(c, minutes: 2, difficulty: 1))));
            }
            return results;
        })).ToArray();
        await Task.Delay(500);
        var published = await Programs.PublishProgramAsync(new PublishProgramRequest { ProgramJson = draft, ExpectedVersion = before, Author = "test@acme" });
        var afterPublish = await Task.WhenAll(customers.Select(c => Ingestion.PublishAsync(Req(Game(c, minutes: 2, difficulty: 1))).ResponseAsync));
        await Task.Delay(300);
        stop.Cancel();
        var all = (await Task.WhenAll(flowing)).SelectMany(r => r).Concat(afterPublish).ToList();

        Assert.All(all, r => Assert.Equal(Outcome.Applied, r.Outcome));
        // 2 minutes x difficulty 1: 2 points under the old version, 6 under the new one; nothing else.
        Assert.All(all, r => Assert.Equal(r.ProgramVersion == published.Version ? 6 : 2, r.PointsDelta));
        Assert.All(all, r => Assert.Contains(r.ProgramVersion, new[] { before, published.Version }));
        Assert.All(afterPublish, r => Assert.Equal(published.Version, r.ProgramVersion));
        Assert.Contains(all, r => r.ProgramVersion == before);

        foreach (var c in customers)
        {
            var mine = all.Where(r => r.Customer.CustomerId == c).ToList();
            var customer = await fixture.Server.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = c });
            Assert.Equal(mine.Sum(r => r.PointsDelta), customer.Summary.PointsLifetime);
            var page = await fixture.Server.Customers.ListInteractionsAsync(new ListInteractionsRequest { CustomerId = c, PageSize = 10 });
            Assert.All(page.Interactions, i => Assert.Equal(mine.Single(r => r.EventId == i.EventId).ProgramVersion, i.ProgramVersion));
        }

        var versions = await Programs.ListProgramVersionsAsync(new ListProgramVersionsRequest());
        var newest = versions.Versions[0];
        Assert.Equal((published.Version, "test@acme", true), (newest.Version, newest.Author, newest.Active));
        Assert.Contains(versions.Versions, v => v.Version == before && !v.Active);
        var old = await Programs.GetProgramAsync(new GetProgramRequest { Version = before });
        Assert.False(old.Active);
        Assert.Equal(beforeJson, old.DefinitionJson);
    }

    [Fact]
    public async Task Simulate_gives_what_publishing_and_replaying_gives_and_changes_nothing()
    {
        var id = NewCustomer();
        await Ingestion.PublishAsync(Req(Purchase(id, "o-1", Line("formula", "baby", 2, 1500))));
        var stateBefore = await fixture.Server.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });

        var active = await Programs.GetProgramAsync(new GetProgramRequest());
        var node = JsonNode.Parse(active.DefinitionJson, documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!;
        node["earning"]!["purchase"]!["categoryMultipliers"]!["baby"] = 5;
        node["name"] = "ACME draft " + Guid.NewGuid().ToString("N")[..6];
        var draft = node.ToJsonString();
        Event[] events =
        [
            Purchase(id, "o-2", Line("diapers", "baby", 1, 2500)),
            Support(id, SupportStatus.Resolved, SupportChannel.Human, satisfaction: 5),
            Game(id, minutes: 10, difficulty: 2),
        ];
        var simulated = await Programs.SimulateProgramAsync(new SimulateProgramRequest { ProgramJson = draft, CustomerId = id, Events = { events } });

        Assert.Equal(stateBefore, await fixture.Server.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }));
        Assert.All(simulated.Results, r => Assert.Equal(simulated.Version, r.ProgramVersion));

        await Programs.PublishProgramAsync(new PublishProgramRequest { ProgramJson = draft, ExpectedVersion = active.Version, Author = "sim-test" });
        var real = new List<PublishResult>();
        foreach (var e in events)
        {
            real.Add(await Ingestion.PublishAsync(Req(e)));
        }
        Assert.Equal(real.Select(r => (r.EventId, r.Outcome, r.PointsDelta, r.ProgramVersion)),
            simulated.Results.Select(r => (r.EventId, r.Outcome, r.PointsDelta, r.ProgramVersion)));
        Assert.Equal(real.Select(r => string.Join(",", r.Rewards.Select(g => g.RewardId + ":" + g.Code))),
            simulated.Results.Select(r => string.Join(",", r.Rewards.Select(g => g.RewardId + ":" + g.Code))));
        Assert.Equal(real.Select(r => r.Customer.PointsLifetime), simulated.Results.Select(r => r.Customer.PointsLifetime));
        // 25.00 of baby goods at the draft's x5 = 125
        Assert.Equal(125, simulated.Results[0].PointsDelta);
    }

    [Fact]
    public async Task A_new_customer_can_be_simulated_and_an_unknown_one_is_NOT_FOUND()
    {
        var draft = (await Programs.GetProgramAsync(new GetProgramRequest())).DefinitionJson;
        var fresh = await Programs.SimulateProgramAsync(new SimulateProgramRequest
        {
            ProgramJson = draft,
            NewCustomer = true,
            Events = { Support("", SupportStatus.Resolved, SupportChannel.Human, satisfaction: 5) },
        });
        Assert.Equal(300, fresh.Results[0].PointsDelta);
        Assert.Equal("thank-you-coupon", fresh.Results[0].Rewards[0].RewardId);

        var error = await Assert.ThrowsAsync<RpcException>(() => Programs.SimulateProgramAsync(new SimulateProgramRequest
        {
            ProgramJson = draft,
            CustomerId = NewCustomer(),
            Events = { Game("", 1, 1) },
        }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }

    [Fact]
    public async Task The_published_version_survives_a_restart_and_reaches_a_second_engine_on_the_same_storage()
    {
        var active = await Programs.GetProgramAsync(new GetProgramRequest());
        var node = JsonNode.Parse(active.DefinitionJson, documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!;
        node["name"] = "ACME Rewards durable " + Guid.NewGuid().ToString("N")[..6];
        var published = await Programs.PublishProgramAsync(new PublishProgramRequest { ProgramJson = node.ToJsonString(), ExpectedVersion = active.Version, Author = "ops" });

        // A second engine on the same storage starts from the configured file, then finds the published version.
        await using var second = await ServerProcess.StartAsync(fixture.Azurite.ConnectionString);
        string? seen = null;
        for (var i = 0; i < 50 && seen != published.Version; i++)
        {
            seen = (await second.Programs.GetProgramAsync(new GetProgramRequest())).Version;
            await Task.Delay(200);
        }
        Assert.Equal(published.Version, seen);
        var result = await second.Ingestion.PublishAsync(Req(Game(NewCustomer(), 1, 1)));
        Assert.Equal(published.Version, result.ProgramVersion);
    }

    [Fact]
    public async Task The_CLI_validates_publishes_lists_simulates_and_shows_eligible_rewards()
    {
        var dir = Directory.CreateTempSubdirectory("loyalty-cli-").FullName;
        try
        {
            var broken = Path.Combine(dir, "broken.json");
            await File.WriteAllTextAsync(broken, Draft(p => p["rules"]![1]!["if"]!["all"]![1]!["categoryShareAtLeast"]!["share"] = 1.5));
            var invalid = await CliRunner.RunAsync(fixture.Server.Address, "program", "validate", broken);
            Assert.Equal(2, invalid.Exit);
            Assert.Contains("$.rules[1].if.all[1].categoryShareAtLeast.share:", invalid.Out, StringComparison.Ordinal);

            var active = await Programs.GetProgramAsync(new GetProgramRequest());
            var node = JsonNode.Parse(active.DefinitionJson, documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!;
            node["name"] = "ACME via CLI " + Guid.NewGuid().ToString("N")[..6];
            var draft = Path.Combine(dir, "draft.json");
            await File.WriteAllTextAsync(draft, node.ToJsonString());
            Assert.Equal(0, (await CliRunner.RunAsync(fixture.Server.Address, "program", "validate", draft)).Exit);

            var id = NewCustomer();
            await Ingestion.PublishAsync(Req(Purchase(id, "o-1", Line("bib", "baby", 1, 3000), Line("tv", "electronics", 1, 7000))));
            var events = Path.Combine(dir, "events.jsonl");
            await File.WriteAllLinesAsync(events,
            [
                "{\"eventId\":\"sim-1\",\"customerId\":\"" + id + "\",\"occurredAt\":\"" + DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture)
                    + "\",\"supportCase\":{\"caseId\":\"k1\",\"status\":\"SUPPORT_STATUS_RESOLVED\",\"channel\":\"SUPPORT_CHANNEL_HUMAN\",\"satisfaction\":5}}",
            ]);
            var simulated = await CliRunner.RunAsync(fixture.Server.Address, "program", "simulate", draft, "--customer", id, "--events", events);
            Assert.True(simulated.Exit == 0, simulated.Err);
            Assert.Contains("+300 points", simulated.Out, StringComparison.Ordinal);
            Assert.Contains("thank-you-coupon THANKS-", simulated.Out, StringComparison.Ordinal);

            var published = await CliRunner.RunAsync(fixture.Server.Address, "program", "publish", draft, "--author", "cli-test");
            Assert.True(published.Exit == 0, published.Err);
            var version = (await Programs.GetProgramAsync(new GetProgramRequest())).Version;
            Assert.Contains($"published version {version}", published.Out, StringComparison.Ordinal);
            var versions = await CliRunner.RunAsync(fixture.Server.Address, "program", "versions");
            Assert.Contains("cli-test", versions.Out, StringComparison.Ordinal);
            var stale = await CliRunner.RunAsync(fixture.Server.Address, "program", "publish", draft, "--expected-version", "0000");
            Assert.Equal(1, stale.Exit);
            Assert.Contains("FailedPrecondition", stale.Err, StringComparison.Ordinal);

            var eligible = await CliRunner.RunAsync(fixture.Server.Address, "customer", "eligible", id);
            Assert.Contains("baby-affinity-coupon: spend 16.67 more in baby", eligible.Out, StringComparison.Ordinal);
            Assert.Contains("free-shipping", eligible.Out, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

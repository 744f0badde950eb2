using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Loyalty.Contracts;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using Microsoft.Playwright;
using static Loyalty.Server.Tests.Events;
using static Microsoft.Playwright.Assertions;

namespace Loyalty.Server.Tests;

/// <summary>
/// An engine (Azurite storage) with an agent's key (customers:read, ingest:support, customers:care), a read-only key,
/// a finance key (reports:read) and the admin key; and the machine's Debian chromium driven by Playwright: headless, background networking off,
/// a proxy that goes nowhere for anything off loopback. No browser is ever downloaded.
/// </summary>
public sealed class ConsoleFixture : IAsyncLifetime
{
    public static readonly string[] AgentScopes = ["customers:read", "ingest:support", "customers:care"];
    private static readonly string[] ReaderScopes = ["customers:read"];
    private AzuriteProcess? _azurite;
    private IPlaywright? _playwright;

    public ApiKeys.Created Agent { get; } = ApiKeys.Create("agent-ann");
    public ApiKeys.Created Reader { get; } = ApiKeys.Create("reader");
    /// <summary>customers:read at 0.5 calls/s, burst 2.</summary>
    public ApiKeys.Created Limited { get; } = ApiKeys.Create("limited-reader");
    /// <summary>A support desk's key limited to sources starting "desk-" (the console's events are "support-console").</summary>
    public ApiKeys.Created DeskOnly { get; } = ApiKeys.Create("desk-only");
    /// <summary>Finance: reports:read only (the liability report, nothing about single customers).</summary>
    public ApiKeys.Created Finance { get; } = ApiKeys.Create("finance-fay");
    public AzuriteProcess Azurite => _azurite!;
    public ServerProcess Server { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public Dictionary<string, string> Keys { get; private set; } = [];
    public string ProgramPath { get; private set; } = "";

    public async Task InitializeAsync()
    {
        if (!File.Exists(Chromium.Path))
        {
            throw new InvalidOperationException($"Chromium is not installed at {Chromium.Path}: apt-get install chromium (deploy/local/test does it when run as root), or set CHROMIUM.");
        }
        _azurite = await AzuriteProcess.StartAsync();
        Keys = TestKeys.Settings([(Agent, AgentScopes, []), (Reader, ReaderScopes, []), (Limited, ReaderScopes, []), (DeskOnly, AgentScopes, ["desk-"]), (Finance, ["reports:read"], [])], first: 1);
        Keys["Loyalty__Auth__Keys__3__RatePerSecond"] = "0.5";
        Keys["Loyalty__Auth__Keys__3__Burst"] = "2";
        // The sample program, with points expiring at the end of the month they are earned in: the page has points
        // "expiring soon" to show.
        var sample = File.ReadAllText(RepoPaths.SampleProgram);
        ProgramPath = Path.Combine(Directory.CreateTempSubdirectory("loyalty-console-").FullName, "program.json");
        File.WriteAllText(ProgramPath, sample.Replace("\"history\": {", "\"points\": { \"expiry\": { \"policy\": \"endOfMonth\", \"months\": 0 } },\n  \"history\": {", StringComparison.Ordinal));
        Keys["Loyalty__ProgramPath"] = ProgramPath;
        // A webhook endpoint nothing listens on: the Webhooks view has an endpoint to show, failing and retrying.
        Keys["Loyalty__Webhooks__Endpoints__0__Name"] = "crm";
        Keys["Loyalty__Webhooks__Endpoints__0__Url"] = $"http://127.0.0.1:{FreePorts.Next()}/hooks";
        Keys["Loyalty__Webhooks__Endpoints__0__Secret"] = new string('k', 40);
        Keys["Loyalty__Webhooks__Endpoints__0__Kinds__0"] = "reward";
        Server = await ServerProcess.StartAsync(_azurite.ConnectionString, Keys);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium.Path,
            Headless = true,
            Args = BrowserArgs,
        });
        SetDefaultExpectTimeout(20_000);
    }

    /// <summary>A fresh page (its own session storage) at 1280×800, or the given size.</summary>
    /// <summary>Headless, no background networking, and a proxy that goes nowhere for anything off loopback.</summary>
    public static readonly string[] BrowserArgs = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-default-apps", "--disable-domain-reliability", "--disable-features=MediaRouter,OptimizationHints",
        "--proxy-server=127.0.0.1:9"];

    public async Task<IPage> NewPageAsync(int width = 1280, int height = 800)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = width, Height = height } });
        return await context.NewPageAsync();
    }

    public async Task DisposeAsync()
    {
        if (_playwright is not null)
        {
            await Browser.DisposeAsync();
            _playwright.Dispose();
        }
        await Server.DisposeAsync();
        if (ProgramPath.Length > 0)
        {
            Directory.Delete(Path.GetDirectoryName(ProgramPath)!, recursive: true);
        }
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }
}

/// <summary>The support console, used as an agent uses it: through the browser, by clicking.</summary>
[Trait("Needs", "Process")]
[Trait("Needs", "Azurite")]
[Trait("Needs", "Chromium")]
[RunsForAbout(45)]
public sealed class ConsoleTests(ConsoleFixture fixture) : IClassFixture<ConsoleFixture>
{
    private static readonly string[] AppliedThenThreeDuplicates = ["Applied", "Duplicate", "Duplicate", "Duplicate"];
    private static readonly string[] AgentMay = ["read", "resolve", "adjust", "goodwill"];
    /// <summary>Every run takes the screenshots (the pages must render); only <c>deploy/local/screenshots</c>
    /// (LOYALTY_SCREENSHOTS=1) puts them in docs/, so a test run leaves the work tree as it was.</summary>
    private static readonly string Screenshots = Environment.GetEnvironmentVariable("LOYALTY_SCREENSHOTS") == "1"
        ? Path.Combine(RepoPaths.Root, "docs", "screenshots")
        : Path.Combine(Path.GetTempPath(), "loyalty-screenshots");

    private string Console => $"{fixture.Server.OperatorAddress}/console/";

    private Customers.CustomersClient Api => new(fixture.Server.Channel);

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static async Task SignInAsync(IPage page, string key, string expectedId)
    {
        await Expect(page.Locator("#signin")).ToBeVisibleAsync();
        await page.Locator("#key").FillAsync(key);
        await page.Locator("#sign-in").ClickAsync();
        await Expect(page.Locator("[data-field=signed-in-as]")).ToHaveTextAsync(expectedId);
    }

    private static async Task LookUpAsync(IPage page, string customer)
    {
        await page.Locator("#customer").FillAsync(customer);
        await page.Locator("#customer").PressAsync("Enter");   // keyboard, not a click
        await Expect(page.Locator("#status")).ToHaveTextAsync($"Customer {customer}");
    }

    /// <summary>Does <paramref name="act"/> and waits until the engine has answered <paramref name="count"/> POSTs to a
    /// path ending in <paramref name="pathEnd"/>: the page's text may already read as expected before a repeat's answer
    /// arrives, and the audit and counters are written before the answer.</summary>
    private static async Task AnsweredAsync(IPage page, string pathEnd, int count, Func<Task> act)
    {
        var seen = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnResponse(object? sender, IResponse response)
        {
            if (response.Request.Method == "POST" && new Uri(response.Url).AbsolutePath.EndsWith(pathEnd, StringComparison.Ordinal)
                && Interlocked.Increment(ref seen) == count)
            {
                all.TrySetResult();
            }
        }
        page.Response += OnResponse;
        try
        {
            await act();
            if (await Task.WhenAny(all.Task, Task.Delay(TimeSpan.FromSeconds(30))) != all.Task)
            {
                Assert.Fail($"{Volatile.Read(ref seen)} of {count} POSTs to …{pathEnd} answered within 30 s");
            }
        }
        finally
        {
            page.Response -= OnResponse;
        }
    }

    /// <summary>loyalty_events_total for support events with the outcome, from the operator port's /metrics.</summary>
    private async Task<double> SupportEvents(string outcome)
    {
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add(ApiKeys.Header, TestKeys.Admin.Key);
        var text = await http.GetStringAsync($"{fixture.Server.OperatorAddress}/metrics");
        return text.Split('\n').Where(l => l.StartsWith("loyalty_events_total{", StringComparison.Ordinal)
                && l.Contains("loyalty_source=\"support\"", StringComparison.Ordinal) && l.Contains($"loyalty_outcome=\"{outcome}\"", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }

    private static Task<string[]> DataOf(IPage page, string selector, string attribute) =>
        page.Locator(selector).EvaluateAllAsync<string[]>($"els => els.map(e => e.dataset.{attribute}).filter(Boolean)");

    /// <summary>Issue 16, design: the console is static assets (its own script and style files) under a CSP with no
    /// 'unsafe-inline', and it works under it: a session in the browser logs no CSP violation.</summary>
    [Fact]
    public async Task The_console_is_static_assets_under_a_csp_without_unsafe_inline_and_works_under_it()
    {
        using var http = new HttpClient();
        var page = await http.GetAsync(Console);
        var csp = string.Join(";", page.Headers.GetValues("Content-Security-Policy"));
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-eval", csp, StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("style-src 'self'", csp, StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Matches("<script src=\"console.js\"></script>", html);
        Assert.DoesNotMatch("<script>|<style|style=|\\son[a-z]+=", html);   // nothing inline
        foreach (var asset in new[] { "console.js", "console.css" })
        {
            var response = await http.GetAsync(Console + asset);
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            Assert.True(response.Headers.ETag is not null || response.Content.Headers.LastModified is not null, "a cacheable static asset");
            // Not on the API port.
            using var onApi = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{fixture.Server.Port}/console/{asset}")
            {
                Version = System.Net.HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,   // the API port speaks HTTP/2 only
            };
            Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.SendAsync(onApi)).StatusCode);
        }

        var browser = await fixture.NewPageAsync();
        var violations = new List<string>();
        browser.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                violations.Add(message.Text);
            }
        };
        await browser.GotoAsync(Console);
        await SignInAsync(browser, fixture.Agent.Key, "agent-ann");
        var id = NewCustomer();
        await new Ingestion.IngestionClient(fixture.Server.Channel).PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });
        await LookUpAsync(browser, id);
        await Expect(browser.Locator("[data-field=points-available]")).ToHaveTextAsync("10");
        Assert.Empty(violations);
    }

    [Fact]
    public async Task An_agent_signs_in_sees_what_the_api_says_and_a_double_clicked_human_resolution_with_satisfaction_5_rewards_once_on_the_page()
    {
        var id = NewCustomer();
        var profile = Base(id);
        profile.ProfileUpdate = new ProfileUpdate { DisplayName = "Erika", BirthYear = DateTime.UtcNow.Year - 78 };   // green channel
        var botCase = Support(id, SupportStatus.Escalated, SupportChannel.Bot);
        await new Ingestion.IngestionClient(fixture.Server.Channel).PublishBatchAsync(new PublishBatchRequest
        {
            Events = { profile, Purchase(id, "o-1", Line("stroller", "baby", 1, 24999), Line("ball", "sports", 1, 1999)), Game(id, 30, 2), botCase },
        });
        var before = await Api.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        var eligible = await Api.ListEligibleRewardsAsync(new ListEligibleRewardsRequest { CustomerId = id });

        var page = await fixture.NewPageAsync();
        await page.GotoAsync(Console);
        await SignInAsync(page, fixture.Agent.Key, "agent-ann");
        await LookUpAsync(page, id);

        // The numbers on the page are the API's.
        await Expect(page.Locator("[data-field=points-available]")).ToHaveTextAsync(N(before.Summary.PointsAvailable));
        await Expect(page.Locator("[data-field=points-pending]")).ToHaveTextAsync(N(before.Summary.PointsPending));
        await Expect(page.Locator("[data-field=points-lifetime]")).ToHaveTextAsync(N(before.Summary.PointsLifetime));
        await Expect(page.Locator("[data-field=tier]")).ToHaveTextAsync(before.Summary.Tier);
        await Expect(page.Locator("[data-field=tier-progress]")).ToContainTextAsync($"{N(before.TierProgress.PointsToNextTier)} more qualifying points for {before.TierProgress.NextTier}");
        Assert.Equal(eligible.Rewards.Select(r => r.RewardId), await DataOf(page, "#eligible li", "reward"));
        Assert.Equal(eligible.NearMisses.Select(m => m.RuleId), await DataOf(page, "#near-misses li", "rule"));
        Assert.NotEmpty(eligible.NearMisses);   // the sports share is below 40 %: a near miss the agent can see
        await Expect(page.Locator("#near-misses")).ToContainTextAsync(eligible.NearMisses[0].Missing);
        Assert.Equal(before.Rewards.Select(r => r.RewardId).OrderBy(x => x), (await DataOf(page, "#rewards li", "reward")).OrderBy(x => x));
        var expiring = Assert.Single(before.ExpiringSoon);   // all earned today: one date, the end of this month
        await Expect(page.Locator("#expiring")).ToContainTextAsync($"{N(expiring.Points)} points expire");
        Assert.Equal(before.Summary.PointsAvailable, expiring.Points);
        await Expect(page.Locator("#perks .badge.green")).ToContainTextAsync("Green channel");
        await Expect(page.Locator("#affinity")).ToContainTextAsync("baby");
        foreach (var kind in new[] { "purchase", "game session", "support case", "profile update" })
        {
            await Expect(page.Locator("#timeline")).ToContainTextAsync(kind);
        }

        // Record the human resolution with satisfaction 5, double-clicked: two submits, one action id.
        var appliedBefore = await SupportEvents("applied");
        var duplicateBefore = await SupportEvents("duplicate");
        await page.Locator("#case-id").FillAsync(botCase.SupportCase.CaseId);
        await page.Locator("#satisfaction").SelectOptionAsync("5");
        await AnsweredAsync(page, "/cases", 2, () => page.Locator("#resolve-submit").DblClickAsync());
        await Expect(page.Locator("#rewards")).ToContainTextAsync("THANKS-");
        // Whichever answer came first, the one that applied it stays on screen.
        await Expect(page.Locator("#resolve-result")).ToContainTextAsync("THANKS-");
        var after = await Api.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.Equal(before.EventsApplied + 1, after.EventsApplied);   // applied once
        Assert.Single(after.Rewards, r => r.RewardId == "thank-you-coupon");
        var thanks = after.Rewards.Single(r => r.RewardId == "thank-you-coupon").Code;
        await Expect(page.Locator("#rewards")).ToContainTextAsync(thanks);
        await Expect(page.Locator("[data-field=points-available]")).ToHaveTextAsync(N(after.Summary.PointsAvailable));
        Assert.True(after.Summary.PointsAvailable >= before.Summary.PointsAvailable + 300);   // 100 for a human resolution + 200 bonus (× tier)

        // Submitting the same case again after its answer is shown (as a person's slow double click does) changes
        // nothing: a case's resolution is keyed by the case. The page keeps the answer that applied it.
        await AnsweredAsync(page, "/cases", 1, () => page.Locator("#resolve-submit").ClickAsync());
        await Expect(page.Locator("#resolve-result")).ToContainTextAsync(thanks);
        await Expect(page.Locator("#resolve-result")).ToContainTextAsync("(submitted again: nothing changed)");
        Assert.Equal(after.EventsApplied, (await Api.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).EventsApplied);

        // Another agent (a page that never saw it applied) recording the same case is told it was already recorded.
        var other = await fixture.NewPageAsync();
        await other.GotoAsync(Console);
        await SignInAsync(other, fixture.Agent.Key, "agent-ann");
        await LookUpAsync(other, id);
        await other.Locator("#case-id").FillAsync(botCase.SupportCase.CaseId);
        await other.Locator("#satisfaction").SelectOptionAsync("5");
        await AnsweredAsync(other, "/cases", 1, () => other.Locator("#resolve-submit").ClickAsync());
        await Expect(other.Locator("#resolve-result")).ToHaveTextAsync("This case's resolution was already recorded; nothing changed.");
        Assert.Equal(after.EventsApplied, (await Api.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).EventsApplied);

        // Every submit reached the engine (one applied, three duplicates): the engine, not the page, kept it to one.
        var audit = await new Audit.AuditClient(fixture.Server.Channel).ListAuditEntriesAsync(new ListAuditEntriesRequest { PageSize = 100, CustomerId = id });
        var resolutions = audit.Entries.Where(e => e.Action == "Console/ResolveCase").ToList();
        Assert.Equal(AppliedThenThreeDuplicates, resolutions.Select(e => e.Outcome).Order());
        Assert.All(resolutions, e => Assert.Equal("agent-ann", e.Caller));
        // And they reached the event counters as events sent to the API do (the console used to skip them).
        Assert.Equal(appliedBefore + 1, await SupportEvents("applied"));
        Assert.Equal(duplicateBefore + 3, await SupportEvents("duplicate"));

        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, "console-customer.png"), FullPage = true });
        // The key never reached the address bar or the page.
        Assert.DoesNotContain(fixture.Agent.Key, page.Url + await page.ContentAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Goodwill_from_the_catalogue_and_an_adjustment_are_clicked_twice_apply_once_and_are_audited()
    {
        var id = NewCustomer();
        await new Ingestion.IngestionClient(fixture.Server.Channel).PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });
        var page = await fixture.NewPageAsync();
        await page.GotoAsync(Console);
        await SignInAsync(page, fixture.Agent.Key, "agent-ann");
        await LookUpAsync(page, id);

        // The reward list is the program's catalogue.
        var program = await new Programs.ProgramsClient(fixture.Server.Channel).GetProgramAsync(new GetProgramRequest());
        var catalogue = System.Text.Json.JsonDocument.Parse(program.DefinitionJson, new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })
            .RootElement.GetProperty("rewards").EnumerateArray().Select(r => r.GetProperty("id").GetString()!).ToArray();
        Assert.Equal(catalogue, await page.Locator("#goodwill-reward option").EvaluateAllAsync<string[]>("els => els.map(e => e.value)"));

        // A grant without a reason is refused by the form itself; then with a reason, double-clicked.
        await page.Locator("#goodwill-reward").SelectOptionAsync("apology-coupon");
        await page.Locator("#goodwill-submit").ClickAsync();
        Assert.Empty((await Api.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).Rewards);
        await page.Locator("#goodwill-reason").FillAsync("parcel lost twice");
        await AnsweredAsync(page, "/goodwill", 2, () => page.Locator("#goodwill-submit").DblClickAsync());
        await Expect(page.Locator("#rewards")).ToContainTextAsync("SORRY-");
        await Expect(page.Locator("#rewards")).ToContainTextAsync("(goodwill)");
        await Expect(page.Locator("#goodwill-result")).ToContainTextAsync("SORRY-");

        await page.Locator("#adjust-points").FillAsync("30");
        await page.Locator("#adjust-reason").FillAsync("apology for the wait");
        await AnsweredAsync(page, "/adjustments", 2, () => page.Locator("#adjust-submit").DblClickAsync());
        await Expect(page.Locator("[data-field=points-available]")).ToHaveTextAsync(N(10 + 30));
        await Expect(page.Locator("#adjust-result")).ToContainTextAsync("+30 points");
        // A second click that lands after the answer is shown (a person's double click is that slow) is the same
        // operation: nothing changes, and the page keeps the answer that applied it.
        await AnsweredAsync(page, "/adjustments", 1, () => page.Locator("#adjust-submit").ClickAsync());
        await Expect(page.Locator("#adjust-result")).ToHaveTextAsync("Applied: +30 points (submitted again: nothing changed)");
        Assert.Equal(10 + 30, (await Api.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).Summary.PointsAvailable);
        // Doing it again on purpose means editing the form: a new operation.
        await page.Locator("#adjust-points").FillAsync("5");
        await AnsweredAsync(page, "/adjustments", 1, () => page.Locator("#adjust-submit").ClickAsync());
        await Expect(page.Locator("#adjust-result")).ToHaveTextAsync("Applied: +5 points");
        await Expect(page.Locator("[data-field=points-available]")).ToHaveTextAsync(N(10 + 30 + 5));

        var customer = await Api.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.Single(customer.Rewards, r => r.RewardId == "apology-coupon" && r.RuleId == "goodwill");
        Assert.Equal(10 + 30 + 5, customer.Summary.PointsAvailable);   // 30 once, not three times
        var audit = await new Audit.AuditClient(fixture.Server.Channel).ListAuditEntriesAsync(new ListAuditEntriesRequest { PageSize = 100, CustomerId = id });
        var mine = audit.Entries.ToList();
        // The same action names as through the API (one application layer records both), saying which front end.
        Assert.Contains(mine, e => e is { Action: "Customers/GrantGoodwill", Caller: "agent-ann", Outcome: "Applied", Reason: "parcel lost twice" }
            && e.Detail.Contains("via console", StringComparison.Ordinal));
        Assert.Contains(mine, e => e is { Action: "Customers/Adjust", Caller: "agent-ann", Outcome: "Applied", Reason: "apology for the wait" }
            && e.Detail.Contains("via console", StringComparison.Ordinal));
        Assert.All(mine, e => Assert.DoesNotContain(id, e.Target + e.Detail, StringComparison.Ordinal));
        Assert.Equal(2, mine.Count(e => e.Action == "Customers/GrantGoodwill"));   // the second click reached the engine, as a duplicate
        Assert.Equal(["Applied", "Applied", "Duplicate", "Duplicate"], mine.Where(e => e.Action == "Customers/Adjust").Select(e => e.Outcome).Order());
    }

    [Fact]
    public async Task The_program_view_shows_the_active_version_tiers_rules_and_catalogue_as_text()
    {
        var program = await new Programs.ProgramsClient(fixture.Server.Channel).GetProgramAsync(new GetProgramRequest());
        var definition = System.Text.Json.JsonDocument.Parse(program.DefinitionJson, new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip }).RootElement;
        var page = await fixture.NewPageAsync();
        await page.GotoAsync(Console);
        await SignInAsync(page, fixture.Agent.Key, "agent-ann");
        await page.GetByRole(AriaRole.Button, new() { Name = "Program" }).FocusAsync();
        await page.Keyboard.PressAsync("Enter");   // the views are buttons: reachable and usable by keyboard

        await Expect(page.Locator("[data-field=program-version]")).ToHaveTextAsync(program.Version);
        Assert.Equal(definition.GetProperty("tiers").GetProperty("levels").EnumerateArray().Select(t => t.GetProperty("name").GetString()!),
            await DataOf(page, "#tiers tr", "tier"));
        Assert.Equal(definition.GetProperty("rules").EnumerateArray().Select(r => r.GetProperty("id").GetString()!), await DataOf(page, "#rules li", "rule"));
        Assert.Equal(definition.GetProperty("rewards").EnumerateArray().Select(r => r.GetProperty("id").GetString()!), await DataOf(page, "#catalogue tr", "reward"));
        await Expect(page.Locator("#earning")).ToContainTextAsync("Points expire at the end of the month 0 month(s) after they are earned");
        // Rules read as sentences, not JSON.
        var rules = await page.Locator("#rules").InnerTextAsync();
        Assert.Contains("satisfaction at least 4", rules, StringComparison.Ordinal);
        Assert.Contains("grant the perk priority_human_support for 30 days", rules, StringComparison.Ordinal);
        Assert.DoesNotMatch("[{}\\[\\]\"]", rules);
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, "console-program.png"), FullPage = true });
    }

    [Fact]
    public async Task The_webhooks_view_shows_each_endpoint_to_operators_with_its_failures_and_tells_an_agent_it_needs_an_operator()
    {
        // A reward for the endpoint to fail on.
        await new Ingestion.IngestionClient(fixture.Server.Channel).PublishAsync(Req(Purchase(NewCustomer(), "o-hook", Line("stroller", "baby", 1, 24999))));
        var page = await fixture.NewPageAsync();
        await page.GotoAsync(Console);
        await SignInAsync(page, TestKeys.Admin.Key, TestKeys.Admin.Id);
        await page.GetByRole(AriaRole.Button, new() { Name = "Webhooks" }).ClickAsync();
        var row = page.Locator("#webhooks tr[data-endpoint=crm]");
        await Expect(row).ToContainTextAsync("reward");
        // The refused deliveries show as waiting/retrying with the connection error, refreshed while the view is open.
        await Expect(row).ToContainTextAsync("ConnectionError", new() { Timeout = 20_000 });
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, "console-webhooks.png"), FullPage = true });

        var agent = await fixture.NewPageAsync();
        await agent.GotoAsync(Console);
        await SignInAsync(agent, fixture.Agent.Key, "agent-ann");
        await agent.GetByRole(AriaRole.Button, new() { Name = "Webhooks" }).ClickAsync();
        await Expect(agent.Locator("#status")).ToContainTextAsync("Webhook status needs an operator's key");
        Assert.Equal(0, await agent.Locator("#webhooks tr").CountAsync());
    }

    [Fact]
    public async Task The_live_view_charts_events_by_source_and_rewards_and_updates_while_open()
    {
        var ingestion = new Ingestion.IngestionClient(fixture.Server.Channel);
        async Task PublishSomeAsync()
        {
            var batch = new PublishBatchRequest();
            for (var i = 0; i < 20; i++)
            {
                var id = NewCustomer();
                batch.Events.Add(Purchase(id, "o-" + i, Line("stroller", "baby", 1, 24999)));   // grants the baby coupon and the launch gift
                batch.Events.Add(Game(id, 5, 1));
                batch.Events.Add(Support(id, SupportStatus.Resolved, SupportChannel.Human, 5));
            }
            await ingestion.PublishBatchAsync(batch);
        }
        await PublishSomeAsync();

        var page = await fixture.NewPageAsync(1280, 900);
        await page.GotoAsync(Console);
        await SignInAsync(page, fixture.Agent.Key, "agent-ann");
        await page.GetByRole(AriaRole.Button, new() { Name = "Live" }).ClickAsync();
        await Expect(page.Locator("[data-field=live-by-source]")).ToContainTextAsync(new Regex("shop [1-9][0-9]+ · game [1-9][0-9]+ · support [1-9][0-9]+"));
        var shown = long.Parse(await page.Locator("[data-field=live-events]").InnerTextAsync(), CultureInfo.InvariantCulture);
        Assert.True(shown >= 60, $"at least the 60 events just applied, saw {shown}");
        Assert.True(long.Parse(await page.Locator("[data-field=live-rewards]").InnerTextAsync(), CultureInfo.InvariantCulture) >= 40);
        Assert.Equal(4, await page.Locator("#events-chart polyline").CountAsync());
        Assert.True(await page.Locator("#rewards-chart rect").CountAsync() >= 30);

        // It updates by itself: more events, and the page shows more without a reload.
        await PublishSomeAsync();
        await Expect(page.Locator("[data-field=live-events]")).Not.ToHaveTextAsync(N(shown));
        Assert.True(long.Parse(await page.Locator("[data-field=live-events]").InnerTextAsync(), CultureInfo.InvariantCulture) >= shown + 60);
        // A few seconds of steady traffic, so the saved picture shows the charts moving.
        for (var i = 0; i < 6; i++)
        {
            await PublishSomeAsync();
            await Task.Delay(700);
        }
        await page.WaitForTimeoutAsync(2_500);
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, "console-live.png"), FullPage = true });
    }

    [Fact]
    public async Task Not_found_and_unauthorised_are_told_plainly_and_a_read_only_key_cannot_act()
    {
        var page = await fixture.NewPageAsync();
        await page.GotoAsync(Console);
        await Expect(page.Locator("#signin")).ToBeVisibleAsync();
        await Expect(page.Locator("#tabs")).ToBeHiddenAsync();

        // A key the engine does not know: refused, still on the sign-in screen.
        await page.Locator("#key").FillAsync(ApiKeys.Create("stranger").Key);
        await page.Locator("#sign-in").ClickAsync();
        await Expect(page.Locator("#status")).ToContainTextAsync("your API key was refused");
        await Expect(page.Locator("#signin")).ToBeVisibleAsync();

        // By keyboard only: type the key, Enter signs in.
        await page.Locator("#key").FocusAsync();
        await page.Keyboard.TypeAsync(fixture.Reader.Key);
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("[data-field=signed-in-as]")).ToHaveTextAsync("reader");

        // A customer never seen.
        await page.Locator("#customer").FillAsync("nobody-" + Guid.NewGuid().ToString("N")[..8]);
        await page.Locator("#customer").PressAsync("Enter");
        await Expect(page.Locator("#status")).ToHaveTextAsync(new Regex("Customer 'nobody-[0-9a-f]{8}' was not found"));
        await Expect(page.Locator("#customer-view")).ToBeHiddenAsync();

        // A read-only key sees the customer but cannot act: the forms say which scope is missing, and the engine
        // refuses the call even if the page were bypassed.
        var id = NewCustomer();
        await new Ingestion.IngestionClient(fixture.Server.Channel).PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });
        await LookUpAsync(page, id);
        await Expect(page.Locator("#resolve-submit")).ToBeDisabledAsync();
        await Expect(page.Locator("#goodwill-result")).ToContainTextAsync("customers:care");
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add(ApiKeys.Header, fixture.Reader.Key);
        var refused = await http.PostAsJsonAsync($"{Console}api/customers/{id}/goodwill", new { actionId = "a-1", rewardId = "apology-coupon", reason = "x" });
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("customers:care", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Signing out forgets the key and the customer: the next agent on this tab starts clean, with their own rights.
        await page.Locator("#sign-out").ClickAsync();
        await Expect(page.Locator("#signin")).ToBeVisibleAsync();
        Assert.Null(await page.EvaluateAsync<string?>("sessionStorage.getItem('loyalty-key')"));
        await SignInAsync(page, fixture.Agent.Key, "agent-ann");
        await Expect(page.Locator("#customer-view")).ToBeHiddenAsync();
        await Expect(page.Locator("#customer")).ToHaveValueAsync("");
        await Expect(page.Locator("#goodwill-result")).ToHaveTextAsync("");
        await Expect(page.Locator("#resolve-submit")).ToBeEnabledAsync();

        // Every asset is the engine's own: the page references nothing off the engine.
        Assert.DoesNotMatch("(src|href)=\"https?://", await http.GetStringAsync(Console));
    }

    [Fact]
    public async Task A_slow_answer_for_the_previous_customer_never_shows_under_the_current_one()
    {
        var (slow, fast) = (NewCustomer(), NewCustomer());
        var ingestion = new Ingestion.IngestionClient(fixture.Server.Channel);
        await ingestion.PublishAsync(new PublishRequest { Event = Game(slow, 10, 1) });
        await ingestion.PublishAsync(new PublishRequest { Event = Game(fast, 20, 1) });
        var page = await fixture.NewPageAsync();
        await page.GotoAsync(Console);
        await SignInAsync(page, fixture.Agent.Key, "agent-ann");
        var slowAnswered = new TaskCompletionSource();
        await page.RouteAsync($"**/api/customers/{slow}", async route =>
        {
            await Task.Delay(1500);
            await route.ContinueAsync();
            slowAnswered.TrySetResult();
        });
        await page.Locator("#customer").FillAsync(slow);
        await page.Locator("#customer").PressAsync("Enter");
        await LookUpAsync(page, fast);
        await slowAnswered.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await page.WaitForTimeoutAsync(300);
        await Expect(page.Locator("#status")).ToHaveTextAsync($"Customer {fast}");
        await Expect(page.Locator("[data-field=points-available]")).ToHaveTextAsync("20");

        // An agent's adjustment is capped (Loyalty:Auth:CareMaxAdjustPoints, 10,000 by default); the page says why.
        await page.Locator("#adjust-points").FillAsync("20000");
        await page.Locator("#adjust-reason").FillAsync("typo fix");
        await page.Locator("#adjust-points").EvaluateAsync("el => { el.removeAttribute('max'); }");   // past the form's own limit
        await page.Locator("#adjust-submit").ClickAsync();
        await Expect(page.Locator("#adjust-result")).ToContainTextAsync("at most 10000 points");
        // A refused adjustment (below zero) tells the reason.
        await page.Locator("#adjust-points").FillAsync("-500");
        await page.Locator("#adjust-submit").ClickAsync();
        await Expect(page.Locator("#adjust-result")).ToContainTextAsync("negative balance");
        Assert.Equal(20, (await Api.GetCustomerAsync(new GetCustomerRequest { CustomerId = fast })).Summary.PointsAvailable);
    }

    [Fact]
    public async Task When_the_engine_goes_down_the_console_says_it_is_unreachable()
    {
        await using var engine = await ServerProcess.StartAsync(fixture.Azurite.ConnectionString, fixture.Keys);
        var id = NewCustomer();
        await new Ingestion.IngestionClient(engine.Channel).PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });
        var page = await fixture.NewPageAsync(390, 844);   // a narrow screen, too
        await page.GotoAsync($"{engine.OperatorAddress}/console/");
        await SignInAsync(page, fixture.Agent.Key, "agent-ann");
        await LookUpAsync(page, id);
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling on a narrow screen");

        await engine.KillAsync();   // stops exactly that process
        await page.Locator("#find button").ClickAsync();
        await Expect(page.Locator("#status")).ToHaveTextAsync("The engine is unreachable. Check that it is running and try again.");
        await Expect(page.Locator("#status")).ToHaveClassAsync(new Regex("error"));
        await page.GetByRole(AriaRole.Button, new() { Name = "Live" }).ClickAsync();
        await Expect(page.Locator("#status")).ToContainTextAsync("unreachable");
    }

    [Fact]
    public async Task The_console_api_checks_input_and_credentials()
    {
        var id = NewCustomer();
        await new Ingestion.IngestionClient(fixture.Server.Channel).PublishAsync(new PublishRequest { Event = Game(id, 10, 1) });
        using var agent = new HttpClient();
        agent.DefaultRequestHeaders.Add(ApiKeys.Header, fixture.Agent.Key);
        var customer = $"{Console}api/customers/{id}";
        var noReason = await agent.PostAsJsonAsync($"{customer}/adjustments", new { actionId = "a-1", points = 30, reason = " " });
        Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        Assert.StartsWith("reason:", await noReason.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var unknownReward = await agent.PostAsJsonAsync($"{customer}/goodwill", new { actionId = "g-1", rewardId = "no-such-reward", reason = "sorry" });
        Assert.Equal(HttpStatusCode.NotFound, unknownReward.StatusCode);
        var noCase = await agent.PostAsJsonAsync($"{customer}/cases", new { caseId = "", satisfaction = 5 });
        Assert.Equal(HttpStatusCode.BadRequest, noCase.StatusCode);
        Assert.StartsWith("case_id:", await noCase.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var neverSeen = await agent.PostAsJsonAsync($"{Console}api/customers/nobody-{Guid.NewGuid():N}/goodwill", new { actionId = "g-2", rewardId = "apology-coupon", reason = "sorry" });
        Assert.Equal(HttpStatusCode.NotFound, neverSeen.StatusCode);
        Assert.Equal(10, (await Api.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).Summary.PointsAvailable);   // nothing changed
        Assert.Equal(HttpStatusCode.Redirect, (await new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }).GetAsync(Console.TrimEnd('/'))).StatusCode);

        using var anonymous = new HttpClient();
        foreach (var path in new[] { "session", $"customers/{id}", "program", "live" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"{Console}api/{path}")).StatusCode);
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsJsonAsync($"{customer}/adjustments", new { actionId = "a-2", points = 5, reason = "x" })).StatusCode);
        // The key's rate limit and source prefixes hold here as in the gRPC API.
        using var limited = new HttpClient();
        limited.DefaultRequestHeaders.Add(ApiKeys.Header, fixture.Limited.Key);
        var answers = new List<HttpResponseMessage>();
        for (var i = 0; i < 3; i++)
        {
            answers.Add(await limited.GetAsync($"{customer}"));
        }
        Assert.Equal(HttpStatusCode.TooManyRequests, answers[2].StatusCode);
        Assert.NotNull(answers[2].Headers.RetryAfter);
        using var desk = new HttpClient();
        desk.DefaultRequestHeaders.Add(ApiKeys.Header, fixture.DeskOnly.Key);
        var wrongSource = await desk.PostAsJsonAsync($"{customer}/cases", new { caseId = "case-1", satisfaction = 5 });
        Assert.Equal(HttpStatusCode.Forbidden, wrongSource.StatusCode);
        Assert.Contains("support-console", await wrongSource.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var unrated = await agent.PostAsJsonAsync($"{customer}/cases", new { caseId = "case-2", satisfaction = (int?)null });
        Assert.Equal(HttpStatusCode.OK, unrated.StatusCode);   // a case resolved without a rating is still a resolution
        var badRating = await agent.PostAsJsonAsync($"{customer}/cases", new { caseId = "case-3", satisfaction = 6 });
        Assert.Equal(HttpStatusCode.BadRequest, badRating.StatusCode);
        Assert.StartsWith("satisfaction:", await badRating.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal("no-store", (await agent.GetAsync($"{Console}api/session")).Headers.CacheControl?.ToString());

        var session = await agent.GetFromJsonAsync<System.Text.Json.JsonElement>($"{Console}api/session");
        Assert.Equal(AgentMay, session.GetProperty("may").EnumerateArray().Select(x => x.GetString()!));
    }

    private async Task<System.Text.Json.JsonElement> LiabilityAsync(HttpClient http, string query = "")
    {
        var response = await http.GetAsync($"{Console}api/liability{query}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        return await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
    }

    private static long L(System.Text.Json.JsonElement e, string name) => e.GetProperty(name).GetInt64();

    private static HttpClient As(ApiKeys.Created key)
    {
        var http = new HttpClient();
        http.DefaultRequestHeaders.Add(ApiKeys.Header, key.Key);
        return http;
    }

    /// <summary>Publishes purchases (and play) for new customers; their ids.</summary>
    private async Task<string[]> PublishPurchasesAsync(int customers)
    {
        var ids = Enumerable.Range(0, customers).Select(_ => NewCustomer()).ToArray();
        var batch = new PublishBatchRequest();
        for (var i = 0; i < ids.Length; i++)
        {
            batch.Events.Add(Purchase(ids[i], "o-liability", Line("stroller", "baby", 1 + i, 24999), Line("ball", "sports", 2, 1999)));
            batch.Events.Add(Game(ids[i], 10 * (i + 1), 2));
        }
        await new Ingestion.IngestionClient(fixture.Server.Channel).PublishBatchAsync(batch);
        return ids;
    }

    [Fact]
    public async Task The_liability_api_answers_what_was_published_as_the_grpc_api_does_and_names_the_field_of_a_bad_date()
    {
        using var finance = As(fixture.Finance);
        var before = await LiabilityAsync(finance);
        var ids = await PublishPurchasesAsync(3);
        var after = await LiabilityAsync(finance);
        var api = await new Contracts.V1.Reports.ReportsClient(fixture.Server.Channel).GetPointsLiabilityAsync(new GetPointsLiabilityRequest());

        // The points outstanding grew by exactly what the new customers hold (available + pending, as GetCustomer says).
        long held = 0;
        foreach (var id in ids)
        {
            var summary = (await Api.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).Summary;
            Assert.True(summary.PointsAvailable + summary.PointsPending > 0);
            held += summary.PointsAvailable + summary.PointsPending;
        }
        Assert.Equal(held, L(after, "pointsOutstanding") - L(before, "pointsOutstanding"));
        Assert.Equal(L(after, "pointsAvailable") + L(after, "pointsPending"), L(after, "pointsOutstanding"));
        Assert.Equal(ids.Length, L(after, "customers") - L(before, "customers"));
        Assert.Equal(ids.Length, L(after, "customersWithBalance") - L(before, "customersWithBalance"));
        Assert.True(L(after.GetProperty("period"), "issued") - L(before.GetProperty("period"), "issued") > 0, "today's points are in the period's issued");

        // The same report as the API's GetPointsLiability (nothing was published in between), under the same names.
        Assert.Equal(api.PointsOutstanding, L(after, "pointsOutstanding"));
        Assert.Equal(api.PointsAvailable, L(after, "pointsAvailable"));
        Assert.Equal(api.PointsPending, L(after, "pointsPending"));
        Assert.Equal(api.Customers, L(after, "customers"));
        Assert.Equal(api.CustomersWithBalance, L(after, "customersWithBalance"));
        Assert.Equal(api.Tiers.Select(t => (t.Tier, t.Customers, t.CustomersWithBalance, t.PointsAvailable, t.PointsPending)),
            after.GetProperty("tiers").EnumerateArray().Select(t => (t.GetProperty("tier").GetString()!, L(t, "customers"), L(t, "customersWithBalance"),
                L(t, "pointsAvailable"), L(t, "pointsPending"))));
        Assert.Equal(api.Tiers.Sum(t => t.PointsAvailable + t.PointsPending), L(after, "pointsOutstanding"));
        Assert.Equal(api.Expiring.Select(m => (m.Month, m.Points)),
            after.GetProperty("expiring").EnumerateArray().Select(m => (m.GetProperty("month").GetString()!, L(m, "points"))));
        Assert.Equal(12, after.GetProperty("expiring").GetArrayLength());
        Assert.Equal(api.ExpiringLater, L(after, "expiringLater"));
        Assert.Equal(api.ExpiringOverdue, L(after, "expiringOverdue"));
        Assert.Equal(api.Period.Issued, L(after.GetProperty("period"), "issued"));
        Assert.Equal(api.Period.Redeemed, L(after.GetProperty("period"), "redeemed"));
        Assert.Equal(api.Breakage, after.GetProperty("breakage").GetDouble());
        Assert.Equal((api.From, api.To), (after.GetProperty("from").GetString(), after.GetProperty("to").GetString()));
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        Assert.Equal(today, after.GetProperty("to").GetString());
        Assert.Equal(DateTime.UtcNow.AddDays(-29).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), after.GetProperty("from").GetString());
        Assert.Contains(after.GetProperty("days").EnumerateArray(), d => d.GetProperty("date").GetString() == today);

        // A range chosen: its movements only (nothing happened in January 2020), the totals as of now all the same.
        var old = await LiabilityAsync(finance, "?from=2020-01-01&to=2020-01-31");
        Assert.Equal(("2020-01-01", "2020-01-31"), (old.GetProperty("from").GetString(), old.GetProperty("to").GetString()));
        Assert.Equal(0, old.GetProperty("days").GetArrayLength());
        Assert.Equal(0, L(old.GetProperty("period"), "issued"));
        Assert.Equal(L(after, "pointsOutstanding"), L(old, "pointsOutstanding"));

        // Bad dates: 400 naming the field and why, as the console's other answers do.
        foreach (var (query, start) in new[] { ("?from=2024-13-01", "from:"), ("?to=yesterday", "to:"), ("?from=2025-02-01&to=2025-01-01", "from: is after to"),
            ("?from=1990-01-01&to=2025-01-01", "from: the range is longer") })
        {
            var bad = await finance.GetAsync($"{Console}api/liability{query}");
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.StartsWith(start, await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_liability_api_needs_reports_read_or_customers_admin_and_a_finance_key_gets_nothing_else()
    {
        var id = NewCustomer();
        await new Ingestion.IngestionClient(fixture.Server.Channel).PublishAsync(Req(Game(id, 10, 1)));
        using var anonymous = new HttpClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"{Console}api/liability")).StatusCode);
        foreach (var key in new[] { fixture.Agent, fixture.Reader })
        {
            using var other = As(key);
            var refused = await other.GetAsync($"{Console}api/liability");
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("reports:read or customers:admin", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using var admin = new HttpClient();
        admin.DefaultRequestHeaders.Add(ApiKeys.Header, TestKeys.Admin.Key);
        await LiabilityAsync(admin);

        // Finance: the report, and no customer, live activity or webhook endpoint.
        using var finance = As(fixture.Finance);
        await LiabilityAsync(finance);
        foreach (var path in new[] { $"customers/{id}", "live", "webhooks" })
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await finance.GetAsync($"{Console}api/{path}")).StatusCode);
        }
        var adjust = await finance.PostAsJsonAsync($"{Console}api/customers/{id}/adjustments", new { actionId = "f-1", points = 5, reason = "x" });
        Assert.Equal(HttpStatusCode.Forbidden, adjust.StatusCode);
        Assert.Equal(10, (await Api.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).Summary.PointsAvailable);

        // The session says which views each key is offered.
        async Task<string[]> ViewsOf(HttpClient http) => (await http.GetFromJsonAsync<System.Text.Json.JsonElement>($"{Console}api/session"))
            .GetProperty("views").EnumerateArray().Select(v => v.GetString()!).ToArray();
        Assert.Equal(["liability"], await ViewsOf(finance));
        using var agent = As(fixture.Agent);
        Assert.Equal(["customer", "program", "live", "webhooks"], await ViewsOf(agent));
        Assert.Equal(["customer", "program", "live", "webhooks", "liability"], await ViewsOf(admin));
        var session = await finance.GetFromJsonAsync<System.Text.Json.JsonElement>($"{Console}api/session");
        Assert.Equal(0, session.GetProperty("may").GetArrayLength());
    }

    [Fact]
    public async Task The_liability_view_shows_a_finance_key_the_report_and_nothing_else()
    {
        await PublishPurchasesAsync(4);
        var page = await fixture.NewPageAsync(1280, 1000);
        await page.GotoAsync(Console);
        await SignInAsync(page, fixture.Finance.Key, "finance-fay");
        await Expect(page.Locator("#view-liability")).ToBeVisibleAsync();
        await Expect(page.Locator("[data-field=liability-outstanding]")).Not.ToBeEmptyAsync();
        var report = await new Contracts.V1.Reports.ReportsClient(fixture.Server.Channel).GetPointsLiabilityAsync(new GetPointsLiabilityRequest());
        string G(long value) => value.ToString("#,0", CultureInfo.InvariantCulture);

        // Only the Liability view is offered; the others are not on the page.
        Assert.Equal(["Liability"], await page.Locator("nav button:visible").AllInnerTextsAsync());
        await Expect(page.Locator("#view-customer")).ToBeHiddenAsync();
        Assert.True(report.PointsOutstanding >= 1000, "enough points for a thousands separator");

        // The numbers are the API's, with thousands separators.
        await Expect(page.Locator("[data-field=liability-outstanding]")).ToHaveTextAsync(G(report.PointsOutstanding));
        await Expect(page.Locator("[data-field=liability-available]")).ToHaveTextAsync(G(report.PointsAvailable));
        await Expect(page.Locator("[data-field=liability-pending]")).ToHaveTextAsync(G(report.PointsPending));
        await Expect(page.Locator("[data-field=liability-with-balance]")).ToHaveTextAsync(G(report.CustomersWithBalance));
        await Expect(page.Locator("[data-field=liability-customers]")).ToHaveTextAsync(G(report.Customers));
        await Expect(page.Locator("[data-field=liability-breakage]")).ToHaveTextAsync((report.Breakage * 100).ToString("F2", CultureInfo.InvariantCulture) + " %");
        Assert.Equal(report.Tiers.Select(t => t.Tier), await DataOf(page, "#liability-tiers tr", "tier"));
        foreach (var t in report.Tiers)
        {
            await Expect(page.Locator($"#liability-tiers tr[data-tier='{t.Tier}'] td").Last).ToHaveTextAsync(G(t.PointsAvailable + t.PointsPending));
        }
        Assert.Equal(report.Expiring.Select(m => m.Month).Append("later").Append("overdue"), await DataOf(page, "#liability-expiring tr", "month"));
        await Expect(page.Locator($"#liability-expiring tr[data-month='{report.Expiring[0].Month}'] td.num")).ToHaveTextAsync(G(report.Expiring[0].Points));
        Assert.Equal(["issued", "activated", "redeemed", "expired", "adjusted", "reversed", "imported", "erased", "breakage"],
            await DataOf(page, "#liability-period tr", "movement"));
        await Expect(page.Locator("#liability-period tr[data-movement=issued] td.num")).ToHaveTextAsync(G(report.Period.Issued));
        await Expect(page.Locator("#liability-days tr").First).ToHaveAttributeAsync("data-day", report.To);
        await Expect(page.Locator("#liability-from")).ToHaveValueAsync(report.From);
        await Expect(page.Locator("#liability-to")).ToHaveValueAsync(report.To);
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, "console-liability.png"), FullPage = true });

        // Another period: its own movements (none in January 2020), the totals unchanged.
        await page.Locator("#liability-from").FillAsync("2020-01-01");
        await page.Locator("#liability-to").FillAsync("2020-01-31");
        await page.Locator("#liability-show").ClickAsync();
        await Expect(page.Locator("[data-field=liability-range]")).ToHaveTextAsync("2020-01-01 to 2020-01-31");
        await Expect(page.Locator("#liability-days")).ToContainTextAsync("no movements in this period");
        await Expect(page.Locator("#liability-period tr[data-movement=issued] td.num")).ToHaveTextAsync("0");
        await Expect(page.Locator("[data-field=liability-outstanding]")).ToHaveTextAsync(G(report.PointsOutstanding));
        // A range the engine refuses is said plainly.
        await page.Locator("#liability-from").FillAsync("2020-02-01");
        await page.Locator("#liability-show").ClickAsync();
        await Expect(page.Locator("#status")).ToContainTextAsync("from: is after to");
        await Expect(page.Locator("#status")).ToHaveClassAsync(new Regex("error"));
        // A link to a view the key is not offered (reloaded in the same tab, so still signed in) opens its own view.
        await page.GotoAsync(Console + "#customer=someone");
        await page.ReloadAsync();
        await Expect(page.Locator("[data-field=signed-in-as]")).ToHaveTextAsync("finance-fay");
        await Expect(page.Locator("#view-liability")).ToBeVisibleAsync();
        await Expect(page.Locator("#view-customer")).ToBeHiddenAsync();
        await Expect(page.Locator("[data-field=liability-outstanding]")).ToHaveTextAsync(G(report.PointsOutstanding));

        // Readable on a phone: the wide tables scroll in their cards, the page never sideways.
        var phone = await fixture.NewPageAsync(390, 844);
        await phone.GotoAsync(Console);
        await SignInAsync(phone, fixture.Finance.Key, "finance-fay");
        await Expect(phone.Locator("#liability-days tr").First).ToHaveAttributeAsync("data-day", report.To);
        Assert.True(await phone.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling on a narrow screen");

        // An agent is not offered the view; the admin is.
        var agent = await fixture.NewPageAsync();
        await agent.GotoAsync(Console);
        await SignInAsync(agent, fixture.Agent.Key, "agent-ann");
        await Expect(agent.Locator("nav button[data-view=webhooks]")).ToBeVisibleAsync();
        await Expect(agent.Locator("nav button[data-view=liability]")).ToBeHiddenAsync();
        var admin = await fixture.NewPageAsync();
        await admin.GotoAsync(Console);
        await SignInAsync(admin, TestKeys.Admin.Key, TestKeys.Admin.Id);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Liability" }).ClickAsync();
        await Expect(admin.Locator("[data-field=liability-outstanding]")).Not.ToBeEmptyAsync();
    }
}

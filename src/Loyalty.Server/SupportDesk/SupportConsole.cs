using Loyalty.Server.Application;
using System.Globalization;
using System.Text.Json;
using Loyalty.Domain;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Grains;
using Loyalty.Server.Auth;

namespace Loyalty.Server.SupportDesk;

/// <summary>What the agent submits when a case is resolved by a human (satisfaction 1..5, or null when not rated).</summary>
public sealed record ResolveCase(string? CaseId, int? Satisfaction);

/// <summary>An agent's correction of points; the reason is mandatory.</summary>
public sealed record AdjustPoints(string? ActionId, long Points, string? Reason);

/// <summary>An agent's goodwill: a catalogue reward, free, with a mandatory reason.</summary>
public sealed record GrantGoodwill(string? ActionId, string? RewardId, string? Reason);

/// <summary>
/// The support console: a page with its own script and style (static assets in wwwroot/console; no CDN, nothing
/// inline) on the operator port, and the JSON it reads. Every API call needs an API key in the <c>x-api-key</c> header with the scope the action needs
/// (the same scopes, source prefixes and rate limit as the gRPC API: an agent holds customers:read, ingest:support and
/// customers:care; finance holds reports:read, which opens the liability view only). The page keeps the agent's key in
/// session storage only. Every action is idempotent (a resolution by its case, adjustments and goodwill by an action id
/// the page makes once per form) and recorded in the audit log.
/// </summary>
public static class SupportConsole
{
    /// <summary>The source of the support_case events the console records (a key limited to other sources cannot).</summary>
    public const string Source = "support-console";
    private const string ResolutionPrefix = "console-resolution:";

    /// <summary>Scripts and styles from this server only: no inline script, no inline style, no eval.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>What the page offers, by the scope each needs.</summary>
    private static readonly (string Ability, string[] AnyOf)[] Abilities =
    [
        ("read", ["customers:read"]),
        ("resolve", ["ingest:support"]),
        ("adjust", ["customers:care", "customers:admin"]),
        ("goodwill", ["customers:care", "customers:admin"]),
    ];

    /// <summary>The views the page offers a key, by the scopes that open them: support staff (customers:read) get the
    /// customer, program, live and webhooks views (webhooks then says it needs an operator, whose data it is); operators
    /// get the program and webhooks; finance (reports:read) and customers:admin get the liability report. A finance key
    /// sees the liability view only. The API checks each call anyway: hiding a view is a convenience, not the guard.</summary>
    private static readonly (string View, string[] AnyOf)[] Views =
    [
        ("customer", ["customers:read"]),
        ("program", ["customers:read", "customers:admin", "programs:admin"]),
        ("live", ["customers:read"]),
        ("webhooks", ["customers:read", "customers:admin", "programs:admin"]),
        ("liability", ["reports:read", "customers:admin"]),
    ];

        private static IResult Text(int status, string text) => Results.Text(text, statusCode: status);

    private static IResult Invalid(FieldError error) => Text(StatusCodes.Status400BadRequest, $"{error.Field}: {error.Message}");

    private static IResult NotFound(string id) => Text(StatusCodes.Status404NotFound, $"customer '{id}' was never seen");

    private static ILogger Log(HttpContext context) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SupportConsole));

    /// <summary>Who calls: every console endpoint names its authorization policy, which has admitted the caller, and
    /// the rate limiting middleware has charged the key's bucket.</summary>
    private static Caller CallerOf(HttpContext context) =>
        Caller.From(context.User) ?? throw new InvalidOperationException("a console endpoint without an authorization policy");

    public static void Map(WebApplication app, LoyaltySettings settings, int operatorPort)
    {
        // The page, its script and its style are static assets (wwwroot/console, MapStaticAssets: compressed, with
        // ETags), under a CSP that allows no inline script or style at all.
        app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/console"))
            {
                context.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
                context.Response.Headers["X-Frame-Options"] = "DENY";
                context.Response.Headers.XContentTypeOptions = "nosniff";
                context.Response.Headers["Referrer-Policy"] = "no-referrer";
            }
            await next();
        });
        app.MapStaticAssets().OnPort(operatorPort);
        app.MapGet("/console/", (HttpContext context, IWebHostEnvironment host) =>
        {
            // Routing matches "/console" too; the page's relative paths need the slash.
            if (!context.Request.Path.Value!.EndsWith('/'))
            {
                return Results.Redirect("/console/");
            }
            context.Response.Headers.CacheControl = "no-store";
            return Results.Stream(host.WebRootFileProvider.GetFileInfo("console/index.html").CreateReadStream(), "text/html; charset=utf-8");
        }).OnPort(operatorPort);

        // Nothing the API answers is cached; an engine failure is a plain 503 (every action is safe to retry), never a bare 500.
        var api = app.MapGroup("/console/api").OnPort(operatorPort).AddEndpointFilter(async (invocation, next) =>
        {
            invocation.HttpContext.Response.Headers.CacheControl = "no-store";
            try
            {
                return await next(invocation);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Log(invocation.HttpContext).LogWarning(e, "Console call {Path} failed", invocation.HttpContext.Request.Path);
                return Text(StatusCodes.Status503ServiceUnavailable, "the engine could not complete this just now; try again (it will not count twice)");
            }
        });

        // Sign-in: who the key belongs to and what it may do on this page.
        api.MapGet("/session", (HttpContext context) =>
        {
            var holder = CallerOf(context);
            var may = Abilities.Where(a => holder.HasOneOf(a.AnyOf)).Select(a => a.Ability).ToList();
            var views = Views.Where(v => holder.HasOneOf(v.AnyOf)).Select(v => v.View).ToList();
            return Results.Json(new { id = holder.Id, scopes = holder.Scopes, may, views, careMaxAdjustPoints = holder.Has("customers:admin") ? (long?)null : settings.Auth.CareMaxAdjustPoints });
        }).RequireAuthorization(Scopes.Authenticated);

        api.MapGet("/customers/{id}", async (string id, HttpContext context, IGrainFactory grains) =>
        {
            if (EventValidator.Id(id, "customer_id") is { } error)
            {
                return Invalid(error);
            }
            var grain = grains.Customer(id);
            if (await grain.Get() is not { } view)
            {
                return NotFound(id);
            }
            var interactions = await grain.ListInteractions(10, null);
            var eligibility = await grain.Eligible();
            return Results.Json(new { view, interactions = interactions?.Interactions ?? [], eligibility }, DomainJson.Options);
        }).RequireAuthorization(Scopes.CustomersRead);

        // The active program, readable: tiers, rules and the rewards catalogue (any valid key, like GetProgram).
        api.MapGet("/program", (HttpContext context, IProgramCatalog programs) =>
        {
            var active = programs.Current;
            // The program as its author wrote it (comments dropped); the page renders it, never shows it raw.
            using var definition = JsonDocument.Parse(active.DefinitionJson, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            return Results.Json(new { version = active.Version, definition = definition.RootElement.Clone() }, DomainJson.Options);
        }).RequireAuthorization(Scopes.Authenticated);

        // Webhook endpoints across the cluster (operators only: URLs and errors are deployment details).
        api.MapGet("/webhooks", async (Loyalty.Server.Application.WebhookStatusQuery query, CancellationToken cancellationToken) =>
            Results.Json(new { endpoints = await query.GetAsync(cancellationToken) }, DomainJson.Options)).RequireAuthorization(Scopes.Operator);

        // The points liability (finance: reports:read or customers:admin): the same report, with the same names, as the
        // API's GetPointsLiability (GET /v1/reports/liability), for the movements of from..to (default: the last 30 days).
        api.MapGet("/liability", async (LiabilityReportQuery query, string? from, string? to, CancellationToken cancellationToken) =>
        {
            if (query.TryRange(from ?? "", to ?? "", out var start, out var end) is { } invalid)
            {
                return Invalid(invalid);
            }
            var r = Loyalty.Server.Reports.ReportsService.ToProto(await query.GetAsync(start, end, cancellationToken));
            return Results.Json(new
            {
                asOf = r.AsOf.ToDateTimeOffset(), r.PointsAvailable, r.PointsPending, r.PointsOutstanding, r.Customers, r.CustomersWithBalance,
                tiers = r.Tiers.Select(t => new { t.Tier, t.Customers, t.CustomersWithBalance, t.PointsAvailable, t.PointsPending }),
                expiring = r.Expiring.Select(m => new { m.Month, m.Points }), r.ExpiringLater, r.ExpiringOverdue,
                r.From, r.To, days = r.Days.Select(Movements), period = Movements(r.Period), r.Breakage,
            }, DomainJson.Options);
        }).RequireAuthorization(Scopes.Reports);

        // Events applied per second by source and rewards per minute, over the whole cluster: this silo's own counts
        // (fresh) and every other silo's latest report (at most a few seconds old).
        api.MapGet("/live", async (HttpContext context, LiveActivity live, IGrainFactory grains, ILocalSiloDetails silo,
            ILogger<LiveActivity> logger, int? seconds, int? minutes) =>
        {
            var me = silo.SiloAddress.ToString();
            LiveReport[] others;
            var complete = true;
            try
            {
                others = await grains.GetGrain<ILiveGrain>(0).Others(me);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "The cluster's live counts are unavailable; showing this silo only");
                (others, complete) = ([], false);
            }
            var now = live.Now;
            var snapshot = LiveActivity.Merge(now, seconds ?? 120, minutes ?? 30, [live.Report(me), .. others]);
            // Silos that reported within the last few intervals (a stopped silo's counts stay in the history).
            var active = 1 + others.Count(r => r.FirstSecond + r.Events.Length / LiveActivity.Sources.Length >= now.ToUnixTimeSeconds() - 10);
            return Results.Json(new { snapshot.Now, snapshot.Silos, activeSilos = active, snapshot.Seconds, snapshot.Minutes, complete,
                reportSeconds = (int)LiveReporter.Interval.TotalSeconds }, DomainJson.Options);
        }).RequireAuthorization(Scopes.CustomersRead);

        // An agent records how a support case ended: a normal support_case event (the rules decide the rewards). Its
        // event id is the case's, so a case's resolution is recorded once however often it is submitted.
        api.MapPost("/customers/{id}/cases", async (string id, ResolveCase body, HttpContext context, EventIntake intake,
            IProgramCatalog programs, EngineClock clock, AuditLog audit) =>
        {
            var holder = CallerOf(context);
            if (!holder.MaySend(Source))
            {
                return Text(StatusCodes.Status403Forbidden, $"key '{holder.Id}' may not send events from the source '{Source}'");
            }
            if (body.CaseId is { Length: > 100 })
            {
                return Invalid(new FieldError("case_id", "must be at most 100 characters"));
            }
            var e = new LoyaltyEvent
            {
                EventId = ResolutionPrefix + body.CaseId,
                CustomerId = id,
                OccurredAt = clock.GetUtcNow(),
                Source = Source,
                Payload = new SupportCase(body.CaseId ?? "", SupportStatus.Resolved, SupportChannel.Human, body.Satisfaction, 0, 0),
            };
            if (EventValidator.Validate(e, programs.Current, clock.GetUtcNow()) is { } error)
            {
                return Invalid(error.Field.StartsWith("event.support_case.", StringComparison.Ordinal) ? error with { Field = error.Field["event.support_case.".Length..] } : error);
            }
            var result = await intake.ApplyAsync(e);   // counted in the metrics and the live view as any event
            await Record(context, audit, clock, holder, "Console/ResolveCase", id, result.Outcome.ToString(),
                $"case '{body.CaseId}', satisfaction {body.Satisfaction?.ToString(CultureInfo.InvariantCulture) ?? "not rated"}", null);
            return result.Outcome == EventOutcome.Rejected
                ? Text(StatusCodes.Status400BadRequest, $"{result.ErrorField}: {result.Error}")
                : Results.Json(result, DomainJson.Options);
        }).RequireAuthorization(Scopes.ResolveCases);

        // Adjust points with a mandatory reason; the action id makes a double submit count once. Agents (care without
        // admin) are held to Loyalty:Auth:CareMaxAdjustPoints per adjustment, as in the gRPC API.
        api.MapPost("/customers/{id}/adjustments", async (string id, AdjustPoints body, HttpContext context, CustomerCare care) =>
        {
            var holder = CallerOf(context);
            return await Cared(id, () => care.AdjustAsync(CareCaller(holder), id, "action_id", body.ActionId ?? "", body.Points, body.Reason ?? ""));
        }).RequireAuthorization(Scopes.Care);

        // Grant a catalogue reward as goodwill, with a mandatory reason; the action id makes a double submit count once.
        api.MapPost("/customers/{id}/goodwill", async (string id, GrantGoodwill body, HttpContext context, CustomerCare care) =>
        {
            var holder = CallerOf(context);
            return await Cared(id, () => care.GrantGoodwillAsync(CareCaller(holder), id, "action_id", body.ActionId ?? "", body.RewardId ?? "", body.Reason ?? ""));
        }).RequireAuthorization(Scopes.Care);
    }

    /// <summary>A day's (or the period's) movements as the JSON API writes them.</summary>
    private static object Movements(Loyalty.Contracts.V1.DayMovements m) => new
    {
        m.Date, m.Issued, m.IssuedPending, m.Redeemed, m.Expired, m.Adjusted, m.Reversed, m.Imported, m.Erased, m.Activated,
    };

    private static CareCaller CareCaller(Caller holder) => new(holder.Id, holder.Has("customers:admin"), "console");

    /// <summary>Runs a care action (the same application code as the gRPC API: validation, caps, daily totals, the
    /// grain call, metrics, audit) and answers it over HTTP.</summary>
    private static async Task<IResult> Cared(string id, Func<Task<OperationResult?>> run)
    {
        try
        {
            return Answer(id, await run());
        }
        catch (CareInvalidException e)
        {
            return Invalid(e.Error);
        }
        catch (CareRefusedException e)
        {
            return Text(StatusCodes.Status403Forbidden, e.Message);
        }
        catch (UnknownRewardException e)
        {
            return Text(StatusCodes.Status404NotFound, e.Message);
        }
    }

    /// <summary>An operation's answer: 404 for a customer never seen, 409 with the reason when refused, else the result.</summary>
    private static IResult Answer(string id, OperationResult? result) => result switch
    {
        null => NotFound(id),
        { Outcome: OperationOutcome.Refused } => Text(StatusCodes.Status409Conflict, result.Reason ?? "refused"),
        _ => Results.Json(result, DomainJson.Options),
    };

    /// <summary>Records an action in the audit log. The action has happened by then: a failed audit write is logged,
    /// never turned into an error for an operation that succeeded.</summary>
    private static async Task Record(HttpContext context, AuditLog audit, EngineClock clock, Caller holder, string action,
        string customerId, string outcome, string detail, string? reason)
    {
        try
        {
            await audit.RecordAsync(clock.GetUtcNow(), holder.Id, action, "", outcome, detail, customerId, reason);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log(context).LogError(e, "Audit entry lost: {Caller} {Action} {Outcome}", holder.Id, action, outcome);
        }
    }
}

using System.Text.Json;
using Loyalty.Domain;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Grains;
using Loyalty.Server.Auth;

namespace Loyalty.Server.SupportDesk;

/// <summary>What the agent submits when a case is resolved by a human.</summary>
public sealed record ResolveCase(string? ActionId, string? CaseId, int? Satisfaction);

/// <summary>An agent's correction of points; the reason is mandatory.</summary>
public sealed record AdjustPoints(string? ActionId, long Points, string? Reason);

/// <summary>An agent's goodwill: a catalogue reward, free, with a mandatory reason.</summary>
public sealed record GrantGoodwill(string? ActionId, string? RewardId, string? Reason);

/// <summary>
/// The support console: one self-contained page (no CDN; every asset is served here) on the operator port, and the
/// JSON it reads. Every API call needs an API key in the <c>x-api-key</c> header with the scope the action needs
/// (the same scopes as the gRPC API: an agent holds customers:read, ingest:support and customers:care). The page keeps
/// the agent's key in session storage only. Every action carries an action id made once per form, so a double submit
/// is the same operation: applied once. Actions are recorded in the audit log.
/// </summary>
public static class SupportConsole
{
    private static readonly Lazy<string> Page = new(() =>
    {
        using var stream = typeof(SupportConsole).Assembly.GetManifestResourceStream("Loyalty.Server.SupportDesk.console.html")
            ?? throw new InvalidOperationException("the console page is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    /// <summary>What the page offers, by the scope each needs.</summary>
    private static readonly (string Ability, string[] AnyOf)[] Abilities =
    [
        ("read", ["customers:read"]),
        ("resolve", ["ingest:support"]),
        ("adjust", ["customers:care", "customers:admin"]),
        ("goodwill", ["customers:care", "customers:admin"]),
    ];

    private static IResult Refused((int Status, string Why) refused) => Results.Text(refused.Why, statusCode: refused.Status);

    private static IResult Invalid(FieldError error) => Results.Text($"{error.Field}: {error.Message}", statusCode: StatusCodes.Status400BadRequest);

    private static IResult NotFound(string id) => Results.Text($"customer '{id}' was never seen", statusCode: StatusCodes.Status404NotFound);

    private static string? KeyOf(HttpContext context) => context.Request.Headers[Contracts.ApiKeys.Header].FirstOrDefault();

    public static void Map(WebApplication app, LoyaltySettings settings, string operatorHost)
    {
        app.MapGet("/console/", (HttpContext context) =>
        {
            context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:";
            context.Response.Headers.CacheControl = "no-store";
            context.Response.Headers["X-Frame-Options"] = "DENY";
            return Results.Content(Page.Value, "text/html; charset=utf-8");
        }).RequireHost(operatorHost);

        // Sign-in: who the key belongs to and what it may do on this page.
        app.MapGet("/console/api/session", (HttpContext context) =>
        {
            if (OperatorAccess.Identify(settings, KeyOf(context)) is not { } holder)
            {
                return Results.Text(string.IsNullOrEmpty(KeyOf(context)) ? "an API key is required" : "unknown or wrong API key",
                    statusCode: StatusCodes.Status401Unauthorized);
            }
            var may = Abilities.Where(a => holder.Scopes.Any(s => s == "*" || a.AnyOf.Contains(s))).Select(a => a.Ability).ToList();
            return Results.Json(new { id = holder.Id, scopes = holder.Scopes, may });
        }).RequireHost(operatorHost);

        app.MapGet("/console/api/customers/{id}", async (string id, HttpContext context, IGrainFactory grains) =>
        {
            if (OperatorAccess.Check(settings, KeyOf(context), "customers:read") is { } refused)
            {
                return Refused(refused);
            }
            if (EventValidator.Id(id, "customer_id") is { } error)
            {
                return Invalid(error);
            }
            var grain = grains.GetGrain<ICustomerGrain>(id);
            if (await grain.Get() is not { } view)
            {
                return NotFound(id);
            }
            var interactions = await grain.ListInteractions(10, null);
            var eligibility = await grain.Eligible();
            return Results.Json(new { view, interactions = interactions?.Interactions ?? [], eligibility }, DomainJson.Options);
        }).RequireHost(operatorHost);

        // The active program, readable: tiers, rules and the rewards catalogue (any valid key, like GetProgram).
        app.MapGet("/console/api/program", (HttpContext context, IProgramCatalog programs) =>
        {
            if (OperatorAccess.Identify(settings, KeyOf(context)) is null)
            {
                return Refused((StatusCodes.Status401Unauthorized, "an API key is required"));
            }
            var active = programs.Current;
            // The program as its author wrote it (comments dropped); the page renders it, never shows it raw.
            using var definition = JsonDocument.Parse(active.DefinitionJson, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            return Results.Json(new { version = active.Version, definition = definition.RootElement.Clone() }, DomainJson.Options);
        }).RequireHost(operatorHost);

        // Events applied per second by source and rewards per minute, over the whole cluster: this silo's own counts
        // (fresh) and every other silo's latest report (at most a few seconds old).
        app.MapGet("/console/api/live", async (HttpContext context, LiveActivity live, IGrainFactory grains, ILocalSiloDetails silo,
            ILogger<LiveActivity> logger, int? seconds, int? minutes) =>
        {
            if (OperatorAccess.Check(settings, KeyOf(context), "customers:read") is { } refused)
            {
                return Refused(refused);
            }
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
            var snapshot = LiveActivity.Merge(live.Now, seconds ?? 120, minutes ?? 30, [live.Report(me), .. others]);
            return Results.Json(new { snapshot.Now, snapshot.Silos, snapshot.Seconds, snapshot.Minutes, complete }, DomainJson.Options);
        }).RequireHost(operatorHost);

        // An agent records how a support case ended: a normal support_case event (the rules decide the rewards).
        app.MapPost("/console/api/customers/{id}/cases", async (string id, ResolveCase body, HttpContext context, IGrainFactory grains,
            IProgramCatalog programs, EngineClock clock, AuditLog audit, LiveActivity live) =>
        {
            if (OperatorAccess.Check(settings, KeyOf(context), "ingest:support") is { } refused)
            {
                return Refused(refused);
            }
            var e = new LoyaltyEvent
            {
                EventId = body.ActionId ?? "",
                CustomerId = id,
                OccurredAt = clock.GetUtcNow(),
                Source = "support-console",
                Payload = new SupportCase(body.CaseId ?? "", SupportStatus.Resolved, SupportChannel.Human, body.Satisfaction, 0, 0),
            };
            if (EventValidator.Validate(e, programs.Current, clock.GetUtcNow()) is { } error)
            {
                return Invalid(error);
            }
            var result = (await grains.GetGrain<ICustomerGrain>(id).Apply([e]))[0];
            if (result.Outcome == EventOutcome.Applied)
            {
                live.Applied("support_case", result.Rewards.Count);
            }
            await Record(audit, clock, context, "Console/ResolveCase", id, result.Outcome.ToString(),
                $"case '{body.CaseId}', satisfaction {body.Satisfaction}, action {body.ActionId}");
            return Results.Json(result, DomainJson.Options);
        }).RequireHost(operatorHost);

        // Adjust points with a mandatory reason; the action id makes a double submit count once.
        app.MapPost("/console/api/customers/{id}/adjustments", async (string id, AdjustPoints body, HttpContext context, IGrainFactory grains,
            EngineClock clock, AuditLog audit) =>
        {
            if (OperatorAccess.Check(settings, KeyOf(context), "customers:care", "customers:admin") is { } refused)
            {
                return Refused(refused);
            }
            if ((EventValidator.Id(id, "customer_id") ?? EventValidator.Id(body.ActionId, "action_id")
                ?? CustomerOperations.CheckAdjustment(body.Points, body.Reason)) is { } error)
            {
                return Invalid(error);
            }
            var result = await grains.GetGrain<ICustomerGrain>(id).Adjust(body.ActionId!, body.Points, body.Reason!);
            await Record(audit, clock, context, "Console/Adjust", id, result?.Outcome.ToString() ?? "NotFound",
                $"points {body.Points}, reason '{body.Reason}', action {body.ActionId}");
            return result is null ? NotFound(id) : Results.Json(result, DomainJson.Options);
        }).RequireHost(operatorHost);

        // Grant a catalogue reward as goodwill, with a mandatory reason; the action id makes a double submit count once.
        app.MapPost("/console/api/customers/{id}/goodwill", async (string id, GrantGoodwill body, HttpContext context, IGrainFactory grains,
            IProgramCatalog programs, EngineClock clock, AuditLog audit, LiveActivity live) =>
        {
            if (OperatorAccess.Check(settings, KeyOf(context), "customers:care", "customers:admin") is { } refused)
            {
                return Refused(refused);
            }
            if ((EventValidator.Id(id, "customer_id") ?? EventValidator.Id(body.ActionId, "action_id")
                ?? EventValidator.Id(body.RewardId, "reward_id") ?? CustomerOperations.CheckReason(body.Reason)) is { } error)
            {
                return Invalid(error);
            }
            if (!programs.Current.Rewards.ContainsKey(body.RewardId!))
            {
                return Results.Text($"reward '{body.RewardId}' is not in the catalogue", statusCode: StatusCodes.Status404NotFound);
            }
            var result = await grains.GetGrain<ICustomerGrain>(id).GrantGoodwill(body.ActionId!, body.RewardId!, body.Reason!);
            await Record(audit, clock, context, "Console/GrantGoodwill", id, result?.Outcome.ToString() ?? "NotFound",
                $"reward '{body.RewardId}', reason '{body.Reason}', action {body.ActionId}");
            if (result is null)
            {
                return NotFound(id);
            }
            if (result.Outcome == OperationOutcome.Refused)
            {
                return Results.Text(result.Reason ?? "refused", statusCode: StatusCodes.Status409Conflict);
            }
            if (result.Outcome == OperationOutcome.Applied)
            {
                live.Granted(1);
            }
            return Results.Json(result, DomainJson.Options);
        }).RequireHost(operatorHost);
    }

    private static Task Record(AuditLog audit, EngineClock clock, HttpContext context, string action, string target, string outcome, string detail) =>
        audit.RecordAsync(clock.GetUtcNow(), OperatorAccess.Identify(context.RequestServices.GetRequiredService<LoyaltySettings>(), KeyOf(context))?.Id ?? "console",
            action, target, outcome, detail);
}

using Loyalty.Domain;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Grains;
using Loyalty.Server.Auth;

namespace Loyalty.Server.SupportDesk;

/// <summary>
/// The support console: one self-contained page (no CDN; every asset is served here) on the operator port, and the
/// JSON it reads. Every API call needs an API key with <c>customers:read</c> in the <c>x-api-key</c> header; the page
/// keeps the agent's key in session storage only.
/// </summary>
/// <summary>What the agent submits when a case is resolved by a human.</summary>
public sealed record ResolveCase(string? ActionId, string? CaseId, int? Satisfaction);

/// <summary>An agent's correction of points; the reason is mandatory.</summary>
public sealed record AdjustPoints(string? ActionId, long Points, string? Reason);

public static class SupportConsole
{
    private static readonly Lazy<string> Page = new(() =>
    {
        using var stream = typeof(SupportConsole).Assembly.GetManifestResourceStream("Loyalty.Server.SupportDesk.console.html")
            ?? throw new InvalidOperationException("the console page is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    public static void Map(WebApplication app, LoyaltySettings settings, string operatorHost)
    {
        app.MapGet("/console/", (HttpContext context) =>
        {
            context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'";
            context.Response.Headers.CacheControl = "no-store";
            return Results.Content(Page.Value, "text/html; charset=utf-8");
        }).RequireHost(operatorHost);
        app.MapGet("/console/api/customers/{id}", async (string id, HttpContext context, IGrainFactory grains) =>
        {
            if (OperatorAccess.Check(settings, context.Request.Headers[Contracts.ApiKeys.Header].FirstOrDefault(), "customers:read") is { } refused)
            {
                return Results.Text(refused.Why, statusCode: refused.Status);
            }
            if (EventValidator.Id(id, "customer_id") is { } error)
            {
                return Results.Text($"{error.Field}: {error.Message}", statusCode: StatusCodes.Status400BadRequest);
            }
            var grain = grains.GetGrain<ICustomerGrain>(id);
            if (await grain.Get() is not { } view)
            {
                return Results.Text($"customer '{id}' was never seen", statusCode: StatusCodes.Status404NotFound);
            }
            var interactions = await grain.ListInteractions(10, null);
            return Results.Json(new { view, interactions = interactions?.Interactions ?? [] }, DomainJson.Options);
        }).RequireHost(operatorHost);

        // An agent records how a support case ended: a normal support_case event (the rules decide the rewards). The
        // page makes one action id per form, so a double submit is the same event: applied once, then DUPLICATE.
        app.MapPost("/console/api/customers/{id}/cases", async (string id, ResolveCase body, HttpContext context, IGrainFactory grains,
            IProgramCatalog programs, EngineClock clock, AuditLog audit) =>
        {
            var key = context.Request.Headers[Contracts.ApiKeys.Header].FirstOrDefault();
            if (OperatorAccess.Check(settings, key, "ingest:support") is { } refused)
            {
                return Results.Text(refused.Why, statusCode: refused.Status);
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
                return Results.Text($"{error.Field}: {error.Message}", statusCode: StatusCodes.Status400BadRequest);
            }
            var result = (await grains.GetGrain<ICustomerGrain>(id).Apply([e]))[0];
            await audit.RecordAsync(clock.GetUtcNow(), Contracts.ApiKeys.IdOf(key!) ?? "console", "Console/ResolveCase", id,
                result.Outcome.ToString(), $"case '{body.CaseId}', satisfaction {body.Satisfaction}, action {body.ActionId}");
            return Results.Json(result, DomainJson.Options);
        }).RequireHost(operatorHost);

        // Adjust points with a mandatory reason (customers:admin); the action id makes a double submit count once.
        app.MapPost("/console/api/customers/{id}/adjustments", async (string id, AdjustPoints body, HttpContext context, IGrainFactory grains,
            EngineClock clock, AuditLog audit) =>
        {
            var key = context.Request.Headers[Contracts.ApiKeys.Header].FirstOrDefault();
            if (OperatorAccess.Check(settings, key, "customers:admin") is { } refused)
            {
                return Results.Text(refused.Why, statusCode: refused.Status);
            }
            if ((EventValidator.Id(id, "customer_id") ?? EventValidator.Id(body.ActionId, "action_id")
                ?? CustomerOperations.CheckAdjustment(body.Points, body.Reason)) is { } error)
            {
                return Results.Text($"{error.Field}: {error.Message}", statusCode: StatusCodes.Status400BadRequest);
            }
            var result = await grains.GetGrain<ICustomerGrain>(id).Adjust(body.ActionId!, body.Points, body.Reason!);
            await audit.RecordAsync(clock.GetUtcNow(), Contracts.ApiKeys.IdOf(key!) ?? "console", "Console/Adjust", id,
                result?.Outcome.ToString() ?? "NotFound", $"points {body.Points}, reason '{body.Reason}', action {body.ActionId}");
            return result is null
                ? Results.Text($"customer '{id}' was never seen", statusCode: StatusCodes.Status404NotFound)
                : Results.Json(result, DomainJson.Options);
        }).RequireHost(operatorHost);
    }
}

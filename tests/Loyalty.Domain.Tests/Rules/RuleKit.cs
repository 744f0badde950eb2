using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>
/// Programs for rule tests: the sample program (base earning, tiers, Europe/Berlin) with a rewards catalogue and
/// rules written as JSON, the way an operator writes them, and loaded through <see cref="ProgramLoader"/>.
/// </summary>
internal static class RuleKit
{
    /// <summary>The perk a condition test's only rule grants: a way to see that the rule fired that does not
    /// depend on point arithmetic.</summary>
    public const string Marker = "rule-fired";

    private static readonly JsonDocumentOptions SampleOptions = new() { CommentHandling = JsonCommentHandling.Skip };

    /// <summary>One of each reward kind (and a currency reward without a fixed amount, for scaled grants).</summary>
    public const string Catalogue = """
        [
          { "id": "baby-5", "description": "5.00 off baby care",
            "coupon": { "valueMinor": 500, "categories": ["baby"], "validityDays": 30, "codePrefix": "BABY" } },
          { "id": "sports-15", "description": "15 % off sports gear",
            "coupon": { "percent": 15, "categories": ["sports"], "validityDays": 7 } },
          { "id": "golden-knight", "description": "Golden knight", "gameItem": { "gameId": "chess", "itemId": "golden-knight" } },
          { "id": "gems-50", "description": "50 gems", "currency": { "gameId": "chess", "amount": 50 } },
          { "id": "gems", "description": "Gems for effort", "currency": { "gameId": "chess" } },
          { "id": "priority", "description": "Priority human support",
            "perk": { "name": "priority_human_support", "durationDays": 30 } }
        ]
        """;

    /// <summary>The sample program's JSON with <paramref name="rules"/> and <paramref name="rewards"/> (JSON arrays)
    /// in place of its own; <paramref name="edit"/> may change anything else.</summary>
    public static string ProgramJson(string rules, string rewards = "[]", Action<JsonObject>? edit = null)
    {
        var root = JsonNode.Parse(Sample.Json, documentOptions: SampleOptions)!.AsObject();
        root["rewards"] = JsonNode.Parse(rewards);
        root["rules"] = JsonNode.Parse(rules);
        edit?.Invoke(root);
        return root.ToJsonString();
    }

    public static ActiveProgram Program(string rules, string rewards = "[]") =>
        ProgramLoader.Parse(ProgramJson(rules, rewards), "test.json");

    /// <summary>A rule "r" listening to <paramref name="when"/> (a JSON string list) that grants the marker perk
    /// when <paramref name="condition"/> holds.</summary>
    public static string MarkerRule(string condition, string when = "\"any\"") =>
        $$"""{ "id": "r", "when": [{{when}}], "if": {{condition}}, "then": [{ "grantPerk": { "perk": "{{Marker}}" } }] }""";

    /// <summary>A fresh customer under a program whose only rule grants the marker when the condition holds.</summary>
    public static TestCustomer CustomerWhen(string condition, string when = "\"any\"", string id = "c-1") =>
        new(program: Program($"[{MarkerRule(condition, when)}]"), id: id);

    /// <summary>Applies the event (which must be applied) and tells whether the marker rule fired.</summary>
    public static bool Fires(this TestCustomer customer, EventPayload payload, DateTimeOffset? occurredAt = null) =>
        Fired(customer.Apply(payload, occurredAt: occurredAt));

    public static bool Fired(EventResult result)
    {
        Assert.True(result.Outcome == EventOutcome.Applied, $"expected Applied, got {result.Outcome}: {result.Error}");
        return result.Perks.Any(p => p.Name == Marker);
    }

    public static EventResult Applied(this TestCustomer customer, EventPayload payload, DateTimeOffset? occurredAt = null) =>
        customer.Applied(customer.Event(payload, occurredAt: occurredAt));

    public static EventResult Applied(this TestCustomer customer, LoyaltyEvent e)
    {
        var result = customer.Apply(e);
        Assert.True(result.Outcome == EventOutcome.Applied, $"expected Applied, got {result.Outcome}: {result.Error}");
        return result;
    }

    public static DateTimeOffset Utc(string iso) =>
        DateTimeOffset.Parse(iso, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    /// <summary>The errors of a program that must not load.</summary>
    public static IReadOnlyList<ProgramError> Errors(string json) =>
        Assert.Throws<ProgramValidationException>(() => ProgramLoader.Parse(json, "test.json")).Errors;
}

using System.Globalization;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;
using Loyalty.Domain.Rules;
using Loyalty.TestKit;

namespace Loyalty.Benchmarks;

/// <summary>
/// One event against a 100-rule program, in the pure domain (what a customer grain does per event, minus storage).
/// The customer has a realistic history: 200 purchases over 90 days, game and support activity, a full dedupe table.
/// </summary>
[MemoryDiagnoser]
public class RuleEvaluationBenchmarks
{
    private ActiveProgram _program = null!;
    private CustomerState _customer = null!;
    private LoyaltyEvent _purchase = null!;
    private LoyaltyEvent _game = null!;
    private readonly DateTimeOffset _now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private long _n;

    [GlobalSetup]
    public void Setup()
    {
        _program = ProgramLoader.Parse(HundredRuleProgram(), "100-rule benchmark program");
        _customer = new CustomerState();
        var rng = new Random(42);
        string[] categories = ["baby", "sports", "toys", "home", "books", "garden", "electronics", "food"];
        for (var i = 0; i < 3000; i++)
        {
            var at = _now.AddMinutes(-(3000 - i) * 10);
            EventPayload payload = (i % 3) switch
            {
                0 => new Purchase($"o-{i}", "EUR", [new LineItem($"sku-{i}", categories[rng.Next(categories.Length)], 1 + rng.Next(3), 500 + rng.Next(5000))]),
                1 => new GameSession("arena", 60 * (5 + rng.Next(60)), 1 + rng.Next(10), rng.Next(10_000)),
                _ => new SupportCase($"case-{i}", SupportStatus.Resolved, SupportChannel.Human, 1 + rng.Next(5), rng.Next(8), rng.Next(900)),
            };
            CustomerEngine.Apply(_customer, new LoyaltyEvent { EventId = $"warm-{i}", CustomerId = "bench", OccurredAt = at, Source = "bench", Payload = payload },
                _program, at, EngineLimits.Default);
        }
        _purchase = new LoyaltyEvent
        {
            EventId = "p", CustomerId = "bench", OccurredAt = _now, Source = "shop-eu-1",
            Payload = new Purchase("bench-order", "EUR", [new LineItem("stroller", "baby", 1, 24999), new LineItem("ball", "sports", 2, 1999), new LineItem("bib", "baby", 3, 399)]),
        };
        _game = new LoyaltyEvent { EventId = "g", CustomerId = "bench", OccurredAt = _now, Source = "game-server-7", Payload = new GameSession("arena", 1800, 4, 9000) };

        // The benchmarks must measure real work: the events are valid and rules do fire.
        var probe = CustomerEngine.Apply(_customer.Snapshot(), _game with { EventId = "probe" }, _program, _now, EngineLimits.Default);
        if (probe.Outcome != EventOutcome.Applied || Evaluate_100_rules_for_a_purchase().FiredRules.Count == 0)
        {
            throw new InvalidOperationException($"benchmark setup is wrong: {probe.Outcome} {probe.Error}");
        }
    }

    /// <summary>Evaluates the 100 rules (all conditions, limits and effects) for a purchase; the rules change the
    /// state only through bounded lists, so repeated runs stay in a steady state.</summary>
    [Benchmark(Baseline = true)]
    public RuleOutcome Evaluate_100_rules_for_a_purchase() =>
        RuleEngine.Apply(_customer, _purchase, _program, _now, EngineLimits.Default, basePoints: 600);

    [Benchmark]
    public RuleOutcome Evaluate_100_rules_for_a_game_session() =>
        RuleEngine.Apply(_customer, _game, _program, _now, EngineLimits.Default, basePoints: 120);

    /// <summary>The whole apply: validation, dedupe, base earning, aggregates, the 100 rules, bookkeeping.</summary>
    [Benchmark]
    public EventResult Apply_one_game_session_end_to_end() =>
        CustomerEngine.Apply(_customer, _game with { EventId = "g-" + (++_n).ToString(CultureInfo.InvariantCulture), OccurredAt = _now.AddTicks(_n) }, _program, _now.AddTicks(_n), EngineLimits.Default);

    /// <summary>The sample program with 100 rules: a realistic mix of purchase, game and support rules with
    /// nested conditions; a few fire for the benchmark events, most do not.</summary>
    public static string HundredRuleProgram()
    {
        var program = JsonNode.Parse(File.ReadAllText(RepoPaths.SampleProgram), documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!;
        var rules = new JsonArray();
        string[] categories = ["baby", "sports", "toys", "home", "books", "garden", "electronics", "food"];
        for (var i = 0; i < 100; i++)
        {
            var category = categories[i % categories.Length];
            var template = (i % 4) switch
            {
                0 => """{"id":"r@I","when":["purchase"],"if":{"all":[{"categoryIn":["@C"]},{"categoryShareAtLeast":{"category":"@C","share":0.@S,"days":90}},{"orderValueAtLeast":@V}]},"then":[{"addPoints":@I}],"limits":{"maxPerCustomer":50,"periodDays":1}}""",
                1 => """{"id":"r@I","when":["purchase","game_session"],"if":{"any":[{"tierAtLeast":"Gold"},{"pointsLifetimeAtLeast":@L},{"not":{"dayOfWeekIn":["sunday"]}}]},"then":[{"multiplyBasePoints":1.@M}]}""",
                2 => """{"id":"r@I","when":["game_session"],"if":{"all":[{"gameIdIn":["arena","chess"]},{"difficultyAtLeast":@D},{"gameMinutesAtLeast":{"minutes":@G,"days":30}},{"hourBetween":{"from":8,"to":22}}]},"then":[{"pointsPerMinuteTimesDifficulty":0.5}]}""",
                _ => """{"id":"r@I","when":["support_case","purchase"],"if":{"all":[{"supportContactsAtLeast":{"contacts":@K,"days":30}},{"any":[{"ageAtLeast":65},{"accessibilityNeeds":true},{"satisfactionAtLeast":4}]}]},"then":[{"addPoints":5}],"limits":{"cooldownHours":1}}""",
            };
            string Num(int n) => n.ToString(CultureInfo.InvariantCulture);
            var rule = Node(template
                .Replace("@I", Num(i), StringComparison.Ordinal).Replace("@C", category, StringComparison.Ordinal)
                .Replace("@S", Num(i % 9 + 1), StringComparison.Ordinal).Replace("@V", Num(i * 100), StringComparison.Ordinal)
                .Replace("@L", Num(i * 1000), StringComparison.Ordinal).Replace("@M", Num(i % 5), StringComparison.Ordinal)
                .Replace("@D", Num(i % 10 + 1), StringComparison.Ordinal).Replace("@G", Num(i * 10), StringComparison.Ordinal)
                .Replace("@K", Num(i % 7 + 1), StringComparison.Ordinal));
            rules.Add(rule);
        }
        program["rules"] = rules;
        return program.ToJsonString();
    }

    private static JsonNode Node(string json) => JsonNode.Parse(json)!;
}

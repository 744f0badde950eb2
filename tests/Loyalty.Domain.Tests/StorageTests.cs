using System.Text.Json;
using System.Text.Json.Nodes;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

public class StorageTests
{
    /// <summary>Berlin's calendar day of the scenario (2026-11-25), as stored.</summary>
    private static readonly int ScenarioDay = new DateOnly(2026, 11, 25).DayNumber;

    private static readonly string GoldenPath = Path.Combine(AppContext.BaseDirectory, "golden", "customer-state-v1.json");

    private static CustomerState RoundTrip(CustomerState state) =>
        JsonSerializer.Deserialize<CustomerState>(JsonSerializer.Serialize(state, DomainJson.Options), DomainJson.Options)!;

    [Fact]
    public void State_round_trips_through_domain_json_and_behaves_the_same()
    {
        var (original, _) = Scenario.Run();

        var copy = RoundTrip(original);

        Assert.Equal(TestCustomer.Serialized(original), TestCustomer.Serialized(copy));
        Assert.Equal(CustomerSummary.Of(original), CustomerSummary.Of(copy));
        Assert.True(copy.Exists);
        // The seen ids still answer as duplicates after loading, with what each did.
        foreach (var e in Scenario.Events)
        {
            var result = CustomerEngine.Apply(copy, e, Sample.Program, Sample.Now, EngineLimits.Default);
            Assert.Equal(EventOutcome.Duplicate, result.Outcome);
            Assert.Equal(original.FindSeen(e.EventId)!.Value.PointsDelta, result.PointsDelta);
        }
    }

    [Fact]
    public void Loaded_state_continues_exactly_as_the_live_one()
    {
        var (live, _) = Scenario.Run();
        var loaded = RoundTrip(live);
        LoyaltyEvent[] next =
        [
            new() { EventId = "evt-9", CustomerId = Scenario.CustomerId, OccurredAt = Sample.Now.AddMinutes(-1), Payload = Refund("o-1", Line("stroller-wheel", "baby", 1, 1250)) },
            new() { EventId = "evt-10", CustomerId = Scenario.CustomerId, OccurredAt = Sample.Now.AddMinutes(-1), Payload = Achieved("first-win") },
            new() { EventId = "evt-11", CustomerId = Scenario.CustomerId, OccurredAt = Sample.Now.AddMinutes(-1), Payload = Support("k-1", SupportStatus.Resolved, SupportChannel.Bot) },
        ];

        foreach (var e in next)
        {
            var a = CustomerEngine.Apply(live, e, Sample.Program, Sample.Now, EngineLimits.Default);
            var b = CustomerEngine.Apply(loaded, e, Sample.Program, Sample.Now, EngineLimits.Default);
            Assert.Equal(a, b);
        }

        // floor(50 x 1 / 2) = 25 back; achievement and case already paid: 209 - 25 = 184
        Assert.Equal(184, loaded.PointsAvailable);
        Assert.Equal(TestCustomer.Serialized(live), TestCustomer.Serialized(loaded));
    }

    [Fact]
    public void Snapshot_is_unaffected_by_later_changes_to_the_live_state()
    {
        var (live, _) = Scenario.Run();
        var snapshot = live.Snapshot();
        var stored = TestCustomer.Serialized(snapshot);

        CustomerEngine.Apply(live, new LoyaltyEvent
        {
            EventId = "evt-9", CustomerId = Scenario.CustomerId, OccurredAt = Sample.Now.AddMinutes(-1),
            Payload = Refund("o-1", Line("stroller-wheel", "baby", 2, 1250)),
        }, Sample.Program, Sample.Now, EngineLimits.Default);

        Assert.Equal(159, live.PointsAvailable);  // 209 - 50
        Assert.Equal(stored, TestCustomer.Serialized(snapshot));
        Assert.Null(snapshot.FindSeen("evt-9"));
    }

    /// <summary>A checkpoint's snapshot keeps its remembered ids and ledger in lists the checkpoint reuses: the same
    /// entries as the live state, in lists of their own (emptied first), unaffected by later events.</summary>
    [Fact]
    public void Snapshot_into_reused_lists_holds_the_live_ids_and_ledger_and_only_those()
    {
        var (live, _) = Scenario.Run();
        var reused = new SnapshotLists();
        reused.Seen.Add(SeenEvent.Of("left-over-from-another-customer", 1, 1));
        reused.Ledger.Add(new LedgerEntry(999, "earn", 5, 5, "left-over", "", "v0", DateTimeOffset.UnixEpoch));
        var snapshot = live.Snapshot(reused);

        Assert.Same(reused.Seen, snapshot.Seen);
        Assert.Same(reused.Ledger, snapshot.Ledger);
        Assert.NotSame(live.Seen, snapshot.Seen);
        Assert.NotSame(live.Ledger, snapshot.Ledger);
        Assert.Equal(live.Seen, snapshot.Seen);
        Assert.Equal(live.Ledger, snapshot.Ledger);
        Assert.Equal(TestCustomer.Serialized(live.Snapshot()), TestCustomer.Serialized(snapshot));
        var stored = TestCustomer.Serialized(snapshot);

        CustomerEngine.Apply(live, new LoyaltyEvent
        {
            EventId = "evt-9", CustomerId = Scenario.CustomerId, OccurredAt = Sample.Now.AddMinutes(-1),
            Payload = Refund("o-1", Line("stroller-wheel", "baby", 2, 1250)),
        }, Sample.Program, Sample.Now, EngineLimits.Default);
        Assert.Equal(stored, TestCustomer.Serialized(snapshot));
        Assert.Null(snapshot.FindSeen("evt-9"));
        Assert.Null(snapshot.FindSeen("left-over-from-another-customer"));
    }

    [Fact]
    public void Golden_state_v1_still_loads_with_its_values()
    {
        var state = JsonSerializer.Deserialize<CustomerState>(File.ReadAllText(GoldenPath), DomainJson.Options)!;

        Assert.Equal(1, state.Schema);
        Assert.Equal(new CustomerSummary("c-golden", 209, 0, 209, "Bronze"), CustomerSummary.Of(state));
        Assert.Equal(Sample.Now, state.FirstSeen);
        Assert.Equal(Sample.Now.AddMinutes(-10), state.LastEventAt);
        Assert.Equal(8, state.EventsApplied);
        Assert.Equal(8, state.LastSequence);
        Assert.Equal(new CustomerProfile { DisplayName = "Ada", BirthYear = 1990, AccessibilityNeeds = true, TimeZone = "Europe/Paris" }, state.Profile);
        Assert.Equal([89L, -31, 6, 0, 100, 0, 20, 25], state.Seen.Select(s => s.PointsDelta));
        Assert.Equal(Sample.Now.AddMinutes(-60).UtcTicks, state.Seen[0].OccurredTicks);
        Assert.Equal(0, state.DedupeFloorTicks);
        Assert.Equal(["purchase", "refund", "game_session", "support_case", "support_case", "profile_update", "match_result", "achievement"],
            state.Interactions.Select(i => i.Kind));
        Assert.Equal(Sample.Now, state.Interactions[0].AppliedAt);
        Assert.Equal([new DayPoints(ScenarioDay, 209)], state.Qualifying);
        Assert.Equal([new CategoryDay(ScenarioDay, "baby", 2899, 1), new CategoryDay(ScenarioDay, "sports", 2099, 1)], state.Categories);
        Assert.Equal([new ActivityDay(ScenarioDay, 2, 1, 1, 1, 4)], state.Activity);
        var order = Assert.Single(state.Orders);
        Assert.Equal(("o-1", ScenarioDay), (order.OrderId, order.Day));
        Assert.Equal([new OrderLine("stroller-wheel", 2, 50), new OrderLine("bib", 1, 8), new OrderLine("ball", 0, 0)], order.Lines);
        Assert.Equal(["chess/first-win"], state.Achievements);
        Assert.Equal(["k-1"], state.ResolvedCases);
    }

    [Fact]
    public void Golden_state_v1_still_behaves()
    {
        var state = JsonSerializer.Deserialize<CustomerState>(File.ReadAllText(GoldenPath), DomainJson.Options)!;
        LoyaltyEvent Event(string id, EventPayload payload) =>
            new() { EventId = id, CustomerId = "c-golden", OccurredAt = Sample.Now.AddMinutes(-1), Payload = payload };

        var duplicate = CustomerEngine.Apply(state, Event("evt-5", Game(60, 1)), Sample.Program, Sample.Now, EngineLimits.Default);
        var refund = CustomerEngine.Apply(state, Event("evt-9", Refund("o-1", Line("bib", "baby", 1, 399))), Sample.Program, Sample.Now, EngineLimits.Default);
        var paidCase = CustomerEngine.Apply(state, Event("evt-10", Support("k-1", SupportStatus.Resolved, SupportChannel.Human)), Sample.Program, Sample.Now, EngineLimits.Default);

        Assert.Equal((EventOutcome.Duplicate, 100L), (duplicate.Outcome, duplicate.PointsDelta));
        Assert.Equal((EventOutcome.Applied, -8L), (refund.Outcome, refund.PointsDelta));
        Assert.Equal((EventOutcome.Applied, 0L), (paidCase.Outcome, paidCase.PointsDelta));
        // 209 - 8
        Assert.Equal(201, state.PointsAvailable);
        Assert.Equal(10, state.LastSequence);
    }

    [Fact]
    public void Golden_state_v1_loses_no_stored_value_when_written_again()
    {
        // A renamed or dropped member would silently lose stored data on the next write.
        var golden = JsonNode.Parse(File.ReadAllText(GoldenPath))!.AsObject();
        var state = JsonSerializer.Deserialize<CustomerState>(golden.ToJsonString(), DomainJson.Options)!;

        var rewritten = JsonNode.Parse(JsonSerializer.Serialize(state, DomainJson.Options))!.AsObject();

        foreach (var (name, value) in golden)
        {
            Assert.True(rewritten.ContainsKey(name), $"stored member '{name}' is no longer written");
            if (name is "qualifying" or "activity")
            {
                continue;   // now written in a compact form: compared by value below
            }
            Assert.True(Keeps(value, rewritten[name]), $"stored member '{name}' changed on a round trip");
        }
        // Day buckets are written as flat arrays since schema 1's first form; the values are the same.
        var again = JsonSerializer.Deserialize<CustomerState>(rewritten.ToJsonString(), DomainJson.Options)!;
        Assert.NotEmpty(state.Qualifying);
        Assert.Equal(state.Qualifying, again.Qualifying);
        Assert.Equal(state.Activity, again.Activity);
        Assert.Equal(golden["qualifying"]!.AsArray().Count * 2, rewritten["qualifying"]!.AsArray().Count);
    }

    /// <summary>True when everything stored in <paramref name="golden"/> is still in <paramref name="rewritten"/>
    /// with the same value; members added since (with their defaults) are allowed.</summary>
    private static bool Keeps(JsonNode? golden, JsonNode? rewritten) => (golden, rewritten) switch
    {
        (JsonObject g, JsonObject r) => g.All(kv => r.ContainsKey(kv.Key) && Keeps(kv.Value, r[kv.Key])),
        (JsonArray g, JsonArray r) => g.Count == r.Count && g.Zip(r).All(pair => Keeps(pair.First, pair.Second)),
        _ => JsonNode.DeepEquals(golden, rewritten),
    };

    public static TheoryData<string> PayloadKinds => ["purchase", "refund", "game_session", "match_result", "achievement", "support_case", "profile_update"];

    private static EventPayload PayloadOf(string kind) => kind switch
    {
        "purchase" => Buy("o-1", Line("bib", "baby", 2, 399), Line("ball", "sports", 1, 2099)),
        "refund" => Refund("o-1", Line("bib", "baby", 1, 399)),
        "game_session" => Game(150, 3, score: 12_345),
        "match_result" => Match(2, 8),
        "achievement" => Achieved("first-win"),
        "support_case" => new SupportCase("k-1", SupportStatus.Resolved, SupportChannel.Human, 4, 3, 120),
        "profile_update" => Profile(name: "Ada", timeZone: "Europe/Paris"),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [MemberData(nameof(PayloadKinds))]
    public void Event_with_each_payload_kind_round_trips(string kind)
    {
        var original = new LoyaltyEvent
        {
            EventId = "evt-1", CustomerId = "c-1", OccurredAt = Sample.Now.AddMinutes(-5), Source = "shop", Payload = PayloadOf(kind),
        };

        var json = JsonSerializer.Serialize(original, DomainJson.Options);
        var copy = JsonSerializer.Deserialize<LoyaltyEvent>(json, DomainJson.Options)!;

        Assert.Equal(kind, JsonNode.Parse(json)!["payload"]!["$k"]!.GetValue<string>());
        Assert.Equal(original.Payload!.GetType(), copy.Payload!.GetType());
        Assert.Equal(kind, copy.Payload.Kind);
        Assert.Equal((original.EventId, original.CustomerId, original.OccurredAt, original.Source),
            (copy.EventId, copy.CustomerId, copy.OccurredAt, copy.Source));
        switch (original.Payload, copy.Payload)
        {
            case (Purchase a, Purchase b):
                Assert.Equal((a.OrderId, a.Currency), (b.OrderId, b.Currency));
                Assert.Equal(a.Lines, b.Lines);
                break;
            case (Refund a, Refund b):
                Assert.Equal(a.OrderId, b.OrderId);
                Assert.Equal(a.Lines, b.Lines);
                break;
            default:
                // Records without lists compare by value.
                Assert.Equal(original, copy);
                break;
        }
        Assert.Equal(json, JsonSerializer.Serialize(copy, DomainJson.Options));
    }

    [Fact]
    public void Support_enums_are_stored_by_name()
    {
        var json = JsonNode.Parse(JsonSerializer.Serialize<EventPayload>(PayloadOf("support_case"), DomainJson.Options))!;

        Assert.Equal("support_case", json["$k"]!.GetValue<string>());
        Assert.Equal("resolved", json["status"]!.GetValue<string>());
        Assert.Equal("human", json["channel"]!.GetValue<string>());
    }
}

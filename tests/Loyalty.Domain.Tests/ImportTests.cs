using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

/// <summary>Member and history imports (issue 18), on the domain alone.</summary>
public sealed class ImportTests
{
    private static readonly DateTimeOffset Now = Sample.Now;

    private static MemberImport Member(string id = "c-1") => new()
    {
        CustomerId = id, DisplayName = "Ada", BirthYear = 1950, AccessibilityNeeds = true, TimeZone = "Europe/Berlin",
        PointsAvailable = 1_200, PointsLifetime = 9_000, Tier = "Silver", TierSince = Now.AddDays(-100), QualifyingPoints = 1_500,
        Lots = [new OpeningLot(1_000, Now.AddDays(200)), new OpeningLot(200, null)],
    };

    private static OperationResult Import(CustomerState state, MemberImport member, string importId = "imp-1", ActiveProgram? program = null) =>
        CustomerCommands.Apply(state, new CustomerCommand { Kind = CommandKind.ImportMember, Id = importId, Member = member },
            program ?? Sample.Program, Now, EngineLimits.Default).Operation!;

    [Fact]
    public void A_member_arrives_with_balance_lots_tier_and_profile_and_the_ledger_sums_to_the_balance()
    {
        var state = new CustomerState();
        var result = Import(state, Member());
        Assert.Equal(OperationOutcome.Applied, result.Outcome);
        Assert.Equal(1_200, state.PointsAvailable);
        Assert.Equal(9_000, state.PointsLifetime);
        Assert.Equal("Silver", state.Tier);
        Assert.Equal(new CustomerProfile { DisplayName = "Ada", BirthYear = 1950, AccessibilityNeeds = true, TimeZone = "Europe/Berlin" }, state.Profile);
        Assert.Equal(1_500, CustomerEngine.QualifyingPoints(state));
        Assert.Equal([1_000L, 200L], state.Lots.Select(l => l.Points));
        Assert.Equal(Now.AddDays(200).UtcTicks, state.Lots[0].ExpiresTicks);
        Assert.Equal(0, state.Lots[1].ExpiresTicks);
        var points = state.Ledger.Where(e => e.Total != 0).ToList();
        Assert.All(points, e => Assert.Equal("import", e.Kind));
        Assert.Equal(state.PointsAvailable, points.Sum(e => e.Total));
        Assert.Equal("Silver", state.TierHistory.Single().To);
        Assert.Equal(Now.AddDays(-100), state.TierHistory.Single().At);
        Assert.Equal(0, state.EventsApplied);
    }

    [Fact]
    public void The_same_member_again_is_unchanged_and_anything_else_about_an_existing_customer_is_refused()
    {
        var state = new CustomerState();
        Import(state, Member());
        var before = TestCustomer.Serialized(state);
        Assert.Equal(OperationOutcome.Duplicate, Import(state, Member()).Outcome);
        var changed = Import(state, Member() with { PointsAvailable = 5, Lots = [] });
        Assert.Equal(OperationOutcome.Refused, changed.Outcome);
        Assert.Contains("different data", changed.Reason);
        var other = Import(state, Member(), importId: "imp-2");
        Assert.Equal(OperationOutcome.Refused, other.Outcome);
        Assert.StartsWith("customer_id: ", other.Reason);
        Assert.Equal(before, TestCustomer.Serialized(state));

        // A customer who exists from live events is never merged into.
        var live = new TestCustomer(id: "c-2");
        live.Earn(Buy("o-1", Line("bib", "baby", 1, 5_000)));
        var liveBefore = live.Json();
        var refused = Import(live.State, Member("c-2"));
        Assert.Equal(OperationOutcome.Refused, refused.Outcome);
        Assert.Contains("already exists", refused.Reason);
        Assert.Equal(liveBefore, live.Json());
    }

    [Theory]
    [InlineData("tier", "Diamond")]
    [InlineData("points_available", "-5")]
    [InlineData("time_zone", "Mars/Olympus")]
    [InlineData("birth_year", "1800")]
    [InlineData("lots", "sum")]
    [InlineData("lots[0].expires_at", "past")]
    [InlineData("points_lifetime", "10")]
    public void A_bad_member_is_refused_naming_the_field_and_nothing_is_created(string field, string value)
    {
        var m = field switch
        {
            "tier" => Member() with { Tier = value },
            "points_available" => Member() with { PointsAvailable = long.Parse(value), Lots = [] },
            "time_zone" => Member() with { TimeZone = value },
            "birth_year" => Member() with { BirthYear = int.Parse(value) },
            "lots" => Member() with { Lots = [new OpeningLot(5, null)] },
            "lots[0].expires_at" => Member() with { Lots = [new OpeningLot(1_200, Now.AddDays(-1))] },
            _ => Member() with { PointsLifetime = 10 },
        };
        var state = new CustomerState();
        var result = Import(state, m);
        Assert.Equal(OperationOutcome.Refused, result.Outcome);
        Assert.StartsWith(field + ": ", result.Reason);
        Assert.False(state.Exists);
        Assert.Equal(TestCustomer.Serialized(new CustomerState()), TestCustomer.Serialized(state));
    }

    [Fact]
    public void An_imported_tier_follows_the_tier_lifecycle_from_tier_since()
    {
        var program = PointsLifecycleTests.With("{}", edit: root => root["tiers"]!.AsObject()["periodMonths"] = 12);
        var state = new CustomerState();
        // Gold since 25 months ago with no qualifying points: two periods ended since, one tier down each.
        Import(state, Member() with { Tier = "Gold", TierSince = Now.AddMonths(-25), QualifyingPoints = 0 }, program: program);
        Assert.Equal("Bronze", state.Tier);
        Assert.Equal(["Gold", "Silver", "Bronze"], state.TierHistory.Select(t => t.To));
        // Gold since a month ago: the period runs on.
        var recent = new CustomerState();
        Import(recent, Member() with { Tier = "Gold", TierSince = Now.AddMonths(-1) }, program: program);
        Assert.Equal("Gold", recent.Tier);
        Assert.Equal(Now.AddMonths(11).UtcTicks, recent.TierPeriodEndTicks, TimeSpan.FromDays(2).Ticks);
    }

    /// <summary>Two years of purchases, one every 5 days, in baby goods and sports.</summary>
    private static List<LoyaltyEvent> TwoYears(string customer)
    {
        var events = new List<LoyaltyEvent>();
        var start = Now.AddDays(-730);
        for (var i = 0; i < 146; i++)
        {
            var at = start.AddDays(5 * i).AddHours(3);
            events.Add(new LoyaltyEvent
            {
                EventId = $"h-{i}", CustomerId = customer, OccurredAt = at, Source = "old-shop",
                Payload = Buy($"o-{i}", Line("bib", i % 3 == 0 ? "sports" : "baby", 1 + i % 4, 1_000 + 37 * i)),
            });
            if (i % 20 == 0)
            {
                events.Add(new LoyaltyEvent
                {
                    EventId = $"g-{i}", CustomerId = customer, OccurredAt = at.AddHours(1), Source = "old-game",
                    Payload = Game(1_800, 2),
                });
            }
        }
        return events;
    }

    [Fact]
    public void Imported_history_counts_toward_the_windows_as_if_on_time_and_grants_nothing()
    {
        var events = TwoYears("c-1");
        // On time: each event published when it happened.
        var onTime = new CustomerState();
        foreach (var e in events)
        {
            CustomerEngine.Apply(onTime, e, Sample.Program, e.OccurredAt!.Value.AddMinutes(1), EngineLimits.Default);
        }
        // Imported today, in batches of 64 as the grain journals them, without points.
        var imported = new CustomerState();
        foreach (var chunk in events.Chunk(64))
        {
            CustomerCommands.Apply(imported, new CustomerCommand { Kind = CommandKind.ImportHistory, Id = "hist", Events = chunk }, Sample.Program, Now, EngineLimits.Default);
        }
        var a = CustomerView.Of(onTime, Sample.Program, Now)!;
        var b = CustomerView.Of(imported, Sample.Program, Now)!;
        Assert.NotEmpty(a.Affinity);
        Assert.Equal(a.Affinity, b.Affinity);
        Assert.True(a.TierProgress.QualifyingPoints > 1_000, $"{a.TierProgress.QualifyingPoints}");
        Assert.Equal(a.TierProgress, b.TierProgress);
        Assert.Equal(a.Activity, b.Activity);
        Assert.Equal(0, imported.PointsAvailable + imported.PointsPending);
        Assert.DoesNotContain(imported.Ledger, e => e.Total != 0);

        // With the full program's rules, the same events published on time grant rewards; imported, none.
        var withRules = new CustomerState();
        foreach (var e in events)
        {
            CustomerEngine.Apply(withRules, e, Sample.Full, e.OccurredAt!.Value.AddMinutes(1), EngineLimits.Default);
        }
        Assert.NotEmpty(withRules.Rewards);
        var importedWithRules = new CustomerState();
        foreach (var chunk in events.Chunk(64))
        {
            CustomerCommands.Apply(importedWithRules, new CustomerCommand { Kind = CommandKind.ImportHistory, Id = "hist", Events = chunk, EarnPoints = true },
                Sample.Full, Now, EngineLimits.Default);
        }
        Assert.Empty(importedWithRules.Rewards);
        Assert.Empty(importedWithRules.Perks);
        Assert.DoesNotContain(importedWithRules.Ledger, e => e.Kind is "reward" or "perk");
        Assert.True(importedWithRules.PointsLifetime > 0);
    }

    [Fact]
    public void History_is_deduplicated_by_event_id_and_earns_points_only_when_asked()
    {
        var events = TwoYears("c-1").Take(40).ToArray();
        var program = PointsLifecycleTests.With("""{ "expiry": { "policy": "rolling", "months": 12 } }""");
        var state = new CustomerState();
        var first = CustomerCommands.Apply(state, new CustomerCommand { Kind = CommandKind.ImportHistory, Id = "h1", Events = events, EarnPoints = true },
            program, Now, EngineLimits.Default);
        Assert.All(first.Events!, r => Assert.Equal(EventOutcome.Applied, r.Outcome));
        var booked = first.Events!.Sum(r => r.PointsDelta);
        Assert.True(booked > 0);
        Assert.Equal(booked, state.PointsLifetime);
        // Points earned two years ago expired as they would have (12 months after they were earned).
        Assert.Contains(state.Ledger, e => e.Kind == "expire");
        Assert.Equal(state.PointsAvailable + state.PointsPending, state.Ledger.Sum(e => e.Total));
        var before = TestCustomer.Serialized(state);
        var again = CustomerCommands.Apply(state, new CustomerCommand { Kind = CommandKind.ImportHistory, Id = "h2", Events = events, EarnPoints = true },
            program, Now, EngineLimits.Default);
        Assert.All(again.Events!, r => Assert.Equal(EventOutcome.Duplicate, r.Outcome));
        Assert.False(again.Changed);
        Assert.Equal(before, TestCustomer.Serialized(state));
    }

    [Fact]
    public void History_may_come_before_the_member_but_a_live_customer_takes_no_member_record()
    {
        var state = new CustomerState();
        CustomerCommands.Apply(state, new CustomerCommand { Kind = CommandKind.ImportHistory, Id = "h", Events = TwoYears("c-1").Take(5).ToArray() },
            Sample.Program, Now, EngineLimits.Default);
        Assert.True(state.Exists);
        Assert.True(state.HistoryOnly);
        Assert.Equal(OperationOutcome.Applied, Import(state, Member()).Outcome);
        Assert.Equal(1_200, state.PointsAvailable);
        Assert.False(state.HistoryOnly);

        var other = new CustomerState();
        CustomerCommands.Apply(other, new CustomerCommand { Kind = CommandKind.ImportHistory, Id = "h", Events = TwoYears("c-2").Take(5).ToArray() },
            Sample.Program, Now, EngineLimits.Default);
        CustomerEngine.Apply(other, new LoyaltyEvent { EventId = "live-1", CustomerId = "c-2", OccurredAt = Now, Payload = Game(600, 1) },
            Sample.Program, Now, EngineLimits.Default);
        CustomerCommands.Apply(other, CustomerCommand.Of([new LoyaltyEvent { EventId = "live-2", CustomerId = "c-2", OccurredAt = Now, Payload = Game(600, 1) }]),
            Sample.Program, Now, EngineLimits.Default);
        Assert.False(other.HistoryOnly);
        Assert.Equal(OperationOutcome.Refused, Import(other, Member("c-2")).Outcome);
    }
}

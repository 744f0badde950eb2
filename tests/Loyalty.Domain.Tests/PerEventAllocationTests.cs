using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Rules;

namespace Loyalty.Domain.Tests;

/// <summary>
/// Steps every event runs allocate nothing when there is nothing to change: a closure over a parameter is made on entry
/// to the method holding the lambda, and a list read through its interface makes an enumerator, each an object of
/// every event's garbage. (The results of these steps are tested with the earning, tier and window rules.)
/// </summary>
public sealed class PerEventAllocationTests
{
    private static long Allocated(Action step)
    {
        step();   // compiled and warmed before measuring
        var before = GC.GetAllocatedBytesForCurrentThread();
        step();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public void Finding_a_tier_by_name_or_by_points_allocates_nothing()
    {
        var program = Sample.Program;
        var top = program.Tiers[^1];
        Assert.Equal(0, Allocated(() => Assert.Same(top, program.TierByName(top.Name))));
        Assert.Equal(0, Allocated(() => Assert.Same(program.Tiers[0], program.TierByName("no such tier"))));
        Assert.Equal(0, Allocated(() => Assert.Same(top, program.TierFor(top.QualifyingPoints))));
    }

    [Fact]
    public void Trimming_windows_with_nothing_out_of_them_allocates_nothing_and_removes_what_fell_out()
    {
        var program = Sample.Program;
        var today = 20_000;
        var state = new CustomerState();
        state.Qualifying.Add(new DayPoints(today - 1, 10));
        state.Categories.Add(new CategoryDay(today - 1, "baby", 1_000, 1));
        state.Activity.Add(ActivityDay.Empty(today));

        Assert.Equal(0, Allocated(() => CustomerEngine.TrimWindows(state, program, today)));
        Assert.Single(state.Qualifying);
        Assert.Single(state.Categories);
        Assert.Single(state.Activity);

        var history = program.Definition.History;
        state.Qualifying.Insert(0, new DayPoints(today - program.Definition.Tiers.QualifyingWindowDays, 5));
        state.Categories.Insert(0, new CategoryDay(today - history.AffinityWindowDays, "sports", 500, 1));
        state.Activity.Insert(0, ActivityDay.Empty(today - history.ActivityWindowDays));
        CustomerEngine.TrimWindows(state, program, today);
        Assert.Equal([today - 1], state.Qualifying.Select(d => d.Day));
        Assert.Equal(["baby"], state.Categories.Select(c => c.Category));
        Assert.Equal([today], state.Activity.Select(a => a.Day));
    }

    [Fact]
    public void Forgetting_ended_rewards_when_none_ended_allocates_nothing()
    {
        var state = new CustomerState();
        var granted = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        state.Rewards.Add(new GrantedReward("thank-you-coupon", "rule", "coupon", "THANKS-1", "", 1000, 0, 0, granted,
            granted.AddDays(60), "e-1", "v1"));
        var horizon = granted.AddDays(30).UtcTicks;

        state.ForgetRewardsEndedBefore(horizon);
        Assert.Equal(0, Allocated(() => state.ForgetRewardsEndedBefore(horizon - 1)));
        Assert.Single(state.Rewards);

        state.ForgetRewardsEndedBefore(granted.AddDays(61).UtcTicks);
        Assert.Empty(state.Rewards);
    }

    [Fact]
    public void Combined_conditions_read_their_list_without_an_enumerator_object()
    {
        var e = new LoyaltyEvent { EventId = "e-1", CustomerId = "c-1", OccurredAt = Sample.Now, Payload = Pay.Game(600, 2) };
        var context = new RuleContext(new CustomerState(), e, Sample.Program, Sample.Now, basePoints: 0);
        // Lists as the program loader builds them: a List read through IReadOnlyList boxes its enumerator in a foreach.
        var all = new AllOf(new List<Condition> { new Answers(true), new Answers(true) });
        var any = new AnyOf(new List<Condition> { new Answers(false), new Answers(true) });
        var none = new AnyOf(new List<Condition> { new Answers(false), new Answers(false) });

        Assert.Equal(0, Allocated(() => Assert.True(all.Holds(context))));
        Assert.Equal(0, Allocated(() => Assert.True(any.Holds(context))));
        Assert.Equal(0, Allocated(() => Assert.False(none.Holds(context))));
        Assert.False(new AllOf(new List<Condition> { new Answers(true), new Answers(false) }).Holds(context));
    }

    [Fact]
    public void Reading_the_rules_of_an_event_kind_allocates_nothing()
    {
        var rules = Sample.Full.RulesByKind["game_session"];
        Assert.NotEmpty(rules);
        var seen = 0;
        // Every event reads its kind's rules (the rule engine, the budget check): through IReadOnlyList a foreach boxed
        // an enumerator each time.
        Assert.Equal(0, Allocated(() =>
        {
            foreach (var rule in rules)
            {
                seen += rule.Id.Length > 0 ? 1 : 0;
            }
        }));
        Assert.Equal(2 * rules.Length, seen);
        Assert.All(rules, r => Assert.True(r.When.Contains("game_session") || r.When.Contains("any")));
    }

    private sealed record Answers(bool Value) : Condition
    {
        public override bool Holds(RuleContext c) => Value;
    }
}

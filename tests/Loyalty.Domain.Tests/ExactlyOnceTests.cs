using Loyalty.Domain.Customers;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

public class ExactlyOnceTests
{
    [Fact]
    public void Same_event_applied_five_times_is_applied_once_and_then_answered_as_duplicate()
    {
        var customer = new TestCustomer();
        // 3 x 10.00 EUR x 2 (baby) = 60
        var e = customer.Event(Buy("o-1", Line("bib", "baby", 3, 1000)));

        var results = Enumerable.Range(0, 5).Select(_ => customer.Apply(e)).ToList();

        Assert.Equal(EventOutcome.Applied, results[0].Outcome);
        Assert.All(results.Skip(1), r => Assert.Equal(EventOutcome.Duplicate, r.Outcome));
        Assert.All(results, r => Assert.Equal(60, r.PointsDelta));
        Assert.All(results, r => Assert.Equal(60, r.Customer?.PointsAvailable));
        Assert.All(results, r => Assert.False(results.IndexOf(r) > 0 && r.Changed));
        Assert.Equal(60, customer.State.PointsAvailable);
        Assert.Equal(1, customer.State.EventsApplied);
        Assert.Single(customer.State.Interactions);
        Assert.Single(customer.State.Orders);
    }

    [Fact]
    public void Duplicate_changes_nothing_in_the_stored_state()
    {
        var customer = new TestCustomer();
        var e = customer.Event(Game(600, 2));  // 10 x 2 = 20
        customer.Apply(e);
        var before = customer.Json();

        var again = customer.Apply(e);

        Assert.Equal(EventOutcome.Duplicate, again.Outcome);
        Assert.Equal(20, again.PointsDelta);
        Assert.Equal(before, customer.Json());
    }

    [Fact]
    public void Known_event_id_is_a_duplicate_whatever_its_payload()
    {
        var customer = new TestCustomer();
        customer.Earn(Game(600, 2), eventId: "evt-1");  // 10 x 2 = 20

        var replay = customer.Apply(Achieved("marathon"), eventId: "evt-1");

        Assert.Equal(EventOutcome.Duplicate, replay.Outcome);
        Assert.Equal(20, replay.PointsDelta);
        Assert.Equal(20, customer.State.PointsAvailable);
    }

    [Fact]
    public void Rejected_event_is_not_remembered_and_may_be_sent_again_fixed()
    {
        var customer = new TestCustomer();
        customer.Earn(Game(60, 1));  // 1

        var first = customer.Apply(Refund("o-404", Line("x", "baby", 1, 100)), eventId: "evt-9");
        var second = customer.Apply(Game(120, 1), eventId: "evt-9");  // 2 x 1 = 2

        Assert.Equal(EventOutcome.Rejected, first.Outcome);
        Assert.Equal(EventOutcome.Applied, second.Outcome);
        Assert.Equal(3, customer.State.PointsAvailable);
    }

    [Fact]
    public void Event_older_than_the_dedupe_window_is_rejected_and_creates_nobody()
    {
        var customer = new TestCustomer();

        var result = customer.Apply(Game(600, 1), occurredAt: Sample.Now - TimeSpan.FromDays(30) - TimeSpan.FromMinutes(1));

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.Contains("deduplication window", result.Error, StringComparison.Ordinal);
        Assert.Null(result.Customer);
        Assert.False(customer.State.Exists);
        Assert.Equal(TestCustomer.Serialized(new CustomerState()), customer.Json());
    }

    [Fact]
    public void Event_older_than_the_dedupe_window_changes_nothing_for_an_existing_customer()
    {
        var customer = new TestCustomer();
        customer.Earn(Game(600, 1));  // 10
        var before = customer.Json();

        var result = customer.Apply(Game(600, 1), occurredAt: Sample.Now.AddDays(-31));

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.Equal(10, result.Customer?.PointsAvailable);
        Assert.Equal(before, customer.Json());
    }

    [Fact]
    public void Event_just_inside_the_dedupe_window_is_applied()
    {
        var customer = new TestCustomer();

        // 10 minutes x 1 = 10
        Assert.Equal(10, customer.Earn(Game(600, 1), occurredAt: Sample.Now.AddDays(-29)));
    }

    [Fact]
    public void Remembered_ids_are_bounded_and_older_new_events_are_refused_rather_than_risk_a_double_count()
    {
        var limits = EngineLimits.Default with { DedupeMaxIds = 10 };
        var customer = new TestCustomer(limits);
        var start = Sample.Now.AddHours(-1);
        // Twelve events a minute apart; each earns 1 minute x 1 = 1 point.
        for (var i = 0; i < 12; i++)
        {
            customer.Earn(Game(60, 1), eventId: $"evt-{i}", occurredAt: start.AddMinutes(i));
            Assert.True(customer.State.Seen.Count <= 10, $"remembered {customer.State.Seen.Count} ids after event {i}");
        }
        // Each overflow forgets the oldest: evt-0 at the 11th event, evt-1 at the 12th.
        Assert.Equal(10, customer.State.Seen.Count);
        Assert.Equal(start.AddMinutes(1).UtcTicks, customer.State.DedupeFloorTicks);
        var before = customer.Json();

        var newButOld = customer.Apply(Game(60, 1), eventId: "evt-new", occurredAt: start.AddMinutes(1));
        var forgotten = customer.Apply(Game(60, 1), eventId: "evt-0", occurredAt: start);
        var remembered = customer.Apply(Game(60, 1), eventId: "evt-5", occurredAt: start.AddMinutes(5));

        Assert.Equal(EventOutcome.Rejected, newButOld.Outcome);
        Assert.Contains("cannot be applied exactly once", newButOld.Error, StringComparison.Ordinal);
        Assert.Equal(EventOutcome.Rejected, forgotten.Outcome);
        Assert.Equal(EventOutcome.Duplicate, remembered.Outcome);
        Assert.Equal(1, remembered.PointsDelta);
        Assert.Equal(before, customer.Json());
        Assert.Equal(12, customer.State.PointsAvailable);
    }

    [Fact]
    public void Every_remembered_id_answers_with_its_own_points_through_trims_and_appends()
    {
        var customer = new TestCustomer(EngineLimits.Default with { DedupeMaxIds = 50 });
        var start = Sample.Now.AddHours(-10);
        var earned = new Dictionary<string, long>();
        for (var i = 0; i < 200; i++)
        {
            var id = $"evt-{i}";
            var minutes = 1 + i % 7;   // 1..7 minutes x 1 = 1..7 points: each id has its own delta
            earned[id] = customer.Earn(Game(60 * minutes, 1), eventId: id, occurredAt: start.AddMinutes(i));
            Assert.Equal(minutes, earned[id]);
            // The id just added and one added a few events ago both answer from the index, between trims.
            var retry = customer.Apply(Game(60 * minutes, 1), eventId: id, occurredAt: start.AddMinutes(i));
            Assert.Equal((EventOutcome.Duplicate, earned[id]), (retry.Outcome, retry.PointsDelta));
            if (i >= 3 && customer.State.FindSeen($"evt-{i - 3}") is { } older)
            {
                Assert.Equal(earned[$"evt-{i - 3}"], older.PointsDelta);
            }
        }
        foreach (var seen in customer.State.Seen)
        {
            var retry = customer.Apply(Game(60, 1), eventId: seen.EventId, occurredAt: new DateTimeOffset(seen.OccurredTicks, TimeSpan.Zero));
            Assert.Equal((EventOutcome.Duplicate, earned[seen.EventId]), (retry.Outcome, retry.PointsDelta));
        }
        Assert.Equal(earned.Values.Sum(), customer.State.PointsAvailable);
    }

    /// <summary>At the bound the oldest tenth by occurred_at goes, in place: the list keeps its array, the ids kept are
    /// exactly those after the floor (the 300th oldest instant of 3,001), in the order they arrived, and the trim copies
    /// nothing (sorting the ids into a new list and filtering it into another allocated ~800 KB each time).</summary>
    [Fact]
    public void Trimming_at_the_bound_forgets_the_oldest_tenth_in_place_without_copying_the_ids()
    {
        var customer = new TestCustomer(EngineLimits.Default with { DedupeMaxIds = 3_000 });
        var start = Sample.Now.AddDays(-2);
        var random = new Random(7);
        var instants = new List<(string Id, long Ticks)>();
        for (var i = 0; i < 3_000; i++)
        {
            var at = start.AddSeconds(random.Next(150_000));   // out of order, as game servers send them
            customer.Earn(Game(60, 1), eventId: $"e-{i}", occurredAt: at);
            instants.Add(($"e-{i}", at.UtcTicks));
        }
        Assert.Equal(3_000, customer.State.Seen.Count);
        var list = customer.State.Seen;
        var capacity = list.Capacity;

        var last = start.AddSeconds(150_001);
        instants.Add(("e-last", last.UtcTicks));
        customer.Apply(Game(60, 1), eventId: "e-warm", occurredAt: last.AddSeconds(1));   // the thread's buffer, once
        instants.Add(("e-warm", last.AddSeconds(1).UtcTicks));
        // e-warm went over the bound and was trimmed; fill up again and measure the next trim.
        while (customer.State.Seen.Count < 3_000)
        {
            var at = last.AddSeconds(2 + instants.Count);
            var id = $"f-{instants.Count}";
            customer.Earn(Game(60, 1), eventId: id, occurredAt: at);
            instants.Add((id, at.UtcTicks));
        }
        var kept = customer.State.Seen.Select(s => (s.EventId, s.OccurredTicks)).ToList();
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var trimAt = last.AddSeconds(2 + instants.Count);
        Assert.Equal(EventOutcome.Applied, customer.Apply(Game(60, 1), eventId: "e-trim", occurredAt: trimAt).Outcome);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;

        kept.Add(("e-trim", trimAt.UtcTicks));
        var floor = kept.Select(k => k.OccurredTicks).Order().ElementAt(300 - 1);
        Assert.Equal(floor, customer.State.DedupeFloorTicks);
        Assert.Equal(kept.Where(k => k.OccurredTicks > floor), customer.State.Seen.Select(s => (s.EventId, s.OccurredTicks)));
        Assert.Same(list, customer.State.Seen);
        Assert.Equal(capacity, customer.State.Seen.Capacity);
        Assert.True(allocated < 100_000, $"the trimming event allocated {allocated:N0} bytes");
        // Forgotten ids are refused by the floor, kept ones answer as duplicates.
        var oldest = kept.MinBy(k => k.OccurredTicks);
        Assert.Equal(EventOutcome.Rejected, customer.Apply(Game(60, 1), eventId: oldest.EventId, occurredAt: new DateTimeOffset(oldest.OccurredTicks, TimeSpan.Zero)).Outcome);
        var newest = customer.State.Seen[^1];
        Assert.Equal(EventOutcome.Duplicate, customer.Apply(Game(60, 1), eventId: newest.EventId, occurredAt: new DateTimeOffset(newest.OccurredTicks, TimeSpan.Zero)).Outcome);
    }

    [Fact]
    public void Event_newer_than_the_dedupe_floor_is_still_applied()
    {
        var customer = new TestCustomer(EngineLimits.Default with { DedupeMaxIds = 10 });
        var start = Sample.Now.AddHours(-1);
        for (var i = 0; i < 30; i++)
        {
            customer.Earn(Game(60, 1), occurredAt: start.AddMinutes(i));
        }

        // Later than every remembered id: 1 minute x 1 = 1.
        Assert.Equal(1, customer.Earn(Game(60, 1), occurredAt: start.AddMinutes(30)));
        // Out of order but after the floor: also fine.
        Assert.Equal(1, customer.Earn(Game(60, 1), occurredAt: start.AddMinutes(25).AddSeconds(30)));
        Assert.True(customer.State.Seen.Count <= 10);
        Assert.Equal(32, customer.State.PointsAvailable);
    }

    [Fact]
    public void Ids_older_than_the_dedupe_window_are_forgotten()
    {
        var customer = new TestCustomer();
        customer.Earn(Game(60, 1), eventId: "evt-old");

        customer.Clock.Advance(TimeSpan.FromDays(31));
        customer.Earn(Game(60, 1), eventId: "evt-new");

        Assert.Equal(["evt-new"], customer.State.Seen.Select(s => s.EventId));
        // The forgotten id can no longer be applied: its occurred_at is outside the window.
        var replay = customer.Apply(Game(60, 1), eventId: "evt-old", occurredAt: Sample.Now.AddMinutes(-5));
        Assert.Equal(EventOutcome.Rejected, replay.Outcome);
    }
}

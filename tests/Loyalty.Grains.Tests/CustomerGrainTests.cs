using Microsoft.Extensions.DependencyInjection;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using static Loyalty.Grains.Tests.TestEvents;

namespace Loyalty.Grains.Tests;

[Collection(MemoryClusterCollection.Name)]
public sealed class CustomerGrainTests(MemoryClusterFixture fixture)
{
    private DateTimeOffset Now => fixture.Time.GetUtcNow();

    [Fact]
    public async Task Unknown_customer_has_no_view_and_no_interactions()
    {
        var grain = fixture.Customer(NewCustomer());
        Assert.Null(await grain.Get());
        Assert.Null(await grain.ListInteractions(10, null));
    }

    [Fact]
    public async Task Applied_purchase_is_visible_with_category_multiplier_points()
    {
        var id = NewCustomer();
        // baby x2: 2 x 10.00 EUR = 20.00 -> 40 points; sports x1.5: 1 x 10.00 = 15 points; toys x1: 5.00 -> 5 points
        var results = await fixture.Customer(id).Apply([Purchase(id, "e1", Now, "o1",
            new LineItem("a", "baby", 2, 1000), new LineItem("b", "sports", 1, 1000), new LineItem("c", "toys", 1, 500))]);

        Assert.Equal(EventOutcome.Applied, results[0].Outcome);
        Assert.Equal(60, results[0].PointsDelta);
        var view = await fixture.Customer(id).Get();
        Assert.NotNull(view);
        Assert.Equal(60, view.Summary.PointsAvailable);
        Assert.Equal(60, view.Summary.PointsLifetime);
        Assert.Equal("Bronze", view.Summary.Tier);
        Assert.Equal(["baby", "sports", "toys"], view.Affinity.Select(a => a.Category));
    }

    [Fact]
    public async Task Same_event_five_times_applies_once()
    {
        var id = NewCustomer();
        var e = Game(id, "same", Now, minutes: 10, difficulty: 3);
        var outcomes = new List<EventResult>();
        for (var i = 0; i < 5; i++)
        {
            outcomes.AddRange(await fixture.Customer(id).Apply([e]));
        }
        Assert.Single(outcomes, r => r.Outcome == EventOutcome.Applied);
        Assert.Equal(4, outcomes.Count(r => r.Outcome == EventOutcome.Duplicate));
        Assert.All(outcomes, r => Assert.Equal(30, r.PointsDelta));
        Assert.Equal(30, (await fixture.Customer(id).Get())!.Summary.PointsLifetime);
    }

    [Fact]
    public async Task Two_thousand_concurrent_events_from_64_tasks_sum_exactly()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        // 1 minute at difficulty 1 = 1 point at every tier up to Gold (floor of 1 x 1.25 and 1 x 1.5).
        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(task => Task.Run(async () =>
        {
            var mine = new List<EventResult>();
            for (var i = task; i < 2000; i += 64)
            {
                mine.AddRange(await grain.Apply([Game(id, $"e{i}", Now)]));
            }
            return mine;
        })));
        var all = results.SelectMany(r => r).ToList();
        Assert.Equal(2000, all.Count);
        Assert.All(all, r => Assert.Equal(EventOutcome.Applied, r.Outcome));
        var view = await grain.Get();
        Assert.Equal(2000, view!.Summary.PointsLifetime);
        Assert.Equal(2000, view.EventsApplied);
        Assert.Equal("Silver", view.Summary.Tier);
    }

    [Fact]
    public async Task Batch_for_one_customer_keeps_order_and_dedupes_within_the_batch()
    {
        var id = NewCustomer();
        var results = await fixture.Customer(id).Apply([
            Purchase(id, "p1", Now, "o1", new LineItem("a", "toys", 1, 1000)),
            new LoyaltyEvent { EventId = "r1", CustomerId = id, OccurredAt = Now, Payload = new Refund("o1", [new LineItem("a", "toys", 1, 1000)]) },
            Purchase(id, "p1", Now, "o1", new LineItem("a", "toys", 1, 1000)),
        ]);
        Assert.Equal([EventOutcome.Applied, EventOutcome.Applied, EventOutcome.Duplicate], results.Select(r => r.Outcome));
        Assert.Equal([10L, -10L, 10L], results.Select(r => r.PointsDelta));
        Assert.Equal(0, (await fixture.Customer(id).Get())!.Summary.PointsAvailable);
    }

    [Fact]
    public async Task State_survives_deactivation()
    {
        var id = NewCustomer();
        await fixture.Customer(id).Apply([Game(id, "g1", Now, minutes: 5, difficulty: 2)]);
        await fixture.Cluster.DeactivateAsync(fixture.Customer(id));
        var view = await fixture.Customer(id).Get();
        Assert.Equal(10, view!.Summary.PointsLifetime);
        var again = await fixture.Customer(id).Apply([Game(id, "g1", Now, minutes: 5, difficulty: 2)]);
        Assert.Equal(EventOutcome.Duplicate, again[0].Outcome);
    }

    [Fact]
    public async Task Rejected_event_for_unknown_customer_creates_nothing()
    {
        var id = NewCustomer();
        var results = await fixture.Customer(id).Apply([
            new LoyaltyEvent { EventId = "r", CustomerId = id, OccurredAt = Now, Payload = new Refund("nope", [new LineItem("a", "toys", 1, 1)]) },
        ]);
        Assert.Equal(EventOutcome.Rejected, results[0].Outcome);
        Assert.Contains("unknown", results[0].Error, StringComparison.Ordinal);
        Assert.Null(await fixture.Customer(id).Get());
    }

    [Fact]
    public async Task Interactions_page_newest_first_with_tokens_stable_under_new_events()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        for (var i = 0; i < 25; i++)
        {
            await grain.Apply([Game(id, $"g{i}", Now)]);
        }
        var first = (await grain.ListInteractions(10, null))!;
        Assert.Equal(Enumerable.Range(15, 10).Reverse().Select(i => $"g{i}"), first.Interactions.Select(x => x.EventId));
        await grain.Apply([Game(id, "late", Now)]);
        var second = (await grain.ListInteractions(10, first.NextPageToken))!;
        Assert.Equal(Enumerable.Range(5, 10).Reverse().Select(i => $"g{i}"), second.Interactions.Select(x => x.EventId));
        var third = (await grain.ListInteractions(10, second.NextPageToken))!;
        Assert.Equal(Enumerable.Range(0, 5).Reverse().Select(i => $"g{i}"), third.Interactions.Select(x => x.EventId));
        Assert.Equal("", third.NextPageToken);
    }

    [Fact]
    public async Task A_customer_keeps_nothing_of_an_answer_once_it_is_stored()
    {
        // Called inside the silo as the gRPC service calls it: the results are the objects the grain made (immutable
        // domain types are not copied within a process). Held by the grain until the customer's next event, the last
        // answer of every active customer was most of what young collections promoted with 10,000 customers.
        var silo = fixture.Cluster.GetSiloServiceProvider(fixture.Cluster.Silos[0].SiloAddress);
        var grains = silo.GetRequiredService<IGrainFactory>();
        var answers = new List<WeakReference>();
        var customers = new List<ICustomerGrain>();
        for (var c = 0; c < 20; c++)
        {
            var id = NewCustomer();
            var grain = grains.Customer(id);
            customers.Add(grain);
            await grain.Apply([Game(id, "first", Now)]);
            answers.Add(await AnswerOnly(grain, Game(id, "second", Now)));
            Assert.NotNull(await grain.Get()); // still active, and has answered something since
        }

        for (var i = 0; i < 20 && answers.Count(a => a.IsAlive) > 2; i++)
        {
            // The runtime and Orleans may hold the last thing they ran for a while (a worker, a pooled object): a few
            // answers, never every customer's. Give the customers and the workers other work before looking again.
            await Task.WhenAll(customers.Select(g => g.Location()));
            await Task.WhenAll(Enumerable.Range(0, 4 * Environment.ProcessorCount).Select(_ => Task.Run(() => Thread.Sleep(1))));
            GC.Collect();
            GC.WaitForPendingFinalizers();
            await Task.Delay(10);
        }
        Assert.True(answers.Count(a => a.IsAlive) <= 2,
            $"{answers.Count(a => a.IsAlive)} of 20 customers still hold the results of their last stored record");
    }

    /// <summary>A weak reference to the answer to <paramref name="e"/>, nothing strong left behind.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> AnswerOnly(ICustomerGrain grain, LoyaltyEvent e)
    {
        var results = await grain.Apply([e]);
        Assert.Equal(EventOutcome.Applied, results[0].Outcome);
        return new WeakReference(results[0]);
    }
}

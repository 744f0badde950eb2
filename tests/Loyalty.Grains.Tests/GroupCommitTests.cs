using Loyalty.Domain.Customers;
using static Loyalty.Grains.Tests.TestEvents;

namespace Loyalty.Grains.Tests;

[Collection(FaultyClusterCollection.Name)]
public sealed class GroupCommitTests(FaultyClusterFixture fixture)
{
    private DateTimeOffset Now => fixture.Time.GetUtcNow();

    [Fact]
    public async Task Events_arriving_during_a_write_share_the_next_write_and_are_answered_only_once_stored()
    {
        var storage = fixture.Storage_;
        storage.WriteDelay = TimeSpan.FromMilliseconds(30);
        try
        {
            var id = NewCustomer();
            var grain = fixture.Customer(id);
            var writesBefore = storage.Writes;
            var grainId = ((IAddressable)grain).GetGrainId();
            var answeredButNotStored = 0;
            await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
            {
                var result = (await grain.Apply([Game(id, $"e{i}", Now)]))[0];
                Assert.Equal(EventOutcome.Applied, result.Outcome);
                // Durable before acknowledged: the stored state already holds this event id.
                if (storage.Stored(grainId)?.FindSeen($"e{i}") is null)
                {
                    Interlocked.Increment(ref answeredButNotStored);
                }
            })));
            var writes = storage.Writes - writesBefore;
            Assert.Equal(0, answeredButNotStored);
            Assert.Equal(200, storage.Stored(grainId)!.PointsLifetime);
            Assert.InRange(writes, 1, 100); // group commit: far fewer writes than events
        }
        finally
        {
            storage.WriteDelay = TimeSpan.Zero;
        }
    }

    [Fact]
    public async Task A_failed_write_fails_every_event_in_it_and_a_retry_applies_them()
    {
        var storage = fixture.Storage_;
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        await grain.Apply([Game(id, "before", Now, minutes: 2)]);

        storage.WriteDelay = TimeSpan.FromMilliseconds(50);
        storage.FailNextWrites(1);
        try
        {
            // The first call's write fails; calls queued behind it ride the next write and succeed.
            var first = grain.Apply([Game(id, "lost", Now, minutes: 3)]);
            await Assert.ThrowsAsync<EventsNotCommittedException>(() => first);
        }
        finally
        {
            storage.WriteDelay = TimeSpan.Zero;
            storage.FailNextWrites(0);
        }

        var view = await grain.Get();
        Assert.Equal(2, view!.Summary.PointsLifetime);
        var retry = await grain.Apply([Game(id, "lost", Now, minutes: 3)]);
        Assert.Equal(EventOutcome.Applied, retry[0].Outcome);
        Assert.Equal(5, (await grain.Get())!.Summary.PointsLifetime);
    }

    [Fact]
    public async Task After_a_failed_write_calls_that_change_nothing_answer_normally()
    {
        var storage = fixture.Storage_;
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        var stored = Game(id, "stored", Now, minutes: 2);
        await grain.Apply([stored]);

        storage.FailNextWrites(1);
        await Assert.ThrowsAsync<EventsNotCommittedException>(() => grain.Apply([Game(id, "lost", Now)]));
        storage.FailNextWrites(0);

        var duplicate = await grain.Apply([stored]);
        Assert.Equal(EventOutcome.Duplicate, duplicate[0].Outcome);
        Assert.Equal(2, duplicate[0].PointsDelta);
        var rejected = await grain.Apply([new Loyalty.Domain.Events.LoyaltyEvent
        {
            EventId = "refund", CustomerId = id, OccurredAt = Now,
            Payload = new Loyalty.Domain.Events.Refund("no-such-order", [new Loyalty.Domain.Events.LineItem("a", "toys", 1, 1)]),
        }]);
        Assert.Equal(EventOutcome.Rejected, rejected[0].Outcome);
    }

    [Fact]
    public async Task An_event_waiting_for_campaign_budget_while_the_state_reloads_is_applied_to_the_reloaded_state()
    {
        var storage = fixture.Storage_;
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        await grain.Apply([Game(id, "warm", Now)]);
        var grainId = ((IAddressable)grain).GetGrainId();
        // Activate the campaign's budget grain now, so only its lease write is slow below.
        var campaign = fixture.Program.Definition.Rules.Single(r => r.Id == "launch-campaign");
        await fixture.Client.GetGrain<IBudgetGrain>(Loyalty.Domain.Rules.RuleEngine.BudgetKey(fixture.Program, campaign, Now, "grants")).Status();

        // The write of "doomed" fails after 200 ms and the reload then reads for 300 ms. "budgeted" (a 25.00 purchase
        // that qualifies for the sample's budgeted launch campaign) starts 100 ms later and waits for a budget lease,
        // whose own write takes 200 ms, so it resumes while the reload is still reading.
        storage.WriteDelay = TimeSpan.FromMilliseconds(200);
        storage.ReadDelay = TimeSpan.FromMilliseconds(300);
        storage.FailNextWrites(1, only: grainId);
        try
        {
            var doomed = grain.Apply([Game(id, "doomed", Now)]);
            await Task.Delay(100); // the lease then returns ~100 ms after the failure, ~200 ms before the reload ends
            var budgeted = grain.Apply([Purchase(id, "budgeted", Now, "o-1", new Loyalty.Domain.Events.LineItem("lamp", "home", 1, 2500))]);
            await Assert.ThrowsAsync<EventsNotCommittedException>(() => doomed);
            var result = (await budgeted)[0];
            Assert.Equal(EventOutcome.Applied, result.Outcome);
            // Acknowledged, so it must be in storage.
            Assert.NotNull(storage.Stored(grainId)!.FindSeen("budgeted"));
        }
        finally
        {
            storage.WriteDelay = TimeSpan.Zero;
            storage.ReadDelay = TimeSpan.Zero;
            storage.FailNextWrites(0);
        }
    }
}

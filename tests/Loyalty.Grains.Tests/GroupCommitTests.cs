using Loyalty.Domain.Customers;
using Loyalty.Grains.Customers;
using Microsoft.Extensions.DependencyInjection;
using static Loyalty.Grains.Tests.TestEvents;

namespace Loyalty.Grains.Tests;

/// <summary>The write path: records of many customers share journal appends, an answer waits for the append holding
/// its record, a failed append fails exactly what it held, and checkpoints are written lazily, off the answer.</summary>
[Collection(FaultyClusterCollection.Name)]
public sealed class GroupCommitTests(FaultyClusterFixture fixture)
{
    private DateTimeOffset Now => fixture.Time.GetUtcNow();

    private bool Journaled(string customer, string eventId)
    {
        lock (fixture.Journal.Records)
        {
            return fixture.Journal.Records.Any(r => r.CustomerId == customer && r.Command.Events?.Any(e => e.EventId == eventId) == true);
        }
    }

    [Fact]
    public async Task Events_of_many_customers_share_journal_appends_and_are_answered_only_once_stored()
    {
        var journal = fixture.Journal;
        journal.AppendDelay = TimeSpan.FromMilliseconds(20);
        // Every checkpoint write fails meanwhile: an answer that waited for one would fail too.
        fixture.Storage_.FailNextWrites(1_000_000);
        try
        {
            var customers = Enumerable.Range(0, 200).Select(_ => NewCustomer()).ToArray();
            var appendsBefore = journal.Appends;
            var answeredButNotStored = 0;
            await Task.WhenAll(customers.Select(id => Task.Run(async () =>
            {
                var result = (await fixture.Customer(id).Apply([Game(id, "e1", Now)]))[0];
                Assert.Equal(EventOutcome.Applied, result.Outcome);
                if (!Journaled(id, "e1"))
                {
                    Interlocked.Increment(ref answeredButNotStored);
                }
            })));
            var appends = journal.Appends - appendsBefore;
            Assert.Equal(0, answeredButNotStored);
            Assert.InRange(appends, 1, 50); // 200 customers' events in far fewer storage requests
        }
        finally
        {
            journal.AppendDelay = TimeSpan.Zero;
            fixture.Storage_.FailNextWrites(0);
        }
    }

    [Fact]
    public async Task Events_of_one_customer_arriving_during_an_append_share_the_next_one()
    {
        var journal = fixture.Journal;
        journal.AppendDelay = TimeSpan.FromMilliseconds(30);
        try
        {
            var id = NewCustomer();
            var grain = fixture.Customer(id);
            var before = journal.Appends;
            await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
            {
                var result = (await grain.Apply([Game(id, $"e{i}", Now)]))[0];
                Assert.Equal(EventOutcome.Applied, result.Outcome);
                Assert.True(Journaled(id, $"e{i}"), $"e{i} was answered before it was stored");
            })));
            Assert.InRange(journal.Appends - before, 1, 100);
            Assert.Equal(200, (await grain.Get())!.Summary.PointsLifetime);
        }
        finally
        {
            journal.AppendDelay = TimeSpan.Zero;
        }
    }

    [Fact]
    public async Task A_failed_append_fails_every_event_in_it_and_a_retry_applies_them()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        await grain.Apply([Game(id, "before", Now, minutes: 2)]);

        fixture.Journal.FailNextAppends(1);
        await Assert.ThrowsAsync<EventsNotCommittedException>(() => grain.Apply([Game(id, "lost", Now, minutes: 3)]).AsTask());
        fixture.Journal.FailNextAppends(0);

        // The live state was rebuilt from storage: the lost event is not there, and a retry applies it once.
        Assert.Equal(2, (await grain.Get())!.Summary.PointsLifetime);
        var retry = await grain.Apply([Game(id, "lost", Now, minutes: 3)]);
        Assert.Equal(EventOutcome.Applied, retry[0].Outcome);
        Assert.Equal(5, (await grain.Get())!.Summary.PointsLifetime);
        Assert.Equal(EventOutcome.Duplicate, (await grain.Apply([Game(id, "lost", Now, minutes: 3)]))[0].Outcome);
    }

    [Fact]
    public async Task An_append_that_was_stored_but_answered_with_an_error_is_acknowledged()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        fixture.Journal.FailNextAppends(1, afterStoring: true);
        // The writer asks the journal whether the batch landed: it did, so the event is applied, not failed.
        var result = await grain.Apply([Game(id, "landed", Now, minutes: 4)]);
        fixture.Journal.FailNextAppends(0);
        Assert.Equal(EventOutcome.Applied, result[0].Outcome);
        Assert.Equal(EventOutcome.Duplicate, (await grain.Apply([Game(id, "landed", Now, minutes: 4)]))[0].Outcome);
        Assert.Equal(4, (await grain.Get())!.Summary.PointsLifetime);
    }

    [Fact]
    public async Task After_a_failed_append_calls_that_change_nothing_answer_normally()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        var stored = Game(id, "stored", Now, minutes: 2);
        await grain.Apply([stored]);

        fixture.Journal.FailNextAppends(1);
        await Assert.ThrowsAsync<EventsNotCommittedException>(() => grain.Apply([Game(id, "lost", Now)]).AsTask());
        fixture.Journal.FailNextAppends(0);

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

    /// <summary>A new customer with <paramref name="games"/> game sessions applied one call each (a point each).</summary>
    private async Task<(string Id, ICustomerGrain Grain, GrainId GrainId)> CustomerWithGames(int games)
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        for (var i = 0; i < games; i++)
        {
            await grain.Apply([Game(id, $"g{i}", Now)]);
        }
        return (id, grain, ((IAddressable)grain).GetGrainId());
    }

    [Fact]
    public async Task An_active_customer_does_not_hold_on_to_the_checkpoints_it_wrote()
    {
        // Each checkpoint is a copy of the whole state. Kept by the activation until the next one, every customer's
        // state was held twice, and every copy lived long enough to reach the GC's oldest generation.
        var (id, grain, grainId) = await CustomerWithGames(12);
        await WaitFor(() => fixture.Storage_.Stored(grainId)?.PointsLifetime == 12);
        await WaitFor(() => fixture.Journal.Held(id) == 0, TimeSpan.FromSeconds(10)); // the last checkpoint is done
        var written = fixture.Storage_.WrittenStates(grainId);
        Assert.True(written.Count >= 2, $"{written.Count} checkpoints written");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.Equal(0, written.Count(w => w.IsAlive));
        // Still active and whole: the live state is the activation's own.
        Assert.Equal(12, (await grain.Get())!.EventsApplied);
        Assert.Equal(fixture.Storage_.WrittenStates(grainId).Count, written.Count); // nothing was read or written again
    }

    [Fact]
    public async Task Checkpoints_are_written_after_N_records_and_cover_the_journal_which_then_drops_them()
    {
        var (id, grain, grainId) = await CustomerWithGames(12);
        // Every 5 records (this fixture): checkpoints at 5 and 10 are written in the background. Each record earns one
        // point, so the lifetime points count the records a checkpoint holds; its journal sequence is the first
        // record's (taken from the clock) plus the others.
        await WaitFor(() => fixture.Storage_.Stored(grainId)?.PointsLifetime >= 10);
        var checkpoint = fixture.Storage_.Stored(grainId)!;
        Assert.InRange(checkpoint.PointsLifetime, 10, 12);
        var beforeFirst = checkpoint.JournalSeq - checkpoint.PointsLifetime;
        Assert.True(beforeFirst > DateTime.UtcNow.AddHours(-1).Ticks, $"the first sequence {beforeFirst + 1} is not from the clock");
        // The last records get their checkpoint once dirty for the interval (500 ms here), without any call.
        await WaitFor(() => fixture.Storage_.Stored(grainId)?.PointsLifetime == 12);
        Assert.Equal(beforeFirst + 12, fixture.Storage_.Stored(grainId)!.JournalSeq);
        // Covered records leave the journal: their batches are deleted (every 200 ms here) once no other
        // customer's uncovered record shares them.
        await WaitFor(() => fixture.Journal.Held(id) == 0, TimeSpan.FromSeconds(10));
    }

    /// <summary>Checkpoint slots lend their snapshots reused lists (remembered ids, ledger): customers of different sizes
    /// checkpointing many times through the same slots each store their own ids and entries, nothing of another.</summary>
    [Fact]
    public async Task Checkpoints_of_many_customers_through_reused_slot_lists_store_each_customer_alone()
    {
        var customers = Enumerable.Range(0, 8).Select(k => (Id: NewCustomer(), Games: 18 - k)).ToList();
        for (var round = 0; round < 18; round++)
        {
            await Task.WhenAll(customers.Where(c => round < c.Games)
                .Select(c => fixture.Customer(c.Id).Apply([Game(c.Id, $"{c.Id}-g{round}", Now)]).AsTask()));
        }
        foreach (var (id, games) in customers)
        {
            var grainId = ((IAddressable)fixture.Customer(id)).GetGrainId();
            // Every 5 records (this fixture), then once dirty for 500 ms: the last checkpoint holds every game.
            await WaitFor(() => fixture.Storage_.Stored(grainId)?.PointsLifetime == games, TimeSpan.FromSeconds(10));
            var stored = fixture.Storage_.Stored(grainId)!;
            var expected = Enumerable.Range(0, games).Select(i => $"{id}-g{i}").Order(StringComparer.Ordinal).ToList();
            Assert.Equal(expected, stored.Seen.Select(s => s.EventId).Order(StringComparer.Ordinal).ToList());
            Assert.All(stored.Ledger, e => Assert.StartsWith(id + "-g", e.EventKey, StringComparison.Ordinal));
            Assert.Equal(games, stored.EventsApplied);
        }
    }

    [Fact]
    public async Task A_failed_checkpoint_fails_no_event_and_a_later_one_catches_up()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        var grainId = ((IAddressable)grain).GetGrainId();
        fixture.Storage_.FailNextWrites(3, only: grainId);
        try
        {
            for (var i = 0; i < 6; i++)
            {
                Assert.Equal(EventOutcome.Applied, (await grain.Apply([Game(id, $"f{i}", Now)]))[0].Outcome);
            }
            await WaitFor(() => fixture.Storage_.Stored(grainId)?.PointsLifetime == 6, TimeSpan.FromSeconds(10));
        }
        finally
        {
            fixture.Storage_.FailNextWrites(0);
        }
        Assert.Equal(6, (await grain.Get())!.Summary.PointsLifetime);
    }

    /// <summary>A customer deactivated while its checkpoints fail keeps its records in the silo's journal; the next
    /// activation reads them back from the journal (the writer keeps where they are, not their bytes) and replays them.</summary>
    [Fact]
    public async Task A_customer_whose_last_checkpoint_failed_is_rebuilt_from_the_journal_when_it_comes_back()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        var grainId = ((IAddressable)grain).GetGrainId();
        Assert.Equal(EventOutcome.Applied, (await grain.Apply([Game(id, "back-0", Now)]))[0].Outcome);
        await WaitFor(() => fixture.Storage_.Stored(grainId)?.PointsLifetime == 1, TimeSpan.FromSeconds(10));
        fixture.Storage_.FailNextWrites(1_000, only: grainId);
        try
        {
            for (var i = 1; i <= 3; i++)
            {
                Assert.Equal(EventOutcome.Applied, (await grain.Apply([Game(id, $"back-{i}", Now)]))[0].Outcome);
            }
            await fixture.Cluster.DeactivateAsync(grain);
            Assert.Equal(1, fixture.Storage_.Stored(grainId)!.PointsLifetime); // no checkpoint took the three
        }
        finally
        {
            fixture.Storage_.FailNextWrites(0);
        }
        Assert.Equal(4, (await grain.Get())!.Summary.PointsLifetime);
        Assert.Equal(3, fixture.Journal.ReadBack.Count(r => r.CustomerId == id));
        Assert.Equal(EventOutcome.Duplicate, (await grain.Apply([Game(id, "back-2", Now)]))[0].Outcome);
    }

    /// <summary>Holds every checkpoint slot of the silo until disposed: checkpoints started meanwhile wait their turn.</summary>
    private async Task<IAsyncDisposable> HoldCheckpointSlots()
    {
        var slots = fixture.Cluster.GetSiloServiceProvider(fixture.Cluster.Silos[0].SiloAddress).GetRequiredService<CheckpointSlots>();
        var held = new List<CheckpointSlots.Slot>();
        for (var i = 0; i < Loyalty.Grains.Journal.JournalOptions.Default.MaxConcurrentCheckpoints; i++)
        {
            held.Add(await slots.EnterAsync());
        }
        return new Released(() => held.ForEach(s => s.Dispose()));
    }

    private sealed class Released(Action release) : IAsyncDisposable
    {
        private int _done;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                release();
            }
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task A_checkpoint_waiting_for_the_append_of_its_last_record_does_not_hold_the_customer_up()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        var grainId = ((IAddressable)grain).GetGrainId();
        var silo = fixture.Cluster.GetSiloServiceProvider(fixture.Cluster.Silos[0].SiloAddress);
        var writer = silo.GetRequiredService<Loyalty.Grains.Journal.JournalWriter>();
        var slots = silo.GetRequiredService<CheckpointSlots>();
        for (var i = 0; i < 4; i++)
        {
            await grain.Apply([Game(id, $"c{i}", Now)]);
        }
        var journal = fixture.Journal;
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        journal.Hold = hold;
        Task<EventResult[]> fifth;
        Task<EventResult[]> sixth;
        try
        {
            // The fifth record starts a checkpoint (every 5 records here) while the append that holds it is in flight.
            fifth = grain.Apply([Game(id, "c4", Now)]).AsTask();
            await Until(() => journal.HeldAppends > 0 && slots.Writing > 0, "the fifth record's append and its checkpoint");
            await Task.Delay(200); // the checkpoint waits for that append (it once took the apply gate to wait)
            // The sixth event applies and queues its record while that append is still in flight: the checkpoint waits
            // for the append without holding the customer up (it once held the apply gate until then).
            sixth = grain.Apply([Game(id, "c5", Now)]).AsTask();
            await Until(() => writer.Backlog >= 2, "the sixth record queued behind the held append");
            Assert.False(fifth.IsCompleted);
            Assert.False(fixture.Storage_.Stored(grainId)?.EventsApplied >= 5, "a checkpoint holding a record not yet stored was written");
        }
        finally
        {
            journal.Hold = null;
            hold.SetResult();
        }
        Assert.Equal(EventOutcome.Applied, (await fifth)[0].Outcome);
        Assert.Equal(EventOutcome.Applied, (await sixth)[0].Outcome);
        // The checkpoint is written once the append is stored. It takes its snapshot only then (a snapshot held through
        // the wait lived long enough for young collections to copy it), so it holds the sixth record too: no write
        // holds the fifth without it. (A checkpoint by age may have written the first records before the fifth came.)
        await Until(() => fixture.Storage_.Stored(grainId)?.EventsApplied >= 5, "the checkpoint");
        Assert.Equal(6, fixture.Storage_.Stored(grainId)!.EventsApplied);
        Assert.DoesNotContain(5L, fixture.Storage_.WrittenEventCounts(grainId));
        Assert.Equal(6, (await grain.Get())!.Summary.PointsLifetime);
    }

    /// <summary>A call that changes nothing (a retry of an event whose record is still being stored) stores no record
    /// of its own, yet its answer reports that event as done: it is answered only once that record is stored.</summary>
    [Fact]
    public async Task A_retry_of_an_event_whose_record_is_being_stored_is_answered_only_once_it_is_stored()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        await grain.Apply([Game(id, "first", Now)]);
        var journal = fixture.Journal;
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        journal.Hold = hold;
        Task<EventResult[]> original;
        Task<EventResult[]> retry;
        try
        {
            original = grain.Apply([Game(id, "held", Now)]).AsTask();
            await Until(() => journal.HeldAppends > 0, "the held append");
            retry = grain.Apply([Game(id, "held", Now)]).AsTask();
            await Task.Delay(200);   // the retry reaches the grain and is applied (a duplicate) meanwhile
            Assert.False(original.IsCompleted);
            Assert.False(retry.IsCompleted, "a retry was answered before the record of its event was stored");
        }
        finally
        {
            journal.Hold = null;
            hold.SetResult();
        }
        Assert.Equal(EventOutcome.Applied, (await original)[0].Outcome);
        Assert.Equal(EventOutcome.Duplicate, (await retry)[0].Outcome);
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        for (var waited = 0; !condition(); waited += 20)
        {
            Assert.True(waited < 15_000, $"still waiting for {what}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task An_erase_does_not_wait_for_a_checkpoint_still_waiting_for_its_turn_and_that_checkpoint_writes_nothing()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        var grainId = ((IAddressable)grain).GetGrainId();
        var slots = await HoldCheckpointSlots();
        try
        {
            // Five records start a background checkpoint (every 5 records here), which waits for a slot.
            for (var i = 0; i < 5; i++)
            {
                await grain.Apply([Game(id, $"w{i}", Now)]);
            }
            // The erase goes through while that checkpoint waits (it once waited for it under the apply gate, which the
            // checkpoint needed: both stood still for good, and so did every caller of the customer).
            Assert.True(await grain.Erase().WaitAsync(TimeSpan.FromSeconds(15)));
        }
        finally
        {
            await slots.DisposeAsync();
        }
        // The checkpoint that waited gives way: nothing of the erased customer is written again.
        await Task.Delay(300);
        Assert.Null(fixture.Storage_.Stored(grainId));
        var again = await grain.Apply([Game(id, "after", Now, minutes: 2)]).AsTask().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(EventOutcome.Applied, again[0].Outcome);
        Assert.Equal(2, (await grain.Get())!.Summary.PointsLifetime);
    }

    [Fact]
    public async Task A_rebuild_after_a_failed_append_does_not_wait_for_a_checkpoint_still_waiting_for_its_turn()
    {
        var id = NewCustomer();
        var grain = fixture.Customer(id);
        var slots = await HoldCheckpointSlots();
        try
        {
            for (var i = 0; i < 5; i++)
            {
                await grain.Apply([Game(id, $"w{i}", Now)]);
            }
            // A failed append makes the customer rebuild from storage while the checkpoint waits for a slot.
            fixture.Journal.FailNextAppends(1);
            await Assert.ThrowsAsync<EventsNotCommittedException>(() => grain.Apply([Game(id, "lost", Now, minutes: 3)]).AsTask());
            fixture.Journal.FailNextAppends(0);
            await slots.DisposeAsync();
            // The checkpoint gets its slot during or after the rebuild; neither waits for the other.
            var next = await grain.Apply([Game(id, "next", Now, minutes: 4)]).AsTask().WaitAsync(TimeSpan.FromSeconds(15));
            Assert.Equal(EventOutcome.Applied, next[0].Outcome);
            Assert.Equal(9, (await grain.Get().WaitAsync(TimeSpan.FromSeconds(15)))!.Summary.PointsLifetime);
        }
        finally
        {
            fixture.Journal.FailNextAppends(0);
            await slots.DisposeAsync();
        }
    }

    private static async Task WaitFor(Func<bool> condition, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(5));
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "condition not met in time");
            await Task.Delay(20);
        }
    }
}

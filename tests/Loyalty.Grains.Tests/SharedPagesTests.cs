using Loyalty.Grains.Journal;

namespace Loyalty.Grains.Tests;

/// <summary>Which small batches share a page row, and when such a row may be deleted: only once it is closed (no later
/// batch can go into it) and every batch stored in it is covered.</summary>
public sealed class SharedPagesTests
{
    [Fact]
    public void Consecutive_small_batches_share_a_row_of_at_most_its_slots_then_the_next_row_starts()
    {
        var shared = new SharedPages();
        var placed = Enumerable.Range(1, SharedPages.Slots + 2).Select(b => shared.Place(b, 100)).ToList();
        Assert.All(placed.Take(SharedPages.Slots), p => Assert.Equal(1, p.First));
        Assert.Equal(Enumerable.Range(0, SharedPages.Slots), placed.Take(SharedPages.Slots).Select(p => p.Slot));
        Assert.Equal((SharedPages.Slots + 1L, 0), placed[SharedPages.Slots]);
        Assert.Equal((SharedPages.Slots + 1L, 1), placed[SharedPages.Slots + 1]);
    }

    [Fact]
    public void A_row_takes_no_batch_past_its_bytes_and_a_batch_in_rows_of_its_own_closes_it()
    {
        var shared = new SharedPages();
        Assert.Equal((1L, 0), shared.Place(1, SharedPages.MaxBytes - 10));
        Assert.Equal((2L, 0), shared.Place(2, 11)); // would pass the row's bytes
        shared.Close();                              // batch 3 has rows of its own
        Assert.Equal((4L, 0), shared.Place(4, 10));
        Assert.True(shared.Holds(2, out var first, out var slot));
        Assert.Equal((2L, 0), (first, slot));
        Assert.False(shared.Holds(3, out _, out _));
    }

    [Fact]
    public void A_row_is_deleted_once_every_batch_stored_in_it_is_covered_and_the_next_batch_opens_a_new_one()
    {
        var shared = new SharedPages();
        shared.Place(1, 10);
        shared.Place(2, 10);
        shared.Place(3, 10);
        Assert.True(shared.Delete(1));
        Assert.True(shared.Delete(3));
        Assert.Empty(shared.TakeReady()); // batch 2 is not covered yet
        Assert.True(shared.Delete(2));
        Assert.Equal([1L], shared.TakeReady()); // the open row goes too: an erased customer's records must not wait for traffic
        Assert.Empty(shared.TakeReady());       // handed out once
        Assert.Equal((4L, 0), shared.Place(4, 10));
        shared.Deleted([1L]);
        Assert.False(shared.Holds(2, out _, out _));
        Assert.False(shared.Delete(2)); // forgotten: a batch deleted again is not this row's any more
        Assert.True(shared.Holds(4, out var first, out _));
        Assert.Equal(4L, first);
    }

    [Fact]
    public void A_closed_row_waits_for_its_last_uncovered_batch()
    {
        var shared = new SharedPages();
        shared.Place(1, 10);
        shared.Place(2, 10);
        shared.Close();
        shared.Delete(2);
        Assert.Empty(shared.TakeReady());
        shared.Delete(1);
        Assert.Equal([1L], shared.TakeReady());
    }

    [Fact]
    public void A_batch_not_stored_is_not_waited_for_and_one_tried_again_takes_its_slot_again()
    {
        var shared = new SharedPages();
        shared.Place(1, 10);
        Assert.Equal((1L, 1), shared.Place(2, 10));
        shared.NotStored(2);
        Assert.False(shared.Holds(2, out _, out _));
        Assert.Equal((1L, 1), shared.Place(2, 10)); // the writer tries the number again
        shared.NotStored(2);
        shared.Delete(1);
        shared.Close();
        Assert.Equal([1L], shared.TakeReady()); // batch 2 never landed: the row does not wait for it
    }

    [Fact]
    public void Rows_whose_delete_failed_are_handed_out_again()
    {
        var shared = new SharedPages();
        shared.Place(1, 10);
        shared.Delete(1);
        shared.Close();
        var ready = shared.TakeReady();
        Assert.Equal([1L], ready);
        shared.Requeue(ready);
        Assert.Equal([1L], shared.TakeReady());
    }
}

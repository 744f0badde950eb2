using Loyalty.Domain.Customers;
using Loyalty.Grains.Customers;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Loyalty.Grains.Tests;

public sealed class DueWorkSchedulerTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_catch_up_that_finds_the_work_not_due_yet_arms_the_timer_again()
    {
        var time = new FakeTimeProvider(Start);
        var due = Start.AddSeconds(3);
        var state = new CustomerState { Holds = [new PointsHold("r-1", 10, due.UtcTicks)] };
        var fired = 0;
        DueWorkScheduler? scheduler = null;
        // As the grain does: the catch-up schedules again from the state it finds. The first time the work is not done
        // (the timer ran before the instant by the wall clock), so the same instant is still next; the second time it is.
        scheduler = new DueWorkScheduler(time, () =>
        {
            if (++fired == 1)
            {
                scheduler!.Schedule(state);
            }
            return Task.CompletedTask;
        }, NullLogger.Instance);

        scheduler.Schedule(state);
        time.Advance(TimeSpan.FromSeconds(3));

        // Armed again for the same instant (now reached): it fired again rather than never.
        Assert.Equal(2, fired);
        scheduler.Dispose();
    }
}

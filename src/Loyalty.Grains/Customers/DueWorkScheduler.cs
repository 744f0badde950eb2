using Loyalty.Domain.Customers;
using Microsoft.Extensions.Logging;

namespace Loyalty.Grains.Customers;

/// <summary>
/// When a customer's due work (pending points activating, expiry, tier period ends, holds lapsing) runs: a timer on
/// the engine's <see cref="TimeProvider"/> while the customer is active (at most an hour ahead; it re-arms), and the
/// time for one reminder when it deactivates. The work itself is the domain's <see cref="DueWork"/>.
/// </summary>
public sealed class DueWorkScheduler(TimeProvider time, Func<Task> catchUp, ILogger logger) : IDisposable
{
    private static readonly TimeSpan MaxTimerDelay = TimeSpan.FromHours(1);
    private ITimer? _timer;
    private long _armedAt;

    /// <summary>Arms (or moves, or stops) the timer for the next due instant of <paramref name="state"/>.</summary>
    public void Schedule(CustomerState state)
    {
        var next = DueWork.NextDue(state);
        if (next is null)
        {
            Dispose();
            return;
        }
        if (_timer is not null && Volatile.Read(ref _armedAt) == next.Value.UtcTicks)
        {
            return;
        }
        Volatile.Write(ref _armedAt, next.Value.UtcTicks);
        var delay = next.Value - time.GetUtcNow();
        // Whole milliseconds, rounded up: a timer's delay is counted in them, and one truncated fires before the instant.
        delay = delay < TimeSpan.Zero ? TimeSpan.Zero : delay > MaxTimerDelay ? MaxTimerDelay : TimeSpan.FromMilliseconds(Math.Ceiling(delay.TotalMilliseconds));
        if (_timer is null)
        {
            // The callback runs outside the grain: it calls the grain like any client, so the work is scheduled on it.
            // A timer that has fired is armed no more: if the catch-up finds the work not due yet (the timer ran early
            // by the clock), the schedule that follows arms it again instead of taking it for armed at that instant.
            _timer = time.CreateTimer(_ =>
            {
                Volatile.Write(ref _armedAt, 0);
                catchUp().ContinueWith(
                    t => logger.LogWarning(t.Exception, "Due work for a customer failed; it runs again on the next call or activation"),
                    TaskContinuationOptions.OnlyOnFaulted);
            }, null, delay, Timeout.InfiniteTimeSpan);
        }
        else
        {
            _timer.Change(delay, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>How long from now a reminder should wake the inactive customer; null when nothing is due.</summary>
    public TimeSpan? ReminderDelay(CustomerState state)
    {
        if (DueWork.NextDue(state) is not { } next)
        {
            return null;
        }
        var dueIn = next - time.GetUtcNow();
        return dueIn < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : dueIn;
    }

    public void Dispose()
    {
        _timer?.Dispose();
        _timer = null;
        _armedAt = 0;
    }
}

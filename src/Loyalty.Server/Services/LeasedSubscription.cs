using System.Threading.Channels;

namespace Loyalty.Server.Services;

/// <summary>The loop of a server stream fed by grain observers: deliver what arrives in the inbox, and renew the
/// subscription lease (which also fills gaps, for watchers that can) every <paramref name="renewal"/>, until the
/// caller goes away.</summary>
internal static class LeasedSubscription
{
    /// <summary>An inbox for observer pushes: bounded, dropping the oldest when the caller reads too slowly.</summary>
    public static Channel<T> Inbox<T>(int capacity) =>
        Channel.CreateBounded<T>(new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest });

    public static async Task RunAsync<T>(ChannelReader<T> inbox, TimeSpan renewal, Func<Task> renew, Func<T, Task> deliver, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(renewal);
        var renewDue = timer.WaitForNextTickAsync(ct).AsTask();
        var arrived = inbox.WaitToReadAsync(ct).AsTask();
        while (!ct.IsCancellationRequested)
        {
            if (await Task.WhenAny(arrived, renewDue) == renewDue)
            {
                await renewDue;
                await renew();
                renewDue = timer.WaitForNextTickAsync(ct).AsTask();
                continue;
            }
            await arrived;
            while (inbox.TryRead(out var item))
            {
                await deliver(item);
            }
            arrived = inbox.WaitToReadAsync(ct).AsTask();
        }
    }

    /// <summary>An observer for grains to call, alive until disposed. Orleans holds the object behind an object
    /// reference only weakly: without this hold, a garbage collection silently ended a watch's live pushes (and made
    /// deleting the reference throw).</summary>
    public static Observer<T> Observe<T>(this IGrainFactory grains, T observer) where T : class, IGrainObserver =>
        new(grains, observer, grains.CreateObjectReference<T>(observer));

    public sealed class Observer<T>(IGrainFactory grains, T target, T reference) : IDisposable where T : class, IGrainObserver
    {
        /// <summary>What to hand to grains.</summary>
        public T Reference { get; } = reference;

        public void Dispose()
        {
            grains.DeleteObjectReference<T>(Reference);
            GC.KeepAlive(target);
        }
    }
}

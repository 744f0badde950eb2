using Grpc.Core;
using Loyalty.Contracts.V1;

namespace Loyalty.Server.Tests;

/// <summary>A PublishStream client that writes without reading until flow control holds it back.</summary>
internal sealed class StalledWriter
{
    private int _written;

    private StalledWriter()
    {
    }

    /// <summary>Writes until the call is cancelled or every event was written (which the tests treat as a failure).</summary>
    public Task Writing { get; private set; } = Task.CompletedTask;

    /// <summary>Events written so far.</summary>
    public int Written => Volatile.Read(ref _written);

    /// <summary>Starts writing <paramref name="count"/> events made by <paramref name="make"/>, then returns once no event
    /// could be written for <paramref name="quiet"/> (at most a minute), with how many were.</summary>
    public static async Task<(StalledWriter Writer, int Written)> Start(AsyncDuplexStreamingCall<PublishRequest, PublishResult> call,
        int count, Func<int, Event> make, TimeSpan quiet)
    {
        var writer = new StalledWriter();
        writer.Writing = Task.Run(async () =>
        {
            try
            {
                for (var i = 0; i < count; i++)
                {
                    await call.RequestStream.WriteAsync(new PublishRequest { Event = make(i) });
                    Interlocked.Increment(ref writer._written);
                }
            }
            catch (Exception ex) when (ex is RpcException or OperationCanceledException or InvalidOperationException)
            {
                // cancelled at the end of the test
            }
        });
        var last = -1;
        var stalledSince = DateTime.UtcNow;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
            var now = writer.Written;
            if (now != last)
            {
                last = now;
                stalledSince = DateTime.UtcNow;
            }
            else if (DateTime.UtcNow - stalledSince > quiet)
            {
                break;
            }
        }
        return (writer, last);
    }
}

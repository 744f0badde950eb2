using System.Diagnostics.Metrics;

namespace Loyalty.Grains;

/// <summary>Engine metrics (OpenTelemetry naming); exported by the host.</summary>
public static class LoyaltyMetrics
{
    public const string MeterName = "Loyalty.Engine";
    private static readonly Meter Meter = new(MeterName);
    private static readonly Histogram<int> EventsPerWrite = Meter.CreateHistogram<int>(
        "loyalty.storage.events_per_write", unit: "{event}", description: "Events committed by one customer state write");
    private static readonly Histogram<double> WriteDuration = Meter.CreateHistogram<double>(
        "loyalty.storage.write.duration", unit: "s", description: "Duration of customer state writes");

    private static long _writes;
    private static long _eventsWritten;

    public static long Writes => Interlocked.Read(ref _writes);
    public static long EventsWritten => Interlocked.Read(ref _eventsWritten);

    public static void RecordWrite(int events, TimeSpan duration)
    {
        Interlocked.Increment(ref _writes);
        Interlocked.Add(ref _eventsWritten, events);
        EventsPerWrite.Record(events);
        WriteDuration.Record(duration.TotalSeconds);
    }
}

using System.Diagnostics.Metrics;

namespace Loyalty.Grains.Journal;

/// <summary>Journal and checkpoint metrics (meter <see cref="LoyaltyMetrics.MeterName"/>). Storage requests are
/// counted by kind, so requests per event can be read off /metrics.</summary>
public static class JournalMetrics
{
    private static readonly Meter Meter = new(LoyaltyMetrics.MeterName);
    private static readonly Counter<long> Requests = Meter.CreateCounter<long>(
        "loyalty.storage.requests", unit: "{request}", description: "Storage requests by kind: journal (one append of many customers' records), checkpoint, archive, read, truncate");
    private static readonly Counter<long> Records = Meter.CreateCounter<long>(
        "loyalty.journal.records", unit: "{record}", description: "Journal records stored");
    private static readonly Counter<long> Events = Meter.CreateCounter<long>(
        "loyalty.journal.events", unit: "{event}", description: "Events and operations in stored journal records");
    private static readonly Counter<long> Bytes = Meter.CreateCounter<long>(
        "loyalty.journal.bytes", unit: "By", description: "Encoded bytes appended to the journal");
    private static readonly Histogram<double> AppendDuration = Meter.CreateHistogram<double>(
        "loyalty.journal.append.duration", unit: "s", description: "Duration of one journal append (a batch of many customers' records)",
        tags: null, advice: LoyaltyMetrics.Seconds);
    private static readonly Histogram<double> CommitWait = Meter.CreateHistogram<double>(
        "loyalty.journal.commit.duration", unit: "s",
        description: "From a record's hand-over to the journal writer to its acknowledgement: the wait for a batch and the append that stores it",
        tags: null, advice: LoyaltyMetrics.Seconds);
    private static readonly Counter<long> Failures = Meter.CreateCounter<long>(
        "loyalty.journal.failures", unit: "{batch}", description: "Journal appends that were not stored (their callers were told)");
    private static readonly Counter<long> Checkpoints = Meter.CreateCounter<long>(
        "loyalty.checkpoints", unit: "{checkpoint}", description: "Customer checkpoints written, by reason (records, dirty, deactivation, erase)");
    private static readonly Counter<long> CheckpointFailures = Meter.CreateCounter<long>(
        "loyalty.checkpoint.failures", unit: "{checkpoint}", description: "Checkpoint writes that failed (retried later; the journal still holds the records)");
    private static readonly UpDownCounter<long> CheckpointQueue = Meter.CreateUpDownCounter<long>(
        "loyalty.checkpoints.waiting", unit: "{checkpoint}", description: "Checkpoints waiting for one of the silo's checkpoint slots (Loyalty:Journal:MaxConcurrentCheckpoints)");
    private static readonly UpDownCounter<long> UncoveredBytes = Meter.CreateUpDownCounter<long>(
        "loyalty.journal.uncovered", unit: "By", description: "Bytes of stored journal records that no checkpoint covers yet, kept by the silo (bounded by Loyalty:Journal:MaxUncoveredBytes)");
    private static readonly Counter<long> Refused = Meter.CreateCounter<long>(
        "loyalty.admission.refused", unit: "{call}", description: "Calls refused with RESOURCE_EXHAUSTED because the journal backlog was full");

    public static void Request(string kind, int count = 1)
    {
        Requests.Add(count, new KeyValuePair<string, object?>("kind", kind));
    }

    public static void Committed(TimeSpan wait) => CommitWait.Record(wait.TotalSeconds);

    public static void Appended(int records, int events, int bytes, TimeSpan duration)
    {
        Request("journal");
        Records.Add(records);
        Events.Add(events);
        Bytes.Add(bytes);
        AppendDuration.Record(duration.TotalSeconds);
    }

    public static void Failed()
    {
        Request("journal");
        Failures.Add(1);
    }

    public static void Truncated() => Request("truncate");

    public static void Checkpointed(string reason, bool archived)
    {
        Request("checkpoint");
        if (archived)
        {
            Request("archive");
        }
        Checkpoints.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    public static void CheckpointWaiting(int change) => CheckpointQueue.Add(change);

    public static void CheckpointFailed() => CheckpointFailures.Add(1);

    public static void Read() => Request("read");

    public static void AdmissionRefused() => Refused.Add(1);

    public static void Uncovered(long bytes)
    {
        if (bytes != 0)
        {
            UncoveredBytes.Add(bytes);
        }
    }
}

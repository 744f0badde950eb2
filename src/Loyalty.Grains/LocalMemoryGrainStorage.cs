using System.Collections.Concurrent;
using System.Globalization;
using Orleans.Storage;

namespace Loyalty.Grains;

/// <summary>
/// Volatile storage in this process (the "Memory" provider, an explicit opt-in for development and benchmarks): keeps
/// the state a grain wrote in its stored form (the serializer the durable store uses), with etag checks like a real
/// store, and no grain hop. A single-process store: state does not follow a grain to another silo, and everything is
/// lost when the process stops.
/// </summary>
/// <remarks>
/// It used to keep the written object itself. A checkpoint writes a copy of the customer's whole state (remembered
/// event ids, kept rewards, ledger), and by reference that copy lived until the customer's next checkpoint, tens of
/// seconds later, to die old. Stored as bytes, the copy dies young and what stays is an array the collector never
/// looks into (with <see cref="DomainStateSerializer.InMemory"/>, plain JSON on the pinned heap, so young collections do
/// not copy it either); and, as with a real store, nothing the grain does to the object later changes what is stored.
/// </remarks>
public sealed class LocalMemoryGrainStorage(IGrainStorageSerializer serializer) : IGrainStorage
{
    private readonly ConcurrentDictionary<(string State, GrainId Grain), Entry> _entries = new();
    private long _etag;

    private sealed record Entry(BinaryData State, string ETag);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_entries.TryGetValue((stateName, grainId), out var entry))
        {
            grainState.State = serializer.Deserialize<T>(entry.State);
            grainState.ETag = entry.ETag;
            grainState.RecordExists = true;
        }
        else
        {
            grainState.State = Activator.CreateInstance<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
        }
        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = (stateName, grainId);
        var written = new Entry(serializer.Serialize(grainState.State), Interlocked.Increment(ref _etag).ToString(CultureInfo.InvariantCulture));
        while (true)
        {
            if (_entries.TryGetValue(key, out var current))
            {
                CheckETag(current.ETag, grainState.ETag, grainId);
                if (_entries.TryUpdate(key, written, current))
                {
                    break;
                }
            }
            else
            {
                CheckETag(null, grainState.ETag, grainId);
                if (_entries.TryAdd(key, written))
                {
                    break;
                }
            }
        }
        grainState.ETag = written.ETag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = (stateName, grainId);
        if (_entries.TryGetValue(key, out var current))
        {
            CheckETag(current.ETag, grainState.ETag, grainId);
            _entries.TryRemove(KeyValuePair.Create(key, current));
        }
        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = Activator.CreateInstance<T>();
        return Task.CompletedTask;
    }

    private static void CheckETag(string? stored, string? expected, GrainId grainId)
    {
        if (!string.Equals(stored, expected, StringComparison.Ordinal))
        {
            throw new InconsistentStateException($"etag mismatch for {grainId}: stored {stored ?? "(none)"}, expected {expected ?? "(none)"}", stored ?? "", expected ?? "");
        }
    }
}

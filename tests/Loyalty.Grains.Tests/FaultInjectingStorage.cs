using System.Collections.Concurrent;
using Loyalty.Domain.Customers;
using Orleans.Storage;

namespace Loyalty.Grains.Tests;

/// <summary>
/// An etag-checked grain storage that stores what the production serializer produces, and can slow down or
/// fail writes on demand. It lets tests see exactly what is durable at the moment a caller is answered.
/// </summary>
public sealed class FaultInjectingStorage : IGrainStorage
{
    private readonly ConcurrentDictionary<GrainId, (BinaryData Data, string ETag)> _rows = new();
    private readonly DomainStateSerializer _serializer = new();
    private int _failNext;
    private int _writes;

    public TimeSpan WriteDelay { get; set; }
    public TimeSpan ReadDelay { get; set; }
    public int Writes => Volatile.Read(ref _writes);

    private GrainId? _failOnly;

    /// <summary>The next <paramref name="count"/> writes (of <paramref name="only"/> that grain, when given) throw after their delay.</summary>
    public void FailNextWrites(int count, GrainId? only = null)
    {
        _failOnly = only;
        Volatile.Write(ref _failNext, count);
    }

    /// <summary>The state as storage holds it now (deserialized afresh).</summary>
    public CustomerState? Stored(GrainId id) =>
        _rows.TryGetValue(id, out var row) ? _serializer.Deserialize<CustomerState>(row.Data) : null;

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (ReadDelay > TimeSpan.Zero)
        {
            await Task.Delay(ReadDelay);
        }
        if (_rows.TryGetValue(grainId, out var row))
        {
            grainState.State = _serializer.Deserialize<T>(row.Data);
            grainState.ETag = row.ETag;
            grainState.RecordExists = true;
        }
    }

    private readonly ConcurrentDictionary<GrainId, ConcurrentQueue<WeakReference>> _written = new();

    /// <summary>Every state object written for <paramref name="id"/>, weakly held: storage keeps only the bytes, so
    /// a test can see whether anything else still holds them.</summary>
    public IReadOnlyList<WeakReference> WrittenStates(GrainId id) =>
        _written.TryGetValue(id, out var written) ? [.. written] : [];

    private readonly ConcurrentDictionary<GrainId, ConcurrentQueue<long>> _writtenEvents = new();

    /// <summary>The events applied of every customer state written for <paramref name="id"/>, oldest first (failed
    /// writes included).</summary>
    public IReadOnlyList<long> WrittenEventCounts(GrainId id) =>
        _writtenEvents.TryGetValue(id, out var written) ? [.. written] : [];

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        _written.GetOrAdd(grainId, _ => new()).Enqueue(new WeakReference(grainState.State));
        if (grainState.State is CustomerState customer)
        {
            _writtenEvents.GetOrAdd(grainId, _ => new()).Enqueue(customer.EventsApplied);
        }
        var data = _serializer.Serialize(grainState.State);
        if (WriteDelay > TimeSpan.Zero)
        {
            await Task.Delay(WriteDelay);
        }
        if ((_failOnly is null || _failOnly == grainId) && Interlocked.Decrement(ref _failNext) >= 0)
        {
            throw new IOException("injected storage write failure");
        }
        if (Volatile.Read(ref _failNext) < 0)
        {
            Interlocked.Exchange(ref _failNext, 0);
        }
        var etag = Guid.NewGuid().ToString("N");
        var current = _rows.TryGetValue(grainId, out var row) ? row.ETag : null;
        if (current != grainState.ETag)
        {
            throw new InconsistentStateException($"etag mismatch: stored {current}, written {grainState.ETag}");
        }
        _rows[grainId] = (data, etag);
        grainState.ETag = etag;
        grainState.RecordExists = true;
        Interlocked.Increment(ref _writes);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        _rows.TryRemove(grainId, out _);
        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }
}

using System.Collections.Concurrent;
using Loyalty.Domain.Programs;

namespace Loyalty.Grains.Journal;

/// <summary>Programs by version, for replay: a journal record is replayed under the version it was applied with.</summary>
public sealed class ProgramVersions(IProgramCatalog catalog, IGrainFactory grains)
{
    private readonly ConcurrentDictionary<string, ActiveProgram> _known = new(StringComparer.Ordinal);

    public async ValueTask<ActiveProgram> GetAsync(string version)
    {
        var current = catalog.Current;
        if (current.Version == version)
        {
            return current;
        }
        if (_known.TryGetValue(version, out var known))
        {
            return known;
        }
        var record = await grains.GetGrain<IProgramGrain>(ProgramGrain.Key).Get(version)
            ?? throw new InvalidOperationException($"program version {version} is not among the stored versions; a journal record needs it for replay");
        var program = ProgramLoader.Parse(record.Json, $"program version {version}");
        _known.TryAdd(version, program);
        return program;
    }
}

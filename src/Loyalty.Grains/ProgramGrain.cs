using Loyalty.Domain.Programs;
using Microsoft.Extensions.Logging;

namespace Loyalty.Grains;

/// <summary>One published version of the program.</summary>
[GenerateSerializer, Immutable, Alias("loyalty.ProgramRecord")]
public sealed record ProgramRecord(
    [property: Id(0)] int Number,
    [property: Id(1)] string Version,
    [property: Id(2)] string Json,
    [property: Id(3)] DateTimeOffset PublishedAt,
    [property: Id(4)] string Author,
    [property: Id(5)] string Source);

[GenerateSerializer, Immutable, Alias("loyalty.PublishOutcome")]
public sealed record PublishOutcome([property: Id(0)] bool Published, [property: Id(1)] string ActiveVersion, [property: Id(2)] ProgramRecord? Record);

/// <summary>The program's versions, persisted. Key: <see cref="ProgramGrain.Key"/>. Only publishing and silos refreshing
/// their local copy call it; evaluating an event never does.</summary>
public interface IProgramGrain : IGrainWithStringKey
{
    Task<string?> GetActiveVersion();
    Task<ProgramRecord?> GetActive();
    Task<ProgramRecord?> Get(string version);
    Task<ProgramRecord[]> List();
    /// <summary>Makes <paramref name="json"/> the active version if the active version is still <paramref name="expectedVersion"/>.</summary>
    Task<PublishOutcome> Publish(string json, string expectedVersion, string author);
    /// <summary>Makes the configured program active unless a version was published through the API; returns the active one.</summary>
    Task<ProgramRecord> Seed(string json, string source);
}

public sealed class ProgramHistory
{
    public string ActiveVersion { get; set; } = "";
    public List<ProgramRecord> Versions { get; set; } = [];
}

[GrainType("program")]
public sealed class ProgramGrain(
    [PersistentState("program", CustomerGrain.StorageName)] IPersistentState<ProgramHistory> state,
    EngineClock clock,
    ILogger<ProgramGrain> logger) : Grain, IProgramGrain
{
    public const string Key = "active";
    /// <summary>Versions kept (with their definitions) so GetProgram can show past ones; all fit one storage entity.</summary>
    public const int VersionsKept = 10;
    public const int MaxProgramBytes = 64 * 1024;

    public Task<string?> GetActiveVersion() =>
        Task.FromResult(state.State.ActiveVersion.Length == 0 ? null : state.State.ActiveVersion);

    public Task<ProgramRecord?> GetActive() => Get(state.State.ActiveVersion);

    public Task<ProgramRecord?> Get(string version) =>
        Task.FromResult(state.State.Versions.LastOrDefault(v => v.Version == version));

    public Task<ProgramRecord[]> List() => Task.FromResult(state.State.Versions.AsEnumerable().Reverse().ToArray());

    public async Task<PublishOutcome> Publish(string json, string expectedVersion, string author)
    {
        // Validated again here: nothing invalid is ever stored, whoever calls.
        var program = ProgramLoader.Parse(json, "published program");
        if (!string.Equals(expectedVersion, state.State.ActiveVersion, StringComparison.Ordinal))
        {
            return new PublishOutcome(false, state.State.ActiveVersion, null);
        }
        var record = await Store(program.Version, json, author, "publish");
        logger.LogInformation("Program version {Version} (#{Number}) published by {Author}", record.Version, record.Number, author);
        return new PublishOutcome(true, record.Version, record);
    }

    public async Task<ProgramRecord> Seed(string json, string source)
    {
        var program = ProgramLoader.Parse(json, source);
        if (await GetActive() is { } active && (active.Source == "publish" || active.Version == program.Version))
        {
            // A version published through the API wins over the configured file.
            return active;
        }
        // Nothing published yet, or only an earlier configured file: the configured program is the active one.
        return await Store(program.Version, json, "configuration", source);
    }

    private async Task<ProgramRecord> Store(string version, string json, string author, string source)
    {
        var number = state.State.Versions.Count == 0 ? 1 : state.State.Versions[^1].Number + 1;
        var record = new ProgramRecord(number, version, json, clock.GetUtcNow(), author, source);
        var previous = state.State;
        var next = new ProgramHistory { ActiveVersion = version, Versions = [.. previous.Versions, record] };
        if (next.Versions.Count > VersionsKept)
        {
            next.Versions.RemoveRange(0, next.Versions.Count - VersionsKept);
        }
        state.State = next;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // Not stored, so not published: nobody may see it (silos poll this grain).
            state.State = previous;
            DeactivateOnIdle();
            throw;
        }
        return record;
    }
}

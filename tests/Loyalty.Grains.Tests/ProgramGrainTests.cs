using Loyalty.Domain.Programs;
using Loyalty.TestKit;

namespace Loyalty.Grains.Tests;

[Collection(MemoryClusterCollection.Name)]
public sealed class ProgramGrainTests(MemoryClusterFixture fixture)
{
    private static string Named(string name) =>
        File.ReadAllText(RepoPaths.SampleProgram).Replace("\"name\": \"ACME Rewards\"", $"\"name\": \"{name}\"", StringComparison.Ordinal);

    [Fact]
    public async Task The_configured_file_is_active_until_a_version_is_published_which_then_survives_restarts()
    {
        var grain = fixture.Client.GetGrain<IProgramGrain>("test-" + Guid.NewGuid().ToString("N"));
        var a = await grain.Seed(Named("A"), "configuration");
        Assert.Equal((1, ProgramLoader.VersionOf(Named("A")), "configuration"), (a.Number, a.Version, a.Source));

        var b = await grain.Seed(Named("B"), "configuration"); // the file was edited and the silo restarted
        Assert.Equal((2, ProgramLoader.VersionOf(Named("B"))), (b.Number, b.Version));
        Assert.Equal(b.Version, (await grain.Seed(Named("B"), "configuration")).Version); // same file: no new version
        Assert.Equal(2, (await grain.List()).Length);

        var stale = await grain.Publish(Named("C"), expectedVersion: a.Version, author: "ops");
        Assert.False(stale.Published);
        var c = await grain.Publish(Named("C"), expectedVersion: b.Version, author: "ops");
        Assert.True(c.Published);

        var afterRestart = await grain.Seed(Named("A"), "configuration");
        Assert.Equal(c.ActiveVersion, afterRestart.Version);
        Assert.Equal(["C", "B", "A"], (await grain.List()).Select(v => ProgramLoader.Parse(v.Json).Definition.Name));
        Assert.Equal(Named("A"), (await grain.Get(a.Version))!.Json);
    }
}

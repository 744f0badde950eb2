using Loyalty.TestKit;

namespace Loyalty.Grains.Tests;

[Collection(FaultyClusterCollection.Name)]
public sealed class ProgramGrainFaultTests(FaultyClusterFixture fixture)
{
    [Fact]
    public async Task A_publish_whose_write_fails_is_not_active_anywhere_and_can_be_retried()
    {
        var text = File.ReadAllText(RepoPaths.SampleProgram);
        var grain = fixture.Client.GetGrain<IProgramGrain>("fault-" + Guid.NewGuid().ToString("N"));
        var seeded = await grain.Seed(text, "configuration");
        var draft = text.Replace("\"name\": \"ACME Rewards\"", "\"name\": \"ACME Draft\"", StringComparison.Ordinal);

        fixture.Storage_.FailNextWrites(1);
        try
        {
            await Assert.ThrowsAnyAsync<Exception>(() => grain.Publish(draft, seeded.Version, "ops"));
        }
        finally
        {
            fixture.Storage_.FailNextWrites(0);
        }
        Assert.Equal(seeded.Version, await grain.GetActiveVersion());

        var retry = await grain.Publish(draft, seeded.Version, "ops");
        Assert.True(retry.Published);
        Assert.Equal(retry.ActiveVersion, await grain.GetActiveVersion());
    }
}

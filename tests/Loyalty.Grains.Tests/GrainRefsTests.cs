namespace Loyalty.Grains.Tests;

[Collection(MemoryClusterCollection.Name)]
public sealed class GrainRefsTests(MemoryClusterFixture fixture)
{
    [Fact]
    public async Task A_customer_reference_built_from_its_id_is_the_reference_GetGrain_returns_and_reaches_the_same_activation()
    {
        var client = fixture.Client;
        foreach (var id in new[] { "refs-" + Guid.NewGuid().ToString("N"), "ünïcode-ид-" + Guid.NewGuid().ToString("N")[..6], "a" })
        {
            var viaGetGrain = client.GetGrain<ICustomerGrain>(id);
            var first = client.Customer(id);   // the first call resolves the interface type
            var built = client.Customer(id);   // later calls build the reference from the id
            Assert.Equal(viaGetGrain.GetGrainId(), first.GetGrainId());
            Assert.Equal(viaGetGrain.GetGrainId(), built.GetGrainId());
            Assert.Equal(viaGetGrain, built);
            Assert.Equal(await viaGetGrain.Location(), await built.Location());
        }
        Assert.NotEqual(client.Customer("x").GetGrainId(), client.Customer("y").GetGrainId());
    }
}

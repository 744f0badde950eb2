using System.Text.Json;
namespace Loyalty.Domain.Tests;
public class GoldenWriter
{
    private static readonly JsonSerializerOptions Indented = new(DomainJson.Options) { WriteIndented = true };
    [Fact]
    public void Write()
    {
        var (state, _) = Scenario.Run();
        var json = JsonSerializer.Serialize(state, Indented);
        File.WriteAllText("/work/main/tests/Loyalty.Domain.Tests/golden/customer-state-v1.json", json + "\n");
    }
}

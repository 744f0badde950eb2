using System.Text.Json;
using Loyalty.Domain;
using Loyalty.Domain.Customers;
using Loyalty.TestKit;

namespace Loyalty.Grains.Tests;

public sealed class DomainStateSerializerTests
{
    private readonly DomainStateSerializer _serializer = new();

    [Fact]
    public void A_state_is_stored_deflated_and_reads_back_equal()
    {
        var state = Busy();
        var json = JsonSerializer.SerializeToUtf8Bytes(state, DomainJson.Options);

        var stored = _serializer.Serialize(state).ToArray();

        Assert.Equal(DomainStateSerializer.Deflated, stored[0]);
        Assert.True(stored.Length * 3 < json.Length, $"{stored.Length} bytes stored for {json.Length} bytes of JSON");
        Assert.Equal(json, DomainStateSerializer.Json(stored));
        var read = _serializer.Deserialize<CustomerState>(new BinaryData(stored));
        Assert.Equal(json, JsonSerializer.SerializeToUtf8Bytes(read, DomainJson.Options));
    }

    [Fact]
    public void A_small_state_stored_after_a_large_one_on_the_same_thread_holds_only_its_own_json()
    {
        // The serializer reuses its buffers per thread: nothing of the earlier, larger state may leak into the next.
        var large = Busy();
        var small = new CustomerState { CustomerId = "small", PointsAvailable = 7 };

        var first = _serializer.Serialize(large).ToArray();
        var second = _serializer.Serialize(small).ToArray();
        var again = _serializer.Serialize(large).ToArray();

        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(small, DomainJson.Options), DomainStateSerializer.Json(second));
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(large, DomainJson.Options), DomainStateSerializer.Json(first));
        Assert.Equal(first, again);
    }

    [Fact]
    public void State_stored_as_plain_json_by_earlier_builds_still_reads()
    {
        var state = Busy();
        var json = JsonSerializer.SerializeToUtf8Bytes(state, DomainJson.Options);

        var read = _serializer.Deserialize<CustomerState>(new BinaryData(json));

        Assert.Equal(json, JsonSerializer.SerializeToUtf8Bytes(read, DomainJson.Options));
        Assert.Equal(json, DomainStateSerializer.Json(json));
    }

    [Fact]
    public void A_state_read_from_a_slice_of_a_larger_buffer_reads_only_that_slice()
    {
        var stored = _serializer.Serialize(Busy()).ToArray();
        var buffer = new byte[stored.Length + 20];
        stored.CopyTo(buffer, 10);

        var read = _serializer.Deserialize<CustomerState>(new BinaryData(buffer.AsMemory(10, stored.Length)));

        Assert.Equal(Busy().CustomerId, read.CustomerId);
    }

    // A customer with a few hundred remembered events and kept rewards: what a busy player's checkpoint holds.
    private static CustomerState Busy()
    {
        var id = "player-000042";
        var at = DateTimeOffset.Parse("2026-12-01T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var program = Loyalty.Domain.Programs.ProgramLoader.LoadFile(RepoPaths.SampleProgram);
        var state = new CustomerState();
        for (var i = 0; i < 400; i++)
        {
            CustomerEngine.Apply(state, TestEvents.Game(id, $"g-{id}-{i:D6}", at.AddSeconds(i), minutes: 20, difficulty: 2), program, at.AddSeconds(i), EngineLimits.Default);
        }
        return state;
    }
}

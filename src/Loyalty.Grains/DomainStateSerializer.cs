using System.Text.Json;
using Loyalty.Domain;
using Orleans.Storage;

namespace Loyalty.Grains;

/// <summary>
/// The serializer for stored grain state, chosen deliberately: System.Text.Json over the domain's own types.
/// JSON keeps stored state readable in storage tools, tolerant of added members (new members get defaults,
/// unknown ones are ignored), and independent of Orleans' wire format and of C# type names.
/// </summary>
public sealed class DomainStateSerializer : IGrainStorageSerializer
{
    public BinaryData Serialize<T>(T? input) =>
        new(JsonSerializer.SerializeToUtf8Bytes(input, DomainJson.Options));

    public T Deserialize<T>(BinaryData input) =>
        JsonSerializer.Deserialize<T>(input.ToMemory().Span, DomainJson.Options)
        ?? throw new JsonException($"Stored state deserialized to null for {typeof(T).Name}");
}

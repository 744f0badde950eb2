using System.Text.Json;
using System.Text.Json.Serialization;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;
using Loyalty.Domain.Rules;

namespace Loyalty.Domain.Customers;

/// <summary>What a customer was asked to do, as received. Stored in journal records, so its JSON names are stored data:
/// never rename or reuse them.</summary>
public enum CommandKind { Unspecified = 0, Events = 1, CatchUp = 2, Redeem = 3, Reserve = 4, Confirm = 5, Cancel = 6, Adjust = 7, Goodwill = 8, Erase = 9, ImportMember = 10, ImportHistory = 11 }

/// <summary>One request to a customer (a batch of events or an operation), as received.</summary>
public sealed record CustomerCommand
{
    [JsonPropertyName("k")] public CommandKind Kind { get; init; }
    [JsonPropertyName("ev")] public IReadOnlyList<LoyaltyEvent>? Events { get; init; }
    /// <summary>Redemption, reservation, adjustment or grant id.</summary>
    [JsonPropertyName("id")] public string Id { get; init; } = "";
    [JsonPropertyName("rw")] public string RewardId { get; init; } = "";
    [JsonPropertyName("pt")] public long Points { get; init; }
    [JsonPropertyName("ttl")] public long TtlTicks { get; init; }
    /// <summary>Reason or note.</summary>
    [JsonPropertyName("txt")] public string Text { get; init; } = "";
    /// <summary>The member an import brings (<see cref="CommandKind.ImportMember"/>; the import id is <see cref="Id"/>).</summary>
    [JsonPropertyName("mem")] public MemberImport? Member { get; init; }
    /// <summary>Imported history earns points (<see cref="CommandKind.ImportHistory"/>).</summary>
    [JsonPropertyName("earn")] public bool EarnPoints { get; init; }

    public static CustomerCommand Of(IReadOnlyList<LoyaltyEvent> events) => new() { Kind = CommandKind.Events, Events = events };
    public static CustomerCommand CatchUp { get; } = new() { Kind = CommandKind.CatchUp };
    public static CustomerCommand Erase { get; } = new() { Kind = CommandKind.Erase };
}

/// <summary>
/// A journal record: one command that changed a customer, with everything replay needs to reproduce the change
/// exactly (the apply time, the program version, and the campaign-budget answers the live apply got).
/// </summary>
public sealed record JournalRecord(
    [property: JsonPropertyName("c")] string CustomerId,
    [property: JsonPropertyName("s")] long Sequence,
    [property: JsonPropertyName("t")] DateTimeOffset AppliedAt,
    [property: JsonPropertyName("p")] string ProgramVersion,
    [property: JsonPropertyName("cmd")] CustomerCommand Command,
    [property: JsonPropertyName("b")] IReadOnlyList<bool>? BudgetAnswers)
{
    /// <summary>Format of the record; replay refuses formats it does not know rather than guess.</summary>
    [JsonPropertyName("v")] public int Format { get; init; } = CurrentFormat;

    public const int CurrentFormat = 1;

    /// <summary>What the command changed in the points liability (not stored in the record: the journal's head sums it,
    /// in the same request that stores the record). Null when it changed nothing the report counts, and once the journal
    /// has stored the record.</summary>
    [JsonIgnore] public LiabilityChange? Liability { get; set; }
}

/// <summary>What applying a command did: per-event results, or one operation result; null operation result means the
/// customer does not exist (operations need a customer).</summary>
public sealed record CommandOutcome(bool Changed, EventResult[]? Events, OperationResult? Operation);

/// <summary>
/// The one way a command changes a customer, used by the live apply and by replay alike, so that replaying a journal
/// record through it reproduces the state exactly (same state, command, program, time and budget answers).
/// </summary>
public static class CustomerCommands
{
    public static CommandOutcome Apply(CustomerState state, CustomerCommand command, ActiveProgram program, DateTimeOffset now,
        EngineLimits limits, IBudgetGate? budgets = null)
    {
        switch (command.Kind)
        {
            case CommandKind.Events:
            {
                var changed = DueWork.Advance(state, program, now);
                var events = command.Events ?? [];
                var results = new EventResult[events.Count];
                for (var i = 0; i < events.Count; i++)
                {
                    results[i] = CustomerEngine.Apply(state, events[i], program, now, limits, budgets);
                    changed |= results[i].Changed;
                    if (results[i].Changed)
                    {
                        state.HistoryOnly = false;
                    }
                }
                return new CommandOutcome(changed, results, null);
            }
            case CommandKind.ImportHistory:
            {
                var changed = DueWork.Advance(state, program, now);
                var events = command.Events ?? [];
                var results = new EventResult[events.Count];
                var keys = HistoryKeys.Decode(state.HistoryKeys);
                for (var i = 0; i < events.Count; i++)
                {
                    results[i] = CustomerEngine.ApplyHistory(state, events[i], program, now, limits, command.EarnPoints, keys);
                    changed |= results[i].Changed;
                }
                if (results.Any(r => r.Changed))
                {
                    state.HistoryKeys = keys.Encode();
                }
                return new CommandOutcome(changed, results, null);
            }
            case CommandKind.ImportMember:
            {
                var imported = CustomerImports.ImportMember(state, command.Id, command.Member!, program, now);
                return new CommandOutcome(imported.Outcome == OperationOutcome.Applied, null, imported);
            }
            case CommandKind.CatchUp:
                return new CommandOutcome(DueWork.Advance(state, program, now), null, null);
            case CommandKind.Erase:
                return new CommandOutcome(true, null, null);
        }
        if (!state.Exists)
        {
            return new CommandOutcome(false, null, null);
        }
        var timeChanged = DueWork.Advance(state, program, now);
        var result = command.Kind switch
        {
            CommandKind.Redeem => CustomerOperations.Redeem(state, command.Id, command.RewardId, program, now, limits),
            CommandKind.Reserve => CustomerOperations.Reserve(state, command.Id, command.Points, TimeSpan.FromTicks(command.TtlTicks), now, limits),
            CommandKind.Confirm => CustomerOperations.Confirm(state, command.Id, command.Text, program, now, limits),
            CommandKind.Cancel => CustomerOperations.Cancel(state, command.Id, now),
            CommandKind.Adjust => CustomerOperations.Adjust(state, command.Id, command.Points, command.Text, program, now, limits),
            CommandKind.Goodwill => CustomerOperations.Goodwill(state, command.Id, command.RewardId, command.Text, program, now, limits),
            _ => throw new ArgumentException($"command kind {command.Kind} is unknown", nameof(command)),
        };
        if (result.Outcome == OperationOutcome.Applied)
        {
            state.HistoryOnly = false;
        }
        return new CommandOutcome(timeChanged || result.Outcome == OperationOutcome.Applied, null, result);
    }

    /// <summary>Replays a stored record onto <paramref name="state"/> (which must be the state the record was applied to);
    /// returns the state after it (a new, empty one after an erase, at the erase's sequence: a customer created again
    /// continues the sequence, so no record of the erased incarnation is ever replayed onto the new one).</summary>
    public static CustomerState Replay(CustomerState state, JournalRecord record, ActiveProgram program, EngineLimits limits)
    {
        if (record.Format != JournalRecord.CurrentFormat)
        {
            throw new NotSupportedException($"journal record format {record.Format} is not known to this build");
        }
        if (!string.Equals(program.Version, record.ProgramVersion, StringComparison.Ordinal))
        {
            throw new ArgumentException($"record {record.CustomerId}#{record.Sequence} was applied under program {record.ProgramVersion}, not {program.Version}", nameof(program));
        }
        if (record.Command.Kind == CommandKind.Erase)
        {
            return new CustomerState { JournalSeq = record.Sequence };
        }
        Apply(state, record.Command, program, record.AppliedAt, limits, new ReplayedBudget(record.BudgetAnswers ?? []));
        state.JournalSeq = record.Sequence;
        return state;
    }
}

/// <summary>Passes budget questions to <paramref name="inner"/> and remembers the answers, for the journal record.</summary>
public sealed class RecordingBudgetGate(IBudgetGate inner) : IBudgetGate
{
    private List<bool>? _answers;

    public IReadOnlyList<bool>? Answers => _answers;

    public bool TryConsume(RuleDefinition rule, int grants, long points)
    {
        var answer = inner.TryConsume(rule, grants, points);
        (_answers ??= []).Add(answer);
        return answer;
    }
}

/// <summary>Gives the answers a live apply got, in order: replay spends no campaign budget a second time.</summary>
public sealed class ReplayedBudget(IReadOnlyList<bool> answers) : IBudgetGate
{
    private int _next;

    public bool TryConsume(RuleDefinition rule, int grants, long points) =>
        _next < answers.Count ? answers[_next++] : throw new InvalidOperationException("replay asked the campaign budget more often than the live apply did");
}

/// <summary>The stored form of journal records: each record is a 4-byte little-endian length and its JSON (UTF-8),
/// records back to back. JSON keeps the stored record readable and tolerant of added members. A command's members at
/// their defaults (most commands use two or three of them) and absent budget answers are left out: about 60 of a game
/// event's 436 bytes, in storage and in every silo's memory until a checkpoint covers the record. Reading fills them
/// in, so records written with every member (earlier builds) read the same.</summary>
public static class JournalCodec
{
    private static readonly JsonSerializerOptions Options = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(DomainJson.Options)
        {
            TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver { Modifiers = { LeaveOutDefaults } },
        };
        options.MakeReadOnly();
        return options;
    }

    private static void LeaveOutDefaults(System.Text.Json.Serialization.Metadata.JsonTypeInfo info)
    {
        if (info.Type == typeof(JournalRecord))
        {
            // Only the budget answers: the other members are constructor parameters, which read as null when absent.
            foreach (var property in info.Properties.Where(p => p.Name == "b"))
            {
                property.ShouldSerialize = static (_, value) => value is not null;
            }
            return;
        }
        if (info.Type != typeof(CustomerCommand))
        {
            return;
        }
        // Init-only members with initializers: an absent one keeps its initial value, the same default left out here.
        foreach (var property in info.Properties)
        {
            if (property.PropertyType == typeof(string))
            {
                property.ShouldSerialize = static (_, value) => !string.IsNullOrEmpty((string?)value);
            }
            else if (property.PropertyType == typeof(long))
            {
                property.ShouldSerialize = static (_, value) => (long)value! != 0;
            }
            else if (property.PropertyType == typeof(bool))
            {
                property.ShouldSerialize = static (_, value) => (bool)value!;
            }
            else if (!property.PropertyType.IsValueType)
            {
                property.ShouldSerialize = static (_, value) => value is not null;
            }
        }
    }

    /// <summary>The options records are read with. They also describe the stored form <see cref="Encode"/> writes by
    /// hand: serializing a record with them gives the same bytes (a test holds the two together).</summary>
    public static JsonSerializerOptions SerializerOptions => Options;

    /// <summary>One framed record in an array of its own (tests, tools): exactly its bytes in a batch the journal writer
    /// encodes (<see cref="EncodedRecords"/>). The JSON is written by hand, member by member, in the order and form
    /// <see cref="SerializerOptions"/> gives: the serializer's walk over its metadata (a stack of frames per call, boxed
    /// values, a converter per member) was 4–5 % of the engine's CPU, on the journal writer's one thread.</summary>
    public static byte[] Encode(JournalRecord record)
    {
        var one = new EncodedRecords(1024);
        one.Add(record);
        return one.Bytes.ToArray();
    }

    /// <summary>The same bytes as <see cref="Encode"/>, through <see cref="JsonSerializer"/> (for tests and comparisons).</summary>
    public static byte[] EncodeWithSerializer(JournalRecord record)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer, DomainJson.WriterOptions))
        {
            JsonSerializer.Serialize(writer, record, Options);
        }
        var framed = new byte[4 + buffer.WrittenCount];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(framed, buffer.WrittenCount);
        buffer.WrittenSpan.CopyTo(framed.AsSpan(4));
        return framed;
    }

    public static List<JournalRecord> Read(ReadOnlySpan<byte> data)
    {
        var records = new List<JournalRecord>();
        while (data.Length > 0)
        {
            if (data.Length < 4)
            {
                throw new JsonException("journal page is truncated");
            }
            var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(data);
            if (length < 0 || length > data.Length - 4)
            {
                throw new JsonException("journal page is corrupt: a record runs past its end");
            }
            records.Add(JsonSerializer.Deserialize<JournalRecord>(data.Slice(4, length), Options)
                ?? throw new JsonException("journal record is null"));
            data = data[(4 + length)..];
        }
        return records;
    }
}

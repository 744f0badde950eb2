using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;
using Microsoft.Extensions.Time.Testing;

namespace Loyalty.Domain.Tests;

/// <summary>The shipped sample program and a fixed clock: every test starts at the same instant.</summary>
internal static class Sample
{
    /// <summary>13:00 in Berlin (CET, UTC+1): program-local day boundaries are at 23:00 UTC.</summary>
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    public static string Path { get; } = System.IO.Path.Combine(AppContext.BaseDirectory, "programs", "sample.json");

    /// <summary>The sample program with its rules removed: base earning on its own, so the earning, tier and
    /// ledger tests do not change whenever the sample's reward rules do. Rules are tested with their own programs.</summary>
    public static string Json { get; } = WithoutRules(File.ReadAllText(Path));

    public static ActiveProgram Program { get; } = ProgramLoader.Parse(Json);

    /// <summary>The sample program exactly as shipped, rules included.</summary>
    public static ActiveProgram Full { get; } = ProgramLoader.LoadFile(Path);

    /// <summary>Cuts the rules array (the file's last member) out of the text, keeping the rest byte for byte so
    /// tests can edit it with plain string replacements.</summary>
    private static string WithoutRules(string json)
    {
        var start = json.IndexOf("\"rules\":", StringComparison.Ordinal);
        var end = json.LastIndexOf(']');
        return start < 0 ? json : json[..start] + "\"rules\": []" + json[(end + 1)..];
    }
}

/// <summary>Builders for payloads, so a test reads as the story it tells.</summary>
internal static class Pay
{
    public static LineItem Line(string sku, string category, int quantity, long unitPriceMinor) =>
        new(sku, category, quantity, unitPriceMinor);

    public static Purchase Buy(string orderId, params LineItem[] lines) => new(orderId, "EUR", lines);

    public static Refund Refund(string orderId, params LineItem[] lines) => new(orderId, lines);

    public static GameSession Game(int seconds, int difficulty, string gameId = "chess", long score = 0) =>
        new(gameId, seconds, difficulty, score);

    public static MatchResult Match(int rank, int participants, string matchId = "m-1", string gameId = "chess") =>
        new(gameId, matchId, rank, participants);

    public static Achievement Achieved(string achievementId, string gameId = "chess") => new(gameId, achievementId);

    public static SupportCase Support(string caseId, SupportStatus status, SupportChannel channel, int? satisfaction = null) =>
        new(caseId, status, channel, satisfaction, BotTurns: 0, WaitSeconds: 0);

    public static ProfileUpdate Profile(string? name = null, int? birthYear = null, bool? access = null, string? timeZone = null) =>
        new(name, birthYear, access, timeZone);
}

/// <summary>One customer under test: a fresh state, the sample program, and a clock that tests may advance.</summary>
internal sealed class TestCustomer
{
    private int _nextEvent;

    public TestCustomer(EngineLimits? limits = null, ActiveProgram? program = null, string id = "c-1")
    {
        Limits = limits ?? EngineLimits.Default;
        Program = program ?? Sample.Program;
        Id = id;
    }

    public string Id { get; }
    public EngineLimits Limits { get; }
    public ActiveProgram Program { get; }
    public CustomerState State { get; private set; } = new();
    public FakeTimeProvider Clock { get; } = new(Sample.Now);
    public DateTimeOffset Now => Clock.GetUtcNow();

    /// <summary>An event that happened a few minutes before the clock's now.</summary>
    public LoyaltyEvent Event(EventPayload payload, string? eventId = null, DateTimeOffset? occurredAt = null) => new()
    {
        EventId = eventId ?? $"e-{Id}-{++_nextEvent}",
        CustomerId = Id,
        OccurredAt = occurredAt ?? Now.AddMinutes(-5),
        Source = "test",
        Payload = payload,
    };

    public EventResult Apply(LoyaltyEvent e) => CustomerEngine.Apply(State, e, Program, Now, Limits);

    public EventResult Apply(EventPayload payload, string? eventId = null, DateTimeOffset? occurredAt = null) =>
        Apply(Event(payload, eventId, occurredAt));

    /// <summary>Applies and insists the event was applied, returning the points it moved.</summary>
    public long Earn(EventPayload payload, string? eventId = null, DateTimeOffset? occurredAt = null)
    {
        var result = Apply(payload, eventId, occurredAt);
        Assert.True(result.Outcome == EventOutcome.Applied, $"expected Applied, got {result.Outcome}: {result.Error}");
        return result.PointsDelta;
    }

    public string Json() => Serialized(State);

    public CustomerView View() => CustomerView.Of(State, Program, Now) ?? throw new InvalidOperationException("no customer");

    public void Reload(CustomerState state) => State = state;

    public static string Serialized(CustomerState state) =>
        System.Text.Json.JsonSerializer.Serialize(state, DomainJson.Options);
}

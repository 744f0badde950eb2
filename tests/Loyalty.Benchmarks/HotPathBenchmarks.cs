using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Loyalty.Domain;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;
using Loyalty.TestKit;

namespace Loyalty.Benchmarks;

/// <summary>The other per-event costs of the domain under the shipped sample program: validating an event, applying it
/// to a typical active customer, taking the snapshot a write stores, and serializing that state for storage.</summary>
[MemoryDiagnoser]
public class HotPathBenchmarks
{
    private ActiveProgram _program = null!;
    private CustomerState _customer = null!;
    private LoyaltyEvent _purchase = null!;
    private byte[] _stored = [];
    private CustomerState _afterPurchase = null!;
    private LiabilityShare _shareBefore;
    private long _ledgerBefore;
    private LiabilityTotals _journalTotals = null!;
    private LiabilityChange _change = null!;
    private readonly DateTimeOffset _now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private long _n;

    [GlobalSetup]
    public void Setup()
    {
        _program = ProgramLoader.LoadFile(RepoPaths.SampleProgram);
        _customer = new CustomerState();
        // A regular customer: 400 events over 40 days (purchases, play, support), ledger trimmed as the grain does.
        for (var i = 0; i < 400; i++)
        {
            var at = _now.AddHours(-(400 - i) * 2.4);
            EventPayload payload = (i % 4) switch
            {
                0 => new Purchase($"o-{i}", "EUR", [new LineItem($"sku-{i % 50}", i % 8 == 0 ? "baby" : "sports", 1, 1999), new LineItem("bag", "home", 1, 499)]),
                3 => new SupportCase($"case-{i}", SupportStatus.Resolved, SupportChannel.Human, 5, 0, 0),
                _ => new GameSession("arena", 1200, 2, 100),
            };
            CustomerEngine.Apply(_customer, Event($"h-{i}", at, payload), _program, at.AddSeconds(1), EngineLimits.Default);
            _customer.TrimArchivedLedger(_customer.LedgerToArchive(EngineLimits.Default.LedgerKept).Through);
        }
        _purchase = Event("p", _now, new Purchase("order-x", "EUR", [new LineItem("stroller", "baby", 1, 24999), new LineItem("ball", "sports", 2, 1999)]));
        _stored = JsonSerializer.SerializeToUtf8Bytes(_customer, DomainJson.Options);
        _shareBefore = LiabilityShare.Of(_customer);
        _ledgerBefore = _customer.LedgerSeq;
        _afterPurchase = _customer.Snapshot();
        CustomerEngine.Apply(_afterPurchase, _purchase, _program, _now, EngineLimits.Default);
        // A journal's running totals after a month: 4 tiers, 12 expiry months, 30 days of movements.
        _journalTotals = new LiabilityTotals();
        for (var d = 0; d < 30; d++)
        {
            foreach (var flow in Enum.GetValues<LiabilityFlow>())
            {
                _journalTotals.AddFlow(20_400 + d, flow, 1_000 + d);
            }
        }
        foreach (var tier in new[] { "Bronze", "Silver", "Gold", "Platinum" })
        {
            _journalTotals.AddShare(new LiabilityShare(true, 5_000, 100, tier, [.. Enumerable.Range(0, 12).Select(m => KeyValuePair.Create(24_300 + m, 10L))]), 1);
        }
        _change = LiabilityChange.Of(_shareBefore, LiabilityShare.Of(_afterPurchase), _afterPurchase, _ledgerBefore)!;
    }

    [Benchmark(Description = "Journal head per append: a month of totals copied, one change added, as JSON")]
    public byte[] LiabilityHead()
    {
        var next = _journalTotals.Copy();
        next.Add(_change);
        next.Compact();
        return next.ToJson();
    }

    [Benchmark(Description = "Liability change of a purchase (share after, difference, ledger entries by day)")]
    public LiabilityChange? LiabilityChangeOfPurchase() =>
        LiabilityChange.Of(_shareBefore, LiabilityShare.Of(_afterPurchase), _afterPurchase, _ledgerBefore);

    private static LoyaltyEvent Event(string id, DateTimeOffset at, EventPayload payload) =>
        new() { EventId = id, CustomerId = "bench-customer", OccurredAt = at, Source = "bench", Payload = payload };

    private JournalRecord GameRecord => _gameRecord ??= new JournalRecord("bench-customer", 42, _now, _program.Version,
        CustomerCommand.Of([Event("g-1", _now, new GameSession("arena", 1200, 2, 100)), Event("g-2", _now, new GameSession("arena", 600, 3, 250))]), null);
    private JournalRecord? _gameRecord;

    [Benchmark(Description = "Journal record of two game events, encoded (the writer's form)")]
    public byte[] EncodeRecord() => JournalCodec.Encode(GameRecord);

    [Benchmark(Description = "Journal record of two game events, through JsonSerializer (the reference form)")]
    public byte[] EncodeRecordWithSerializer() => JournalCodec.EncodeWithSerializer(GameRecord);

    [Benchmark(Description = "Validate a purchase event")]
    public object? Validate() => EventValidator.Validate(_purchase, _program, _now);

    [Benchmark(Description = "Apply a purchase to a regular customer (on a snapshot)")]
    public EventResult Apply()
    {
        var state = _customer.Snapshot();
        var e = _purchase with { EventId = "p-" + _n++, Payload = new Purchase("order-" + _n, "EUR", ((Purchase)_purchase.Payload!).Lines) };
        return CustomerEngine.Apply(state, e, _program, _now, EngineLimits.Default);
    }

    [Benchmark(Description = "Snapshot of the state for a write")]
    public CustomerState Snapshot() => _customer.Snapshot();

    [Benchmark(Description = "Serialize the state for storage (System.Text.Json)")]
    public byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(_customer, DomainJson.Options);

    [Benchmark(Description = "Deserialize the stored state (activation)")]
    public CustomerState? Deserialize() => JsonSerializer.Deserialize<CustomerState>(_stored, DomainJson.Options);
}

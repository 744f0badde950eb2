using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Rules;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

/// <summary>The journal's promise: replaying the stored records of a customer reproduces its state exactly.</summary>
public class JournalReplayTests
{
    private sealed class SometimesGate(Random random) : IBudgetGate
    {
        public bool TryConsume(RuleDefinition rule, int grants, long points) => random.Next(3) > 0;
    }

    /// <summary>Random commands of every kind applied live (with a budget gate that sometimes says no), journaled
    /// as the grain does, then replayed from their encoded form onto a fresh state.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Replaying_encoded_records_reproduces_the_live_state_byte_for_byte(int seed)
    {
        var random = new Random(seed);
        var program = Sample.Full;
        var limits = EngineLimits.Default with { LedgerKept = 4 };
        var live = new CustomerState();
        var stored = new List<byte[]>();
        var now = Sample.Now;
        var orders = new List<string>();
        // The liability changes the grain would journal, summed: they must equal the final share and the ledger.
        var liability = new LiabilityTotals();
        var share = LiabilityShare.None;
        var ledgerSeq = 0L;
        for (var i = 0; i < 300; i++)
        {
            now = now.AddHours(random.Next(0, 30));
            var command = NextCommand(random, now, i, orders);
            var gate = new RecordingBudgetGate(new SometimesGate(random));
            var outcome = CustomerCommands.Apply(live, command, program, now, limits, gate);
            if (outcome.Changed)
            {
                var after = LiabilityShare.Of(live);
                if (LiabilityChange.Of(share, after, live, ledgerSeq) is { } change)
                {
                    liability.Add(change);
                }
                share = after;
                ledgerSeq = live.LedgerSeq;
                live.JournalSeq++;
                var record = new JournalRecord("c-1", live.JournalSeq, now, program.Version, command, gate.Answers);
                var encoded = JournalCodec.Encode(record);
                Assert.Equal(JournalCodec.EncodeWithSerializer(record), encoded);
                stored.Add(encoded);
            }
        }

        liability.Compact();
        var replayed = new CustomerState();
        var records = stored.SelectMany(b => JournalCodec.Read(b)).ToList();
        Assert.Equal(Enumerable.Range(1, records.Count).Select(i => (long)i), records.Select(r => r.Sequence));
        foreach (var record in records)
        {
            replayed = CustomerCommands.Replay(replayed, record, program, limits);
        }
        Assert.True(records.Count > 100, $"only {records.Count} records changed anything");
        Assert.Equal(TestCustomer.Serialized(live), TestCustomer.Serialized(replayed));

        Assert.Equal(1, liability.Customers);
        Assert.Equal(live.PointsAvailable, liability.Available);
        Assert.Equal(live.PointsPending, liability.Pending);
        Assert.Equal(live.PointsAvailable, liability.Tiers[live.Tier].Available);
        var expiring = live.Lots.Where(l => !l.IsPending && l.ExpiresTicks != 0).GroupBy(l => LiabilityTotals.MonthOf(l.ExpiresTicks))
            .ToDictionary(g => g.Key, g => g.Sum(l => l.Points));
        Assert.Equal(expiring.Where(e => e.Value != 0).OrderBy(e => e.Key), liability.Expiring.OrderBy(e => e.Key));
        // Every movement but activations (which move points within the balance) adds up to the balance.
        var moved = liability.Days.Values.Sum(d => d.Where((_, k) => k != (int)LiabilityFlow.Activated).Sum());
        Assert.Equal(live.PointsAvailable + live.PointsPending, moved);
        Assert.Contains(liability.Days.Values, d => d[(int)LiabilityFlow.Imported] != 0);
    }

    /// <summary>The engine's output for a fixed history of every kind of command (interaction summaries, reward codes,
    /// ledger, rewards, order of every list) is pinned by its hash: a change meant only to make the engine cheaper
    /// (how a summary is built, how a bounded list drops its oldest entry) must not change one byte of a customer.
    /// When a change of behaviour is intended, the new hash goes here with it.</summary>
    [Fact]
    public void A_fixed_history_produces_the_same_state_byte_for_byte_as_before()
    {
        var random = new Random(11);
        var program = Sample.Full;
        var limits = EngineLimits.Default with { LedgerKept = 4, InteractionsKept = 60, RewardsKept = 5 };
        var live = new CustomerState();
        var now = Sample.Now;
        var orders = new List<string>();
        for (var i = 0; i < 400; i++)
        {
            now = now.AddHours(random.Next(0, 30));
            CustomerCommands.Apply(live, NextCommand(random, now, i, orders), program, now, limits, new SometimesGate(random));
        }

        var json = TestCustomer.Serialized(live);
        Assert.Equal(5, live.Rewards.Count);
        Assert.Contains(live.Interactions, x => x.Summary.Contains("; granted ", StringComparison.Ordinal));
        Assert.Contains("; rules ", json, StringComparison.Ordinal);
        Assert.Equal("1900C032CBE949DA465E53F3A8A1E48F758AD8021A1D56B8DE3C7F707B786136", Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(json))));
    }

    private static CustomerCommand NextCommand(Random random, DateTimeOffset now, int i, List<string> orders)
    {
        LoyaltyEvent Event(EventPayload payload) => new()
        {
            EventId = $"e-{i}", CustomerId = "c-1", OccurredAt = now.AddMinutes(-random.Next(0, 60)), Source = "shop", Payload = payload,
        };
        if (i == 0)
        {
            // The customer starts as an imported member with an opening balance in two lots.
            return new CustomerCommand
            {
                Kind = CommandKind.ImportMember, Id = "members-1",
                Member = new MemberImport { CustomerId = "c-1", PointsAvailable = 700, Tier = "Silver", Lots = [new OpeningLot(500, now.AddDays(40)), new OpeningLot(200, null)] },
            };
        }
        switch (random.Next(10))
        {
            case 0 or 1 or 2:
            {
                var order = $"o-{i}";
                orders.Add(order);
                return CustomerCommand.Of([Event(Buy(order, Line("bib", "baby", random.Next(1, 4), random.Next(100, 30_000)), Line("ball", "sports", 1, 2_500)))]);
            }
            case 3 when orders.Count > 0:
                return CustomerCommand.Of([Event(Refund(orders[random.Next(orders.Count)], Line("bib", "baby", 1, 1)))]);
            case 4:
                return CustomerCommand.Of([Event(Game(random.Next(60, 7200), random.Next(1, 4))), Event(Game(600, 2)) with { EventId = $"e-{i}" }]);
            case 5:
                return new CustomerCommand { Kind = CommandKind.Redeem, Id = $"r-{i}", RewardId = "free-shipping" };
            case 6:
                return new CustomerCommand { Kind = CommandKind.Adjust, Id = $"a-{i}", Points = random.Next(-50, 500), Text = "replay test" };
            case 7:
                return new CustomerCommand { Kind = CommandKind.Reserve, Id = $"h-{i}", Points = random.Next(1, 50), TtlTicks = TimeSpan.FromHours(random.Next(1, 48)).Ticks };
            case 8:
                return CustomerCommand.Of([Event(Support($"case-{i}", SupportStatus.Resolved, SupportChannel.Human, random.Next(1, 6)))]);
            case 9:
                return new CustomerCommand
                {
                    Kind = CommandKind.ImportHistory, Id = "history-1", EarnPoints = random.Next(2) == 0,
                    Events = [Event(Buy($"old-{i}", Line("bib", "baby", 1, random.Next(100, 30_000)))) with { OccurredAt = now.AddDays(-random.Next(1, 400)) }],
                };
            default:
                return CustomerCommand.CatchUp;
        }
    }

    [Fact]
    public void An_erase_record_replays_to_an_empty_state()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("bib", "baby", 1, 5_000)));
        var erased = CustomerCommands.Replay(customer.State, new JournalRecord("c-1", 2, customer.Now, customer.Program.Version, CustomerCommand.Erase, null),
            customer.Program, customer.Limits);
        Assert.False(erased.Exists);
        Assert.Equal(2, erased.JournalSeq);   // the sequence goes on from the erase
        Assert.Equal(0, erased.PointsAvailable);
    }

    [Fact]
    public void Replay_refuses_a_record_of_another_program_version_or_an_unknown_format()
    {
        var record = new JournalRecord("c-1", 1, Sample.Now, "other-version", CustomerCommand.CatchUp, null);
        Assert.Throws<ArgumentException>(() => CustomerCommands.Replay(new CustomerState(), record, Sample.Program, EngineLimits.Default));
        var future = record with { ProgramVersion = Sample.Program.Version, Format = 99 };
        Assert.Throws<NotSupportedException>(() => CustomerCommands.Replay(new CustomerState(), future, Sample.Program, EngineLimits.Default));
    }

    [Fact]
    public void Replay_gives_the_budget_answers_the_live_apply_got_and_no_more()
    {
        var gate = new ReplayedBudget([true, false]);
        var rule = Sample.Full.Definition.Rules[0];
        Assert.True(gate.TryConsume(rule, 1, 10));
        Assert.False(gate.TryConsume(rule, 1, 10));
        Assert.Throws<InvalidOperationException>(() => gate.TryConsume(rule, 1, 10));
    }

    [Fact]
    public void Encoded_records_are_length_prefixed_json_and_a_truncated_page_is_refused()
    {
        var record = new JournalRecord("c-1", 7, Sample.Now, "v1", new CustomerCommand { Kind = CommandKind.Adjust, Id = "a", Points = 5, Text = "why" }, [true]);
        var bytes = JournalCodec.Encode(record).Concat(JournalCodec.Encode(record with { Sequence = 8 })).ToArray();
        var read = JournalCodec.Read(bytes);
        Assert.Equal([record, record with { Sequence = 8 }], read, new RecordComparer());
        Assert.Contains("\"k\":\"adjust\"", System.Text.Encoding.UTF8.GetString(bytes));
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => JournalCodec.Read(bytes.AsSpan(0, bytes.Length - 3)));
    }

    [Fact]
    public void A_commands_members_at_their_defaults_are_left_out_and_read_back_as_they_were()
    {
        var game = new LoyaltyEvent
        {
            EventId = "g-1", CustomerId = "c-1", OccurredAt = Sample.Now, Source = "arena-server", Payload = new GameSession("arena", 180, 2, 100),
        };
        var record = new JournalRecord("c-1", 9, Sample.Now, "v1", CustomerCommand.Of([game]), null);
        var encoded = JournalCodec.Encode(record);
        var json = System.Text.Encoding.UTF8.GetString(encoded.AsSpan(4));
        foreach (var absent in new[] { "\"id\":", "\"rw\":", "\"pt\":", "\"ttl\":", "\"txt\":", "\"mem\":", "\"earn\":", "\"b\":" })
        {
            Assert.DoesNotContain(absent, json);
        }
        Assert.Contains("\"gameId\":\"arena\"", json);
        Assert.Contains("\"v\":1", json);
        var back = Assert.Single(JournalCodec.Read(encoded));
        Assert.Equal(record, back, new RecordComparer());
        Assert.Equal(("", "", "", 0L, false, (MemberImport?)null), (back.Command.Id, back.Command.RewardId, back.Command.Text, back.Command.Points, back.Command.EarnPoints, back.Command.Member));
        Assert.Null(back.BudgetAnswers);

        // Every member set: all of them are written and read back.
        var full = new JournalRecord("c-2", 10, Sample.Now, "v2", new CustomerCommand
        {
            Kind = CommandKind.ImportMember, Id = "imp-1", RewardId = "r", Points = 7, TtlTicks = 8, Text = "t", EarnPoints = true,
            Member = new MemberImport { CustomerId = "c-2", DisplayName = "Ada" },
        }, [false, true]);
        var fullBack = Assert.Single(JournalCodec.Read(JournalCodec.Encode(full)));
        Assert.Equal(full, fullBack, new RecordComparer());
        Assert.Equal([false, true], fullBack.BudgetAnswers);
    }

    /// <summary>The journal's JSON is written by hand for speed; the serializer's options define the stored form. The two
    /// must give the same bytes for every kind of command and payload, with every member at a default, null, unusual
    /// text (escapes, non-ASCII, control characters), extreme numbers and enum values without a name.</summary>
    [Fact]
    public void The_hand_written_encoder_writes_exactly_what_the_serializer_writes()
    {
        const string odd = "Zoë \"quoted\" <b>&amp;</b> \\ 日本語 \u0001\t\n 😀 '";
        var at = new DateTimeOffset(2026, 12, 6, 9, 30, 15, TimeSpan.FromHours(5.5)).AddTicks(1234567);
        LoyaltyEvent Event(EventPayload? payload, DateTimeOffset? occurred = null, string source = "shop") =>
            new() { EventId = "e-" + odd, CustomerId = "c-1", OccurredAt = occurred, Source = source, Payload = payload };
        var payloads = new EventPayload?[]
        {
            new Purchase("o-1", "EUR", [new LineItem("bib", "baby", 2, 2_499), new LineItem(odd, "", 0, long.MaxValue)]) { CouponCodes = ["SAVE-1", odd] },
            new Purchase("o-2", "", []),
            new Purchase("o-3", "USD", null!) { CouponCodes = null! },
            new Refund("o-1", [new LineItem("bib", "baby", 1, -5)]),
            new Refund("o-4", null!),
            new GameSession("arena", 180, 2, long.MinValue),
            new GameSession(null!, 0, 0, 0),
            new MatchResult("arena", "m-1", 1, 64),
            new Achievement("arena", odd),
            new SupportCase("case-1", SupportStatus.Resolved, SupportChannel.Human, 5, 3, 120),
            new SupportCase("case-2", SupportStatus.Unspecified, SupportChannel.Unspecified, null, 0, 0),
            new SupportCase("case-3", (SupportStatus)42, (SupportChannel)(-1), int.MinValue, int.MaxValue, -1),
            new ProfileUpdate("Ada " + odd, 1950, true, "Europe/Vienna"),
            new ProfileUpdate(null, null, null, null),
            new ProfileUpdate("", 0, false, ""),
            null,
        };
        var events = payloads.Select((p, i) => Event(p, i % 3 == 0 ? null : at.AddMinutes(i), i % 4 == 0 ? "" : odd)).ToList();
        var commands = new List<CustomerCommand>
        {
            CustomerCommand.Of(events),
            CustomerCommand.Of([]),
            CustomerCommand.CatchUp,
            CustomerCommand.Erase,
            new() { Kind = CommandKind.Redeem, Id = "r-1", RewardId = "free-shipping" },
            new() { Kind = CommandKind.Reserve, Id = "h-1", Points = long.MaxValue, TtlTicks = TimeSpan.FromHours(2).Ticks },
            new() { Kind = CommandKind.Confirm, Id = "h-1", Text = odd },
            new() { Kind = CommandKind.Cancel, Id = "h-1" },
            new() { Kind = CommandKind.Adjust, Id = "a-1", Points = -500, Text = "why" },
            new() { Kind = CommandKind.Goodwill, Id = "g-1", RewardId = "coffee", Text = odd },
            new()
            {
                Kind = CommandKind.ImportMember, Id = "members-1",
                Member = new MemberImport { CustomerId = "c-1", DisplayName = odd, PointsAvailable = 700, Tier = "Silver", TierSince = at, Lots = [new OpeningLot(500, at), new OpeningLot(200, null)] },
            },
            new() { Kind = CommandKind.ImportHistory, Id = "history-1", EarnPoints = true, Events = [events[0], events[5]] },
            new() { Kind = (CommandKind)77, Id = "", RewardId = "", Text = "" },
            new() { Kind = CommandKind.Unspecified, Events = [null!] },
        };
        var answers = new IReadOnlyList<bool>?[] { null, [], [true], [false, true, false] };
        var checkedRecords = 0;
        for (var i = 0; i < commands.Count; i++)
        {
            foreach (var budget in answers)
            {
                var record = new JournalRecord(i % 2 == 0 ? "c-1" : odd, i == 3 ? long.MaxValue : i, i % 2 == 0 ? Sample.Now : at, "v" + i, commands[i], budget);
                var byHand = JournalCodec.Encode(record);
                var serialized = JournalCodec.EncodeWithSerializer(record);
                Assert.True(serialized.AsSpan().SequenceEqual(byHand),
                    $"command {i}:\n serializer {System.Text.Encoding.UTF8.GetString(serialized.AsSpan(4))}\n by hand    {System.Text.Encoding.UTF8.GetString(byHand.AsSpan(4))}");
                checkedRecords++;
            }
        }
        Assert.Equal(commands.Count * answers.Length, checkedRecords);
        // And the format is still read back: a record with every kind of payload round-trips.
        var all = new JournalRecord("c-1", 1, at, "v1", CustomerCommand.Of(events), [true]);
        Assert.Equal(all, Assert.Single(JournalCodec.Read(JournalCodec.Encode(all))), new RecordComparer());
    }

    private sealed record UnknownPayload : EventPayload
    {
        public override string Kind => "unknown";
    }

    /// <summary>The journal writer encodes a batch into one buffer: each record exactly as alone, back to back as a page
    /// stores them; the last one can be taken back (it did not fit), and one that fails to encode leaves nothing behind.</summary>
    [Fact]
    public void A_batch_encodes_its_records_back_to_back_as_each_alone()
    {
        var game = new LoyaltyEvent { EventId = "g-1", CustomerId = "c-1", OccurredAt = Sample.Now, Source = "arena", Payload = new GameSession("arena", 180, 2, 100) };
        var records = new[]
        {
            new JournalRecord("c-1", 1, Sample.Now, "v1", CustomerCommand.Of([game, game with { EventId = "g-2" }]), null),
            new JournalRecord("c-2", 7, Sample.Now, "v1", new CustomerCommand { Kind = CommandKind.Adjust, Id = "a", Points = 5, Text = new string('x', 100_000) }, [true]),
            new JournalRecord("c-3", 2, Sample.Now, "v1", CustomerCommand.CatchUp, null),
        };
        var encoded = new EncodedRecords(256); // grows past its first buffer
        var sizes = records.Select(encoded.Add).ToList();
        Assert.Equal(records.Length, encoded.Count);
        Assert.Equal(records.SelectMany(JournalCodec.Encode).ToArray(), encoded.Bytes.ToArray());
        for (var i = 0; i < records.Length; i++)
        {
            Assert.Equal(JournalCodec.Encode(records[i]), encoded.Bytes[encoded.StartOf(i)..encoded.EndOf(i)].ToArray());
            Assert.Equal(sizes[i], encoded.SizeOf(i));
        }
        Assert.Equal(records, JournalCodec.Read(encoded.Bytes), new RecordComparer());

        encoded.RemoveLast();
        Assert.Equal(records[..2].SelectMany(JournalCodec.Encode).ToArray(), encoded.Bytes.ToArray());
        var broken = records[2] with { Command = CustomerCommand.Of([game with { Payload = new UnknownPayload() }]) };
        Assert.ThrowsAny<Exception>(() => encoded.Add(broken));
        Assert.Equal(2, encoded.Count);
        encoded.Add(records[2]);
        Assert.Equal(records.SelectMany(JournalCodec.Encode).ToArray(), encoded.Bytes.ToArray());

        encoded.Clear();
        Assert.Equal((0, 0), (encoded.Count, encoded.Length));
        encoded.Add(records[0]);
        Assert.Equal(JournalCodec.Encode(records[0]), encoded.Bytes.ToArray());
    }

    [Fact]
    public void A_record_stored_by_this_format_still_reads()
    {
        // Stored data: yesterday's records must replay tomorrow.
        const string stored = """{"c":"c-1","s":3,"t":"2026-11-25T12:00:00+00:00","p":"v1","cmd":{"k":"redeem","ev":null,"id":"r-1","rw":"free-shipping","pt":0,"ttl":0,"txt":""},"b":null,"v":1}""";
        var bytes = System.Text.Encoding.UTF8.GetBytes(stored);
        var framed = BitConverter.GetBytes(bytes.Length).Concat(bytes).ToArray();
        var record = Assert.Single(JournalCodec.Read(framed));
        Assert.Equal(CommandKind.Redeem, record.Command.Kind);
        Assert.Equal("free-shipping", record.Command.RewardId);
        Assert.Equal(3, record.Sequence);
    }

    private sealed class RecordComparer : IEqualityComparer<JournalRecord>
    {
        public bool Equals(JournalRecord? x, JournalRecord? y) =>
            System.Text.Json.JsonSerializer.Serialize(x, DomainJson.Options) == System.Text.Json.JsonSerializer.Serialize(y, DomainJson.Options);

        public int GetHashCode(JournalRecord obj) => obj.Sequence.GetHashCode();
    }
}

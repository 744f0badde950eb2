using System.Text;
using System.Text.Json;
using Loyalty.Domain.Customers;

namespace Loyalty.Domain.Tests;

public class InlineKeyTests
{
    private static readonly string[] Samples =
    [
        "",
        "e-1",
        "bench-5ad937b1-3-123456",
        "LOY-QGNN-SA0A-J7BC",
        new string('x', InlineKey.MaxInline),          // the longest kept inline
        new string('y', InlineKey.MaxInline + 1),      // one more: kept as its string
        "#" + new string('A', 22),                      // a hashed stored key
        "a<b>&c'd\"e\\f+g",                              // characters the JSON writer escapes
        "café-ünïcode",                                  // not ASCII: kept as its string
        "emoji-\U0001F600",
        "tab\tand\u0001control",
    ];

    public static TheoryData<string> Texts => new(Samples);

    [Theory]
    [MemberData(nameof(Texts))]
    public void Gives_back_the_text_it_was_made_of_and_compares_without_making_a_string(string text)
    {
        var key = InlineKey.Of(text);
        Assert.Equal(text, key.ToString());
        Assert.Equal(text.Length, key.Length);
        Assert.True(key.Is(text));
        Assert.False(key.Is(text + "z"));
        Assert.False(key.Is("z" + text));
        if (text.Length > 0)
        {
            Assert.False(key.Is(text[..^1] + (char)(text[^1] ^ 1)));   // same length, last character differs
            Assert.False(key.Is(""));
        }
        Assert.Equal(text.Length > InlineKey.MaxInline || !Ascii.IsValid(text), key.IsString);
    }

    [Fact]
    public void Null_and_empty_are_the_default_key()
    {
        Assert.Equal(default, InlineKey.Of(null));
        Assert.Equal(default, InlineKey.Of(""));
        Assert.Equal("", default(InlineKey).ToString());
        Assert.True(default(InlineKey).Is(null));
        Assert.True(default(InlineKey).Is(""));
        Assert.False(default(InlineKey).Is("a"));
    }

    [Fact]
    public void Equal_texts_are_equal_keys_with_equal_hashes_and_different_texts_are_not()
    {
        var texts = Samples.Concat(["e-2", "e-10", "E-1", "LOY-QGNN-SA0A-J7BD"]).ToList();
        foreach (var a in texts)
        {
            foreach (var b in texts)
            {
                var ka = InlineKey.Of(a);
                var kb = InlineKey.Of(new string(b.AsSpan()));   // another instance of the same characters
                Assert.Equal(a == b, ka == kb);
                Assert.Equal(a == b, ka.Equals((object)kb));
                if (a == b)
                {
                    Assert.Equal(ka.GetHashCode(), kb.GetHashCode());
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Texts))]
    public void Writes_the_json_bytes_the_string_would(string text)
    {
        var name = JsonEncodedText.Encode("e");
        Assert.Equal(Json(w => w.WriteString(name, text)), Json(w => InlineKey.Of(text).WriteTo(w, name)));
        var options = DomainJson.Options;
        Assert.Equal(JsonSerializer.Serialize(new { e = text }, options), Json(w => InlineKey.Of(text).WriteTo(w, name), options));
    }

    [Fact]
    public void Entries_keep_ids_and_codes_inside_themselves_not_as_strings()
    {
        // Each read makes a new string: the entry holds no string of its own for the text (what the young collections
        // had to promote and find from old lists), and a change back to a string member fails here.
        var seen = SeenEvent.Of("bench-1-2-3", 10, 5);
        Assert.NotSame(seen.EventId, seen.EventId);
        var entry = new LedgerEntry(1, "earn", 5, 5, "bench-1-2-3", "rule", "v1", DateTimeOffset.UnixEpoch);
        Assert.NotSame(entry.EventKey, entry.EventKey);
        var reward = new GrantedReward("r", "rule", "coupon", "LOY-AAAA-BBBB-CCCC", "", 0, 10, 0, DateTimeOffset.UnixEpoch,
            null, "bench-1-2-3", "v1");
        Assert.NotSame(reward.Code, reward.Code);
        var notice = entry with { Note = "LOY-AAAA-BBBB-CCCC" };   // a reward notice keeps the code as its note
        Assert.NotSame(notice.Note, notice.Note);
        Assert.Equal("LOY-AAAA-BBBB-CCCC", notice.Note);
        Assert.NotSame(reward.EventId, reward.EventId);
        Assert.Equal("LOY-AAAA-BBBB-CCCC", reward.Code);
        Assert.Equal("bench-1-2-3", reward.EventId);
    }

    [Fact]
    public void Entries_compare_change_and_round_trip_by_their_text()
    {
        var a = new GrantedReward("r", "rule", "coupon", "LOY-AAAA-BBBB-CCCC", "", 0, 10, 0, DateTimeOffset.UnixEpoch,
            null, "e-1", "v1");
        var b = a with { Code = new string("LOY-AAAA-BBBB-CCCC".AsSpan()) };
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        var c = a with { Code = "LOY-AAAA-BBBB-CCCD" };
        Assert.NotEqual(a, c);
        Assert.Equal("LOY-AAAA-BBBB-CCCD", c.Code);
        Assert.Equal("e-1", c.EventId);
        Assert.Equal(a, JsonSerializer.Deserialize<GrantedReward>(JsonSerializer.Serialize(a, DomainJson.Options), DomainJson.Options));

        var long1 = SeenEvent.Of(new string('q', 41), 1, 2);   // a long id is stored under its hash, inline as well
        Assert.StartsWith("#", long1.EventId);
        Assert.False(long1.Key.IsString);
        Assert.Equal(long1, JsonSerializer.Deserialize<SeenEvent>(JsonSerializer.Serialize(long1, DomainJson.Options), DomainJson.Options));
        Assert.Equal(long1 with { PointsDelta = 3 }, SeenEvent.Of(new string('q', 41), 1, 3));

        var entry = new LedgerEntry(1, "earn", 5, 5, "é-not-ascii", "rule", "v1", DateTimeOffset.UnixEpoch) { Note = "n" };
        Assert.True(entry.EventKeyValue.IsString);
        Assert.Equal(entry, JsonSerializer.Deserialize<LedgerEntry>(JsonSerializer.Serialize(entry, DomainJson.Options), DomainJson.Options));
        Assert.Equal(entry with { EventKey = "e-2" }, new LedgerEntry(1, "earn", 5, 5, "e-2", "rule", "v1", DateTimeOffset.UnixEpoch) { Note = "n" });
    }

    [Theory]
    [InlineData("LOY")]
    [InlineData("SPORTS")]
    [InlineData("A-VERY-LONG-PREFIX-FOR-THIS-CAMPAIGN")]   // with the code's 15 characters past 40: kept as a string
    [InlineData("RÉDUCTION")]                               // not ASCII: kept as a string
    public void A_generated_code_as_a_key_is_the_code(string prefix)
    {
        var key = Loyalty.Domain.Rules.RuleEngine.CodeKey("secret", prefix, "c-1", "e-1", "rule", "reward", 2);
        var code = Loyalty.Domain.Rules.RuleEngine.Code("secret", prefix, "c-1", "e-1", "rule", "reward", 2);
        Assert.Equal(code, key.ToString());
        Assert.Equal(InlineKey.Of(code), key);
        Assert.Equal(prefix.Length + 15 > InlineKey.MaxInline || !Ascii.IsValid(prefix), key.IsString);
        Assert.Matches($"^{System.Text.RegularExpressions.Regex.Escape(prefix)}(-[0-9A-Z]{{4}}){{3}}$", code);
        Assert.NotEqual(code, Loyalty.Domain.Rules.RuleEngine.Code("secret", prefix, "c-1", "e-1", "rule", "reward", 3));
    }

    [Fact]
    public void Kept_entries_are_written_byte_for_byte_as_their_properties_serialize_and_read_back_equal()
    {
        // The options without the hand-written entry converters: what the properties alone serialize to.
        var plain = new JsonSerializerOptions(DomainJson.Options);
        foreach (var hand in plain.Converters.Where(c => c.GetType().Namespace == typeof(SeenEvent).Namespace).ToList())
        {
            plain.Converters.Remove(hand);
        }
        Assert.Equal(DomainJson.Options.Converters.Count - 3, plain.Converters.Count);
        var random = new Random(5);
        string Text() => Samples[random.Next(Samples.Length)];
        DateTimeOffset At() => DateTimeOffset.UnixEpoch.AddTicks(random.NextInt64(0, 700_000_000_000_000_000)).ToOffset(TimeSpan.Zero);
        DateTimeOffset? Maybe() => random.Next(3) == 0 ? null : At();
        void Check<T>(T value)
        {
            var written = JsonSerializer.Serialize(value, DomainJson.Options);
            Assert.Equal(JsonSerializer.Serialize(value, plain), written);
            Assert.Equal(value, JsonSerializer.Deserialize<T>(written, DomainJson.Options));
        }
        for (var i = 0; i < 300; i++)
        {
            Check(new SeenEvent(Text(), random.NextInt64(), random.NextInt64(-1000, 1000)));
            Check(new LedgerEntry(i, Text(), random.Next(-500, 500), random.Next(), Text(), Text(), Text(), At())
            {
                Note = Text(), PendingPoints = random.Next(-5, 5), Ref = Text(),
            });
            Check(new GrantedReward(Text(), Text(), Text(), Text(), Text(), random.Next(), random.Next(100), random.Next(), At(),
                Maybe(), Text(), Text()) { RevokedAt = Maybe(), UsedAt = Maybe() });
        }
        var state = new CustomerState { CustomerId = "c-1" };
        state.Seen.Add(SeenEvent.Of("e-1", 1, 2));
        state.Ledger.Add(new LedgerEntry(1, "earn", 5, 5, "e-1", "rule", "v1", DateTimeOffset.UnixEpoch) { Note = "LOY-AAAA-BBBB-CCCC" });
        state.Rewards.Add(new GrantedReward("r", "rule", "coupon", "LOY-AAAA-BBBB-CCCC", "", 1, 2, 3, DateTimeOffset.UnixEpoch, null, "e-1", "v1"), 10);
        Assert.Equal(JsonSerializer.Serialize(state, plain), JsonSerializer.Serialize(state, DomainJson.Options));
    }

    private static string Json(Action<Utf8JsonWriter> write, JsonSerializerOptions? options = null)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = options?.Encoder }))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}

using System.Text.Json;
using Loyalty.Domain.Customers;

namespace Loyalty.Domain.Tests;

public class InteractionLogTests
{
    // Texts of every width UTF-8 has: ASCII, two-byte (é), three-byte (→) and four-byte (a surrogate pair), and none.
    private static readonly string[] Pieces = ["played arena", "é", "→", "😀", "", "; rules a, b (+30 points)", "x"];

    private static Interaction Make(Random random, long sequence)
    {
        string Text(int max)
        {
            var builder = new System.Text.StringBuilder();
            var parts = random.Next(max);
            for (var i = 0; i < parts; i++)
            {
                builder.Append(Pieces[random.Next(Pieces.Length)]);
            }
            return builder.ToString();
        }
        var at = Sample.Now.AddSeconds(sequence);
        return new Interaction(sequence, "ev-" + sequence + Text(3), random.Next(2) == 0 ? "game_session" : "purchase", "shop",
            at, at.AddMilliseconds(5), random.Next(-50, 500), Text(12), random.Next(2) == 0 ? "Bronze" : "Silver")
        {
            ProgramVersion = "v" + random.Next(3),
        };
    }

    [Fact]
    public void Bounded_adds_keep_the_same_interactions_as_a_list_trimmed_from_the_front_across_the_rings_wrap_and_growth()
    {
        var random = new Random(11);
        var log = new InteractionLog();
        var list = new List<Interaction>();
        for (var i = 1; i <= 3_000; i++)
        {
            var max = i < 1_500 ? 32 : 9; // the bound may be lowered between adds
            var interaction = Make(random, i);
            log.Add(interaction, max);
            list.Add(interaction);
            if (list.Count > max)
            {
                list.RemoveRange(0, list.Count - max);
            }
            Assert.Equal(list.Count, log.Count);
            Assert.Equal(list[^1], log[^1]);
            Assert.Equal(list[0].Sequence, log.SequenceAt(0));
            if (i % 97 == 0)
            {
                Assert.Equal(list, log);
            }
        }
        Assert.Equal(list, log);
    }

    [Fact]
    public void The_text_ring_holds_what_the_kept_interactions_need_and_stops_growing()
    {
        var random = new Random(3);
        var log = new InteractionLog();
        var largest = 0;
        for (var i = 1; i <= 5_000; i++)
        {
            log.Add(Make(random, i), 32);
            if (i == 1_000)
            {
                largest = log.TextCapacity;
            }
        }
        Assert.Equal(32, log.Capacity);
        // At most twice what 32 of the longest texts here take (ring sizes double), and no growth once it was enough.
        Assert.InRange(log.TextCapacity, 1, 2 * 32 * (3 * 8 + 12 * 30));
        Assert.Equal(largest, log.TextCapacity);
    }

    [Fact]
    public void A_copy_reads_the_same_and_changes_apart_from_the_original()
    {
        var random = new Random(5);
        var log = new InteractionLog();
        for (var i = 1; i <= 50; i++)
        {
            log.Add(Make(random, i), 32); // wrapped: 50 into 32
        }
        var before = log.ToList();
        var copy = log.Copy();
        Assert.Equal(before, copy);
        for (var i = 51; i <= 70; i++)
        {
            copy.Add(Make(random, i), 32);
        }
        Assert.Equal(before, log);
        log.Add(Make(random, 71), 32);
        Assert.Equal(70, copy[^1].Sequence);
        Assert.Equal(32, copy.Count);
    }

    [Fact]
    public void Stored_json_is_the_array_a_list_of_interactions_was_stored_as_and_reads_back()
    {
        var random = new Random(9);
        var log = new InteractionLog();
        var list = new List<Interaction>();
        for (var i = 1; i <= 45; i++)
        {
            var interaction = Make(random, i);
            log.Add(interaction, 32);
            list.Add(interaction);
        }
        list.RemoveRange(0, list.Count - 32);

        var written = JsonSerializer.Serialize(log, DomainJson.Options);
        Assert.Equal(JsonSerializer.Serialize(list, DomainJson.Options), written);
        Assert.Equal(list, JsonSerializer.Deserialize<InteractionLog>(written, DomainJson.Options)!);

        var state = new CustomerState { CustomerId = "c" };
        state.Interactions = JsonSerializer.Deserialize<InteractionLog>(written, DomainJson.Options)!;
        var again = JsonSerializer.Deserialize<CustomerState>(JsonSerializer.Serialize(state, DomainJson.Options), DomainJson.Options)!;
        Assert.Equal(list, again.Interactions);
    }

    [Fact]
    public void An_applied_event_keeps_its_id_and_summary_in_the_log()
    {
        var customer = new TestCustomer();
        customer.Apply(Pay.Game(12 * 60, 3), "g-é-1");
        var kept = Assert.Single(customer.State.Interactions);
        Assert.Equal("g-é-1", kept.EventId);
        Assert.StartsWith("played ", kept.Summary, StringComparison.Ordinal);
        Assert.Contains("12 min at difficulty 3", kept.Summary, StringComparison.Ordinal);
    }
}

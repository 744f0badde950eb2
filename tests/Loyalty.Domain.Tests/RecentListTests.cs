using System.Text.Json;
using Loyalty.Domain.Customers;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

public class RecentListTests
{
    [Fact]
    public void Bounded_adds_keep_the_same_entries_in_the_same_order_as_a_list_trimmed_from_the_front()
    {
        var random = new Random(7);
        var ring = new RecentList<string>();
        var list = new List<string>();
        for (var i = 0; i < 2_000; i++)
        {
            var max = i < 1_000 ? 10 : 7; // the bound may be lowered between adds
            var item = "e" + i;
            ring.Add(item, max);
            list.Add(item);
            if (list.Count > max)
            {
                list.RemoveRange(0, list.Count - max);
            }
            if (random.Next(10) == 0)
            {
                // Rare clean-ups and updates in place, across the ring's wrap.
                Predicate<string> odd = s => s.EndsWith('3');
                Assert.Equal(list.RemoveAll(odd), ring.RemoveAll(odd));
            }
            if (list.Count > 2 && random.Next(5) == 0)
            {
                list[1] += "!";
                ring[1] += "!";
            }
            Assert.Equal(list, ring);
            ring.AsSpans(out var older, out var newer);
            Assert.Equal(list, [.. older.ToArray(), .. newer.ToArray()]);
            Assert.Equal(list.FindLastIndex(s => s.Contains('7')), ring.FindLastIndex(s => s.Contains('7')));
        }
    }

    [Fact]
    public void A_full_list_writes_one_slot_for_a_new_entry_and_its_array_never_grows_past_the_bound()
    {
        var ring = new RecentList<string>();
        for (var i = 0; i < 100; i++)
        {
            ring.Add("e" + i, 100);
        }
        Assert.Equal(100, ring.Capacity);
        var before = Slots(ring);
        var version = ring.Version;

        ring.Add("new", 100);

        Assert.NotEqual(version, ring.Version); // whatever was computed from the entries is stale

        var after = Slots(ring);
        // Exactly one slot changed (the oldest entry's, now the newest's): nothing moved along.
        Assert.Single(Enumerable.Range(0, 100), i => !ReferenceEquals(before[i], after[i]));
        Assert.Equal(100, ring.Capacity);
        Assert.Equal("e1", ring[0]);
        Assert.Equal("new", ring[^1]);
    }

    [Fact]
    public void It_is_stored_as_a_json_array_oldest_first_and_reads_back_from_one()
    {
        var ring = new RecentList<int>();
        for (var i = 1; i <= 9; i++)
        {
            ring.Add(i, 5); // wraps: the array holds 6 7 8 9 5 from slot 0
        }

        var json = JsonSerializer.Serialize(ring);
        var read = JsonSerializer.Deserialize<RecentList<int>>("[5,6,7,8,9]")!;

        Assert.Equal("[5,6,7,8,9]", json);
        Assert.Equal([5, 6, 7, 8, 9], read);
        read.Add(10, 5);
        Assert.Equal([6, 7, 8, 9, 10], read);
    }

    [Fact]
    public void A_snapshot_copy_holds_the_entries_and_does_not_change_with_the_original()
    {
        var ring = new RecentList<int>();
        for (var i = 1; i <= 7; i++)
        {
            ring.Add(i, 4);
        }

        var copy = ring.Copy();
        ring.Add(8, 4);
        copy.Add(100, 4);

        Assert.Equal([5, 6, 7, 8], ring);
        Assert.Equal([5, 6, 7, 100], copy);
        Assert.Equal(4, copy.Capacity);
    }

    [Fact]
    public void A_customer_state_with_full_rewards_and_interactions_round_trips_through_storage_json()
    {
        var customer = new TestCustomer(EngineLimits.Default with { InteractionsKept = 5 });
        for (var i = 0; i < 12; i++)
        {
            customer.Earn(Game(60, 1));
        }

        var json = JsonSerializer.Serialize(customer.State, DomainJson.Options);
        var read = JsonSerializer.Deserialize<CustomerState>(json, DomainJson.Options)!;

        Assert.Equal([8, 9, 10, 11, 12], read.Interactions.Select(x => x.Sequence));
        Assert.Equal(customer.State.Rewards, read.Rewards);
        Assert.Equal(json, JsonSerializer.Serialize(read, DomainJson.Options));
    }

    private static object?[] Slots<T>(RecentList<T> ring)
    {
        var field = typeof(RecentList<T>).GetField("_items", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        return ((T[])field.GetValue(ring)!).Select(x => (object?)x).ToArray();
    }
}

/// <summary>Granted rewards are forgotten <see cref="EngineLimits.RewardsKeptAfterExpiryDays"/> after they expired or were
/// revoked, and not before, however the customer knows it has nothing to forget in between (the earliest end it keeps
/// without reading every reward at every event).</summary>
public class RewardForgettingTests
{
    private static readonly Loyalty.Domain.Programs.ActiveProgram Program = Rules.RuleKit.Program(
        """[{ "id": "big-baby-order", "when": ["purchase"], "if": { "all": [{ "orderValueAtLeast": 5000 }, { "categoryIn": ["baby"] }] }, "then": [{ "grantReward": "baby-5" }] }]""",
        Rules.RuleKit.Catalogue);

    [Fact]
    public void An_expired_coupon_is_forgotten_30_days_after_it_expired_and_not_a_day_before()
    {
        var customer = new TestCustomer(program: Program);
        var coupon = Assert.Single(customer.Apply(Buy("o-1", Line("stroller", "baby", 1, 6000))).Rewards);
        Assert.Equal(customer.Now.AddDays(30), coupon.ExpiresAt);

        // Every day an event: the customer decides each time whether anything is due.
        for (var day = 1; day < 60; day++)
        {
            customer.Clock.Advance(TimeSpan.FromDays(1));
            customer.Earn(Game(60, 1));
            Assert.Single(customer.State.Rewards, r => r.Code == coupon.Code);
        }
        customer.Clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromTicks(1));
        customer.Earn(Game(60, 1));

        Assert.DoesNotContain(customer.State.Rewards, r => r.Code == coupon.Code);
    }

    [Fact]
    public void A_coupon_revoked_after_the_customer_last_looked_is_forgotten_30_days_after_the_revocation()
    {
        var customer = new TestCustomer(program: Program);
        var coupon = Assert.Single(customer.Apply(Buy("o-1", Line("stroller", "baby", 1, 6000))).Rewards);
        customer.Apply(Buy("o-2", Line("stroller", "baby", 1, 6000)));   // a later coupon that ends later
        customer.Earn(Game(60, 1));                                       // the earliest end is now known: day 30
        customer.Clock.Advance(TimeSpan.FromDays(1));

        customer.Apply(Refund("o-1", Line("stroller", "baby", 1, 6000)));  // revoked on day 1: ends earlier than known
        Assert.NotNull(customer.State.Rewards.Single(r => r.Code == coupon.Code).RevokedAt);
        customer.Clock.Advance(TimeSpan.FromDays(30) + TimeSpan.FromTicks(1));
        customer.Earn(Game(60, 1));

        Assert.DoesNotContain(customer.State.Rewards, r => r.Code == coupon.Code);
        Assert.Single(customer.State.Rewards);
    }
}

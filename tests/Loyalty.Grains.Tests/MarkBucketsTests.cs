using Loyalty.Grains.Journal;

namespace Loyalty.Grains.Tests;

/// <summary>What the journal's mark rows hold as the writer's process keeps it: staged rows count only once their
/// append is stored, and what a row weighs when an append rewrites it.</summary>
public sealed class MarkBucketsTests
{
    private static string[] InBucket(int bucket, int count) =>
        [.. Enumerable.Range(0, int.MaxValue).Select(i => $"c-{i}").Where(c => MarkBuckets.BucketOf(MarkBuckets.KeyOf(c)) == bucket).Take(count)];

    [Fact]
    public void A_staged_row_counts_only_once_its_append_is_stored()
    {
        var marks = new MarkBuckets();
        var customers = InBucket(7, 3);
        var row = Assert.Single(marks.Stage(1, [customers[0]], []));
        Assert.Equal(7, row.Bucket);
        marks.Settle(1, stored: true);

        marks.Stage(2, [customers[1]], []);
        marks.Settle(2, stored: false);
        Assert.Equal(new[] { MarkBuckets.KeyOf(customers[0]), MarkBuckets.KeyOf(customers[2]) }.Order(),
            marks.Stage(2, [customers[2]], []).Single().Keys.Order());
        marks.Settle(2, stored: true);

        // An unmark rewrites the row without the customer; a settle of a batch other than the staged one changes nothing.
        marks.Stage(3, [], [customers[0]]);
        marks.Settle(99, stored: true);
        marks.Settle(3, stored: true);
        Assert.Empty(marks.Stage(4, [], []));
        Assert.Equal(new[] { MarkBuckets.KeyOf(customers[1]), MarkBuckets.KeyOf(customers[2]) }.Order(),
            marks.Stage(4, [customers[1]], []).Single().Keys.Order());
        // A customer marked again while its mark is stored stays once in its row.
        Assert.Single(marks.Stage(5, [customers[2]], []).Single().Keys, k => k == MarkBuckets.KeyOf(customers[2]));
    }

    [Fact]
    public void Rows_read_back_the_keys_they_were_written_with()
    {
        var keys = Enumerable.Range(0, 20_000).Select(i => MarkBuckets.KeyOf($"k-{i}")).ToList();
        var properties = MarkBuckets.Properties(keys).ToDictionary(p => p.Name, p => p.Value);
        Assert.Equal(3, properties.Count); // 8,000 keys to a property
        Assert.All(properties.Values, v => Assert.InRange(v.Length, 1, 64_000));
        Assert.All(keys.Take(500), k => Assert.True(MarkBuckets.Holds(properties.GetValueOrDefault, k)));
        Assert.False(MarkBuckets.Holds(properties.GetValueOrDefault, MarkBuckets.KeyOf("k-20000")));
    }

    [Fact]
    public void A_row_weighs_the_keys_it_holds_once_stored()
    {
        var marks = new MarkBuckets();
        var crowded = InBucket(3, 2_000);
        marks.Stage(1, crowded, []);
        Assert.Equal(0, marks.RowBytes(3));
        marks.Settle(1, stored: true);
        Assert.Equal(16_000, marks.RowBytes(3));
        Assert.Equal(0, marks.RowBytes(4));
        marks.Stage(2, [], crowded[..500]);
        marks.Settle(2, stored: true);
        Assert.Equal(12_000, marks.RowBytes(3));
    }
}

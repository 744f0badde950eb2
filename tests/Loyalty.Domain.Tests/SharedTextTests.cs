using Loyalty.Domain.Events;

namespace Loyalty.Domain.Tests;

public sealed class SharedTextTests
{
    private static string Fresh(string text) => new(text.AsSpan()); // a new instance, as a parser makes one

    [Fact]
    public void Equal_text_comes_back_as_one_instance()
    {
        var pool = new SharedText(capacity: 8, maxLength: 16);
        var first = pool.Share(Fresh("web-shop"));
        var second = pool.Share(Fresh("web-shop"));

        Assert.Equal("web-shop", second);
        Assert.Same(first, second);
        Assert.Equal(1, pool.Count);
    }

    [Fact]
    public void A_full_pool_hands_text_back_as_it_came_and_keeps_its_bound()
    {
        var pool = new SharedText(capacity: 3, maxLength: 16);
        foreach (var name in new[] { "a", "b", "c" })
        {
            pool.Share(Fresh(name));
        }

        var late = Fresh("d");
        Assert.Same(late, pool.Share(late));
        Assert.NotSame(pool.Share(Fresh("d")), late);
        Assert.Equal(3, pool.Count);
        // What it already holds is still shared.
        Assert.Same(pool.Share(Fresh("b")), pool.Share(Fresh("b")));
    }

    [Fact]
    public void Long_and_empty_text_is_not_pooled()
    {
        var pool = new SharedText(capacity: 8, maxLength: 4);
        var longer = Fresh("sports");
        Assert.Same(longer, pool.Share(longer));
        Assert.Equal("", pool.Share(""));
        Assert.Equal(0, pool.Count);
    }

    [Fact]
    public void Concurrent_callers_agree_on_one_instance_and_count_each_value_once()
    {
        var pool = new SharedText(capacity: 100, maxLength: 16);
        var names = Enumerable.Range(0, 50).Select(i => $"category-{i}").ToArray();
        var seen = new System.Collections.Concurrent.ConcurrentBag<(int, string)>();

        Parallel.For(0, 4_000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var k = i % names.Length;
            seen.Add((k, pool.Share(Fresh(names[k]))));
        });

        Assert.Equal(names.Length, pool.Count);
        foreach (var group in seen.GroupBy(s => s.Item1))
        {
            var one = group.First().Item2;
            Assert.All(group, s => Assert.Same(one, s.Item2));
        }
    }
}

using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

public class BoundedStateTests
{
    [Fact]
    public void Interactions_are_capped_at_the_limit_keeping_the_newest()
    {
        var customer = new TestCustomer(EngineLimits.Default with { InteractionsKept = 5 });

        for (var i = 0; i < 8; i++)
        {
            customer.Earn(Game(60, 1));
        }

        Assert.Equal([4, 5, 6, 7, 8], customer.State.Interactions.Select(x => x.Sequence));
        Assert.Equal(8, customer.State.LastSequence);
        Assert.Equal(8, customer.State.EventsApplied);
    }

    [Fact]
    public void Default_limits_keep_32_interactions()
    {
        var customer = new TestCustomer();

        for (var i = 0; i < 69; i++)
        {
            customer.Earn(Game(60, 1));
        }

        Assert.Equal(32, customer.State.Interactions.Count);
        Assert.Equal(38, customer.State.Interactions[0].Sequence);
        // Room is made before the newest goes in: the list's array never doubles past what is kept.
        Assert.Equal(32, customer.State.Interactions.Capacity);
    }

    [Fact]
    public void Orders_are_capped_and_a_forgotten_order_can_no_longer_be_refunded()
    {
        var customer = new TestCustomer(EngineLimits.Default with { OrdersKept = 2 });
        var line = Line("novel", "books", 1, 1000);  // 10 points each
        customer.Earn(Buy("o-1", line));
        customer.Earn(Buy("o-2", line));
        customer.Earn(Buy("o-3", line));

        Assert.Equal(["o-2", "o-3"], customer.State.Orders.Select(o => o.OrderId));
        Assert.Equal(EventOutcome.Rejected, customer.Apply(Refund("o-1", line)).Outcome);
        Assert.Equal(-10, customer.Earn(Refund("o-2", line)));
    }

    [Fact]
    public void Paid_achievements_are_remembered_up_to_the_limit()
    {
        var customer = new TestCustomer(EngineLimits.Default with { OnceOnlyKept = 2 });

        customer.Earn(Achieved("a"));
        customer.Earn(Achieved("b"));
        customer.Earn(Achieved("c"));

        Assert.Equal(["chess/b", "chess/c"], customer.State.Achievements);
    }

    [Fact]
    public void Resolved_cases_are_remembered_up_to_the_limit()
    {
        var customer = new TestCustomer(EngineLimits.Default with { OnceOnlyKept = 2 });

        foreach (var id in new[] { "k-1", "k-2", "k-3" })
        {
            customer.Earn(Support(id, SupportStatus.Resolved, SupportChannel.Bot));
        }

        Assert.Equal(["k-2", "k-3"], customer.State.ResolvedCases);
    }

    [Fact]
    public void Day_buckets_outside_their_windows_are_dropped()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("bib", "baby", 1, 1000)));
        customer.Earn(Game(60, 1));
        var firstDay = customer.State.Qualifying[0].Day;

        // Activity keeps 30 days, affinity 90, qualifying 365.
        customer.Clock.Advance(TimeSpan.FromDays(30));
        customer.Earn(Achieved("a"));
        Assert.DoesNotContain(customer.State.Activity, a => a.Day == firstDay);
        Assert.Contains(customer.State.Categories, c => c.Day == firstDay);

        customer.Clock.Advance(TimeSpan.FromDays(60));
        customer.Earn(Achieved("b"));
        Assert.DoesNotContain(customer.State.Categories, c => c.Day == firstDay);
        Assert.Contains(customer.State.Qualifying, q => q.Day == firstDay);
    }
}

public class InteractionPageTests
{
    private static TestCustomer WithInteractions(int count)
    {
        // Keep them all, whatever the default bound, so paging is tested on its own.
        var customer = new TestCustomer(EngineLimits.Default with { InteractionsKept = Math.Max(count, 200) });
        for (var i = 0; i < count; i++)
        {
            customer.Earn(Game(60, 1));
        }
        return customer;
    }

    private static long[] Sequences(InteractionPage page) => [.. page.Interactions.Select(i => i.Sequence)];

    [Fact]
    public void Pages_run_newest_first_and_end_with_an_empty_token()
    {
        var customer = WithInteractions(7);

        var first = InteractionPage.Of(customer.State, 3, null);
        var second = InteractionPage.Of(customer.State, 3, first.NextPageToken);
        var third = InteractionPage.Of(customer.State, 3, second.NextPageToken);

        Assert.Equal([7, 6, 5], Sequences(first));
        Assert.Equal([4, 3, 2], Sequences(second));
        Assert.Equal([1], Sequences(third));
        Assert.Equal("", third.NextPageToken);
    }

    [Fact]
    public void Full_last_page_has_no_next_token()
    {
        var customer = WithInteractions(6);

        var first = InteractionPage.Of(customer.State, 3, "");
        var second = InteractionPage.Of(customer.State, 3, first.NextPageToken);

        Assert.Equal([3, 2, 1], Sequences(second));
        Assert.Equal("", second.NextPageToken);
    }

    [Fact]
    public void Token_stays_valid_when_new_interactions_arrive_after_it_was_issued()
    {
        var customer = WithInteractions(7);
        var first = InteractionPage.Of(customer.State, 3, null);

        customer.Earn(Game(60, 1));
        customer.Earn(Game(60, 1));
        var second = InteractionPage.Of(customer.State, 3, first.NextPageToken);
        var fresh = InteractionPage.Of(customer.State, 3, null);

        // No interaction is shown twice or skipped.
        Assert.Equal([4, 3, 2], Sequences(second));
        Assert.Equal([9, 8, 7], Sequences(fresh));
    }

    [Fact]
    public void Page_size_defaults_to_20_and_is_capped_at_100()
    {
        var customer = WithInteractions(150);

        Assert.Equal(20, InteractionPage.Of(customer.State, 0, null).Interactions.Count);
        Assert.Equal(20, InteractionPage.Of(customer.State, -5, null).Interactions.Count);
        Assert.Equal(100, InteractionPage.Of(customer.State, 1000, null).Interactions.Count);
    }

    [Fact]
    public void Empty_history_gives_an_empty_page()
    {
        var page = InteractionPage.Of(new CustomerState(), 10, null);

        Assert.Empty(page.Interactions);
        Assert.Equal("", page.NextPageToken);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("s")]
    [InlineData("s0")]
    [InlineData("s-3")]
    [InlineData("s 3")]
    [InlineData("x3")]
    [InlineData("S3")]
    public void Token_this_api_did_not_issue_is_refused(string token)
    {
        var customer = WithInteractions(3);

        var e = Assert.Throws<ArgumentException>(() => InteractionPage.Of(customer.State, 3, token));

        Assert.Equal("pageToken", e.ParamName);
        Assert.False(InteractionPage.TryParseToken(token, out _));
    }

    [Fact]
    public void TryParseToken_refuses_an_empty_token_without_throwing()
    {
        Assert.False(InteractionPage.TryParseToken("", out _));
    }

    [Fact]
    public void TryParseToken_reads_an_issued_token()
    {
        Assert.True(InteractionPage.TryParseToken("s42", out var before));
        Assert.Equal(42, before);
    }
}

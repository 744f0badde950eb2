using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>Support conditions: on the case update being evaluated, and contacts in a window.</summary>
public class SupportConditionTests
{
    private static SupportCase Case(SupportStatus status = SupportStatus.Resolved, SupportChannel channel = SupportChannel.Human,
        int? satisfaction = null, int botTurns = 0, int waitSeconds = 0, string caseId = "k-1") =>
        new(caseId, status, channel, satisfaction, botTurns, waitSeconds);

    [Theory]
    [InlineData(SupportStatus.Resolved, true)]
    [InlineData(SupportStatus.Escalated, true)]
    [InlineData(SupportStatus.Opened, false)]
    public void SupportStatusIn_holds_for_a_listed_status(SupportStatus status, bool fires)
    {
        Assert.Equal(fires, CustomerWhen("""{ "supportStatusIn": ["resolved", "escalated"] }""").Fires(Case(status)));
    }

    [Theory]
    [InlineData(SupportChannel.Human, "human", true)]
    [InlineData(SupportChannel.Bot, "human", false)]
    [InlineData(SupportChannel.Bot, "bot", true)]
    [InlineData(SupportChannel.Human, "bot", false)]
    public void ChannelIs_holds_for_that_channel(SupportChannel channel, string condition, bool fires)
    {
        Assert.Equal(fires, CustomerWhen($$"""{ "channelIs": "{{condition}}" }""").Fires(Case(channel: channel)));
    }

    [Theory]
    [InlineData(4, true)]
    [InlineData(5, true)]
    [InlineData(3, false)]
    [InlineData(null, false)]  // not rated is not satisfied
    public void SatisfactionAtLeast_needs_a_rating_at_least_that_high(int? satisfaction, bool fires)
    {
        Assert.Equal(fires, CustomerWhen("""{ "satisfactionAtLeast": 4 }""").Fires(Case(satisfaction: satisfaction)));
    }

    [Theory]
    [InlineData(5, true)]
    [InlineData(40, true)]
    [InlineData(4, false)]
    public void BotTurnsAtLeast_compares_the_bot_turns_before_a_human(int turns, bool fires)
    {
        Assert.Equal(fires, CustomerWhen("""{ "botTurnsAtLeast": 5 }""").Fires(Case(botTurns: turns)));
    }

    [Theory]
    [InlineData(600, true)]
    [InlineData(599, false)]
    public void WaitSecondsAtLeast_compares_the_wait(int seconds, bool fires)
    {
        Assert.Equal(fires, CustomerWhen("""{ "waitSecondsAtLeast": 600 }""").Fires(Case(waitSeconds: seconds)));
    }

    [Fact]
    public void Case_conditions_do_not_hold_for_other_event_kinds()
    {
        Assert.False(CustomerWhen("""{ "supportStatusIn": ["opened", "escalated", "resolved"] }""").Fires(Game(60, 1)));
        Assert.False(CustomerWhen("""{ "channelIs": "bot" }""").Fires(Game(60, 1)));
        Assert.False(CustomerWhen("""{ "satisfactionAtLeast": 1 }""").Fires(Game(60, 1)));
        Assert.False(CustomerWhen("""{ "botTurnsAtLeast": 0 }""").Fires(Game(60, 1)));
        Assert.False(CustomerWhen("""{ "waitSecondsAtLeast": 0 }""").Fires(Game(60, 1)));
    }

    [Fact]
    public void SupportContactsAtLeast_counts_cases_opened_in_the_last_n_days()
    {
        var customer = CustomerWhen("""{ "supportContactsAtLeast": { "contacts": 3, "days": 7 } }""");
        Assert.False(customer.Fires(Case(SupportStatus.Opened, caseId: "k-1")));   // 1
        customer.Clock.Advance(TimeSpan.FromDays(8));                                // k-1 leaves the 7 days

        Assert.False(customer.Fires(Case(SupportStatus.Opened, caseId: "k-2")));   // 1
        Assert.False(customer.Fires(Case(SupportStatus.Opened, caseId: "k-3")));   // 2
        Assert.False(customer.Fires(Case(SupportStatus.Resolved, caseId: "k-3"))); // a resolution is not a contact: 2
        Assert.True(customer.Fires(Case(SupportStatus.Opened, caseId: "k-4")));    // 3
        Assert.True(customer.Fires(Game(60, 1)));                                    // about the customer: any event
    }

    [Fact]
    public void SupportContactsAtLeast_over_a_longer_window_counts_the_older_case()
    {
        var customer = CustomerWhen("""{ "supportContactsAtLeast": { "contacts": 3, "days": 9 } }""");
        customer.Applied(Case(SupportStatus.Opened, caseId: "k-1"));
        customer.Clock.Advance(TimeSpan.FromDays(8));
        Assert.False(customer.Fires(Case(SupportStatus.Opened, caseId: "k-2")));   // 2

        Assert.True(customer.Fires(Case(SupportStatus.Opened, caseId: "k-3")));    // 3
    }
}

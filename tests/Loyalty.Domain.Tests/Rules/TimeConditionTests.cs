using static Loyalty.Domain.Tests.Pay;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>Time conditions look at the event's occurred_at in the program's time zone (Europe/Berlin: UTC+1 in
/// winter, UTC+2 in summer), not at UTC and not at the time of processing. The clock starts on Wednesday
/// 2026-11-25 12:00 UTC (13:00 in Berlin).</summary>
public class TimeConditionTests
{
    [Theory]
    [InlineData("2026-11-25T11:55:00Z", true)]   // 12:55 on the 25th in Berlin
    [InlineData("2026-11-24T23:00:00Z", true)]   // 00:00 on the 25th in Berlin, the 24th in UTC
    [InlineData("2026-11-24T22:59:59Z", false)]  // 23:59:59 on the 24th in Berlin
    public void DateBetween_starts_at_the_program_local_midnight_of_from(string occurredAt, bool fires)
    {
        var customer = CustomerWhen("""{ "dateBetween": { "from": "2026-11-25", "to": "2026-11-30" } }""");

        Assert.Equal(fires, customer.Fires(Game(60, 1), Utc(occurredAt)));
    }

    [Theory]
    [InlineData("2026-11-30T22:59:59Z", true)]   // 23:59:59 on the 30th in Berlin: "to" is inclusive
    [InlineData("2026-11-30T23:00:00Z", false)]  // 00:00 on 1 December in Berlin, still the 30th in UTC
    public void DateBetween_ends_at_the_program_local_end_of_to(string occurredAt, bool fires)
    {
        var customer = CustomerWhen("""{ "dateBetween": { "from": "2026-11-25", "to": "2026-11-30" } }""");
        customer.Clock.SetUtcNow(Utc("2026-12-01T12:00:00Z"));

        Assert.Equal(fires, customer.Fires(Game(60, 1), Utc(occurredAt)));
    }

    [Fact]
    public void DateBetween_looks_at_when_the_event_happened_not_when_it_is_processed()
    {
        var customer = CustomerWhen("""{ "dateBetween": { "from": "2026-11-25", "to": "2026-11-25" } }""");
        customer.Clock.SetUtcNow(Utc("2026-11-27T12:00:00Z"));

        Assert.True(customer.Fires(Game(60, 1), Utc("2026-11-25T10:00:00Z")));   // arrives two days late
        Assert.False(customer.Fires(Game(60, 1)));                               // happened on the 27th
    }

    [Theory]
    [InlineData("[\"wednesday\"]", "2026-11-25T11:55:00Z", true)]
    [InlineData("[\"Wednesday\"]", "2026-11-24T23:30:00Z", true)]    // Wednesday 00:30 in Berlin, Tuesday in UTC
    [InlineData("[\"wednesday\"]", "2026-11-24T22:30:00Z", false)]   // Tuesday 23:30 in Berlin
    [InlineData("[\"TUESDAY\", \"saturday\"]", "2026-11-24T22:30:00Z", true)]
    [InlineData("[\"tuesday\", \"saturday\"]", "2026-11-25T11:55:00Z", false)]
    [InlineData("[\"sunday\"]", "2026-11-22T12:00:00Z", true)]       // Sunday 22 November
    public void DayOfWeekIn_uses_the_program_local_day(string days, string occurredAt, bool fires)
    {
        var customer = CustomerWhen($$"""{ "dayOfWeekIn": {{days}} }""");

        Assert.Equal(fires, customer.Fires(Game(60, 1), Utc(occurredAt)));
    }

    [Theory]
    [InlineData("2026-11-25T08:00:00Z", true)]   // 09:00 in Berlin: from is inclusive
    [InlineData("2026-11-25T07:59:59Z", false)]  // 08:59:59; in UTC (07) it would not hold either
    [InlineData("2026-11-25T11:55:00Z", true)]   // 12:55
    [InlineData("2026-11-24T15:59:59Z", true)]   // 16:59:59
    [InlineData("2026-11-24T16:00:00Z", false)]  // 17:00: to is exclusive, though UTC says 16
    public void HourBetween_is_from_inclusive_to_exclusive_in_local_hours(string occurredAt, bool fires)
    {
        var customer = CustomerWhen("""{ "hourBetween": { "from": 9, "to": 17 } }""");

        Assert.Equal(fires, customer.Fires(Game(60, 1), Utc(occurredAt)));
    }

    [Theory]
    [InlineData("2026-11-24T21:00:00Z", true)]   // 22:00 in Berlin (21 in UTC would not hold)
    [InlineData("2026-11-24T20:59:59Z", false)]  // 21:59:59
    [InlineData("2026-11-24T23:30:00Z", true)]   // 00:30, past midnight
    [InlineData("2026-11-25T04:59:59Z", true)]   // 05:59:59
    [InlineData("2026-11-25T05:00:00Z", false)]  // 06:00 (05 in UTC would hold)
    [InlineData("2026-11-25T11:55:00Z", false)]  // 12:55
    public void HourBetween_wraps_past_midnight_when_from_is_after_to(string occurredAt, bool fires)
    {
        var customer = CustomerWhen("""{ "hourBetween": { "from": 22, "to": 6 } }""");

        Assert.Equal(fires, customer.Fires(Game(60, 1), Utc(occurredAt)));
    }

    [Theory]
    [InlineData("2026-11-24T22:30:00Z", true)]   // 23:30
    [InlineData("2026-11-24T21:59:59Z", false)]  // 22:59:59
    public void HourBetween_to_24_runs_to_midnight(string occurredAt, bool fires)
    {
        var customer = CustomerWhen("""{ "hourBetween": { "from": 23, "to": 24 } }""");

        Assert.Equal(fires, customer.Fires(Game(60, 1), Utc(occurredAt)));
    }

    [Theory]
    [InlineData("2027-07-01T07:30:00Z", true)]   // 09:30 in summer time (UTC+2)
    [InlineData("2027-07-01T08:30:00Z", false)]  // 10:30; a fixed winter offset of +1 would say 09:30
    public void HourBetween_follows_daylight_saving_time(string occurredAt, bool fires)
    {
        var customer = CustomerWhen("""{ "hourBetween": { "from": 9, "to": 10 } }""");
        customer.Clock.SetUtcNow(Utc("2027-07-01T12:00:00Z"));

        Assert.Equal(fires, customer.Fires(Game(60, 1), Utc(occurredAt)));
    }
}

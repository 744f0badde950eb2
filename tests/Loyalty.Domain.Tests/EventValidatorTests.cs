using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

public class EventValidatorTests
{
    private static readonly DateTimeOffset Now = Sample.Now;

    private static LoyaltyEvent Valid(EventPayload payload) => new()
    {
        EventId = "e-1",
        CustomerId = "c-1",
        OccurredAt = Now.AddMinutes(-5),
        Source = "shop",
        Payload = payload,
    };

    private static readonly LineItem Ok = Line("sku-1", "baby", 1, 1000);

    private static LoyaltyEvent Case(string name) => name switch
    {
        "event_id null" => Valid(Buy("o-1", Ok)) with { EventId = null! },
        "event_id empty" => Valid(Buy("o-1", Ok)) with { EventId = "" },
        "event_id 129 chars" => Valid(Buy("o-1", Ok)) with { EventId = new string('e', 129) },
        "customer_id null" => Valid(Buy("o-1", Ok)) with { CustomerId = null! },
        "customer_id empty" => Valid(Buy("o-1", Ok)) with { CustomerId = "" },
        "customer_id 129 chars" => Valid(Buy("o-1", Ok)) with { CustomerId = new string('c', 129) },
        "customer_id control char" => Valid(Buy("o-1", Ok)) with { CustomerId = "c\u0001" },
        "customer_id newline" => Valid(Buy("o-1", Ok)) with { CustomerId = "c\n1" },
        "customer_id lone surrogate" => Valid(Buy("o-1", Ok)) with { CustomerId = "c\ud800" },
        "customer_id blank" => Valid(Buy("o-1", Ok)) with { CustomerId = "   " },
        "source control char" => Valid(Buy("o-1", Ok)) with { Source = "shop\u007f" },
        "occurred_at missing" => Valid(Buy("o-1", Ok)) with { OccurredAt = null },
        "occurred_at 6 min ahead" => Valid(Buy("o-1", Ok)) with { OccurredAt = Now.AddMinutes(6) },
        "occurred_at before 2000" => Valid(Buy("o-1", Ok)) with { OccurredAt = new DateTimeOffset(1999, 12, 31, 0, 0, 0, TimeSpan.Zero) },
        "no payload" => Valid(Buy("o-1", Ok)) with { Payload = null },
        "purchase order_id empty" => Valid(Buy("", Ok)),
        "purchase no lines" => Valid(Buy("o-1")),
        "purchase wrong currency" => Valid(new Purchase("o-1", "USD", [Ok])),
        "purchase lower-case currency" => Valid(new Purchase("o-1", "eur", [Ok])),
        "purchase no currency" => Valid(new Purchase("o-1", "", [Ok])),
        "purchase quantity 0" => Valid(Buy("o-1", Ok, Line("sku-2", "baby", 0, 100))),
        "purchase quantity negative" => Valid(Buy("o-1", Ok, Line("sku-2", "baby", -1, 100))),
        "purchase quantity too big" => Valid(Buy("o-1", Ok, Line("sku-2", "baby", 1_000_001, 100))),
        "purchase negative price" => Valid(Buy("o-1", Ok, Line("sku-2", "baby", 1, -1))),
        "purchase price too big" => Valid(Buy("o-1", Ok, Line("sku-2", "baby", 1, 1_000_000_000_001))),
        "purchase sku missing" => Valid(Buy("o-1", Ok, Line("", "baby", 1, 100))),
        "purchase category missing" => Valid(Buy("o-1", Ok, Line("sku-2", "", 1, 100))),
        "purchase too many lines" => Valid(Buy("o-1", [.. Enumerable.Range(0, 1001).Select(i => Line($"s{i}", "baby", 1, 1))])),
        "refund order_id empty" => Valid(Refund("", Ok)),
        "refund no lines" => Valid(Refund("o-1")),
        "refund quantity 0" => Valid(Refund("o-1", Line("sku-1", "baby", 0, 1000))),
        "game duration 0" => Valid(Game(0, 1)),
        "game duration over a day" => Valid(Game(86_401, 1)),
        "game difficulty 0" => Valid(Game(60, 0)),
        "game difficulty above max" => Valid(Game(60, 11)),
        "game negative score" => Valid(Game(60, 1, score: -1)),
        "game id missing" => Valid(Game(60, 1, gameId: "")),
        "match rank above participants" => Valid(Match(5, 4)),
        "match rank 0" => Valid(Match(0, 4)),
        "match no participants" => Valid(Match(1, 0)),
        "match id missing" => Valid(Match(1, 4, matchId: "")),
        "achievement id missing" => Valid(Achieved("")),
        "support case_id missing" => Valid(Support("", SupportStatus.Opened, SupportChannel.Bot)),
        "support status unspecified" => Valid(Support("k-1", SupportStatus.Unspecified, SupportChannel.Bot)),
        "support status unknown" => Valid(Support("k-1", (SupportStatus)99, SupportChannel.Bot)),
        "support channel unspecified" => Valid(Support("k-1", SupportStatus.Opened, SupportChannel.Unspecified)),
        "support channel unknown" => Valid(Support("k-1", SupportStatus.Opened, (SupportChannel)7)),
        "support satisfaction 6" => Valid(Support("k-1", SupportStatus.Resolved, SupportChannel.Human, satisfaction: 6)),
        "support satisfaction -1" => Valid(Support("k-1", SupportStatus.Resolved, SupportChannel.Human, satisfaction: -1)),
        "support negative bot turns" => Valid(new SupportCase("k-1", SupportStatus.Opened, SupportChannel.Bot, null, -1, 0)),
        "support negative wait" => Valid(new SupportCase("k-1", SupportStatus.Opened, SupportChannel.Bot, null, 0, -1)),
        "profile no field" => Valid(Profile()),
        "profile birth year 1800" => Valid(Profile(birthYear: 1800)),
        "profile birth year next year" => Valid(Profile(birthYear: 2027)),
        "profile bad time zone" => Valid(Profile(timeZone: "Mars/Olympus_Mons")),
        "profile display name control char" => Valid(Profile(name: "Ann\u0000")),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such case"),
    };

    [Theory]
    [InlineData("event_id null", "event.event_id")]
    [InlineData("event_id empty", "event.event_id")]
    [InlineData("event_id 129 chars", "event.event_id")]
    [InlineData("customer_id null", "event.customer_id")]
    [InlineData("customer_id empty", "event.customer_id")]
    [InlineData("customer_id 129 chars", "event.customer_id")]
    [InlineData("customer_id control char", "event.customer_id")]
    [InlineData("customer_id newline", "event.customer_id")]
    [InlineData("customer_id lone surrogate", "event.customer_id")]
    [InlineData("customer_id blank", "event.customer_id")]
    [InlineData("source control char", "event.source")]
    [InlineData("occurred_at missing", "event.occurred_at")]
    [InlineData("occurred_at 6 min ahead", "event.occurred_at")]
    [InlineData("occurred_at before 2000", "event.occurred_at")]
    [InlineData("no payload", "event.payload")]
    [InlineData("purchase order_id empty", "event.purchase.order_id")]
    [InlineData("purchase no lines", "event.purchase.lines")]
    [InlineData("purchase wrong currency", "event.purchase.currency")]
    [InlineData("purchase lower-case currency", "event.purchase.currency")]
    [InlineData("purchase no currency", "event.purchase.currency")]
    [InlineData("purchase quantity 0", "event.purchase.lines[1].quantity")]
    [InlineData("purchase quantity negative", "event.purchase.lines[1].quantity")]
    [InlineData("purchase quantity too big", "event.purchase.lines[1].quantity")]
    [InlineData("purchase negative price", "event.purchase.lines[1].unit_price_minor")]
    [InlineData("purchase price too big", "event.purchase.lines[1].unit_price_minor")]
    [InlineData("purchase sku missing", "event.purchase.lines[1].sku")]
    [InlineData("purchase category missing", "event.purchase.lines[1].category")]
    [InlineData("purchase too many lines", "event.purchase.lines")]
    [InlineData("refund order_id empty", "event.refund.order_id")]
    [InlineData("refund no lines", "event.refund.lines")]
    [InlineData("refund quantity 0", "event.refund.lines[0].quantity")]
    [InlineData("game duration 0", "event.game_session.duration_seconds")]
    [InlineData("game duration over a day", "event.game_session.duration_seconds")]
    [InlineData("game difficulty 0", "event.game_session.difficulty")]
    [InlineData("game difficulty above max", "event.game_session.difficulty")]
    [InlineData("game negative score", "event.game_session.score")]
    [InlineData("game id missing", "event.game_session.game_id")]
    [InlineData("match rank above participants", "event.match_result.rank")]
    [InlineData("match rank 0", "event.match_result.rank")]
    [InlineData("match no participants", "event.match_result.participants")]
    [InlineData("match id missing", "event.match_result.match_id")]
    [InlineData("achievement id missing", "event.achievement.achievement_id")]
    [InlineData("support case_id missing", "event.support_case.case_id")]
    [InlineData("support status unspecified", "event.support_case.status")]
    [InlineData("support status unknown", "event.support_case.status")]
    [InlineData("support channel unspecified", "event.support_case.channel")]
    [InlineData("support channel unknown", "event.support_case.channel")]
    [InlineData("support satisfaction 6", "event.support_case.satisfaction")]
    [InlineData("support satisfaction -1", "event.support_case.satisfaction")]
    [InlineData("support negative bot turns", "event.support_case.bot_turns")]
    [InlineData("support negative wait", "event.support_case.wait_seconds")]
    [InlineData("profile no field", "event.profile_update")]
    [InlineData("profile birth year 1800", "event.profile_update.birth_year")]
    [InlineData("profile birth year next year", "event.profile_update.birth_year")]
    [InlineData("profile bad time zone", "event.profile_update.time_zone")]
    [InlineData("profile display name control char", "event.profile_update.display_name")]
    public void Malformed_event_names_the_offending_field(string malformation, string field)
    {
        var error = EventValidator.Validate(Case(malformation), Sample.Program, Now);

        Assert.NotNull(error);
        Assert.Equal(field, error.Field);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public void Wrong_currency_message_names_both_currencies()
    {
        var error = EventValidator.Validate(Case("purchase wrong currency"), Sample.Program, Now);

        Assert.Equal("event.purchase.currency: 'USD' is not the program's currency EUR", error?.ToString());
    }

    public static TheoryData<string> ValidKinds => ["purchase", "refund", "game_session", "match_result", "achievement", "support_case", "profile_update"];

    [Theory]
    [MemberData(nameof(ValidKinds))]
    public void Well_formed_event_of_each_kind_passes(string kind)
    {
        EventPayload payload = kind switch
        {
            "purchase" => Buy("o-1", Ok, Line("free-sample", "baby", 1, 0)),
            "refund" => Refund("o-1", Ok),
            "game_session" => Game(86_400, 10),
            "match_result" => Match(4, 4),
            "achievement" => Achieved("first-win"),
            "support_case" => Support("k-1", SupportStatus.Resolved, SupportChannel.Human),
            "profile_update" => Profile(name: "", birthYear: 1900, access: false, timeZone: "Asia/Tokyo"),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        Assert.Equal(kind, payload.Kind);
        Assert.Null(EventValidator.Validate(Valid(payload), Sample.Program, Now));
    }

    [Fact]
    public void Ids_of_exactly_128_characters_pass()
    {
        var e = Valid(Buy(new string('o', 128), Ok)) with { EventId = new string('e', 128), CustomerId = new string('c', 128) };

        Assert.Null(EventValidator.Validate(e, Sample.Program, Now));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public void Occurred_at_up_to_five_minutes_ahead_passes(int minutesAhead)
    {
        var e = Valid(Game(60, 1)) with { OccurredAt = Now.AddMinutes(minutesAhead) };

        Assert.Null(EventValidator.Validate(e, Sample.Program, Now));
    }

    [Fact]
    public void Satisfaction_unset_means_not_rated_and_passes_but_zero_is_refused()
    {
        Assert.Null(EventValidator.Validate(Valid(Support("k-1", SupportStatus.Opened, SupportChannel.Bot)), Sample.Program, Now));
        Assert.Equal("event.support_case.satisfaction",
            EventValidator.Validate(Valid(Support("k-1", SupportStatus.Opened, SupportChannel.Bot, satisfaction: 0)), Sample.Program, Now)?.Field);
        Assert.Null(EventValidator.Validate(Valid(Support("k-1", SupportStatus.Opened, SupportChannel.Bot, satisfaction: 5)), Sample.Program, Now));
    }

    [Fact]
    public void Birth_year_of_this_year_passes()
    {
        Assert.Null(EventValidator.Validate(Valid(Profile(birthYear: 2026)), Sample.Program, Now));
    }

    [Fact]
    public void Purchase_whose_total_value_could_overflow_is_refused()
    {
        // Each line is within the per-line limits (10^6 units at 10^12 minor), but ten of them total 10^19
        // minor units, beyond a long.
        var lines = Enumerable.Range(0, 10)
            .Select(i => Line($"sku-{i}", "baby", EventValidator.MaxQuantity, EventValidator.MaxUnitPriceMinor))
            .ToArray();

        var error = EventValidator.Validate(Valid(Buy("o-1", lines)), Sample.Program, Now);

        Assert.Equal("event.purchase.lines", error?.Field);
    }

    [Fact]
    public void Purchase_worth_exactly_the_value_bound_passes()
    {
        var error = EventValidator.Validate(Valid(Buy("o-1", Line("yacht", "boats", 1, EventValidator.MaxLinesValueMinor))), Sample.Program, Now);

        Assert.Null(error);
    }

    [Fact]
    public void Purchase_too_large_to_count_is_rejected_by_the_engine_and_changes_nothing()
    {
        var customer = new TestCustomer();
        // Two lines of 10^6 x 10^12 minor: each within its own bounds, together 2 x 10^18.
        var huge = Line("gold-bar", "baby", EventValidator.MaxQuantity, EventValidator.MaxUnitPriceMinor);

        var result = customer.Apply(Buy("o-1", huge, huge with { Sku = "gold-bar-2" }));

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.Equal("event.purchase.lines", result.ErrorField);
        Assert.False(customer.State.Exists);
        Assert.Empty(customer.State.Orders);
    }

    [Fact]
    public void Malformed_event_is_rejected_by_the_engine_with_its_field_and_creates_nobody()
    {
        var customer = new TestCustomer();

        var result = customer.Apply(Case("purchase quantity 0"));

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.Equal("event.purchase.lines[1].quantity", result.ErrorField);
        Assert.StartsWith("event.purchase.lines[1].quantity: ", result.Error, StringComparison.Ordinal);
        Assert.Equal(0, result.PointsDelta);
        Assert.Null(result.Customer);
        Assert.False(customer.State.Exists);
        Assert.Empty(customer.State.Seen);
    }

    [Fact]
    public void Event_without_an_id_is_rejected_with_an_empty_event_id()
    {
        var result = new TestCustomer().Apply(Case("event_id null"));

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.Equal("", result.EventId);
        Assert.Equal("event.event_id", result.ErrorField);
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("\u00A0")]
    [InlineData(" c-1")]
    [InlineData("c-1 ")]
    public void Blank_or_space_padded_ids_are_refused_with_the_field_named(string id)
    {
        Assert.Equal(new FieldError("customer_id", "must not be blank or start or end with spaces"), EventValidator.Id(id, "customer_id"));
        Assert.Null(EventValidator.Id("c 1", "customer_id"));   // inner spaces are fine
    }
}

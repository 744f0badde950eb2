using Google.Rpc;
using Grpc.Core;
using Loyalty.Contracts.V1;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

[Collection(InProcessCollection.Name)]
public sealed class ValidationTests(InProcessEngineFixture fixture)
{
    private Ingestion.IngestionClient Ingestion => fixture.Server.Ingestion;
    private Customers.CustomersClient Customers => fixture.Server.Customers;

    /// <summary>Each case breaks one thing in an otherwise valid event and names the field that must be reported.</summary>
    public static TheoryData<string, string> Cases() => new()
    {
        { "event_id empty", "event.event_id" },
        { "event_id 129 chars", "event.event_id" },
        { "customer_id control char", "event.customer_id" },
        { "occurred_at missing", "event.occurred_at" },
        { "occurred_at 10 minutes ahead", "event.occurred_at" },
        { "source 200 chars", "event.source" },
        { "no payload", "event.payload" },
        { "purchase without lines", "event.purchase.lines" },
        { "quantity zero", "event.purchase.lines[0].quantity" },
        { "quantity negative", "event.purchase.lines[0].quantity" },
        { "price negative", "event.purchase.lines[1].unit_price_minor" },
        { "sku missing", "event.purchase.lines[1].sku" },
        { "category missing", "event.purchase.lines[0].category" },
        { "order id missing", "event.purchase.order_id" },
        { "wrong currency", "event.purchase.currency" },
        { "refund quantity zero", "event.refund.lines[0].quantity" },
        { "game duration zero", "event.game_session.duration_seconds" },
        { "game difficulty zero", "event.game_session.difficulty" },
        { "game difficulty above max", "event.game_session.difficulty" },
        { "match rank above participants", "event.match_result.rank" },
        { "achievement id missing", "event.achievement.achievement_id" },
        { "support status unspecified", "event.support_case.status" },
        { "support status unknown enum", "event.support_case.status" },
        { "support channel unknown enum", "event.support_case.channel" },
        { "satisfaction six", "event.support_case.satisfaction" },
        { "satisfaction negative", "event.support_case.satisfaction" },
        { "satisfaction zero", "event.support_case.satisfaction" },
        { "event_id with a format character", "event.event_id" },
        { "profile without fields", "event.profile_update" },
        { "birth year 1800", "event.profile_update.birth_year" },
        { "unknown time zone", "event.profile_update.time_zone" },
    };

    private static Event Make(string name, string customer)
    {
        var e = Purchase(customer, "o-1", Line("a", "toys", 1, 1000), Line("b", "toys", 1, 500));
        switch (name)
        {
            case "event_id empty": e.EventId = ""; break;
            case "event_id 129 chars": e.EventId = new string('x', 129); break;
            case "customer_id control char": e.CustomerId = customer + "\u0007"; break;
            case "occurred_at missing": e.OccurredAt = null; break;
            case "occurred_at 10 minutes ahead": e.OccurredAt = Now(10); break;
            case "source 200 chars": e.Source = new string('s', 200); break;
            case "no payload": e.ClearPayload(); break;
            case "purchase without lines": e.Purchase.Lines.Clear(); break;
            case "quantity zero": e.Purchase.Lines[0].Quantity = 0; break;
            case "quantity negative": e.Purchase.Lines[0].Quantity = -3; break;
            case "price negative": e.Purchase.Lines[1].UnitPriceMinor = -1; break;
            case "sku missing": e.Purchase.Lines[1].Sku = ""; break;
            case "category missing": e.Purchase.Lines[0].Category = ""; break;
            case "order id missing": e.Purchase.OrderId = ""; break;
            case "wrong currency": e.Purchase.Currency = "USD"; break;
            case "refund quantity zero":
                e.Refund = new Refund { OrderId = "o-1", Lines = { Line("a", "toys", 0, 1000) } };
                break;
            case "game duration zero": e.GameSession = new GameSession { GameId = "g", DurationSeconds = 0, Difficulty = 1 }; break;
            case "game difficulty zero": e.GameSession = new GameSession { GameId = "g", DurationSeconds = 60, Difficulty = 0 }; break;
            case "game difficulty above max": e.GameSession = new GameSession { GameId = "g", DurationSeconds = 60, Difficulty = 11 }; break;
            case "match rank above participants": e.MatchResult = new MatchResult { GameId = "g", MatchId = "m", Rank = 5, Participants = 4 }; break;
            case "achievement id missing": e.Achievement = new Achievement { GameId = "g" }; break;
            case "support status unspecified":
                e.SupportCase = new SupportCase { CaseId = "c", Status = SupportStatus.Unspecified, Channel = SupportChannel.Human };
                break;
            case "support status unknown enum":
                e.SupportCase = new SupportCase { CaseId = "c", Status = (SupportStatus)42, Channel = SupportChannel.Human };
                break;
            case "support channel unknown enum":
                e.SupportCase = new SupportCase { CaseId = "c", Status = SupportStatus.Resolved, Channel = (SupportChannel)9 };
                break;
            case "satisfaction six":
                e.SupportCase = new SupportCase { CaseId = "c", Status = SupportStatus.Resolved, Channel = SupportChannel.Human, Satisfaction = 6 };
                break;
            case "satisfaction zero":
                e.SupportCase = new SupportCase { CaseId = "c", Status = SupportStatus.Resolved, Channel = SupportChannel.Human, Satisfaction = 0 };
                break;
            case "event_id with a format character": e.EventId = "evt\u200Bhidden"; break;
            case "satisfaction negative":
                e.SupportCase = new SupportCase { CaseId = "c", Status = SupportStatus.Resolved, Channel = SupportChannel.Human, Satisfaction = -1 };
                break;
            case "profile without fields": e.ProfileUpdate = new ProfileUpdate(); break;
            case "birth year 1800": e.ProfileUpdate = new ProfileUpdate { BirthYear = 1800 }; break;
            case "unknown time zone": e.ProfileUpdate = new ProfileUpdate { TimeZone = "Mars/Olympus_Mons" }; break;
            default: throw new ArgumentException(name);
        }
        return e;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Malformed_event_fails_with_INVALID_ARGUMENT_naming_the_field_and_creates_nothing(string name, string field)
    {
        var id = NewCustomer();
        var error = await Assert.ThrowsAsync<RpcException>(() => Ingestion.PublishAsync(Req(Make(name, id))).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith(field + ":", error.Status.Detail, StringComparison.Ordinal);
        var badRequest = error.GetRpcStatus()?.GetDetail<BadRequest>();
        Assert.NotNull(badRequest);
        Assert.Equal(field, Assert.Single(badRequest.FieldViolations).Field);

        var lookup = await Assert.ThrowsAsync<RpcException>(() => Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, lookup.StatusCode);
    }

    [Fact]
    public async Task Malformed_events_leave_an_existing_customer_unchanged()
    {
        var id = NewCustomer();
        await Ingestion.PublishAsync(Req(Game(id, minutes: 3, difficulty: 1)));
        var before = await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });

        foreach (var row in Cases())
        {
            var name = (string)row[0];
            if (name == "customer_id control char")
            {
                continue;
            }
            var error = await Assert.ThrowsAsync<RpcException>(() => Ingestion.PublishAsync(Req(Make(name, id))).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        }

        var after = await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task Publish_without_an_event_fails_with_INVALID_ARGUMENT_naming_event()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => Ingestion.PublishAsync(new PublishRequest()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("event:", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Batch_rejects_a_malformed_event_in_its_own_slot_and_applies_the_rest_in_order()
    {
        var a = NewCustomer();
        var b = NewCustomer();
        var bad = Make("quantity zero", a);
        var request = new PublishBatchRequest
        {
            Events = { Game(a, 2, 1, "a1"), bad, Game(b, 3, 1, "b1"), Game(a, 4, 1, "a2"), Game(a, 2, 1, "a1") },
        };
        var response = await Ingestion.PublishBatchAsync(request);

        Assert.Equal(["a1", bad.EventId, "b1", "a2", "a1"], response.Results.Select(r => r.EventId));
        Assert.Equal([Outcome.Applied, Outcome.Rejected, Outcome.Applied, Outcome.Applied, Outcome.Duplicate], response.Results.Select(r => r.Outcome));
        Assert.Equal("events[1].purchase.lines[0].quantity", response.Results[1].ErrorField);
        Assert.Contains("must be positive", response.Results[1].Error, StringComparison.Ordinal);
        Assert.Equal(6, response.Results[3].Customer.PointsLifetime); // a1 (2) then a2 (4), in request order
        Assert.Equal(2, response.Results[4].PointsDelta);
        Assert.Equal(6, (await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = a })).Summary.PointsLifetime);
        Assert.Equal(3, (await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = b })).Summary.PointsLifetime);
    }

    [Fact]
    public async Task Batch_over_1000_events_fails_as_a_whole_and_applies_nothing()
    {
        var id = NewCustomer();
        var request = new PublishBatchRequest();
        request.Events.AddRange(Enumerable.Range(0, 1001).Select(i => Game(id, 1, 1, $"e{i}")));
        var error = await Assert.ThrowsAsync<RpcException>(() => Ingestion.PublishBatchAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("events:", error.Status.Detail, StringComparison.Ordinal);
        var lookup = await Assert.ThrowsAsync<RpcException>(() => Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, lookup.StatusCode);
    }

    [Fact]
    public async Task Batch_of_1000_events_across_100_customers_answers_in_order_with_exact_sums()
    {
        var customers = Enumerable.Range(0, 100).Select(_ => NewCustomer()).ToArray();
        var request = new PublishBatchRequest();
        for (var i = 0; i < 1000; i++)
        {
            request.Events.Add(Game(customers[i % 100], minutes: 1 + i % 3, difficulty: 1, eventId: $"e{i}"));
        }
        var response = await Ingestion.PublishBatchAsync(request);
        Assert.Equal(request.Events.Select(e => e.EventId), response.Results.Select(r => r.EventId));
        Assert.All(response.Results, r => Assert.Equal(Outcome.Applied, r.Outcome));
        for (var c = 0; c < 100; c += 17)
        {
            var expected = Enumerable.Range(0, 1000).Where(i => i % 100 == c).Sum(i => 1 + i % 3);
            Assert.Equal(expected, (await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = customers[c] })).Summary.PointsLifetime);
        }
    }
    [Fact]
    public async Task Batch_with_more_events_for_one_customer_than_a_record_holds_answers_each_in_its_slot()
    {
        // 150 events of one customer (three journal records of at most 64) around another customer's, with a
        // duplicate of an event in the first record placed after the last.
        var a = NewCustomer();
        var b = NewCustomer();
        var request = new PublishBatchRequest();
        for (var i = 0; i < 150; i++)
        {
            request.Events.Add(Game(a, minutes: 1 + i % 4, difficulty: 1, eventId: $"a{i}"));
            if (i % 50 == 0)
            {
                request.Events.Add(Game(b, minutes: 2, difficulty: 1, eventId: $"b{i}"));
            }
        }
        request.Events.Add(Game(a, minutes: 1, difficulty: 1, eventId: "a3"));
        var response = await Ingestion.PublishBatchAsync(request);

        Assert.Equal(request.Events.Select(e => e.EventId), response.Results.Select(r => r.EventId));
        Assert.Equal(Outcome.Duplicate, response.Results[^1].Outcome);
        Assert.All(response.Results.SkipLast(1), r => Assert.Equal(Outcome.Applied, r.Outcome));
        var lifetime = 0L;
        foreach (var r in response.Results.Where(r => r.EventId.StartsWith('a')).SkipLast(1))
        {
            lifetime += r.PointsDelta;
            Assert.Equal(lifetime, r.Customer.PointsLifetime); // each answer reports the state right after its event
        }
        Assert.Equal(Enumerable.Range(0, 150).Sum(i => 1 + i % 4), lifetime);
        Assert.Equal(6, (await Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = b })).Summary.PointsLifetime);
    }
}

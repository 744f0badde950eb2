using System.Text.Json.Nodes;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Programs;
using Loyalty.Domain.Tests.Rules;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

/// <summary>Pending points, expiry lots and refunds of spent points, with the clock moved by hand.</summary>
public sealed class PointsLifecycleTests
{
    /// <summary>The sample program (1 point per EUR, baby x2, sports x1.5, 1 point per game minute x difficulty) with
    /// a points section and optionally another time zone.</summary>
    internal static ActiveProgram With(string points, string? timeZone = null, Action<JsonObject>? edit = null) =>
        ProgramLoader.Parse(RuleKit.ProgramJson("[]", edit: root =>
        {
            root["points"] = JsonNode.Parse(points);
            if (timeZone is not null)
            {
                root["timeZone"] = timeZone;
            }
            edit?.Invoke(root);
        }), "test.json");

    internal static string EditSample(string json, Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(json, documentOptions: new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!.AsObject();
        edit(root);
        return root.ToJsonString();
    }

    /// <summary>The ledger invariants: the balance is the sum of the entries, lifetime the sum of earnings, and the lots
    /// hold exactly the balance.</summary>
    internal static void AssertBooksBalance(CustomerState s)
    {
        Assert.Equal(s.PointsAvailable + s.PointsPending, s.Ledger.Sum(e => e.Total));
        Assert.Equal(s.PointsLifetime, s.Ledger.Where(e => e.Kind is "earn" or "pending" || e.Kind == "adjust" && e.Points > 0).Sum(e => e.Total));
        Assert.Equal(s.PointsAvailable, s.Lots.Where(l => !l.IsPending).Sum(l => l.Points) - s.Debt);
        Assert.Equal(s.PointsPending, s.Lots.Where(l => l.IsPending).Sum(l => l.Points));
        Assert.All(s.Lots, l => Assert.True(l.Points > 0));
        if (s.Ledger.Count > 0)
        {
            Assert.Equal(s.PointsAvailable + s.PointsPending, s.Ledger[^1].BalanceAfter);
        }
    }

    [Fact]
    public void Purchase_points_stay_pending_for_the_return_window_and_activate_at_exactly_the_due_time()
    {
        var customer = new TestCustomer(program: With("""{ "pendingDays": 14 }"""));
        var result = customer.Apply(Buy("o-1", Line("bib", "baby", 2, 1000)));   // 40 points
        Assert.Equal(40, result.PointsDelta);
        var bought = customer.State.Interactions[^1].OccurredAt;   // the window runs from the purchase
        Assert.Contains("pending until", customer.State.Interactions[^1].Summary);
        Assert.Equal((0L, 40L, 40L), (customer.State.PointsAvailable, customer.State.PointsPending, customer.State.PointsLifetime));
        var pending = Assert.Single(customer.State.Ledger);
        Assert.Equal(("pending", 0L, 40L), (pending.Kind, pending.Points, pending.PendingPoints));
        // Game points are not purchase points: spendable at once.
        customer.Earn(Game(600, 1));
        Assert.Equal((10L, 40L), (customer.State.PointsAvailable, customer.State.PointsPending));
        Assert.Equal(bought.AddDays(14), customer.View().NextActivation);

        customer.Clock.SetUtcNow(bought.AddDays(14) - TimeSpan.FromTicks(1));
        Assert.False(DueWork.Advance(customer.State, customer.Program, customer.Now));
        Assert.Equal((10L, 40L), (customer.View().Summary.PointsAvailable, customer.View().Summary.PointsPending));

        customer.Clock.Advance(TimeSpan.FromTicks(1));
        // A read at the due time already shows it, before anything is stored...
        Assert.Equal((50L, 0L), (customer.View().Summary.PointsAvailable, customer.View().Summary.PointsPending));
        // ...and the due work stores it, dated at the due time.
        Assert.True(DueWork.Advance(customer.State, customer.Program, customer.Now));
        var activated = customer.State.Ledger[^1];
        Assert.Equal(("activate", 40L, -40L, bought.AddDays(14)), (activated.Kind, activated.Points, activated.PendingPoints, activated.At));
        Assert.Equal((50L, 0L, 50L), (customer.State.PointsAvailable, customer.State.PointsPending, customer.State.PointsLifetime));
        Assert.Null(customer.View().NextActivation);
        AssertBooksBalance(customer.State);
    }

    [Fact]
    public void Points_that_activate_inside_the_expiring_window_are_announced_in_the_same_pass()
    {
        // Expire at the end of the month; pending for 14 days: activation lands within 30 days of the expiry.
        var customer = new TestCustomer(program: With("""{ "pendingDays": 14, "expiry": { "policy": "endOfMonth", "months": 0 } }"""));
        customer.Apply(Buy("o-1", Line("bib", "baby", 2, 1000)));   // 40 points, pending
        var bought = customer.State.Interactions[^1].OccurredAt;
        customer.Clock.SetUtcNow(bought.AddDays(14));
        Assert.True(DueWork.Advance(customer.State, customer.Program, customer.Now));
        Assert.Equal(["pending", "activate", "expiring"], customer.State.Ledger.Select(e => e.Kind).Where(k => k != "reward"));
        // One pass did all of it: nothing else is due now.
        Assert.False(DueWork.Advance(customer.State, customer.Program, customer.Now));
        AssertBooksBalance(customer.State);
    }

    [Fact]
    public void A_refund_within_the_return_window_takes_back_the_orders_own_pending_points()
    {
        var customer = new TestCustomer(program: With("""{ "pendingDays": 14 }"""));
        customer.Earn(Buy("o-1", Line("bib", "baby", 2, 1000)));       // 40 pending
        customer.Earn(Buy("o-2", Line("ball", "sports", 2, 1000)));    // 30 pending
        customer.Earn(Game(600, 2));                                  // 20 spendable

        Assert.Equal(-20, customer.Apply(Refund("o-1", Line("bib", "baby", 1, 1000))).PointsDelta);
        var reverse = customer.State.Ledger[^1];
        Assert.Equal(("reverse", 0L, -20L), (reverse.Kind, reverse.Points, reverse.PendingPoints));
        Assert.Equal((20L, 50L), (customer.State.PointsAvailable, customer.State.PointsPending));

        // o-2's points are untouched: at the due time 20 (o-1's rest) + 30 activate.
        customer.Clock.Advance(TimeSpan.FromDays(14));
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        Assert.Equal((70L, 0L), (customer.State.PointsAvailable, customer.State.PointsPending));
        AssertBooksBalance(customer.State);
    }

    [Fact]
    public void Spends_use_the_oldest_lots_first_so_expiry_takes_only_what_is_left_of_each_lot()
    {
        var customer = new TestCustomer(program: With("""{ "expiry": { "policy": "rolling", "months": 2 } }"""));
        var first = customer.Now;                       // 2026-11-25, Europe/Berlin
        customer.Earn(Game(6000, 1));                   // lot A: 100, expires at the end of 2027-01-25
        customer.Clock.Advance(TimeSpan.FromDays(20));
        customer.Earn(Game(3000, 1));                   // lot B: 50, expires at the end of 2027-02-15
        Assert.Equal(OperationOutcome.Applied, CustomerOperations.Adjust(customer.State, "a-1", -120, "spend", customer.Program, customer.Now, customer.Limits).Outcome);
        // The spend took all of A (100) and 20 of B.
        Assert.Equal([30L], customer.State.Lots.Select(l => l.Points));

        customer.Clock.Advance(TimeSpan.FromDays(60));   // 2027-02-13: past A's expiry, before B's
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        Assert.Equal(30, customer.State.PointsAvailable);   // nothing left of A, so nothing expired: no collapse
        Assert.DoesNotContain(customer.State.Ledger, e => e.Kind == "expire");

        var view = customer.View();
        var soon = Assert.Single(view.Expiring);
        Assert.Equal(30, soon.Points);
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        Assert.Equal(new DateTimeOffset(2027, 2, 16, 0, 0, 0, berlin.GetUtcOffset(new DateTime(2027, 2, 16))), soon.At);

        customer.Clock.Advance(TimeSpan.FromDays(3));
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        var expired = customer.State.Ledger[^1];
        Assert.Equal(("expire", -30L), (expired.Kind, expired.Points));
        Assert.Equal(soon.At, expired.At);
        Assert.Equal(0, customer.State.PointsAvailable);
        Assert.Equal(150, customer.State.PointsLifetime);
        Assert.Equal(first, customer.State.Ledger[0].At);
        AssertBooksBalance(customer.State);
    }

    [Fact]
    public void End_of_month_expiry_in_Shanghai_happens_at_local_midnight_not_utc_midnight()
    {
        var customer = new TestCustomer(program: With("""{ "expiry": { "policy": "endOfMonth", "months": 0 } }""", "Asia/Shanghai"));
        customer.Clock.SetUtcNow(new DateTimeOffset(2026, 11, 30, 15, 0, 0, TimeSpan.Zero));   // 23:00 on Nov 30 in Shanghai
        customer.Earn(Game(600, 1));                                                          // 10, expire with November
        customer.Clock.SetUtcNow(new DateTimeOffset(2026, 11, 30, 15, 30, 0, TimeSpan.Zero));
        customer.Earn(Game(1200, 1));                                                         // 20, also November
        customer.Clock.SetUtcNow(new DateTimeOffset(2026, 11, 30, 16, 30, 0, TimeSpan.Zero)); // 00:30 on Dec 1 in Shanghai
        customer.Earn(Game(1800, 1));                                                         // 30: December's, although Nov 30 in UTC

        // Midnight in Shanghai is 16:00 UTC: the November lot expired then, not at 00:00 UTC on Dec 1.
        var localMidnight = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.FromHours(8));
        var expired = customer.State.Ledger.Single(e => e.Kind == "expire");
        Assert.Equal((-30L, localMidnight), (expired.Points, expired.At));
        Assert.Equal(30, customer.State.PointsAvailable);

        // December's lot lasts until Shanghai's midnight at the end of December.
        customer.Clock.SetUtcNow(new DateTimeOffset(2026, 12, 31, 15, 59, 59, TimeSpan.Zero));
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        Assert.Equal(30, customer.State.PointsAvailable);
        customer.Clock.SetUtcNow(new DateTimeOffset(2026, 12, 31, 16, 0, 0, TimeSpan.Zero));
        DueWork.Advance(customer.State, customer.Program, customer.Now);
        Assert.Equal(0, customer.State.PointsAvailable);
        Assert.Equal(new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.FromHours(8)), customer.State.Ledger[^1].At);
        AssertBooksBalance(customer.State);
    }

    [Fact]
    public void End_of_year_expiry_keeps_points_until_the_end_of_the_following_year_when_asked()
    {
        var customer = new TestCustomer(program: With("""{ "expiry": { "policy": "endOfYear", "years": 1 } }"""));
        customer.Earn(Game(600, 1));
        var lot = Assert.Single(customer.State.Lots);
        Assert.Equal(new DateTimeOffset(2028, 1, 1, 0, 0, 0, TimeSpan.FromHours(1)).UtcTicks, lot.ExpiresTicks);
        Assert.Empty(customer.View().Expiring);
    }

    [Fact]
    public void A_refund_of_an_order_older_than_the_refund_horizon_is_rejected_as_unknown()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("bib", "baby", 1, 1000)));
        customer.Clock.Advance(TimeSpan.FromDays(95));
        customer.Earn(Buy("o-2", Line("bib", "baby", 1, 1000)));   // the next purchase forgets orders past 90 days
        var refund = customer.Apply(Refund("o-1", Line("bib", "baby", 1, 1000)));
        Assert.Equal(EventOutcome.Rejected, refund.Outcome);
        Assert.Contains("order 'o-1' is unknown", refund.Error);
        Assert.Equal(EventOutcome.Applied, customer.Apply(Refund("o-2", Line("bib", "baby", 1, 1000))).Outcome);
    }

    [Theory]
    [InlineData("""{ "expiry": { "policy": "weekly" } }""", "$.points.expiry.policy")]
    [InlineData("""{ "expiry": { "policy": "rolling", "months": 0 } }""", "$.points.expiry.months")]
    [InlineData("""{ "pendingDays": -1 }""", "$.points.pendingDays")]
    [InlineData("""{ "refundAfterSpend": "never" }""", "$.points.refundAfterSpend")]
    public void Invalid_points_settings_are_refused_naming_the_field(string points, string path)
    {
        var errors = Assert.Throws<ProgramValidationException>(() => With(points)).Errors;
        Assert.Contains(errors, e => e.Path == path);
    }

    [Fact]
    public void Invalid_tier_lifecycle_settings_are_refused_naming_the_field()
    {
        var errors = Assert.Throws<ProgramValidationException>(() => With("{}", edit: root =>
        {
            root["tiers"]!["downgrade"] = "twoTiers";
            root["tiers"]!["periodMonths"] = 0;
        })).Errors;
        Assert.Contains(errors, e => e.Path == "$.tiers.downgrade");
        Assert.Contains(errors, e => e.Path == "$.tiers.periodMonths");
    }

    [Fact]
    public void Notices_tell_of_points_entering_the_expiring_window_and_of_tier_changes()
    {
        var customer = new TestCustomer(program: With("""{ "expiry": { "policy": "rolling", "months": 2 } }"""));
        customer.Earn(Game(600, 1));
        var expires = new DateTimeOffset(2027, 1, 26, 0, 0, 0, TimeSpan.FromHours(1));   // end of 2027-01-25 in Berlin
        Assert.Equal(expires.AddDays(-30), DueWork.NextDue(customer.State));

        customer.Clock.SetUtcNow(expires.AddDays(-30).AddTicks(-1));
        Assert.False(DueWork.Advance(customer.State, customer.Program, customer.Now));
        customer.Clock.SetUtcNow(expires.AddDays(-30));
        Assert.True(DueWork.Advance(customer.State, customer.Program, customer.Now));
        var notice = customer.State.Ledger[^1];
        Assert.Equal(("expiring", 0L, expires.AddDays(-30)), (notice.Kind, notice.Points, notice.At));
        Assert.Equal(expires, DateTimeOffset.Parse(notice.Ref, System.Globalization.CultureInfo.InvariantCulture));
        Assert.StartsWith("10 points expire", notice.Note, StringComparison.Ordinal);
        Assert.Equal(expires, DueWork.NextDue(customer.State));   // told once; next is the expiry itself

        customer.Earn(Buy("o-1", Line("tv", "electronics", 1, 100_000)));   // Silver
        var tier = customer.State.Ledger.Last(e => e.Kind == "tier");
        Assert.Equal(("Silver", 0L), (tier.Ref, tier.Points));
        Assert.Contains("Bronze → Silver", tier.Note);
        AssertBooksBalance(customer.State);
    }

    [Fact]
    public void Points_without_an_expiry_policy_never_expire()
    {
        var customer = new TestCustomer();
        customer.Earn(Game(600, 1));
        customer.Clock.Advance(TimeSpan.FromDays(3650));
        Assert.False(DueWork.Advance(customer.State, customer.Program, customer.Now));
        Assert.Null(DueWork.NextDue(customer.State));
        Assert.Equal(10, customer.State.PointsAvailable);
    }

    [Fact]
    public void A_refund_of_points_already_spent_leaves_a_negative_balance_that_later_earnings_pay_back()
    {
        var customer = new TestCustomer(program: With("""{ "refundAfterSpend": "negative" }"""));
        customer.Earn(Buy("o-1", Line("bib", "baby", 2, 1000)));    // 40
        CustomerOperations.Adjust(customer.State, "spend", -40, "spent at the till", customer.Program, customer.Now, customer.Limits);

        Assert.Equal(-40, customer.Apply(Refund("o-1", Line("bib", "baby", 2, 1000))).PointsDelta);
        Assert.Equal((-40L, 40L), (customer.State.PointsAvailable, customer.State.Debt));
        Assert.Equal(40, customer.View().Debt);

        customer.Earn(Game(1800, 1));                                  // 30 pays back 30 of the 40
        Assert.Equal((-10L, 10L), (customer.State.PointsAvailable, customer.State.Debt));
        Assert.Empty(customer.State.Lots);
        customer.Earn(Game(1800, 1));
        Assert.Equal((20L, 0L), (customer.State.PointsAvailable, customer.State.Debt));
        // A negative balance spends nothing.
        Assert.Equal(OperationOutcome.Refused, CustomerOperations.Adjust(customer.State, "x", -21, "too much", customer.Program, customer.Now, customer.Limits).Outcome);
        AssertBooksBalance(customer.State);
    }

    [Theory]
    [InlineData("pendingFirst", 0L, 0L)]
    [InlineData("negative", -40L, 40L)]
    public void The_program_decides_whether_a_refund_of_spent_points_claws_back_pending_points_first(string policy, long available, long pending)
    {
        var customer = new TestCustomer(program: With($$"""{ "pendingDays": 14, "refundAfterSpend": "{{policy}}" }"""));
        customer.Earn(Buy("o-1", Line("bib", "baby", 2, 1000)));                 // 40 pending
        customer.Clock.Advance(TimeSpan.FromDays(15));
        customer.Earn(Buy("o-2", Line("bottle", "baby", 2, 1000)));              // o-1 activates; o-2: 40 pending
        CustomerOperations.Adjust(customer.State, "spend", -40, "spent", customer.Program, customer.Now, customer.Limits);

        customer.Earn(Refund("o-1", Line("bib", "baby", 2, 1000)));
        Assert.Equal((available, pending), (customer.State.PointsAvailable, customer.State.PointsPending));
        AssertBooksBalance(customer.State);
    }

    [Fact]
    public void Three_partial_refunds_of_one_order_take_back_exactly_what_it_earned_rule_bonus_included()
    {
        var program = RuleKit.Program("""[{ "id": "double", "when": ["purchase"], "then": [{ "multiplyBasePoints": 2 }, { "addPoints": 7 }] }]""");
        var customer = new TestCustomer(program: program);
        // 3 bibs at 3.33 (baby x2): 19.98 points → 19 base; rule: +19 and +7 = 26; 45 in all.
        var earned = customer.Apply(Buy("o-1", Line("bib", "baby", 3, 333), Line("sock", "clothes", 1, 1))).PointsDelta;
        Assert.Equal(45, earned);
        var taken = new List<long>();
        taken.Add(customer.Apply(Refund("o-1", Line("bib", "baby", 1, 333))).PointsDelta);
        taken.Add(customer.Apply(Refund("o-1", Line("bib", "baby", 1, 333))).PointsDelta);
        taken.Add(customer.Apply(Refund("o-1", Line("bib", "baby", 1, 333))).PointsDelta);
        taken.Add(customer.Apply(Refund("o-1", Line("sock", "clothes", 1, 1))).PointsDelta);
        Assert.Equal(-earned, taken.Sum());
        Assert.All(taken.Take(3), t => Assert.InRange(t, -15, -14));
        Assert.Equal(0, customer.State.PointsAvailable);

        var over = customer.Apply(Refund("o-1", Line("bib", "baby", 1, 333)));
        Assert.Equal(EventOutcome.Rejected, over.Outcome);
        Assert.Contains("exceeds the 0 not yet refunded", over.Error);
        AssertBooksBalance(customer.State);
    }

    [Fact]
    public void A_coupon_the_order_earned_is_revoked_when_a_refund_takes_its_condition_away()
    {
        var program = RuleKit.Program(
            """[{ "id": "big-baby-order", "when": ["purchase"], "if": { "all": [{ "orderValueAtLeast": 5000 }, { "categoryIn": ["baby"] }] }, "then": [{ "grantReward": "baby-5" }] }]""",
            RuleKit.Catalogue);
        var customer = new TestCustomer(program: program);
        var bought = customer.Apply(Buy("o-1", Line("stroller", "baby", 1, 4000), Line("bib", "baby", 2, 1000), Line("ball", "sports", 1, 1000)));
        var coupon = Assert.Single(bought.Rewards);

        // 70.00 → 60.00: still at least 50.00 of an order with baby goods: kept.
        var first = customer.Apply(Refund("o-1", Line("ball", "sports", 1, 1000)));
        Assert.Equal(EventOutcome.Applied, first.Outcome);
        Assert.DoesNotContain("revoked", customer.State.Interactions[^1].Summary);
        Assert.Null(customer.State.Rewards.Single().RevokedAt);

        // 60.00 → 20.00: below 50.00: revoked, and shown so.
        customer.Apply(Refund("o-1", Line("stroller", "baby", 1, 4000)));
        Assert.Contains("revoked " + coupon.Code, customer.State.Interactions[^1].Summary);
        Assert.Equal(customer.Now, customer.State.Rewards.Single().RevokedAt);
        Assert.Equal(customer.Now, customer.View().Rewards.Single().RevokedAt);
    }

    [Fact]
    public void A_coupon_used_at_checkout_is_marked_used_and_is_not_revoked_by_a_refund()
    {
        var program = RuleKit.Program(
            """[{ "id": "big-baby-order", "when": ["purchase"], "if": { "orderValueAtLeast": 5000 }, "then": [{ "grantReward": "baby-5" }] }]""",
            RuleKit.Catalogue);
        var customer = new TestCustomer(program: program);
        var coupon = Assert.Single(customer.Apply(Buy("o-1", Line("stroller", "baby", 1, 6000))).Rewards);

        customer.Apply(Buy("o-2", Line("bib", "baby", 1, 100)) with { CouponCodes = [coupon.Code, "NOT-MINE"] });
        Assert.Contains("used " + coupon.Code, customer.State.Interactions[^1].Summary);
        Assert.Contains("coupon NOT-MINE is not one of this customer's", customer.State.Interactions[^1].Summary);
        Assert.Equal(customer.Now, customer.State.Rewards.Single().UsedAt);

        // Used once: a second use is noted, not applied.
        customer.Apply(Buy("o-3", Line("bib", "baby", 1, 100)) with { CouponCodes = [coupon.Code] });
        Assert.Contains($"coupon {coupon.Code} already used", customer.State.Interactions[^1].Summary);

        // The refund of the order that earned it cannot revoke what was already used.
        customer.Apply(Refund("o-1", Line("stroller", "baby", 1, 6000)));
        Assert.Null(customer.State.Rewards.Single().RevokedAt);
        Assert.DoesNotContain("revoked", customer.State.Interactions[^1].Summary);
    }

    [Fact]
    public void Coupon_codes_are_validated()
    {
        var customer = new TestCustomer();
        var tooMany = customer.Apply(Buy("o-1", Line("bib", "baby", 1, 100)) with { CouponCodes = [.. Enumerable.Range(0, 11).Select(i => $"C{i}")] });
        Assert.Equal(("event.purchase.coupon_codes", EventOutcome.Rejected), (tooMany.ErrorField, tooMany.Outcome));
        var empty = customer.Apply(Buy("o-1", Line("bib", "baby", 1, 100)) with { CouponCodes = [""] });
        Assert.Equal("event.purchase.coupon_codes[0]", empty.ErrorField);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Random_traffic_keeps_the_books_balanced(bool withShippedRules)
    {
        const string points = """{ "pendingDays": 3, "refundAfterSpend": "pendingFirst", "expiry": { "policy": "rolling", "months": 1 } }""";
        var program = withShippedRules
            ? ProgramLoader.Parse(EditSample(File.ReadAllText(Sample.Path), root => root["points"] = JsonNode.Parse(points)), "test.json")
            : With(points);
        var random = new Random(42);
        var customer = new TestCustomer(program: program);
        var orders = new List<string>();
        for (var i = 0; i < 3000; i++)
        {
            customer.Clock.Advance(TimeSpan.FromHours(random.Next(0, 12)));
            switch (random.Next(6))
            {
                case 0:
                    var order = $"o-{i}";
                    orders.Add(order);
                    customer.Apply(Buy(order, Line("a", "baby", random.Next(1, 4), random.Next(100, 5000)), Line("b", "sports", 2, 999)));
                    break;
                case 1 when orders.Count > 0:
                    customer.Apply(Refund(orders[random.Next(orders.Count)], Line("a", "baby", 1, 1)));
                    break;
                case 2:
                    customer.Apply(Game(random.Next(60, 3600), random.Next(1, 4)));
                    break;
                case 3:
                    CustomerOperations.Adjust(customer.State, $"adj-{i}", -random.Next(1, 200), "spend", program, customer.Now, customer.Limits);
                    break;
                case 4:
                    CustomerOperations.Adjust(customer.State, $"adj-{i}", random.Next(1, 200), "goodwill", program, customer.Now, customer.Limits);
                    CustomerOperations.Redeem(customer.State, $"red-{i}", "free-shipping", program, customer.Now, customer.Limits);
                    break;
                default:
                    DueWork.Advance(customer.State, program, customer.Now);
                    break;
            }
            AssertBooksBalance(customer.State);
        }
        Assert.Contains(customer.State.Ledger, e => e.Kind == (withShippedRules ? "spend" : "expire"));
        Assert.Contains(customer.State.Ledger, e => e.Kind == "activate");
    }
}

using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

public class RefundTests
{
    private static readonly LineItem Wheels = Line("stroller-wheel", "baby", 2, 1250);  // 25.00 x 2     = 50
    private static readonly LineItem Bib = Line("bib", "baby", 1, 399);                 // 3.99 x 2      = 7.98
    private static readonly LineItem Ball = Line("ball", "sports", 1, 2099);            // 20.99 x 1.5   = 31.485

    /// <summary>Total floor(89.465) = 89, handed to lines as 50 + 7 + 31 = 88 plus the one left over to the
    /// largest remainder (the bib's .98): wheels 50, bib 8, ball 31.</summary>
    private static TestCustomer WithOrder()
    {
        var customer = new TestCustomer();
        Assert.Equal(89, customer.Earn(Buy("o-1", Wheels, Bib, Ball)));
        return customer;
    }

    [Fact]
    public void Full_refund_reverses_exactly_the_points_of_the_purchase()
    {
        var customer = WithOrder();

        var reversed = customer.Earn(Refund("o-1", Wheels, Bib, Ball));

        Assert.Equal(-89, reversed);
        Assert.Equal(0, customer.State.PointsAvailable);
        Assert.Equal(0, CustomerEngine.QualifyingPoints(customer.State));
    }

    [Fact]
    public void Refund_reverses_points_of_refunded_lines_only()
    {
        var customer = WithOrder();

        Assert.Equal(-31, customer.Earn(Refund("o-1", Ball)));
        Assert.Equal(-8, customer.Earn(Refund("o-1", Bib)));

        // 89 - 31 - 8 = 50, the wheels' share
        Assert.Equal(50, customer.State.PointsAvailable);
    }

    [Fact]
    public void Partial_refund_reverses_a_proportional_part_and_the_rest_reverses_the_remainder()
    {
        var customer = new TestCustomer();
        // 3 x 3.33 EUR = 9.99 x 2 (baby) = 19.98 -> 19
        var bibs = Line("bib", "baby", 3, 333);
        Assert.Equal(19, customer.Earn(Buy("o-1", bibs)));

        // 1 of 3 units: floor(19 x 1 / 3) = 6
        var first = customer.Earn(Refund("o-1", bibs with { Quantity = 1 }));
        // the last 2 units give back what is left: 19 - 6 = 13
        var rest = customer.Earn(Refund("o-1", bibs with { Quantity = 2 }));

        Assert.Equal(-6, first);
        Assert.Equal(-13, rest);
        Assert.Equal(-19, first + rest);
        Assert.Equal(0, customer.State.PointsAvailable);
    }

    [Fact]
    public void Refunding_unit_by_unit_sums_to_the_original_points()
    {
        var customer = new TestCustomer();
        // 7 x 1.43 EUR = 10.01 x 1.5 (sports) = 15.015 -> 15
        var socks = Line("socks", "sports", 7, 143);
        Assert.Equal(15, customer.Earn(Buy("o-1", socks)));

        // floor(15/7)=2, floor(13/6)=2, floor(11/5)=2, floor(9/4)=2, floor(7/3)=2, floor(5/2)=2, last gives 3
        var reversed = Enumerable.Range(0, 7).Select(_ => customer.Earn(Refund("o-1", socks with { Quantity = 1 }))).ToList();

        Assert.Equal([-2, -2, -2, -2, -2, -2, -3], reversed);
        Assert.Equal(0, customer.State.PointsAvailable);
    }

    [Fact]
    public void Lines_of_the_same_sku_are_refunded_as_one()
    {
        var customer = new TestCustomer();
        // 1 x 10.00 + 2 x 10.00 = 30.00 x 2 (baby) = 60
        Assert.Equal(60, customer.Earn(Buy("o-1", Line("bib", "baby", 1, 1000), Line("bib", "baby", 2, 1000))));

        Assert.Equal(-60, customer.Earn(Refund("o-1", Line("bib", "baby", 3, 1000))));
    }

    [Fact]
    public void Refund_gives_back_the_points_earned_at_the_tier_of_the_purchase()
    {
        var customer = new TestCustomer();
        customer.Earn(Buy("o-1", Line("tv", "electronics", 1, 100_000)));  // 1000, now Silver
        // 10.00 EUR x 1.25 = 12.5 -> 12
        Assert.Equal(12, customer.Earn(Buy("o-2", Line("novel", "books", 1, 1000))));

        Assert.Equal(-12, customer.Earn(Refund("o-2", Line("novel", "books", 1, 1000))));
        Assert.Equal(1000, customer.State.PointsAvailable);
    }

    [Fact]
    public void Refund_of_an_unknown_order_is_rejected_and_changes_nothing()
    {
        var customer = WithOrder();
        var before = customer.Json();

        var result = customer.Apply(Refund("o-404", Ball));

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.Contains("'o-404' is unknown", result.Error, StringComparison.Ordinal);
        Assert.Equal(89, result.Customer?.PointsAvailable);
        Assert.Equal(before, customer.Json());
    }

    [Fact]
    public void Refund_for_a_new_customer_is_rejected_and_creates_nobody()
    {
        var customer = new TestCustomer();

        var result = customer.Apply(Refund("o-1", Ball));

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.Null(result.Customer);
        Assert.False(customer.State.Exists);
        Assert.Equal(TestCustomer.Serialized(new CustomerState()), customer.Json());
    }

    [Fact]
    public void Refund_of_an_unknown_sku_is_rejected_and_changes_nothing()
    {
        var customer = WithOrder();
        var before = customer.Json();

        // The first line is fine; the whole refund is refused for the second.
        var result = customer.Apply(Refund("o-1", Ball, Line("racket", "sports", 1, 5000)));

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.StartsWith("event.refund.lines[1].sku:", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, customer.Json());
    }

    [Fact]
    public void Refund_of_more_units_than_bought_is_rejected_and_changes_nothing()
    {
        var customer = WithOrder();
        var before = customer.Json();

        var result = customer.Apply(Refund("o-1", Wheels with { Quantity = 3 }));

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.StartsWith("event.refund.lines[0].quantity:", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, customer.Json());
    }

    [Fact]
    public void Refund_of_more_units_than_are_left_is_rejected()
    {
        var customer = WithOrder();
        Assert.Equal(-25, customer.Earn(Refund("o-1", Wheels with { Quantity = 1 })));  // floor(50 x 1 / 2) = 25
        var before = customer.Json();

        var result = customer.Apply(Refund("o-1", Wheels));  // 2 units, only 1 left

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.Equal(before, customer.Json());
    }

    [Fact]
    public void Same_order_bought_again_under_another_event_id_is_rejected()
    {
        var customer = WithOrder();
        var before = customer.Json();

        var result = customer.Apply(Buy("o-1", Ball), eventId: "another-event");

        Assert.Equal(EventOutcome.Rejected, result.Outcome);
        Assert.Contains("already recorded", result.Error, StringComparison.Ordinal);
        Assert.Equal(0, result.PointsDelta);
        Assert.Equal(before, customer.Json());
    }

    [Fact]
    public void Refund_takes_qualifying_points_from_the_day_of_the_order()
    {
        var customer = WithOrder();
        var orderDay = customer.State.Orders[0].Day;

        customer.Clock.Advance(TimeSpan.FromDays(2));
        customer.Earn(Refund("o-1", Ball));  // -31

        // 89 - 31 = 58 on the order's day; no bucket for the refund's own day.
        Assert.Equal([new DayPoints(orderDay, 58)], customer.State.Qualifying);
    }
}

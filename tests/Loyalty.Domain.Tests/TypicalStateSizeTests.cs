using System.Text.Json;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Xunit.Abstractions;
using static Loyalty.Domain.Tests.Pay;

namespace Loyalty.Domain.Tests;

/// <summary>The stored state of a typical active customer stays small however long their history: the ledger moves to
/// the archive, windows and bounds keep the rest in check.</summary>
public sealed class TypicalStateSizeTests(ITestOutputHelper output)
{
    private const int Target = 32 * 1024;

    [Fact]
    public void Two_years_of_a_regular_shop_game_and_support_customer_stay_under_32_KB()
    {
        var customer = new TestCustomer(program: Sample.Full, id: "customer-000123456");
        var n = 0;
        for (var week = 0; week < 104; week++)
        {
            for (var day = 0; day < 7; day++)
            {
                customer.Clock.Advance(TimeSpan.FromDays(1));
                if (day is 1 or 4)
                {
                    customer.Apply(Buy($"order-2026-{++n:D6}", Line($"sku-{n % 97:D5}", day == 1 ? "baby" : "sports", 1, 1999 + n % 500),
                        Line($"sku-{n % 89 + 100:D5}", "household", 2, 499)), $"evt-{Guid.NewGuid():N}");
                }
                customer.Apply(Game(1200 + n % 600, 1 + day % 3), $"evt-{Guid.NewGuid():N}");
                if (day == 3 && week % 4 == 0)
                {
                    customer.Apply(Support($"case-{week:D5}", SupportStatus.Opened, SupportChannel.Bot), $"evt-{Guid.NewGuid():N}");
                    customer.Apply(Support($"case-{week:D5}", SupportStatus.Resolved, SupportChannel.Human, satisfaction: 5), $"evt-{Guid.NewGuid():N}");
                    CustomerOperations.Redeem(customer.State, $"redeem-{week}", "free-shipping", customer.Program, customer.Now, customer.Limits);
                }
                // What the grain does before each write: older ledger entries move to the archive.
                customer.State.TrimArchivedLedger(customer.State.LedgerToArchive(customer.Limits.LedgerKept).Through);
            }
        }

        var bytes = JsonSerializer.SerializeToUtf8Bytes(customer.State, DomainJson.Options);
        output.WriteLine($"{customer.State.LedgerSeq} ledger entries, {customer.State.EventsApplied} events: {bytes.Length} bytes stored");
        foreach (var property in JsonDocument.Parse(bytes).RootElement.EnumerateObject().OrderByDescending(p => p.Value.GetRawText().Length).Take(14))
        {
            output.WriteLine($"  {property.Name}: {property.Value.GetRawText().Length} bytes");
        }
        Assert.True(customer.State.LedgerSeq > 1000);
        Assert.True(bytes.Length < Target, $"typical state is {bytes.Length} bytes");
    }
}

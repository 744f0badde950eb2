using System.Collections.Concurrent;
using Loyalty.Grains.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using static Loyalty.Grains.Tests.TestEvents;

namespace Loyalty.Grains.Tests;

/// <summary>A sender that records what it sends and fails, retrying every 20 ms, while <see cref="Refuse"/> says so.</summary>
public sealed class RecordingSender : IWebhookSender
{
    public ConcurrentQueue<(string Endpoint, string CustomerId, long Sequence)> Sent { get; } = new();
    public Func<QueuedNotice, bool> Refuse { get; set; } = _ => false;

    public async Task SendAsync(WebhookEndpoint endpoint, QueuedNotice notice, Action<string> failedAttempt, CancellationToken cancellationToken)
    {
        while (Refuse(notice))
        {
            failedAttempt("refused by the test");
            await Task.Delay(20, cancellationToken);
        }
        Sent.Enqueue((endpoint.Name, notice.CustomerId, notice.Sequence));
    }
}

public sealed class WebhookClusterFixture : ClusterFixtureBase
{
    public RecordingSender Sender { get; } = new();

    protected override LoyaltyStorageOptions Storage => new() { Provider = "Memory" };

    protected override Webhooks.WebhookOptions Webhooks => new()
    {
        Endpoints = [new WebhookEndpoint { Name = "crm", Url = "https://crm.example/hook", Secret = new string('s', 32), Kinds = ["earn", "reward"] }],
        Buckets = 2,
        RetryFor = TimeSpan.FromHours(24),
    };

    protected override void ConfigureSilo(ISiloBuilder silo) => silo.Services.AddSingleton<IWebhookSender>(Sender);

    public IWebhookStore Store => Cluster.GetSiloServiceProvider(Cluster.Silos[0].SiloAddress).GetRequiredService<IWebhookStore>();

    public WebhookOutbox Outbox => Cluster.GetSiloServiceProvider(Cluster.Silos[0].SiloAddress).GetRequiredService<WebhookOutbox>();
}

/// <summary>The delivery side of webhooks on a real cluster: cursor, give-up, erasure.</summary>
public sealed class WebhookDeliveryTests(WebhookClusterFixture fixture) : IClassFixture<WebhookClusterFixture>
{
    private async Task<List<long>> SentTo(string customer, int atLeast)
    {
        for (var i = 0; i < 200; i++)
        {
            var sent = fixture.Sender.Sent.Where(s => s.CustomerId == customer).Select(s => s.Sequence).ToList();
            if (sent.Count >= atLeast)
            {
                return sent;
            }
            await Task.Delay(50);
        }
        return [.. fixture.Sender.Sent.Where(s => s.CustomerId == customer).Select(s => s.Sequence)];
    }

    /// <summary>A new customer with two game sessions, whose wanted notices (earn, reward) were all delivered.</summary>
    private async Task<(string Customer, DateTimeOffset Now, IReadOnlyList<Domain.Customers.LedgerEntry> Ledger, List<long> Wanted)> DeliveredCustomerAsync()
    {
        var customer = NewCustomer();
        var now = fixture.Time.GetUtcNow();
        await fixture.Customer(customer).Apply([Game(customer, "g1", now, minutes: 10), Game(customer, "g2", now, minutes: 20)]);
        var ledger = (await fixture.Customer(customer).ListLedger(100, null))!.Entries;
        var wanted = ledger.Where(e => e.Kind is "earn" or "reward").Select(e => e.Sequence).Order().ToList();
        Assert.Equal(wanted, await SentTo(customer, wanted.Count));
        return (customer, now, ledger, wanted);
    }

    private string PartitionOf(string customer) => WebhookOutbox.Partition("crm", fixture.Outbox.BucketOf(customer));

    [Fact]
    public async Task A_notice_queued_again_after_delivery_is_not_sent_twice_and_only_wanted_kinds_are_sent()
    {
        var (customer, now, ledger, wanted) = await DeliveredCustomerAsync();

        // A checkpoint after a crash queues the same entries again: the cursor has passed them.
        await fixture.Outbox.QueueAsync(customer, [.. ledger], 0);
        await fixture.Client.GetGrain<IWebhookBucketGrain>(PartitionOf(customer)).Wake();
        await Task.Delay(500);
        Assert.Equal(wanted, fixture.Sender.Sent.Where(s => s.CustomerId == customer).Select(s => s.Sequence).ToList());
        Assert.DoesNotContain(await fixture.Store.PendingAsync(PartitionOf(customer), 1000), n => n.CustomerId == customer);
        Assert.Equal(wanted[^1], (await fixture.Store.CursorAsync(PartitionOf(customer), customer)).Sequence);
    }

    [Fact]
    public async Task A_notice_stored_before_a_later_one_was_delivered_but_found_after_it_is_still_delivered()
    {
        // As if the hand-over of an earlier notice never reached the bucket: the later one was delivered, and the
        // earlier one turns up in the stored partition afterwards, queued before that delivery.
        var (customer, now, ledger, wanted) = await DeliveredCustomerAsync();

        var first = ledger.Single(e => e.Sequence == wanted[0]);
        var late = new QueuedNotice(customer, first.Sequence, first.Kind, WebhookOutbox.Body(customer, first), now.AddSeconds(-1));
        await fixture.Store.EnqueueAsync(PartitionOf(customer), [late]);
        await fixture.Client.GetGrain<IWebhookBucketGrain>(PartitionOf(customer)).Wake();
        var sent = await SentTo(customer, wanted.Count + 1);
        Assert.Equal([.. wanted, wanted[0]], sent);   // sent again, late, rather than lost
        Assert.DoesNotContain(await fixture.Store.PendingAsync(PartitionOf(customer), 1000), n => n.CustomerId == customer);
    }

    /// <summary>A three-silo chaos run delivered a customer's notice 7 before 4 and 5: their hand-over was stored but its
    /// offer went to a silo that was being killed, and the bucket sent the next hand-over's notice at once. A notice
    /// says where its hand-over began; the bucket reads what it missed before it, and sends in order.</summary>
    [Fact]
    public async Task A_notice_whose_earlier_hand_over_never_reached_the_bucket_waits_for_it_and_all_go_in_order()
    {
        var (customer, now, _, wanted) = await DeliveredCustomerAsync();
        var last = wanted[^1];
        var partition = PartitionOf(customer);
        QueuedNotice Notice(long sequence, long after) => new(customer, sequence, "earn", "{}"u8.ToArray(), now, after);

        // The earlier hand-over is stored but never offered; the later one is stored and offered.
        await fixture.Store.EnqueueAsync(partition, [Notice(last + 1, last), Notice(last + 2, last + 1)]);
        QueuedNotice[] later = [Notice(last + 3, last + 2)];
        await fixture.Store.EnqueueAsync(partition, later);
        await fixture.Client.GetGrain<IWebhookBucketGrain>(partition).Offer(later);

        Assert.Equal([.. wanted, last + 1, last + 2, last + 3], await SentTo(customer, wanted.Count + 3));
        Assert.Equal(last + 3, (await fixture.Store.CursorAsync(partition, customer)).Sequence);
    }

    /// <summary>For an endpoint that takes some kinds only, a notice says where the endpoint's own previous notice is
    /// (not where the hand-over began), so a bucket that delivered that one reads nothing before sending it.</summary>
    [Fact]
    public async Task A_notice_says_where_its_endpoints_previous_notice_is_in_the_ledger_held()
    {
        var endpoint = new WebhookEndpoint { Name = "crm", Kinds = ["earn", "reward"] };
        Domain.Customers.LedgerEntry Entry(long seq, string kind) => new(seq, kind, 1, seq, $"e{seq}", "", "v1", DateTimeOffset.UnixEpoch.AddDays(20_000 + seq));
        Domain.Customers.LedgerEntry[] held = [Entry(3, "earn"), Entry(4, "tier"), Entry(5, "tier"), Entry(6, "earn")];

        Assert.Equal(3, WebhookOutbox.Since(endpoint, 5, held));    // 4 and 5 are of other kinds
        Assert.Equal(5, WebhookOutbox.Since(endpoint, 5, null));    // nothing held: the hand-over's start
        Assert.Equal(3, WebhookOutbox.Since(endpoint, 5, held[1..]));   // none wanted in 4..5: what is before 4 is not known
        Assert.Equal(6, WebhookOutbox.Since(endpoint, 6, held));

        // Each notice of a hand-over points at the one before it, so a notice dropped or missed is noticed.
        var customer = NewCustomer();
        await fixture.Outbox.QueueAsync(customer, [Entry(7, "reward"), Entry(8, "tier"), Entry(9, "earn")], 6, [.. held[1..3], Entry(6, "tier")]);
        var stored = await fixture.Store.WaitingAsync(PartitionOf(customer), customer, 0, 100);
        Assert.Equal([(7L, 3L), (9L, 7L)], stored.Select(n => (n.Sequence, n.After)));
    }

    [Fact]
    public async Task A_notice_refused_for_RetryFor_is_set_aside_and_the_customers_later_notices_go_on()
    {
        var customer = NewCustomer();
        var now = fixture.Time.GetUtcNow();
        fixture.Sender.Refuse = n => n.CustomerId == customer && n.Sequence == 1;
        await fixture.Customer(customer).Apply([Game(customer, "g1", now, minutes: 10)]);
        await fixture.Customer(customer).Apply([Game(customer, "g2", now, minutes: 20)]);
        await Task.Delay(500);
        Assert.Empty(await SentTo(customer, 0));   // the first is retried; the second waits behind it
        var bucket = fixture.Client.GetGrain<IWebhookBucketGrain>(PartitionOf(customer));
        Assert.True((await bucket.Status()).Retrying >= 1);
        Assert.Contains("refused by the test", (await bucket.Status()).LastError, StringComparison.Ordinal);

        var failedBefore = (await bucket.Status()).Failed;
        fixture.Time.Advance(TimeSpan.FromHours(24) + TimeSpan.FromMinutes(1));
        var sent = await SentTo(customer, 1);
        Assert.DoesNotContain(1L, sent);
        Assert.Contains(2L, sent);
        Assert.Equal(failedBefore + 1, (await bucket.Status()).Failed);
        fixture.Sender.Refuse = _ => false;
    }

    [Fact]
    public async Task A_customer_erased_and_created_again_under_the_same_id_gets_its_new_notices()
    {
        var customer = NewCustomer();
        var now = fixture.Time.GetUtcNow();
        await fixture.Customer(customer).Apply([Game(customer, "g1", now, minutes: 10), Game(customer, "g2", now, minutes: 20)]);
        var before = (await fixture.Customer(customer).ListLedger(100, null))!.Entries.Count(e => e.Kind is "earn" or "reward");
        Assert.Equal(before, (await SentTo(customer, before)).Count);   // delivered: the bucket's cursor is past them

        Assert.True(await fixture.Customer(customer).Erase());
        await fixture.Customer(customer).Apply([Game(customer, "again-1", fixture.Time.GetUtcNow(), minutes: 5)]);
        var after = (await fixture.Customer(customer).ListLedger(100, null))!.Entries.Where(e => e.Kind is "earn" or "reward").Select(e => e.Sequence).Order().ToList();
        Assert.Equal(1, after[0]);   // the ledger starts again
        var sent = await SentTo(customer, before + after.Count);
        Assert.Equal(after, sent.Skip(before));
    }

    [Fact]
    public async Task Erasing_a_customer_removes_its_waiting_notices_and_cursor()
    {
        var customer = NewCustomer();
        fixture.Sender.Refuse = n => n.CustomerId == customer;
        await fixture.Customer(customer).Apply([Game(customer, "g1", fixture.Time.GetUtcNow(), minutes: 10)]);
        for (var i = 0; i < 100 && !(await fixture.Store.PendingAsync(PartitionOf(customer), 1000)).Any(n => n.CustomerId == customer); i++)
        {
            await Task.Delay(20);
        }
        Assert.Contains(await fixture.Store.PendingAsync(PartitionOf(customer), 1000), n => n.CustomerId == customer);

        Assert.True(await fixture.Customer(customer).Erase());
        Assert.DoesNotContain(await fixture.Store.PendingAsync(PartitionOf(customer), 1000), n => n.CustomerId == customer);
        Assert.Equal(0, (await fixture.Store.CursorAsync(PartitionOf(customer), customer)).Sequence);
        fixture.Sender.Refuse = _ => false;
    }
}

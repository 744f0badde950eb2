using Orleans.Concurrency;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;

namespace Loyalty.Grains;

/// <summary>One customer. Key: the customer id.</summary>
public interface ICustomerGrain : IGrainWithStringKey
{
    /// <summary>Applies events in order. Returns one result per event after the storage write that holds
    /// every applied event has completed; throws <see cref="EventsNotCommittedException"/> if that write failed.
    /// A value task: a batch calls hundreds of customers and awaits each answer once, so the caller's side needs no task
    /// object per call (Orleans completes it from a pooled source).</summary>
    ValueTask<EventResult[]> Apply(LoyaltyEvent[] events);

    /// <summary>Subscribes (or renews) a watcher and returns the stored history entries after <paramref name="since"/>
    /// (at most <paramref name="max"/>, oldest first). New entries are pushed to the watcher after each write; a watcher
    /// not renewed within <see cref="CustomerWatchers.Lease"/> is dropped. Null, subscribing nothing, if the customer
    /// does not exist (never seen, or erased); <see cref="TooManyWatchersException"/> if a new watcher would make more
    /// than <paramref name="maxWatchers"/>.</summary>
    Task<LedgerEntry[]?> Watch(ICustomerWatcher watcher, long since, int max, int maxWatchers);

    Task Unwatch(ICustomerWatcher watcher);

    /// <summary>The silo this customer is active on (operators, tests).</summary>
    Task<string> Location();

    /// <summary>Does the work that fell due (pending points activate, points expire, holds lapse, tier periods end) and
    /// stores it. Called by the customer's own due-work timer; harmless at any time.</summary>
    Task CatchUp();

    /// <summary>Applies events to a copy of the stored state under a draft program: what they would do. Writes nothing.</summary>
    Task<EventResult[]> Simulate(string programJson, LoyaltyEvent[] events, bool asNewCustomer);

    /// <summary>Spends points on a catalogue reward, idempotent by <paramref name="redemptionId"/>; null if the
    /// customer was never seen. Answers after the write that holds it.</summary>
    Task<OperationResult?> Redeem(string redemptionId, string rewardId);

    /// <summary>Two-phase spending for checkouts: hold, then confirm (spend) or cancel; holds expire by themselves.</summary>
    Task<OperationResult?> Reserve(string reservationId, long points, TimeSpan ttl);

    Task<OperationResult?> Confirm(string reservationId, string note);

    Task<OperationResult?> Cancel(string reservationId);

    /// <summary>An operator's correction of points with a reason, idempotent by <paramref name="adjustmentId"/>.</summary>
    Task<OperationResult?> Adjust(string adjustmentId, long points, string reason);

    /// <summary>An agent's goodwill grant of a catalogue reward with a reason, idempotent by <paramref name="grantId"/>.</summary>
    Task<OperationResult?> GrantGoodwill(string grantId, string rewardId, string reason);

    /// <summary>Creates the customer from a member import (docs/import.md): idempotent by import id and content; an
    /// existing customer is refused, never merged.</summary>
    Task<OperationResult?> ImportMember(string importId, MemberImport member);

    /// <summary>Applies past events from a history import: windows only, points only when <paramref name="earnPoints"/>,
    /// never rules; deduplicated by event id.</summary>
    Task<EventResult[]> ImportHistory(string importId, LoyaltyEvent[] events, bool earnPoints);

    /// <summary>Everything held about the customer as JSON (state and the archived ledger); null if never seen.</summary>
    Task<string?> Export();

    /// <summary>Deletes the customer's state and archived ledger; afterwards the customer is never seen. Returns
    /// false if there was nothing to erase.</summary>
    Task<bool> Erase();

    /// <summary>The customer as stored; null if never seen.</summary>
    Task<CustomerView?> Get();

    /// <summary>Catalogue rewards redeemable now and near misses; null if the customer was never seen.</summary>
    Task<Loyalty.Domain.Rules.Eligibility?> Eligible();

    /// <summary>The ledger, newest first, from state and then from the archive; null if the customer was never seen.</summary>
    Task<LedgerPage?> ListLedger(int pageSize, string? pageToken);

    /// <summary>Kept interactions, newest first; null if the customer was never seen.</summary>
    Task<InteractionPage?> ListInteractions(int pageSize, string? pageToken);
}

/// <summary>The storage write holding these events failed: none of them was applied, and a retry with the
/// same event ids is safe.</summary>
[GenerateSerializer]
[Alias("loyalty.EventsNotCommittedException")]
public sealed class EventsNotCommittedException : Exception
{
    public EventsNotCommittedException() { }
    public EventsNotCommittedException(string message) : base(message) { }
    public EventsNotCommittedException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A customer already has as many watchers as it serves.</summary>
[GenerateSerializer]
[Alias("loyalty.TooManyWatchersException")]
public sealed class TooManyWatchersException : Exception
{
    public TooManyWatchersException() { }
    public TooManyWatchersException(string message) : base(message) { }
    public TooManyWatchersException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Receives a customer's new history entries (points changes and notices) as they are stored.</summary>
public interface ICustomerWatcher : IGrainObserver
{
    [OneWay]
    Task OnEntries(string customerId, LedgerEntry[] entries);
}

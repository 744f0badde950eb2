using Loyalty.Domain.Customers;

namespace Loyalty.Grains;

/// <summary>The watchers of one customer grain: leased subscriptions that are told about every stored entry.</summary>
internal sealed class CustomerWatchers
{
    /// <summary>A watcher renews its subscription well within this; one not heard from for this long is dropped.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);

    private readonly Dictionary<ICustomerWatcher, DateTime> _leases = [];
    private long _told;   // the highest sequence number pushed

    public int Count => _leases.Count;

    public bool Has(ICustomerWatcher watcher) => _leases.ContainsKey(watcher);

    /// <summary>Forgets watchers whose lease ran out; returns how many remain.</summary>
    public int DropExpired()
    {
        var now = DateTime.UtcNow;
        foreach (var (watcher, until) in _leases.ToList())
        {
            if (until < now)
            {
                _leases.Remove(watcher);
            }
        }
        return _leases.Count;
    }

    public void Renew(ICustomerWatcher watcher, long storedThrough)
    {
        _leases[watcher] = DateTime.UtcNow + Lease;
        _told = Math.Max(_told, storedThrough);
    }

    public void Remove(ICustomerWatcher watcher) => _leases.Remove(watcher);

    /// <summary>Pushes the entries of <paramref name="state"/> newer than what was pushed before, up to
    /// <paramref name="storedThrough"/> (fire and forget: watchers fill any gap from the stored history, by sequence number).</summary>
    public void Tell(string customerId, CustomerState state, long storedThrough)
    {
        if (_leases.Count == 0 || storedThrough <= _told)
        {
            _told = Math.Max(_told, storedThrough);
            return;
        }
        var fresh = state.LedgerBetween(_told, storedThrough).ToArray();
        _told = storedThrough;
        if (fresh.Length == 0)
        {
            return;
        }
        var now = DateTime.UtcNow;
        foreach (var (watcher, until) in _leases.ToList())
        {
            if (until < now)
            {
                _leases.Remove(watcher);
                continue;
            }
            try
            {
                _ = watcher.OnEntries(customerId, fresh);
            }
            catch (Exception)
            {
                _leases.Remove(watcher);
            }
        }
    }
}

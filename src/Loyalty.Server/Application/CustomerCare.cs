using Loyalty.Domain.Customers;
using Loyalty.Grains;
using Loyalty.Server.Auth;

namespace Loyalty.Server.Application;

/// <summary>A care action was refused by a limit; the message names the limit and its setting.</summary>
public sealed class CareRefusedException(string message) : Exception(message);

/// <summary>A goodwill grant named a reward that is not in the program's catalogue.</summary>
public sealed class UnknownRewardException(string rewardId) : Exception($"reward '{rewardId}' is not in the catalogue");

/// <summary>
/// Caring for a customer (adjusting points with a reason, granting a catalogue reward as goodwill), once for every
/// front end: the gRPC API and the support console are thin adapters over this. It applies the per-call cap and the
/// daily totals for agents (customers:care without customers:admin; <see cref="AuthSettings"/>), makes the grain call,
/// and counts the result in the metrics and the live view. Ids and reasons are validated by the adapters, which name
/// the fields as their callers sent them.
/// </summary>
public sealed class CustomerCare(IGrainFactory grains, IProgramCatalog programs, LoyaltySettings settings, EngineClock clock, LiveActivity live, AuditLog audit)
{
    /// <summary>Adjusts points; null if the customer was never seen.</summary>
    public async Task<OperationResult?> AdjustAsync(string callerId, bool isAdmin, string customerId, string adjustmentId, long points, string reason)
    {
        if (settings.Auth.CareLimitRefusal(isAdmin, points) is { } overLimit)
        {
            throw new CareRefusedException(overLimit);
        }
        var result = await WithinAllowance(callerId, isAdmin, customerId, "adjust/" + adjustmentId, points, 0,
            () => grains.Customer(customerId).Adjust(adjustmentId, points, reason));
        if (result?.Outcome == OperationOutcome.Applied)
        {
            LoyaltyMetrics.Adjusted(result.PointsDelta);
        }
        return result;
    }

    /// <summary>Grants a catalogue reward as goodwill; null if the customer was never seen.</summary>
    public async Task<OperationResult?> GrantGoodwillAsync(string callerId, bool isAdmin, string customerId, string grantId, string rewardId, string reason)
    {
        if (!programs.Current.Rewards.ContainsKey(rewardId))
        {
            throw new UnknownRewardException(rewardId);
        }
        var result = await WithinAllowance(callerId, isAdmin, customerId, "goodwill/" + grantId, 0, 1,
            () => grains.Customer(customerId).GrantGoodwill(grantId, rewardId, reason));
        if (result?.Outcome == OperationOutcome.Applied)
        {
            live.Granted(1);
        }
        return result;
    }

    /// <summary>For an agent: counts the action against the agent's and the customer's allowance for today before it
    /// runs, and gives it back if it did not happen (customer never seen, refused, failed). A retried action (same id)
    /// is counted once. Admins are not counted.</summary>
    private async Task<OperationResult?> WithinAllowance(string callerId, bool isAdmin, string customerId, string action, long points, int grants,
        Func<Task<OperationResult?>> run)
    {
        if (isAdmin)
        {
            return await run();
        }
        var auth = settings.Auth;
        var day = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var customer = audit.Pseudonym(customerId);   // no customer id in the allowance's key or state
        var key = customer + "/" + action;
        var agent = grains.GetGrain<ICareAllowanceGrain>("agent/" + callerId);
        var forCustomer = grains.GetGrain<ICareAllowanceGrain>(customer);
        var agentLimit = new CareLimit($"agent '{callerId}'",
            auth.CarePointsPerAgentPerDay, "Loyalty:Auth:CarePointsPerAgentPerDay",
            auth.CareGoodwillPerAgentPerDay, "Loyalty:Auth:CareGoodwillPerAgentPerDay",
            auth.CareActionsPerAgentPerDay, "Loyalty:Auth:CareActionsPerAgentPerDay");
        var customerLimit = new CareLimit("this customer",
            auth.CarePointsPerCustomerPerDay, "Loyalty:Auth:CarePointsPerCustomerPerDay",
            auth.CareGoodwillPerCustomerPerDay, "Loyalty:Auth:CareGoodwillPerCustomerPerDay",
            auth.CareActionsPerAgentPerDay, "Loyalty:Auth:CareActionsPerAgentPerDay");
        if (await agent.Take(day, key, points, grants, agentLimit) is { } agentRefusal)
        {
            throw new CareRefusedException(agentRefusal + "; more needs customers:admin");
        }
        if (await forCustomer.Take(day, key, points, grants, customerLimit) is { } customerRefusal)
        {
            await agent.GiveBack(day, key);
            throw new CareRefusedException(customerRefusal + "; more needs customers:admin");
        }
        OperationResult? result;
        try
        {
            result = await run();
        }
        catch
        {
            await GiveBack();
            throw;
        }
        if (result is null || result.Outcome == OperationOutcome.Refused)
        {
            await GiveBack();
        }
        return result;

        async Task GiveBack()
        {
            // Best effort: if this fails too, the allowance stays counted (too strict, never too lax).
            try
            {
                await agent.GiveBack(day, key);
                await forCustomer.GiveBack(day, key);
            }
            catch (Exception)
            {
            }
        }
    }
}

using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Grains;
using Loyalty.Server.Auth;

namespace Loyalty.Server.Application;

/// <summary>A care action was refused by a limit; the message names the limit and its setting.</summary>
public sealed class CareRefusedException(string message) : Exception(message);

/// <summary>A care request was malformed; nothing was done.</summary>
public sealed class CareInvalidException(FieldError error) : Exception($"{error.Field}: {error.Message}")
{
    public FieldError Error { get; } = error;
}

/// <summary>A goodwill grant named a reward that is not in the program's catalogue.</summary>
public sealed class UnknownRewardException(string rewardId) : Exception($"reward '{rewardId}' is not in the catalogue");

/// <summary>Who asks for a care action: the key or token id, whether it holds customers:admin, and through which front
/// end ("api" or "console", for the audit log).</summary>
public sealed record CareCaller(string Id, bool IsAdmin, string Via);

/// <summary>
/// Caring for a customer (adjusting points with a reason, granting a catalogue reward as goodwill), once for every
/// front end: the gRPC API and the support console are thin adapters over this. It validates the request, applies the
/// per-call cap and the daily totals for agents (customers:care without customers:admin; <see cref="AuthSettings"/>),
/// makes the grain call, counts the result in the metrics and the live view, and records it in the audit log whatever
/// its outcome (under the same action names from both front ends). Adapters name the action id field as their callers
/// send it (adjustment_id, grant_id; action_id in the console).
/// </summary>
public sealed class CustomerCare(IGrainFactory grains, IProgramCatalog programs, LoyaltySettings settings, EngineClock clock, LiveActivity live,
    AuditLog audit, ILogger<CustomerCare> logger)
{
    public const string AdjustAction = "Customers/Adjust";
    public const string GoodwillAction = "Customers/GrantGoodwill";

    /// <summary>Adjusts points; null if the customer was never seen.</summary>
    public Task<OperationResult?> AdjustAsync(CareCaller caller, string customerId, string idField, string adjustmentId, long points, string reason) =>
        Audited(caller, AdjustAction, customerId, $"points {points}, {idField} '{adjustmentId}'", reason, async () =>
        {
            if ((EventValidator.Id(customerId, "customer_id") ?? EventValidator.Id(adjustmentId, idField)
                ?? CustomerOperations.CheckAdjustment(points, reason)) is { } invalid)
            {
                throw new CareInvalidException(invalid);
            }
            if (settings.Auth.CareLimitRefusal(caller.IsAdmin, points) is { } overLimit)
            {
                throw new CareRefusedException(overLimit);
            }
            var result = await WithinAllowance(caller, customerId, "adjust/" + adjustmentId, points, 0,
                () => grains.Customer(customerId).Adjust(adjustmentId, points, reason));
            if (result?.Outcome == OperationOutcome.Applied)
            {
                LoyaltyMetrics.Adjusted(result.PointsDelta);
            }
            return result;
        });

    /// <summary>Grants a catalogue reward as goodwill; null if the customer was never seen.</summary>
    public Task<OperationResult?> GrantGoodwillAsync(CareCaller caller, string customerId, string idField, string grantId, string rewardId, string reason) =>
        Audited(caller, GoodwillAction, customerId, $"reward '{rewardId}', {idField} '{grantId}'", reason, async () =>
        {
            if ((EventValidator.Id(customerId, "customer_id") ?? EventValidator.Id(grantId, idField) ?? EventValidator.Id(rewardId, "reward_id")
                ?? CustomerOperations.CheckReason(reason)) is { } invalid)
            {
                throw new CareInvalidException(invalid);
            }
            if (!programs.Current.Rewards.ContainsKey(rewardId))
            {
                throw new UnknownRewardException(rewardId);
            }
            var result = await WithinAllowance(caller, customerId, "goodwill/" + grantId, 0, 1,
                () => grains.Customer(customerId).GrantGoodwill(grantId, rewardId, reason));
            if (result?.Outcome == OperationOutcome.Applied)
            {
                live.Granted(1);
            }
            return result;
        });

    /// <summary>Runs the action and records it: outcome Applied, Duplicate, Refused, NotFound, InvalidArgument,
    /// PermissionDenied or Failed (an engine error; the caller may retry).</summary>
    private async Task<OperationResult?> Audited(CareCaller caller, string action, string customerId, string detail, string reason,
        Func<Task<OperationResult?>> run)
    {
        var outcome = "Failed";
        var why = "";
        try
        {
            var result = await run();
            outcome = result?.Outcome.ToString() ?? "NotFound";
            why = result?.Reason ?? "";
            return result;
        }
        catch (CareInvalidException e)
        {
            (outcome, why) = ("InvalidArgument", e.Message);
            throw;
        }
        catch (CareRefusedException e)
        {
            (outcome, why) = ("PermissionDenied", e.Message);
            throw;
        }
        catch (UnknownRewardException e)
        {
            (outcome, why) = ("NotFound", e.Message);
            throw;
        }
        catch (Exception e)
        {
            (outcome, why) = ("Failed", e.GetType().Name);
            throw;
        }
        finally
        {
            var text = $"{detail}; via {caller.Via}{(why.Length > 0 ? "; " + why : "")}";
            try
            {
                await audit.RecordAsync(clock.GetUtcNow(), caller.Id, action, "", outcome, text, customerId, reason);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The action happened (or was refused) either way; losing its audit row must be loud.
                logger.LogError(e, "Could not record the audit entry {Action} by {Caller}: {Outcome}", action, caller.Id, outcome);
            }
        }
    }

    /// <summary>For an agent: counts the action against the agent's and the customer's allowance for today before it
    /// runs, and gives it back if it did not happen (customer never seen, refused, failed). A retried action (same id)
    /// is counted once. Admins are not counted.</summary>
    private async Task<OperationResult?> WithinAllowance(CareCaller caller, string customerId, string action, long points, int grants,
        Func<Task<OperationResult?>> run)
    {
        var callerId = caller.Id;
        if (caller.IsAdmin)
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
            // Every action moves a point or grants a reward, so the two totals above bound a customer's actions.
            int.MaxValue, "");
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

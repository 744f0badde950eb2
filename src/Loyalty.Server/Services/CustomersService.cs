using Loyalty.Server.Auth;
using Grpc.Core;
using Loyalty.Domain.Customers;
using Loyalty.Grains;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Services;

public sealed class CustomersService(IGrainFactory grains, IProgramCatalog programs, LoyaltySettings settings,
    Loyalty.Server.Auth.AuditLog audit, Application.CustomerCare care, ILogger<CustomersService> logger) : V1.Customers.CustomersBase
{
    /// <summary>How often a watch renews its subscription and re-reads stored history (which also fills any gap).</summary>
    private static readonly TimeSpan WatchRenewal = TimeSpan.FromSeconds(30);
    private const int WatchPage = 500;

    [RpcPolicy(Scopes.CustomersRead)]

    public override async Task Watch(V1.WatchRequest request, IServerStreamWriter<V1.LedgerEntry> responseStream, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        if (request.Since < 0)
        {
            throw RpcErrors.InvalidArgument("since", "must be 0 or more");
        }
        var ct = context.CancellationToken;
        var grain = grains.Customer(request.CustomerId);
        // Live pushes wait here; if a watcher reads too slowly the oldest are dropped and refilled from history.
        var inbox = LeasedSubscription.Inbox<LedgerEntry[]>(256);
        using var observer = grains.Observe<ICustomerWatcher>(new ChannelWatcher(inbox.Writer));
        var reference = observer.Reference;
        var last = request.Since;

        // The guarantee is enforced here, where entries leave: never one past a gap. If stored history could not be
        // read up to an entry (it should not happen; a warning says so), the watch ends UNAVAILABLE and the client
        // reconnects with since = the last sequence it got, missing nothing.
        void Gapless(LedgerEntry entry)
        {
            if (entry.Sequence != last + 1)
            {
                logger.LogWarning("Watch of customer {CustomerId}: history read after {Last} went on at {Next}; ending the watch so it reconnects",
                    request.CustomerId, last, entry.Sequence);
                throw new RpcException(new Status(StatusCode.Unavailable, $"history after sequence {last} is not readable yet; watch again with since={last}"));
            }
        }

        async Task Send(LedgerEntry entry)
        {
            await responseStream.WriteAsync(ProtoMapping.ToProto(entry), ct);
            last = entry.Sequence;
        }

        async Task FromHistory()
        {
            while (true)
            {
                LedgerEntry[]? page;
                try
                {
                    page = await grain.Watch(reference, last, WatchPage, Math.Max(1, settings.Api.MaxWatchersPerCustomer));
                }
                catch (TooManyWatchersException e)
                {
                    throw new RpcException(new Status(StatusCode.ResourceExhausted, e.Message + "; close a watch first"));
                }
                if (page is null)
                {
                    // Never seen (a watch would pin any id it was given) or erased while watched.
                    throw RpcErrors.NotFound($"customer {RpcErrors.Clip(request.CustomerId, 64)} not found; Watch needs a customer with at least one event");
                }
                foreach (var entry in page.Where(e => e.Sequence > last))
                {
                    Gapless(entry);
                    await Send(entry);
                }
                if (page.Length < WatchPage)
                {
                    return;
                }
            }
        }

        try
        {
            await FromHistory();
            await LeasedSubscription.RunAsync(inbox.Reader, WatchRenewal, FromHistory, async entries =>
            {
                foreach (var entry in entries)
                {
                    if (entry.Sequence <= last)
                    {
                        continue;
                    }
                    if (entry.Sequence > last + 1)
                    {
                        await FromHistory();   // a gap (a dropped push, a reactivation): stored history fills it
                        if (entry.Sequence <= last)
                        {
                            continue;
                        }
                    }
                    Gapless(entry);
                    await Send(entry);
                }
            }, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The watcher went away.
        }
        finally
        {
            try
            {
                await grain.Unwatch(reference);
            }
            catch (Exception ex)
            {
                logger.LogDebug(ex, "Unwatch for customer {CustomerId} failed; the lease runs out", request.CustomerId);
            }
        }
    }

    private sealed class ChannelWatcher(System.Threading.Channels.ChannelWriter<LedgerEntry[]> inbox) : ICustomerWatcher
    {
        public Task OnEntries(string customerId, LedgerEntry[] entries)
        {
            inbox.TryWrite(entries);
            return Task.CompletedTask;
        }
    }

    [RpcPolicy(Scopes.CustomersRedeem)]

    public override async Task<V1.RedeemResponse> Redeem(V1.RedeemRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        CheckId(request.RedemptionId, "redemption_id");
        CheckId(request.RewardId, "reward_id");
        if (!programs.Current.Rewards.ContainsKey(request.RewardId))
        {
            throw RpcErrors.NotFound($"reward '{request.RewardId}' is not in the catalogue");
        }
        var result = Refuse(await grains.Customer(request.CustomerId).Redeem(request.RedemptionId, request.RewardId), request.CustomerId);
        if (result.Outcome == OperationOutcome.Applied)
        {
            LoyaltyMetrics.Redeemed(-result.PointsDelta);
        }
        var response = new V1.RedeemResponse
        {
            Outcome = ToOutcome(result),
            PointsDelta = result.PointsDelta,
            Customer = ProtoMapping.ToProto(result.Customer!),
        };
        if (result.Reward is { } reward)
        {
            response.Reward = ProtoMapping.ToProto(reward);
        }
        return response;
    }

    [RpcPolicy(Scopes.Care)]

    public override async Task<V1.AdjustResponse> Adjust(V1.AdjustRequest request, ServerCallContext context)
    {
        var result = Refuse(await Care(() => care.AdjustAsync(CareCaller(context), request.CustomerId, "adjustment_id", request.AdjustmentId,
            request.Points, request.Reason)), request.CustomerId);
        return new V1.AdjustResponse
        {
            Outcome = ToOutcome(result),
            PointsDelta = result.PointsDelta,
            Customer = ProtoMapping.ToProto(result.Customer!),
        };
    }

    [RpcPolicy(Scopes.Care)]

    public override async Task<V1.GrantGoodwillResponse> GrantGoodwill(V1.GrantGoodwillRequest request, ServerCallContext context)
    {
        var result = Refuse(await Care(() => care.GrantGoodwillAsync(CareCaller(context), request.CustomerId, "grant_id", request.GrantId,
            request.RewardId, request.Reason)), request.CustomerId);
        var response = new V1.GrantGoodwillResponse { Outcome = ToOutcome(result), Customer = ProtoMapping.ToProto(result.Customer!) };
        if (result.Reward is { } reward)
        {
            response.Reward = ProtoMapping.ToProto(reward);
        }
        return response;
    }

    private static Application.CareCaller CareCaller(ServerCallContext context)
    {
        var caller = Loyalty.Server.Auth.Caller.Of(context);
        return new(caller.Id, caller.Has("customers:admin"), "api");
    }

    /// <summary>A care action's refusals as gRPC statuses.</summary>
    private static async Task<OperationResult?> Care(Func<Task<OperationResult?>> action)
    {
        try
        {
            return await action();
        }
        catch (Application.CareInvalidException e)
        {
            throw RpcErrors.InvalidArgument(e.Error);
        }
        catch (Application.CareRefusedException e)
        {
            throw AccessErrors.PermissionDenied(e.Message);
        }
        catch (Application.UnknownRewardException e)
        {
            throw RpcErrors.NotFound(e.Message);
        }
    }

    [RpcPolicy(Scopes.CustomersRedeem)]

    public override async Task<V1.ReserveResponse> Reserve(V1.ReserveRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        CheckId(request.ReservationId, "reservation_id");
        if (request.Points is <= 0 or > 1_000_000_000)
        {
            throw RpcErrors.InvalidArgument("points", "must be 1..1000000000");
        }
        if (request.TtlSeconds is < 0 or > 86_400)
        {
            throw RpcErrors.InvalidArgument("ttl_seconds", "must be 1..86400 (0 = 900)");
        }
        var ttl = TimeSpan.FromSeconds(request.TtlSeconds == 0 ? 900 : request.TtlSeconds);
        var result = Refuse(await grains.Customer(request.CustomerId).Reserve(request.ReservationId, request.Points, ttl), request.CustomerId);
        return new V1.ReserveResponse { Outcome = ToOutcome(result), Customer = ProtoMapping.ToProto(result.Customer!) };
    }

    [RpcPolicy(Scopes.CustomersRedeem)]

    public override async Task<V1.ConfirmResponse> Confirm(V1.ConfirmRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        CheckId(request.ReservationId, "reservation_id");
        var result = Refuse(await grains.Customer(request.CustomerId).Confirm(request.ReservationId, request.Note.Length > 200 ? request.Note[..200] : request.Note), request.CustomerId);
        if (result.Outcome == OperationOutcome.Applied)
        {
            LoyaltyMetrics.Redeemed(-result.PointsDelta);
        }
        return new V1.ConfirmResponse { Outcome = ToOutcome(result), PointsDelta = result.PointsDelta, Customer = ProtoMapping.ToProto(result.Customer!) };
    }

    [RpcPolicy(Scopes.CustomersRedeem)]

    public override async Task<V1.CancelResponse> Cancel(V1.CancelRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        CheckId(request.ReservationId, "reservation_id");
        var result = Refuse(await grains.Customer(request.CustomerId).Cancel(request.ReservationId), request.CustomerId);
        return new V1.CancelResponse { Released = result.Outcome == OperationOutcome.Applied };
    }

    private static OperationResult Refuse(OperationResult? result, string customerId)
    {
        if (result is null)
        {
            throw RpcErrors.NotFound($"customer '{customerId}' was never seen");
        }
        return result.Outcome == OperationOutcome.Refused ? throw FailedPrecondition(result.Reason!) : result;
    }

    private static V1.Outcome ToOutcome(OperationResult r) => r.Outcome == OperationOutcome.Applied ? V1.Outcome.Applied : V1.Outcome.Duplicate;

    [RpcPolicy(Scopes.CustomersAdmin)]

    public override async Task<V1.ExportCustomerResponse> ExportCustomer(V1.ExportCustomerRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        var json = await grains.Customer(request.CustomerId).Export()
            ?? throw RpcErrors.NotFound($"customer '{request.CustomerId}' was never seen");
        return new V1.ExportCustomerResponse { Json = json };
    }

    [RpcPolicy(Scopes.CustomersAdmin)]

    public override async Task<V1.EraseCustomerResponse> EraseCustomer(V1.EraseCustomerRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        var erased = await grains.Customer(request.CustomerId).Erase();
        // Reasons typed about the customer go with them (even one never seen: a refused adjustment has one); the audit
        // rows stay, under the customer's pseudonym.
        await audit.EraseReasonsAsync(request.CustomerId);
        if (!erased)
        {
            throw RpcErrors.NotFound($"customer '{request.CustomerId}' was never seen");
        }
        return new V1.EraseCustomerResponse { Erased = true };
    }

    private static RpcException FailedPrecondition(string reason) =>
        new Google.Rpc.Status { Code = (int)Google.Rpc.Code.FailedPrecondition, Message = reason }.ToRpcException();

    private static void CheckId(string id, string field)
    {
        if (Domain.Events.EventValidator.Id(id, field) is { } error)
        {
            throw RpcErrors.InvalidArgument(error);
        }
    }

    [RpcPolicy(Scopes.CustomersRead)]

    public override async Task<V1.Customer> GetCustomer(V1.GetCustomerRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        var view = await grains.Customer(request.CustomerId).Get()
            ?? throw RpcErrors.NotFound($"customer '{request.CustomerId}' was never seen");
        return ProtoMapping.ToProto(view);
    }

    [RpcPolicy(Scopes.CustomersRead)]

    public override async Task<V1.ListInteractionsResponse> ListInteractions(V1.ListInteractionsRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        if (request.PageSize < 0)
        {
            throw RpcErrors.InvalidArgument("page_size", "must not be negative");
        }
        if (request.PageToken.Length > 0 && !InteractionPage.TryParseToken(request.PageToken, out _))
        {
            throw RpcErrors.InvalidArgument("page_token", "is not a token this API issued");
        }
        var page = await grains.Customer(request.CustomerId).ListInteractions(request.PageSize, request.PageToken)
            ?? throw RpcErrors.NotFound($"customer '{request.CustomerId}' was never seen");
        var response = new V1.ListInteractionsResponse { NextPageToken = page.NextPageToken };
        foreach (var i in page.Interactions)
        {
            response.Interactions.Add(ProtoMapping.ToProto(i));
        }
        return response;
    }

    [RpcPolicy(Scopes.CustomersRead)]

    public override async Task<V1.ListEligibleRewardsResponse> ListEligibleRewards(V1.ListEligibleRewardsRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        var eligibility = await grains.Customer(request.CustomerId).Eligible()
            ?? throw RpcErrors.NotFound($"customer '{request.CustomerId}' was never seen");
        return ProtoMapping.ToProto(eligibility);
    }

    [RpcPolicy(Scopes.CustomersRead)]

    public override async Task<V1.ListLedgerResponse> ListLedger(V1.ListLedgerRequest request, ServerCallContext context)
    {
        CheckCustomerId(request.CustomerId);
        if (request.PageSize < 0)
        {
            throw RpcErrors.InvalidArgument("page_size", "must not be negative");
        }
        if (request.PageToken.Length > 0 && !LedgerPage.TryParseToken(request.PageToken, out _))
        {
            throw RpcErrors.InvalidArgument("page_token", "is not a token this API issued");
        }
        var page = await grains.Customer(request.CustomerId).ListLedger(request.PageSize, request.PageToken)
            ?? throw RpcErrors.NotFound($"customer '{request.CustomerId}' was never seen");
        var response = new V1.ListLedgerResponse { NextPageToken = page.NextPageToken };
        foreach (var e in page.Entries)
        {
            response.Entries.Add(ProtoMapping.ToProto(e));
        }
        return response;
    }

    private static void CheckCustomerId(string id)
    {
        if (Domain.Events.EventValidator.Id(id, "customer_id") is { } error)
        {
            throw RpcErrors.InvalidArgument(error);
        }
    }
}

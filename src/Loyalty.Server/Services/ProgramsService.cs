using Loyalty.Server.Auth;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;
using Loyalty.Grains;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Services;

/// <summary>The program lifecycle: validate, publish (optimistic concurrency), versions, simulate.</summary>
public sealed class ProgramsService(IGrainFactory grains, IProgramCatalog catalog, EngineClock clock, ILogger<ProgramsService> logger) : V1.Programs.ProgramsBase
{
    [RpcPolicy(Scopes.CustomersRead)]
    public override async Task WatchRewards(V1.WatchRewardsRequest request, IServerStreamWriter<V1.RewardNotification> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var rewardIds = request.RewardIds.ToHashSet(StringComparer.Ordinal);
        var kinds = request.Kinds.ToHashSet(StringComparer.Ordinal);
        var inbox = LeasedSubscription.Inbox<RewardNotice[]>(1024);
        using var observer = grains.Observe<IRewardWatcher>(new ChannelRewardWatcher(inbox.Writer));
        var reference = observer.Reference;
        var feeds = Enumerable.Range(0, RewardFeed.Partitions).Select(p => grains.GetGrain<IRewardFeedGrain>(p)).ToList();
        try
        {
            Task Subscribe() => Task.WhenAll(feeds.Select(f => f.Subscribe(reference)));
            // Silos told a moment ago that nobody watched a partition do not collect its notices for a short while
            // (RewardFeed.Unwatched): the watch is live once that has passed, and the response headers say so.
            var held = await Task.WhenAll(feeds.Select(f => f.Watch(reference)));
            if (held.Max() is var wait && wait > TimeSpan.Zero)
            {
                await Task.Delay(wait + TimeSpan.FromMilliseconds(1), ct);   // a delay counts whole milliseconds, rounded down
            }
            await context.WriteResponseHeadersAsync([]);
            await LeasedSubscription.RunAsync(inbox.Reader, TimeSpan.FromSeconds(30), Subscribe, async notices =>
            {
                foreach (var notice in notices)
                {
                    if ((rewardIds.Count == 0 || rewardIds.Contains(notice.Reward.RewardId)) && (kinds.Count == 0 || kinds.Contains(notice.Reward.Kind)))
                    {
                        var reward = notice.Reward.Description.Length == 0 && catalog.Current.Rewards.TryGetValue(notice.Reward.RewardId, out var d)
                            ? notice.Reward with { Description = d.Description }
                            : notice.Reward;
                        await responseStream.WriteAsync(new V1.RewardNotification { CustomerId = notice.CustomerId, Reward = ProtoMapping.ToProto(reward) }, ct);
                    }
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
                await Task.WhenAll(feeds.Select(f => f.Unsubscribe(reference)));
            }
            catch (Exception ex)
            {
                logger.LogDebug(ex, "Unsubscribing a reward watcher failed; its lease runs out");
            }
        }
    }

    private sealed class ChannelRewardWatcher(System.Threading.Channels.ChannelWriter<RewardNotice[]> inbox) : IRewardWatcher
    {
        public Task OnRewards(RewardNotice[] notices)
        {
            inbox.TryWrite(notices);
            return Task.CompletedTask;
        }
    }

    private IProgramGrain History => grains.GetGrain<IProgramGrain>(ProgramGrain.Key);

    [RpcPolicy(Scopes.Authenticated)]

    public override async Task<V1.LoyaltyProgram> GetProgram(V1.GetProgramRequest request, ServerCallContext context)
    {
        if (request.Version.Length == 0)
        {
            var active = catalog.Current;
            var record = await History.Get(active.Version);
            return ToProto(active, record, isActive: true);
        }
        var past = await History.Get(request.Version)
            ?? throw RpcErrors.NotFound($"program version '{request.Version}' is not among the kept versions");
        return ToProto(ProgramLoader.Parse(past.Json, $"program version {past.Version}"), past, past.Version == catalog.Current.Version);
    }

    [RpcPolicy(Scopes.ProgramsAdmin)]

    public override Task<V1.ValidateProgramResponse> ValidateProgram(V1.ValidateProgramRequest request, ServerCallContext context)
    {
        var response = new V1.ValidateProgramResponse();
        try
        {
            var program = Parse(request.ProgramJson);
            response.Valid = true;
            response.Version = program.Version;
        }
        catch (ProgramValidationException e)
        {
            response.Errors.Add(e.Errors.Select(x => new V1.ProgramError { Path = x.Path, Problem = x.Problem }));
        }
        return Task.FromResult(response);
    }

    [RpcPolicy(Scopes.ProgramsAdmin)]

    public override async Task<V1.PublishProgramResponse> PublishProgram(V1.PublishProgramRequest request, ServerCallContext context)
    {
        var program = ParseOrThrow(request.ProgramJson);
        var author = request.Author.Length > 0 ? request.Author : "unknown";
        var outcome = await History.Publish(request.ProgramJson, request.ExpectedVersion, author);
        if (!outcome.Published)
        {
            throw new Google.Rpc.Status
            {
                Code = (int)Code.FailedPrecondition,
                Message = $"expected_version '{request.ExpectedVersion}' is not the active version '{outcome.ActiveVersion}'; fetch the active program and publish again",
            }.ToRpcException();
        }
        // This silo switches now; the others within their refresh interval.
        catalog.Activate(program);
        logger.LogInformation("Published program version {Version} by {Author}", program.Version, author);
        return new V1.PublishProgramResponse
        {
            Version = outcome.Record!.Version,
            Number = outcome.Record.Number,
            PublishedAt = Timestamp.FromDateTimeOffset(outcome.Record.PublishedAt),
        };
    }

    [RpcPolicy(Scopes.Authenticated)]

    public override async Task<V1.ListProgramVersionsResponse> ListProgramVersions(V1.ListProgramVersionsRequest request, ServerCallContext context)
    {
        var active = await History.GetActiveVersion();
        var response = new V1.ListProgramVersionsResponse();
        foreach (var v in await History.List())
        {
            response.Versions.Add(new V1.ProgramVersionInfo
            {
                Number = v.Number, Version = v.Version, PublishedAt = Timestamp.FromDateTimeOffset(v.PublishedAt),
                Author = v.Author, Source = v.Source, Active = v.Version == active,
            });
        }
        return response;
    }

    [RpcPolicy(Scopes.Simulate)]

    public override async Task<V1.SimulateProgramResponse> SimulateProgram(V1.SimulateProgramRequest request, ServerCallContext context)
    {
        var program = ParseOrThrow(request.ProgramJson);
        if (!request.NewCustomer && request.CustomerId.Length == 0)
        {
            throw RpcErrors.InvalidArgument("customer_id", "is required unless new_customer is set");
        }
        if (request.Events.Count is 0 or > IngestionService.MaxBatch)
        {
            throw RpcErrors.InvalidArgument("events", $"give 1..{IngestionService.MaxBatch} events");
        }
        var customerId = request.CustomerId.Length > 0 ? request.CustomerId : "simulated-" + Guid.NewGuid().ToString("N");
        var events = new LoyaltyEvent[request.Events.Count];
        for (var i = 0; i < events.Length; i++)
        {
            var e = ProtoMapping.ToDomain(request.Events[i]);
            if (request.NewCustomer || e.CustomerId.Length == 0)
            {
                e = e with { CustomerId = customerId };
            }
            if (EventValidator.Validate(e, program, clock.GetUtcNow()) is { } error)
            {
                throw RpcErrors.InvalidArgument($"events[{i}].{error.Field["event.".Length..]}", error.Message);
            }
            if (e.CustomerId != customerId)
            {
                throw RpcErrors.InvalidArgument($"events[{i}].customer_id", "must be the simulated customer's id (or empty)");
            }
            events[i] = e;
        }
        var grain = grains.Customer(customerId);
        if (!request.NewCustomer && await grain.Get() is null)
        {
            throw RpcErrors.NotFound($"customer '{customerId}' was never seen (set new_customer to simulate one)");
        }
        var results = await grain.Simulate(request.ProgramJson, events, request.NewCustomer);
        var response = new V1.SimulateProgramResponse { Version = program.Version };
        response.Results.Add(results.Select(ProtoMapping.ToProto));
        return response;
    }

    /// <summary>The draft, or INVALID_ARGUMENT listing every error with its JSON path.</summary>
    private static ActiveProgram ParseOrThrow(string json)
    {
        try
        {
            return Parse(json);
        }
        catch (ProgramValidationException e)
        {
            throw Invalid(e);
        }
    }

    private static ActiveProgram Parse(string json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            throw new ProgramValidationException("program_json", [new ProgramError("$", "the program is empty")]);
        }
        if (System.Text.Encoding.UTF8.GetByteCount(json) > ProgramGrain.MaxProgramBytes)
        {
            throw new ProgramValidationException("program_json", [new ProgramError("$", $"the program is larger than {ProgramGrain.MaxProgramBytes / 1024} KB")]);
        }
        return ProgramLoader.Parse(json, "program_json");
    }

    private static RpcException Invalid(ProgramValidationException e)
    {
        var status = new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = "program_json: " + string.Join("; ", e.Errors),
        };
        var bad = new BadRequest();
        bad.FieldViolations.Add(e.Errors.Select(x => new BadRequest.Types.FieldViolation { Field = x.Path, Description = x.Problem }));
        status.Details.Add(Any.Pack(bad));
        return status.ToRpcException();
    }

    private static V1.LoyaltyProgram ToProto(ActiveProgram program, ProgramRecord? record, bool isActive)
    {
        var d = program.Definition;
        var reply = new V1.LoyaltyProgram
        {
            ProgramId = d.Id,
            Name = d.Name,
            Version = program.Version,
            Currency = d.Currency,
            TimeZone = d.TimeZone,
            DefinitionJson = program.DefinitionJson,
            QualifyingWindowDays = d.Tiers.QualifyingWindowDays,
            Active = isActive,
            RuleCount = d.Rules.Count,
            RewardCount = d.Rewards.Count,
        };
        if (record is not null)
        {
            reply.Number = record.Number;
            reply.PublishedAt = Timestamp.FromDateTimeOffset(record.PublishedAt);
            reply.Author = record.Author;
        }
        foreach (var tier in d.Tiers.Levels)
        {
            reply.Tiers.Add(new V1.Tier { Name = tier.Name, QualifyingPoints = tier.QualifyingPoints, EarnMultiplier = (double)tier.EarnMultiplier });
        }
        return reply;
    }
}

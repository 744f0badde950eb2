using Grpc.Core;
using Grpc.Core.Interceptors;
using Loyalty.Grains;
using Orleans.Runtime;

namespace Loyalty.Server.Services;

/// <summary>Turns engine failures into statuses a client can act on; never leaks exception details.</summary>
public sealed class ErrorMappingInterceptor(ILogger<ErrorMappingInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (RpcException)
        {
            throw;
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Cancelled, "The call was cancelled."));
        }
        catch (Exception e)
        {
            var (code, detail) = Describe(e, logger, context.Method);
            throw new RpcException(new Status(code, detail));
        }
    }

    /// <summary>What a client is told of an engine failure (logged here with its details, which the client never
    /// sees): UNAVAILABLE when nothing was applied or the engine could not answer in time, INTERNAL otherwise. Also
    /// the reason a streamed event's NOT_APPLIED result gives.</summary>
    public static (StatusCode Code, string Detail) Describe(Exception e, ILogger logger, string method)
    {
        switch (e)
        {
            case EventsNotCommittedException:
                logger.LogWarning("{Method}: {Reason}", method, e.Message);
                return (StatusCode.Unavailable, e.Message);
            case TimeoutException:
                logger.LogWarning(e, "{Method} timed out", method);
                return (StatusCode.Unavailable, "The engine did not answer in time; retrying with the same event ids is safe.");
            case var _ when IsTransient(e):
                logger.LogWarning(e, "{Method}: storage or cluster unavailable", method);
                return (StatusCode.Unavailable, "Storage or cluster is unavailable; nothing was applied. Retrying with the same event ids is safe.");
            default:
                logger.LogError(e, "{Method} failed", method);
                return (StatusCode.Internal, "Internal error; retrying with the same event ids is safe.");
        }
    }

    /// <summary>Storage that cannot be reached (e.g. while a customer activates and reads its state) or a silo
    /// that went away: the client should retry.</summary>
    private static bool IsTransient(Exception e)
    {
        var pending = new Stack<Exception>();
        pending.Push(e);
        while (pending.Count > 0)
        {
            var current = pending.Pop();
            if (current is Azure.RequestFailedException or HttpRequestException or SiloUnavailableException or OrleansMessageRejectionException)
            {
                return true;
            }
            if (current is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    pending.Push(inner);
                }
            }
            else if (current.InnerException is { } inner)
            {
                pending.Push(inner);
            }
        }
        return false;
    }
}

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
        catch (EventsNotCommittedException e)
        {
            logger.LogWarning("{Method}: {Reason}", context.Method, e.Message);
            throw new RpcException(new Status(StatusCode.Unavailable, e.Message));
        }
        catch (TimeoutException e)
        {
            logger.LogWarning(e, "{Method} timed out", context.Method);
            throw new RpcException(new Status(StatusCode.Unavailable, "The engine did not answer in time; retrying with the same event ids is safe."));
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Cancelled, "The call was cancelled."));
        }
        catch (Exception e) when (IsTransient(e))
        {
            logger.LogWarning(e, "{Method}: storage or cluster unavailable", context.Method);
            throw new RpcException(new Status(StatusCode.Unavailable, "Storage or cluster is unavailable; nothing was applied. Retrying with the same event ids is safe."));
        }
        catch (Exception e)
        {
            logger.LogError(e, "{Method} failed", context.Method);
            throw new RpcException(new Status(StatusCode.Internal, "Internal error; retrying with the same event ids is safe."));
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

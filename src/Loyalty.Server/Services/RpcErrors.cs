using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Loyalty.Domain.Events;

namespace Loyalty.Server.Services;

/// <summary>Errors with a precise status; bad fields are named in the message and in a google.rpc.BadRequest detail.</summary>
public static class RpcErrors
{
    public static RpcException InvalidArgument(FieldError error) => InvalidArgument(error.Field, error.Message);

    /// <summary>Error texts travel in HTTP/2 trailers: input echoed into them is clipped, so hostile input can never
    /// make an answer undeliverable (clients refuse headers over 64 KB).</summary>
    public static string Clip(string text, int max = 1000) => text.Length <= max ? text : text[..max] + "…";

    public static RpcException InvalidArgument(string field, string message)
    {
        field = Clip(field, 200);
        message = Clip(message);
        var status = new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = $"{field}: {message}",
            Details =
            {
                Any.Pack(new BadRequest
                {
                    FieldViolations = { new BadRequest.Types.FieldViolation { Field = field, Description = message } },
                }),
            },
        };
        return status.ToRpcException();
    }

    public static RpcException NotFound(string message) =>
        new Google.Rpc.Status { Code = (int)Code.NotFound, Message = Clip(message) }.ToRpcException();
}

/// <summary>Errors of access: who you are, what you may do, how fast.</summary>
public static class AccessErrors
{
    public static RpcException Unauthenticated(string message) =>
        new Google.Rpc.Status { Code = (int)Code.Unauthenticated, Message = RpcErrors.Clip(message) }.ToRpcException();

    public static RpcException PermissionDenied(string message) =>
        new Google.Rpc.Status { Code = (int)Code.PermissionDenied, Message = RpcErrors.Clip(message) }.ToRpcException();

    /// <summary>RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail (and a <c>retry-after-ms</c> trailer for simple clients).</summary>
    public static RpcException RateLimited(string keyId, TimeSpan retryAfter) =>
        Exhausted($"rate limit of key '{keyId}' reached; retry after {retryAfter.TotalMilliseconds:F0} ms", retryAfter);

    /// <summary>The caller already holds as many streams as its key may on this silo.</summary>
    public static RpcException TooManyStreams(string keyId, int limit) =>
        Exhausted($"key '{keyId}' already holds {limit} open streams (PublishStream, Watch, WatchRewards) on this server, its limit; close one, or retry after 1000 ms", TimeSpan.FromSeconds(1));

    /// <summary>The engine has more work waiting for storage than it can write before callers give up: nothing was
    /// applied; RESOURCE_EXHAUSTED with retry information.</summary>
    public static RpcException Overloaded(TimeSpan retryAfter) =>
        Exhausted($"the engine is at capacity (journal backlog full, or checkpoints behind); nothing was applied; retry after {retryAfter.TotalMilliseconds:F0} ms", retryAfter);

    private static RpcException Exhausted(string message, TimeSpan retryAfter)
    {
        var status = new Google.Rpc.Status
        {
            Code = (int)Code.ResourceExhausted,
            Message = message,
            Details = { Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(retryAfter) }) },
        };
        var exception = status.ToRpcException();
        exception.Trailers.Add("retry-after-ms", ((long)Math.Ceiling(retryAfter.TotalMilliseconds)).ToString(System.Globalization.CultureInfo.InvariantCulture));
        // In whole seconds, as HTTP's Retry-After: JSON clients of the transcoded routes get it as a header.
        exception.Trailers.Add("retry-after", Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture));
        return exception;
    }
}

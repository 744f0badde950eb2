using Grpc.Core;
using Loyalty.Contracts;

namespace Loyalty.Server.Services;

/// <summary>
/// Reads the order a PublishStream's caller asked for (<see cref="StreamResultOrder"/>). In request order a result
/// waits for every result before it, so one slow event holds back the acknowledgements of all the events behind it on
/// the stream, whichever customers they are for; in completion order it holds back only its own.
/// </summary>
public static class ResultOrder
{
    /// <summary>True when the call asks for completion order; INVALID_ARGUMENT naming the header for any other value
    /// than the two (a typo must not silently give the order the client did not ask for).</summary>
    public static bool CompletionRequested(Metadata headers)
    {
        var value = headers.GetValue(StreamResultOrder.Header);
        return value switch
        {
            null or StreamResultOrder.Request => false,
            StreamResultOrder.Completion => true,
            _ => throw RpcErrors.InvalidArgument(StreamResultOrder.Header,
                $"must be '{StreamResultOrder.Request}' or '{StreamResultOrder.Completion}', not '{value}'"),
        };
    }
}

using Grpc.Core;

namespace Loyalty.Server.Services;

/// <summary>
/// The order a PublishStream writes its results in, chosen by the caller with the <see cref="Header"/> request header:
/// <see cref="Request"/> (the default: results in the order the events came) or <see cref="Completion"/> (each result
/// as soon as its event is stored, matched by its event_id). In request order a result waits for every result before
/// it, so one slow event holds back the acknowledgements of all the events behind it on the stream, whichever
/// customers they are for; in completion order it holds back only its own.
/// </summary>
public static class ResultOrder
{
    public const string Header = "x-result-order";
    public const string Request = "request";
    public const string Completion = "completion";

    /// <summary>True when the call asks for completion order; INVALID_ARGUMENT naming the header for any other value
    /// than the two (a typo must not silently give the order the client did not ask for).</summary>
    public static bool CompletionRequested(Metadata headers)
    {
        var value = headers.GetValue(Header);
        return value switch
        {
            null or Request => false,
            Completion => true,
            _ => throw RpcErrors.InvalidArgument(Header, $"must be '{Request}' or '{Completion}', not '{value}'"),
        };
    }
}

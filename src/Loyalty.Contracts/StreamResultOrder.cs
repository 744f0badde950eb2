namespace Loyalty.Contracts;

/// <summary>
/// The order a PublishStream writes its results in, chosen by the caller with the <see cref="Header"/> request header:
/// <see cref="Request"/> (the default: results in the order the events came) or <see cref="Completion"/> (each result
/// as soon as its event is answered, matched by its event_id).
/// </summary>
public static class StreamResultOrder
{
    public const string Header = "x-result-order";
    public const string Request = "request";
    public const string Completion = "completion";
}

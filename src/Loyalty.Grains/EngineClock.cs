namespace Loyalty.Grains;

/// <summary>The clock of the loyalty engine (apply times, due work, windows). Kept apart from the host's
/// <see cref="TimeProvider"/> so a test can move the engine's time without moving Orleans' own timers (membership
/// probes, response timeouts).</summary>
public sealed class EngineClock(TimeProvider time)
{
    public static EngineClock System { get; } = new(TimeProvider.System);

    public TimeProvider Time { get; } = time;

    public DateTimeOffset GetUtcNow() => Time.GetUtcNow();
}

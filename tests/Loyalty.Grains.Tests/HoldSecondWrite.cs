namespace Loyalty.Grains.Tests;

/// <summary>Holds the second entity write (anything but a read or a table creation), or the first transaction,
/// until released.</summary>
internal sealed class HoldSecondWrite(bool batchesOnly = false) : Azure.Core.Pipeline.HttpPipelinePolicy
{
    private readonly TaskCompletionSource _halfway = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _writes;

    public Task Halfway => _halfway.Task;

    public void Release() => _release.TrySetResult();

    public override void Process(Azure.Core.HttpMessage message, ReadOnlyMemory<Azure.Core.Pipeline.HttpPipelinePolicy> pipeline) =>
        ProcessAsync(message, pipeline).AsTask().GetAwaiter().GetResult();

    public override async ValueTask ProcessAsync(Azure.Core.HttpMessage message, ReadOnlyMemory<Azure.Core.Pipeline.HttpPipelinePolicy> pipeline)
    {
        var write = message.Request.Method != Azure.Core.RequestMethod.Get
            && !message.Request.Uri.Path.EndsWith("/Tables", StringComparison.Ordinal);
        // Only transactions when asked: the first one is held (the second write of anything else).
        var held = batchesOnly
            ? write && message.Request.Uri.Path.EndsWith("$batch", StringComparison.Ordinal) && Interlocked.Increment(ref _writes) == 1
            : write && Interlocked.Increment(ref _writes) == 2;
        if (held)
        {
            _halfway.TrySetResult();
            await _release.Task;
        }
        await ProcessNextAsync(message, pipeline);
    }
}

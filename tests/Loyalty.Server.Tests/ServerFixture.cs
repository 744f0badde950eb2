using Loyalty.TestKit;

namespace Loyalty.Server.Tests;

/// <summary>One Azurite and one real engine process for the collection; tests use fresh customer ids.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private AzuriteProcess? _azurite;
    private ServerProcess? _server;

    public AzuriteProcess Azurite => _azurite ?? throw new InvalidOperationException("not started");
    public ServerProcess Server => _server ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        _azurite = await AzuriteProcess.StartAsync();
        _server = await ServerProcess.StartAsync(_azurite.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
[RunsForAbout(30)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "engine process";
}

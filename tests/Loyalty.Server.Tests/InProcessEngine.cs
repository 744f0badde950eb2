using System.Globalization;
using System.Text;
using Grpc.Net.Client;
using Loyalty.Contracts;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Loyalty.Server.Tests;

/// <summary>
/// The engine's own host (src/Loyalty.Server's Program, unchanged) run inside the test process on Kestrel, on
/// loopback ports of its own, with memory storage (an explicit opt-in, as for any test of API behaviour that is not
/// about durability). Its API is the same real gRPC over HTTP/2 a client sees; only tests of process behaviour (kill,
/// signals, restarts, ports in use, storage outages) need <see cref="ServerProcess"/>. Starts in about a second, where
/// a process on Azurite takes several, and answers without a storage round trip per event.
/// </summary>
public sealed class InProcessEngine : WebApplicationFactory<Program>, IEngine
{
    private readonly Dictionary<string, string> _settings;
    private readonly Action<IServiceCollection>? _services;
    private readonly StringBuilder _log = new();
    private GrpcChannel? _channel;

    /// <param name="services">Replaces engine services after the engine's own registrations (a test's journal store).</param>
    public InProcessEngine(IDictionary<string, string>? settings = null, Action<IServiceCollection>? services = null)
    {
        _services = services;
        Port = FreePorts.Next();
        OperatorPort = FreePorts.Next();
        HttpPort = FreePorts.Next();
        _settings = new Dictionary<string, string>
        {
            ["Loyalty:Storage:Provider"] = "Memory",
            ["Loyalty:Api:Port"] = Port.ToString(CultureInfo.InvariantCulture),
            ["Loyalty:Api:HttpPort"] = HttpPort.ToString(CultureInfo.InvariantCulture),
            ["Loyalty:Operator:Port"] = OperatorPort.ToString(CultureInfo.InvariantCulture),
            ["Loyalty:Operator:ShutdownDelay"] = "00:00:00",
            ["Loyalty:Cluster:SiloPort"] = FreePorts.Next().ToString(CultureInfo.InvariantCulture),
            ["Loyalty:Cluster:ClusterId"] = "inproc-" + Guid.NewGuid().ToString("N")[..8],
            ["Loyalty:ProgramPath"] = RepoPaths.SampleProgram,
            ["Loyalty:Journal:CheckpointAfter"] = "00:00:05",
        };
        foreach (var (key, value) in TestKeys.Settings([(TestKeys.Admin, ["*"], [])]))
        {
            _settings[key.Replace("__", ":", StringComparison.Ordinal)] = value;
        }
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            var name = key.Replace("__", ":", StringComparison.Ordinal);
            _settings[name.StartsWith("Loyalty:", StringComparison.Ordinal) || name.StartsWith("Logging:", StringComparison.Ordinal) ? name : "Loyalty:" + name] = value;
        }
        UseKestrel();
    }

    public int Port { get; }
    public int OperatorPort { get; }
    /// <summary>The API's JSON routes over cleartext HTTP/1.1.</summary>
    public int HttpPort { get; }
    public string HttpAddress => $"http://127.0.0.1:{HttpPort}";
    public string Address => $"http://127.0.0.1:{Port}";
    public string OperatorAddress => $"http://127.0.0.1:{OperatorPort}";
    public GrpcChannel Channel => _channel ??= TestKeys.Channel(Address, TestKeys.Admin.Key);
    public Ingestion.IngestionClient Ingestion => new(Channel);
    public Customers.CustomersClient Customers => new(Channel);
    public Programs.ProgramsClient Programs => new(Channel);

    /// <summary>Starts the host (Kestrel on the API and operator ports, the silo) and waits until /readyz says ready.</summary>
    public async Task StartAsync()
    {
        StartServer();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!(await http.GetAsync($"{OperatorAddress}/readyz")).IsSuccessStatusCode)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"The in-process engine on {Address} did not become ready");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>What the engine logged at warning and above (for a failing test's output).</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
        // Not to the console (nobody reads the test host's): warnings and errors are kept for the test's output.
        builder.ConfigureLogging(logging => logging.ClearProviders().AddProvider(new LogCapture(_log)));
        if (_services is not null)
        {
            builder.ConfigureTestServices(_services);
        }
    }

    private sealed class LogCapture(StringBuilder log) : ILoggerProvider, ILogger
    {
        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                lock (log)
                {
                    log.Append(logLevel).Append(": ").AppendLine(formatter(state, exception));
                    if (exception is not null)
                    {
                        log.AppendLine(exception.ToString());
                    }
                }
            }
        }

        public void Dispose()
        {
        }
    }

    public override async ValueTask DisposeAsync()
    {
        _channel?.Dispose();
        await base.DisposeAsync();
    }
}

/// <summary>One in-process engine for the collection; tests use fresh customer ids.</summary>
public sealed class InProcessEngineFixture : IAsyncLifetime
{
    private InProcessEngine? _engine;

    /// <summary>customers:read only.</summary>
    public ApiKeys.Created Reader { get; } = ApiKeys.Create("reader");
    /// <summary>customers:read at 0.5 calls a second, burst 1.</summary>
    public ApiKeys.Created Limited { get; } = ApiKeys.Create("limited");

    public IEngine Server => Engine;
    /// <summary>The JSON routes over cleartext HTTP/1.1.</summary>
    public string HttpAddress => Engine.HttpAddress;
    public string Log => Engine.Log;
    private InProcessEngine Engine => _engine ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        var keys = TestKeys.Settings([(Reader, ["customers:read"], []), (Limited, ["customers:read"], [])], first: 1);
        keys["Loyalty__Auth__Keys__2__RatePerSecond"] = "0.5";
        keys["Loyalty__Auth__Keys__2__Burst"] = "1";
        _engine = new InProcessEngine(keys);
        await _engine.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_engine is not null)
        {
            await _engine.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
[RunsForAbout(60)]
public sealed class InProcessCollection : ICollectionFixture<InProcessEngineFixture>
{
    public const string Name = "engine in process";
}

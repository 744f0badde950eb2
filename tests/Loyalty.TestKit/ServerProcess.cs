using System.Diagnostics;
using System.Globalization;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Loyalty.Contracts.V1;

namespace Loyalty.TestKit;

/// <summary>
/// The real engine host (src/Loyalty.Server, as built) in its own process on loopback ports, serving gRPC over
/// plaintext HTTP/2. The test owns the process: <see cref="KillAsync"/> sends SIGKILL to exactly this PID.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable, IEngine
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private ServerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        Address = $"http://127.0.0.1:{port}";
        Channel = TestKeys.Channel(Address, TestKeys.Admin.Key);
    }

    public int Port { get; }
    public string Address { get; }
    public GrpcChannel Channel { get; }
    public int Pid => _process.Id;
    /// <summary>The operator endpoint: /healthz, /readyz, /metrics.</summary>
    public int OperatorPort { get; init; }
    public string OperatorAddress => $"http://127.0.0.1:{OperatorPort}";
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public Ingestion.IngestionClient Ingestion => new(Channel);
    public Customers.CustomersClient Customers => new(Channel);
    public Programs.ProgramsClient Programs => new(Channel);

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

    public static string ServerDll => Path.Combine(RepoPaths.Root, "src", "Loyalty.Server", "bin", RepoPaths.Configuration, "net10.0", "Loyalty.Server.dll");

    /// <summary>Starts a server; waits until it answers gRPC. Extra settings are passed as Loyalty__ environment variables.</summary>
    public static async Task<ServerProcess> StartAsync(string storageConnectionString, IDictionary<string, string>? settings = null, int? port = null)
    {
        var server = Launch(storageConnectionString, settings, port);
        await server.WaitReadyAsync();
        return server;
    }

    /// <summary>Starts a server without waiting (for tests that expect it to refuse to start).</summary>
    public static ServerProcess Launch(string storageConnectionString, IDictionary<string, string>? settings = null, int? port = null)
    {
        if (!File.Exists(ServerDll))
        {
            throw new InvalidOperationException($"{ServerDll} is missing: build Loyalty.sln first.");
        }
        var apiPort = port ?? FreePorts.Next();
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(ServerDll)!,
        };
        info.ArgumentList.Add(ServerDll);
        var env = new Dictionary<string, string>
        {
            ["Loyalty__Storage__Provider"] = "AzureTable",
            ["Loyalty__Storage__ConnectionString"] = storageConnectionString,
            ["Loyalty__Api__Port"] = apiPort.ToString(CultureInfo.InvariantCulture),
            ["Loyalty__Operator__Port"] = FreePorts.Next().ToString(CultureInfo.InvariantCulture),
            ["Loyalty__Cluster__SiloPort"] = FreePorts.Next().ToString(CultureInfo.InvariantCulture),
            ["Loyalty__Cluster__ClusterId"] = "test-" + Guid.NewGuid().ToString("N")[..8],
            ["Loyalty__ProgramPath"] = RepoPaths.SampleProgram,
            ["DOTNET_gcServer"] = "0",
            // Checkpoints sooner than the 60 s default, so tests that wait for journal truncation wait seconds.
            ["Loyalty__Journal__CheckpointAfter"] = "00:00:05",
        };
        foreach (var (key, value) in TestKeys.Settings([(TestKeys.Admin, ["*"], [])]))
        {
            env[key] = value;
        }
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            env[key.StartsWith("Loyalty__", StringComparison.Ordinal) || key.StartsWith("DOTNET_", StringComparison.Ordinal) || key.StartsWith("Logging__", StringComparison.Ordinal) ? key : "Loyalty__" + key] = value;
        }
        foreach (var (key, value) in env)
        {
            info.Environment[key] = value;
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start dotnet");
        var server = new ServerProcess(process, apiPort) { OperatorPort = int.Parse(env["Loyalty__Operator__Port"], CultureInfo.InvariantCulture) };
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }

    private async Task WaitReadyAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Server exited with {_process.ExitCode}:\n{Log}");
            }
            // The operator port's /readyz (plain HTTP whatever the API's transport): silo active, program loaded, storage answers.
            try
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
                if ((await http.GetAsync($"{OperatorAddress}/readyz")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not listening yet
            }
            await Task.Delay(200);
        }
        await KillAsync();
        throw new InvalidOperationException($"Server did not become ready on {Address}:\n{Log}");
    }

    /// <summary>Waits for the process to exit by itself (e.g. a refused start).</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>SIGTERM: the server shuts down gracefully (stops reading streams, answers what it read, deactivates).</summary>
    public void Terminate()
    {
        if (!_process.HasExited)
        {
            _ = NativeMethods.kill(_process.Id, NativeMethods.SIGTERM);
        }
    }

    /// <summary>Peak and current resident memory of the server process (bytes), from /proc.</summary>
    public (long Peak, long Current) Memory()
    {
        long peak = 0, current = 0;
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = Kilobytes(line) * 1024;
            }
            else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                current = Kilobytes(line) * 1024;
            }
        }
        return (peak, current);

        static long Kilobytes(string line) => long.Parse(line.Split(':')[1].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is flushed.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        Channel.Dispose();
        _process.Dispose();
    }
}

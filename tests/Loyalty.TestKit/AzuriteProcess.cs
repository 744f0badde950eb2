using System.Diagnostics;

namespace Loyalty.TestKit;

/// <summary>
/// A real Azurite table service on 127.0.0.1, started from the pinned copy under deploy/local with telemetry
/// off, storing its data in its own folder. The test that starts it owns it: disposing stops exactly this process.
/// Missing Azurite is a failure, never a skip.
/// </summary>
public sealed class AzuriteProcess : IAsyncDisposable
{
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private readonly Process _process;
    private readonly bool _ownsData;

    private AzuriteProcess(Process process, int port, string dataDir, bool ownsData)
    {
        _process = process;
        Port = port;
        DataDir = dataDir;
        _ownsData = ownsData;
    }

    public int Port { get; }
    public string DataDir { get; }
    public int Pid => _process.Id;

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};TableEndpoint=http://127.0.0.1:{Port}/devstoreaccount1;";

    public static async Task<AzuriteProcess> StartAsync(string? dataDir = null, int? port = null)
    {
        // A port found free can be taken before Azurite binds it (another test process, an outgoing connection's
        // ephemeral port): when the port was ours to choose, choose again.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(dataDir, port);
            }
            catch (InvalidOperationException e) when (port is null && attempt < 5 && e.Message.Contains("EADDRINUSE", StringComparison.Ordinal))
            {
            }
        }
    }

    private static async Task<AzuriteProcess> StartOnceAsync(string? dataDir, int? port)
    {
        var script = Path.Combine(RepoPaths.Root, "deploy", "local", "node_modules", "azurite", "dist", "src", "table", "main.js");
        if (!File.Exists(script))
        {
            throw new InvalidOperationException(
                $"Azurite is not installed ({script} is missing). Run deploy/local/install.sh, or run the tests with deploy/local/test.");
        }
        var ownsData = dataDir is null;
        dataDir ??= Directory.CreateTempSubdirectory("loyalty-azurite-").FullName;
        var tablePort = port ?? FreePorts.Next();
        var info = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            script, "--tableHost", "127.0.0.1", "--tablePort", tablePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // No access log: a line per request costs the emulator (and this process, which keeps its output).
            "--location", dataDir, "--disableTelemetry", "--skipApiVersionCheck", "--silent",
        })
        {
            info.ArgumentList.Add(arg);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start node");
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (output)
            {
                output.AppendLine(e.Data);
            }
            if (e.Data.Contains("successfully", StringComparison.OrdinalIgnoreCase))
            {
                started.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var azurite = new AzuriteProcess(process, tablePort, dataDir, ownsData);
        var done = await Task.WhenAny(started.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(60)));
        if (done != started.Task)
        {
            await azurite.DisposeAsync();
            throw new InvalidOperationException($"Azurite did not start on 127.0.0.1:{tablePort}:\n{output}");
        }
        return azurite;
    }

    /// <summary>SIGINT: Azurite flushes its data and exits (killed, or even on SIGTERM, it loses its last seconds of
    /// writes, since it persists on a timer: it is not a durability reference).</summary>
    public async Task StopGracefullyAsync()
    {
        if (!_process.HasExited)
        {
            _ = NativeMethods.kill(_process.Id, NativeMethods.SIGINT);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        if (_ownsData)
        {
            try
            {
                Directory.Delete(DataDir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

internal static partial class NativeMethods
{
    public const int SIGINT = 2;
    public const int SIGTERM = 15;

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int sig);
}

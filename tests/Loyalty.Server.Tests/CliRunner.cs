using System.Diagnostics;
using Loyalty.TestKit;

namespace Loyalty.Server.Tests;

/// <summary>Runs the built `loyalty` CLI as a process against an engine.</summary>
internal static class CliRunner
{
    private static string CliDll => Path.Combine(RepoPaths.Root, "src", "Loyalty.Cli", "bin", RepoPaths.Configuration, "net10.0", "loyalty.dll");

    public static async Task<(int Exit, string Out, string Err)> RunAsync(string server, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(CliDll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        info.Environment["LOYALTY_SERVER"] = server;
        info.Environment["LOYALTY_API_KEY"] = TestKeys.Admin.Key;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // Every CLI command the tests run ends within seconds; one still running after two minutes hangs, and the test
        // fails saying so instead of waiting for good.
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"loyalty {string.Join(' ', args)} did not end within 2 minutes");
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}

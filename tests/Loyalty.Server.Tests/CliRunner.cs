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
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }
}

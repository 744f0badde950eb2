using System.Diagnostics;

namespace Loyalty.TestKit;

/// <summary>Debian's Chromium, headless, for page tests: background networking off, and a proxy that goes nowhere
/// for anything but loopback (which Chromium never proxies), so a page test cannot reach off this machine.</summary>
public static class Chromium
{
    public static string Path => Environment.GetEnvironmentVariable("CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    /// <summary>Runs Chromium once on <paramref name="url"/> with the given action (<c>--dump-dom</c>,
    /// <c>--screenshot=FILE</c>) and returns what it printed. The process is this call's own and is killed by id on timeout.</summary>
    public static async Task<string> RunAsync(string url, string action, TimeSpan? timeout = null)
    {
        if (!File.Exists(Path))
        {
            throw new InvalidOperationException($"Chromium is not installed at {Path}: apt-get install chromium (deploy/local/test does it when run as root), or set CHROMIUM.");
        }
        var profile = Directory.CreateTempSubdirectory("loyalty-chromium-");
        var info = new ProcessStartInfo(Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-domain-reliability",
            "--disable-features=MediaRouter,OptimizationHints", "--proxy-server=127.0.0.1:9", "--hide-scrollbars",
            "--window-size=1280,800", "--virtual-time-budget=8000", $"--user-data-dir={profile.FullName}", action, url,
        })
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start chromium");
        var output = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"chromium did not finish with {url}");
        }
        finally
        {
            try
            {
                profile.Delete(recursive: true);
            }
            catch (IOException)
            {
            }
        }
        return await output;
    }
}

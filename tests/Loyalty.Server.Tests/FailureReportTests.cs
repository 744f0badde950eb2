using System.Diagnostics;
using Loyalty.TestKit;

namespace Loyalty.Server.Tests;

/// <summary>deploy/local/failures.js, which ends a test run's output with each failed test and why (a CI log is read
/// from its end). It once printed nothing: a passed test's self-closing result swallowed the failed one after it.</summary>
[Trait("Needs", "Process")]
public sealed class FailureReportTests
{
    [Fact]
    public async Task Each_failed_test_is_printed_with_its_message_and_stack_whatever_results_come_before_it()
    {
        var trx = Path.Combine(Path.GetTempPath(), $"loyalty-failures-{Guid.NewGuid():N}.trx");
        await File.WriteAllTextAsync(trx, """
            <?xml version="1.0" encoding="utf-8"?>
            <TestRun><Results>
            <UnitTestResult testName="Quiet.Passed" outcome="Passed" duration="00:00:00.01" />
            <UnitTestResult testName="Noisy.Passed" outcome="Passed"><Output><StdOut>hello</StdOut></Output></UnitTestResult>
            <UnitTestResult testName="Quiet.Passed2" outcome="Passed" />
            <UnitTestResult testName="Chaos.Failed" outcome="Failed"><Output><ErrorInfo><Message>Expected [4, 5, 7] &lt;got&gt; [7, 4, 5]</Message><StackTrace>at Chaos.Verify() in Chaos.cs:line 81</StackTrace></ErrorInfo></Output></UnitTestResult>
            <UnitTestResult testName="Last.Passed" outcome="Passed" />
            </Results></TestRun>
            """);
        try
        {
            var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            info.ArgumentList.Add(Path.Combine(RepoPaths.Root, "deploy", "local", "failures.js"));
            info.ArgumentList.Add(trx);
            using var node = Process.Start(info)!;
            var stdout = await node.StandardOutput.ReadToEndAsync();
            await node.WaitForExitAsync();
            Assert.Contains("- Chaos.Failed\n  Expected [4, 5, 7] <got> [7, 4, 5]\n  at Chaos.Verify() in Chaos.cs:line 81", stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("Passed", stdout, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(trx);
        }
    }
}

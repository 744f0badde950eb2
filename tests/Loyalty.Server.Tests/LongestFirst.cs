using System.Reflection;
using Xunit.Abstractions;

[assembly: TestCollectionOrderer("Loyalty.Server.Tests.LongestFirst", "Loyalty.Server.Tests")]
// One collection more than this machine's 2 cores: many collections spend much of their time waiting (on a storage
// outage's timeout, a restarted process, a browser), and a third keeps the cores busy meanwhile.
[assembly: CollectionBehavior(MaxParallelThreads = 3)]

namespace Loyalty.Server.Tests;

/// <summary>About how long a test collection (a class, or a collection definition) runs on this 2-core machine.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RunsForAboutAttribute(int seconds) : Attribute
{
    public int Seconds { get; } = seconds;
}

/// <summary>
/// Starts the longest test collections first. xUnit runs as many collections at once as there are cores, taking them
/// in this order: started last, a long one (the cluster chaos run) ran on alone while the other core sat idle.
/// </summary>
public sealed class LongestFirst : ITestCollectionOrderer
{
    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections.OrderByDescending(Seconds).ThenBy(c => c.DisplayName, StringComparer.Ordinal);

    private static int Seconds(ITestCollection collection)
    {
        // A named collection is described by its definition class; an implicit one is the test class itself.
        var type = collection.CollectionDefinition?.ToRuntimeType()
            ?? typeof(LongestFirst).Assembly.GetType(collection.DisplayName.Replace("Test collection for ", "", StringComparison.Ordinal));
        return type?.GetCustomAttribute<RunsForAboutAttribute>()?.Seconds ?? 0;
    }
}

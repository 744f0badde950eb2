namespace Loyalty.TestKit;

public static class RepoPaths
{
    /// <summary>The checkout root (the folder holding Loyalty.sln), found from the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>Debug or Release, as the running tests were built.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string SampleProgram => Path.Combine(Root, "src", "Loyalty.Server", "programs", "sample.json");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Loyalty.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Cannot find Loyalty.sln above " + AppContext.BaseDirectory);
    }
}

using System.Text.RegularExpressions;
using Loyalty.TestKit;

namespace Loyalty.Server.Tests;

/// <summary>The README stays a short entry point, and every link in it and in docs/ leads somewhere.</summary>
public sealed partial class DocumentationTests
{
    private static IEnumerable<string> Pages() =>
        Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "docs"), "*.md").Prepend(Path.Combine(RepoPaths.Root, "README.md"));

    [Fact]
    public void The_readme_is_under_12_kb()
    {
        var bytes = new FileInfo(Path.Combine(RepoPaths.Root, "README.md")).Length;
        Assert.True(bytes < 12 * 1024, $"README.md is {bytes} bytes");
    }

    /// <summary>Relative links must name an existing file, and an anchor a heading of that page. (Links off this
    /// machine cannot be followed here: they must at least be https URLs.)</summary>
    [Fact]
    public void Every_link_in_the_readme_and_docs_resolves()
    {
        var broken = new List<string>();
        var checkedLinks = 0;
        foreach (var page in Pages())
        {
            var text = File.ReadAllText(page);
            // Links in code blocks are examples, not links.
            var prose = CodeBlock().Replace(text, "");
            foreach (Match link in Link().Matches(prose))
            {
                var target = link.Groups["target"].Value.Split(' ')[0];
                checkedLinks++;
                if (target.StartsWith("http://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
                {
                    broken.Add($"{Path.GetFileName(page)}: {target} (not https)");
                    continue;
                }
                if (target.StartsWith("https://", StringComparison.Ordinal))
                {
                    continue;
                }
                var hash = target.IndexOf('#', StringComparison.Ordinal);
                var file = hash >= 0 ? target[..hash] : target;
                var anchor = hash >= 0 ? target[(hash + 1)..] : null;
                var path = file.Length == 0 ? page : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page)!, Uri.UnescapeDataString(file)));
                if (!File.Exists(path) && !Directory.Exists(path))
                {
                    broken.Add($"{Path.GetFileName(page)}: {target} (no such file)");
                    continue;
                }
                if (anchor is not null && !Anchors(path).Contains(anchor))
                {
                    broken.Add($"{Path.GetFileName(page)}: {target} (no such heading)");
                }
            }
        }
        Assert.True(checkedLinks > 20, $"only {checkedLinks} links found");
        Assert.Empty(broken);
    }

    /// <summary>GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.</summary>
    private static HashSet<string> Anchors(string markdown) =>
        Heading().Matches(CodeBlock().Replace(File.ReadAllText(markdown), ""))
            .Select(m => NotInSlug().Replace(m.Groups["title"].Value.Trim().ToLowerInvariant(), "").Replace(' ', '-'))
            .ToHashSet(StringComparer.Ordinal);

    [GeneratedRegex(@"\[[^\]]*\]\((?<target>[^)\s]+(?: ""[^""]*"")?)\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"(?ms)^```.*?^```")]
    private static partial Regex CodeBlock();

    [GeneratedRegex(@"(?m)^#{1,6} (?<title>.+)$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"[^a-z0-9 _-]")]
    private static partial Regex NotInSlug();
}

using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Tests;

public class ProgramLoaderTests
{
    /// <summary>The sample with one piece of text replaced; fails loudly if the sample no longer has that text.</summary>
    private static string SampleWith(string find, string replace)
    {
        Assert.Contains(find, Sample.Json, StringComparison.Ordinal);
        return Sample.Json.Replace(find, replace, StringComparison.Ordinal);
    }

    private static ProgramError SingleError(string json)
    {
        var e = Assert.Throws<ProgramValidationException>(() => ProgramLoader.Parse(json, "test.json"));
        Assert.Contains("test.json", e.Message, StringComparison.Ordinal);
        return Assert.Single(e.Errors);
    }

    [Fact]
    public void Sample_program_loads_with_its_rules()
    {
        var program = ProgramLoader.Parse(Sample.Json);

        Assert.Equal("acme-rewards", program.Definition.Id);
        Assert.Equal("EUR", program.Definition.Currency);
        Assert.Equal("Europe/Berlin", program.Definition.TimeZone);
        Assert.Equal(2m, program.CategoryMultiplier("baby"));
        Assert.Equal(1.5m, program.CategoryMultiplier("sports"));
        Assert.Equal(0m, program.CategoryMultiplier("gift-cards"));
        Assert.Equal(1m, program.CategoryMultiplier("books"));
        Assert.Equal(["Bronze", "Silver", "Gold", "Platinum"], program.Tiers.Select(t => t.Name));
        Assert.Equal([1, 3, 10], program.RankBonuses.Select(b => b.MaxRank));
        Assert.Equal(Sample.Json, program.DefinitionJson);
    }

    [Fact]
    public void LoadFile_reads_the_sample_from_disk()
    {
        var program = ProgramLoader.LoadFile(Sample.Path);

        Assert.Equal("ACME Rewards", program.Definition.Name);
        Assert.Equal(ProgramLoader.VersionOf(File.ReadAllText(Sample.Path)), program.Version);
        Assert.Equal(8, program.Definition.Rules.Count);
    }

    [Fact]
    public void LoadFile_of_a_missing_file_names_the_file()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "programs", "no-such-program.json");

        var e = Assert.Throws<ProgramValidationException>(() => ProgramLoader.LoadFile(path));

        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Equal("$", Assert.Single(e.Errors).Path);
        Assert.Contains("cannot read", e.Errors[0].Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Version_is_stable_for_the_same_text_and_differs_for_different_text()
    {
        var first = ProgramLoader.Parse(Sample.Json);
        var again = ProgramLoader.Parse(new string(Sample.Json.AsSpan()));
        // A change that means nothing to the rules is still a different definition.
        var edited = ProgramLoader.Parse(Sample.Json + "\n");

        Assert.Equal(first.Version, again.Version);
        Assert.NotEqual(first.Version, edited.Version);
        Assert.Equal(12, first.Version.Length);
        Assert.All(first.Version, c => Assert.True(char.IsAsciiHexDigitLower(c) || char.IsAsciiDigit(c)));
    }

    [Fact]
    public void Unknown_property_is_reported_at_its_path()
    {
        var error = SingleError(SampleWith("\"pointsPerMinute\": 1,", "\"pointsPerMinute\": 1, \"pointsPerHour\": 60,"));

        Assert.Equal("$.earning.gameSession.pointsPerHour", error.Path);
        Assert.Contains("'pointsPerHour'", error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_type_is_reported_at_its_path()
    {
        var error = SingleError(SampleWith("\"pointsPerMinute\": 1,", "\"pointsPerMinute\": \"one\","));

        Assert.Equal("$.earning.gameSession.pointsPerMinute", error.Path);
        Assert.Contains("could not be converted", error.Problem, StringComparison.Ordinal);
        Assert.DoesNotContain(" Path:", error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_required_field_is_named()
    {
        var error = SingleError(SampleWith("\"currency\": \"EUR\",", ""));

        Assert.Equal("$", error.Path);
        Assert.Contains("'currency'", error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Null_document_is_refused()
    {
        Assert.Equal("$", SingleError("null").Path);
    }

    [Theory]
    [InlineData("eur")]
    [InlineData("EURO")]
    [InlineData("E1R")]
    [InlineData("")]
    public void Currency_must_be_three_upper_case_letters(string currency)
    {
        var error = SingleError(SampleWith("\"currency\": \"EUR\"", $"\"currency\": \"{currency}\""));

        Assert.Equal("$.currency", error.Path);
        Assert.Contains("ISO 4217", error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_time_zone_is_refused()
    {
        var error = SingleError(SampleWith("\"Europe/Berlin\"", "\"Europe/Atlantis\""));

        Assert.Equal("$.timeZone", error.Path);
        Assert.Contains("Europe/Atlantis", error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Tiers_must_ascend_by_qualifying_points()
    {
        var error = SingleError(SampleWith("\"qualifyingPoints\": 5000", "\"qualifyingPoints\": 1000"));

        Assert.Equal("$.tiers.levels[2].qualifyingPoints", error.Path);
        Assert.Contains("(1000)", error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void First_tier_must_need_zero_points()
    {
        var error = SingleError(SampleWith("\"name\": \"Bronze\", \"qualifyingPoints\": 0", "\"name\": \"Bronze\", \"qualifyingPoints\": 10"));

        Assert.Equal("$.tiers.levels[0].qualifyingPoints", error.Path);
    }

    [Fact]
    public void Duplicate_tier_names_are_refused()
    {
        var error = SingleError(SampleWith("\"name\": \"Gold\"", "\"name\": \"Silver\""));

        Assert.Equal("$.tiers.levels", error.Path);
        Assert.Contains("'Silver'", error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void At_least_one_tier_is_required()
    {
        var json = """
            { "id": "p", "name": "P", "currency": "EUR", "earning": {}, "tiers": { "levels": [] } }
            """;

        Assert.Equal("$.tiers.levels", SingleError(json).Path);
    }

    [Fact]
    public void Negative_category_multiplier_is_refused()
    {
        var error = SingleError(SampleWith("\"baby\": 2,", "\"baby\": -2,"));

        Assert.Equal("$.earning.purchase.categoryMultipliers['baby']", error.Path);
    }

    [Fact]
    public void Negative_tier_multiplier_is_refused()
    {
        var error = SingleError(SampleWith("\"earnMultiplier\": 1.25", "\"earnMultiplier\": -1.25"));

        Assert.Equal("$.tiers.levels[1].earnMultiplier", error.Path);
    }

    [Fact]
    public void Categories_differing_only_in_case_are_refused()
    {
        var error = SingleError(SampleWith("\"baby\": 2,", "\"baby\": 2, \"Baby\": 3,"));

        Assert.Equal("$.earning.purchase.categoryMultipliers", error.Path);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var json = SampleWith("\"currency\": \"EUR\"", "\"currency\": \"eur\"").Replace("\"resolvedByBot\": 10", "\"resolvedByBot\": -10", StringComparison.Ordinal);

        var e = Assert.Throws<ProgramValidationException>(() => ProgramLoader.Parse(json));

        Assert.Equal(["$.currency", "$.earning.support.resolvedByBot"], e.Errors.Select(x => x.Path));
    }

    [Fact]
    public void Null_tier_level_is_refused_with_its_path()
    {
        var error = SingleError(SampleWith("{ \"name\": \"Gold\", \"qualifyingPoints\": 5000, \"earnMultiplier\": 1.5 },", "null,"));

        Assert.Equal("$.tiers.levels[2]", error.Path);
    }

    [Fact]
    public void Null_rank_bonus_is_refused_with_its_path()
    {
        var error = SingleError(SampleWith("{ \"maxRank\": 3, \"points\": 20 },", "null,"));

        Assert.Equal("$.earning.matchResult.rankBonuses[1]", error.Path);
    }
}

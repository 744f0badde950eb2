using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Tests.Rules;

public sealed class ConditionEdgeTests
{
    private static ProgramError OnlyError(string condition)
    {
        var rules = $$"""[ { "id": "r", "when": ["any"], "if": {{condition}}, "then": [ { "addPoints": 1 } ] } ]""";
        var e = Assert.Throws<ProgramValidationException>(() => RuleKit.Program(rules));
        return Assert.Single(e.Errors);
    }

    [Fact]
    public void A_condition_name_with_odd_characters_is_reported_whole_at_its_path()
    {
        var error = OnlyError("""{ "all": [ { "a@@b": 1 } ] }""");
        Assert.Equal("$.rules[0].if.all[0].a@@b", error.Path);
        Assert.StartsWith("unknown condition 'a@@b'", error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void An_hour_range_that_can_never_hold_is_refused()
    {
        var error = OnlyError("""{ "hourBetween": { "from": 9, "to": 9 } }""");
        Assert.Equal("$.rules[0].if.hourBetween.to", error.Path);
    }
}

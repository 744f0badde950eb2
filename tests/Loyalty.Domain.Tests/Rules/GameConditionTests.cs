using Loyalty.Domain.Events;
using static Loyalty.Domain.Tests.Pay;
using static Loyalty.Domain.Tests.Rules.RuleKit;

namespace Loyalty.Domain.Tests.Rules;

/// <summary>Game conditions: on the session, match or achievement being evaluated, and minutes played in a window.</summary>
public class GameConditionTests
{
    public static TheoryData<EventPayload, bool> GameIds => new()
    {
        { Game(600, 1, "chess"), true },
        { Game(600, 1, "go"), true },
        { Game(600, 1, "poker"), false },
        { Game(600, 1, "Chess"), false },  // game ids are exact
        { Match(1, 2, gameId: "go"), true },
        { Match(1, 2, gameId: "poker"), false },
        { Achieved("marathon", "chess"), true },
        { Achieved("marathon", "poker"), false },
        { Buy("o-1", Line("chess-set", "chess", 1, 100)), false },
    };

    [Theory]
    [MemberData(nameof(GameIds))]
    public void GameIdIn_holds_for_sessions_matches_and_achievements_in_a_listed_game(EventPayload payload, bool fires)
    {
        Assert.Equal(fires, CustomerWhen("""{ "gameIdIn": ["chess", "go"] }""").Fires(payload));
    }

    [Theory]
    [InlineData(600, true)]    // 10 whole minutes
    [InlineData(659, true)]    // still 10
    [InlineData(599, false)]   // 9 whole minutes
    public void MinutesAtLeast_counts_whole_minutes_of_the_session(int seconds, bool fires)
    {
        Assert.Equal(fires, CustomerWhen("""{ "minutesAtLeast": 10 }""").Fires(Game(seconds, 1)));
    }

    [Theory]
    [InlineData(3, true)]
    [InlineData(10, true)]
    [InlineData(2, false)]
    public void DifficultyAtLeast_compares_the_sessions_difficulty(int difficulty, bool fires)
    {
        Assert.Equal(fires, CustomerWhen("""{ "difficultyAtLeast": 3 }""").Fires(Game(60, difficulty)));
    }

    [Theory]
    [InlineData(1000, true)]
    [InlineData(999, false)]
    public void ScoreAtLeast_compares_the_sessions_score(long score, bool fires)
    {
        Assert.Equal(fires, CustomerWhen("""{ "scoreAtLeast": 1000 }""").Fires(Game(60, 1, score: score)));
    }

    [Fact]
    public void Session_conditions_do_not_hold_for_a_match()
    {
        // A match has no minutes, difficulty or score: none of them can hold, even at their lowest.
        Assert.False(CustomerWhen("""{ "minutesAtLeast": 0 }""").Fires(Match(1, 2)));
        Assert.False(CustomerWhen("""{ "difficultyAtLeast": 1 }""").Fires(Match(1, 2)));
        Assert.False(CustomerWhen("""{ "scoreAtLeast": 0 }""").Fires(Match(1, 2)));
    }

    [Theory]
    [InlineData(1, 10, true)]
    [InlineData(3, 10, true)]
    [InlineData(4, 10, false)]
    public void RankAtMost_holds_for_a_finish_at_or_above_the_rank(int rank, int participants, bool fires)
    {
        Assert.Equal(fires, CustomerWhen("""{ "rankAtMost": 3 }""").Fires(Match(rank, participants)));
    }

    [Theory]
    [InlineData(10, 100, true)]   // 10 / 100 = 0.1
    [InlineData(11, 100, false)]  // 0.11
    [InlineData(1, 5, false)]     // first of five is the top 0.2
    [InlineData(1, 10, true)]     // 0.1
    public void TopFractionAtMost_compares_rank_over_participants(int rank, int participants, bool fires)
    {
        Assert.Equal(fires, CustomerWhen("""{ "topFractionAtMost": 0.1 }""").Fires(Match(rank, participants)));
    }

    [Fact]
    public void Match_conditions_do_not_hold_for_a_session()
    {
        Assert.False(CustomerWhen("""{ "rankAtMost": 1000 }""").Fires(Game(600, 1)));
        Assert.False(CustomerWhen("""{ "topFractionAtMost": 1 }""").Fires(Game(600, 1)));
    }

    [Theory]
    [InlineData("marathon", true)]
    [InlineData("speedrun", true)]
    [InlineData("first-win", false)]
    public void AchievementIn_holds_for_a_listed_achievement(string achievement, bool fires)
    {
        Assert.Equal(fires, CustomerWhen("""{ "achievementIn": ["marathon", "speedrun"] }""").Fires(Achieved(achievement)));
    }

    [Theory]
    // 40 minutes 8 days ago, then two sessions of 30 minutes today.
    [InlineData(7, false, true)]   // the old session is out of 7 days: 30, then 60
    [InlineData(30, true, true)]   // 40 + 30 = 70 already on the first
    public void GameMinutesAtLeast_sums_the_minutes_played_in_the_last_n_days(int days, bool firstFires, bool secondFires)
    {
        var customer = CustomerWhen($$"""{ "gameMinutesAtLeast": { "minutes": 60, "days": {{days}} } }""");
        Assert.False(customer.Fires(Game(40 * 60, 1)));   // 40 < 60
        customer.Clock.Advance(TimeSpan.FromDays(8));

        Assert.Equal(firstFires, customer.Fires(Game(30 * 60 + 59, 2)));  // 30 whole minutes; difficulty does not matter
        Assert.Equal(secondFires, customer.Fires(Game(30 * 60, 1)));
    }

    [Fact]
    public void GameMinutesAtLeast_is_about_the_customer_so_it_holds_on_any_event()
    {
        var customer = CustomerWhen("""{ "gameMinutesAtLeast": { "minutes": 60, "days": 1 } }""");
        Assert.False(customer.Fires(Game(59 * 60, 1)));
        Assert.False(customer.Fires(Buy("o-1", Line("x", "books", 1, 100))));  // still 59

        Assert.True(customer.Fires(Game(60, 1)));                              // 59 + 1
        Assert.True(customer.Fires(Buy("o-2", Line("x", "books", 1, 100))));
    }
}

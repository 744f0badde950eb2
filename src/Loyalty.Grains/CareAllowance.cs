namespace Loyalty.Grains;

/// <summary>
/// What support agents (customers:care without customers:admin) may do in total in one UTC day, counted per agent and
/// per customer across the cluster. Each subject (an agent, or a customer by pseudonym) is one grain; each action is
/// counted once by its key (a retried adjustment is not counted twice), and an action that did not happen is given back.
/// </summary>
public interface ICareAllowanceGrain : IGrainWithStringKey
{
    /// <summary>Counts the action against today's allowance and returns null, or returns which limit it would pass
    /// (counting nothing). An action already counted today is admitted again without counting.</summary>
    Task<string?> Take(DateOnly day, string actionKey, long points, int grants, CareLimit limit);

    /// <summary>Gives an action back (it was refused or failed after it was counted).</summary>
    Task GiveBack(DateOnly day, string actionKey);

    Task<CareUsage> Usage(DateOnly day);
}

/// <summary>A subject's daily limits: total points adjusted (either sign), goodwill grants and actions; each names its
/// setting so refusals can say which limit was reached.</summary>
[GenerateSerializer, Immutable, Alias("loyalty.CareLimit")]
public sealed record CareLimit(
    [property: Id(0)] string Subject,
    [property: Id(1)] long Points, [property: Id(2)] string PointsSetting,
    [property: Id(3)] int Grants, [property: Id(4)] string GrantsSetting,
    [property: Id(5)] int Actions, [property: Id(6)] string ActionsSetting);

[GenerateSerializer, Immutable, Alias("loyalty.CareUsage")]
public sealed record CareUsage([property: Id(0)] long Points, [property: Id(1)] int Grants, [property: Id(2)] int Actions);

public sealed class CareAllowanceState
{
    public DateOnly Day { get; set; }
    public long Points { get; set; }
    public int Grants { get; set; }
    /// <summary>Actions counted today: key -> (points, grants). Bounded by the actions limit.</summary>
    public Dictionary<string, long[]> Actions { get; set; } = [];
}

[GrainType("care-allowance")]
public sealed class CareAllowanceGrain([PersistentState("care", CustomerGrain.StorageName)] IPersistentState<CareAllowanceState> state)
    : Grain, ICareAllowanceGrain
{
    private CareAllowanceState Today(DateOnly day)
    {
        if (state.State.Day != day)
        {
            state.State = new CareAllowanceState { Day = day };
        }
        return state.State;
    }

    public async Task<string?> Take(DateOnly day, string actionKey, long points, int grants, CareLimit limit)
    {
        if (day < state.State.Day)
        {
            return null;   // a call from a silo whose clock is behind: today's allowance is what counts
        }
        var today = Today(day);
        if (today.Actions.ContainsKey(actionKey))
        {
            return null;
        }
        points = Math.Abs(points);
        if (today.Actions.Count + 1 > limit.Actions)
        {
            return $"{limit.Subject} has made {today.Actions.Count} care actions today (UTC), the most {limit.ActionsSetting} allows";
        }
        if (points > 0 && today.Points + points > limit.Points)
        {
            return $"{limit.Subject} has adjusted {today.Points} of {limit.Points} points today (UTC) ({limit.PointsSetting}); {points} more would pass it";
        }
        if (grants > 0 && today.Grants + grants > limit.Grants)
        {
            return $"{limit.Subject} has had {today.Grants} goodwill grants today (UTC), the most {limit.GrantsSetting} allows";
        }
        today.Actions[actionKey] = [points, grants];
        today.Points += points;
        today.Grants += grants;
        await Write(() =>
        {
            today.Actions.Remove(actionKey);
            today.Points -= points;
            today.Grants -= grants;
        });
        return null;
    }

    public async Task GiveBack(DateOnly day, string actionKey)
    {
        if (state.State.Day != day || !state.State.Actions.Remove(actionKey, out var taken))
        {
            return;
        }
        state.State.Points -= taken[0];
        state.State.Grants -= (int)taken[1];
        await Write(() =>
        {
            state.State.Actions[actionKey] = taken;
            state.State.Points += taken[0];
            state.State.Grants += (int)taken[1];
        });
    }

    public Task<CareUsage> Usage(DateOnly day) =>
        Task.FromResult(state.State.Day == day ? new CareUsage(state.State.Points, state.State.Grants, state.State.Actions.Count) : new CareUsage(0, 0, 0));

    /// <summary>Stored before the caller is answered: a crash never forgets what was counted.</summary>
    private async Task Write(Action undo)
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            undo();
            DeactivateOnIdle();   // the stored etag may have moved: start again from storage
            throw;
        }
    }
}

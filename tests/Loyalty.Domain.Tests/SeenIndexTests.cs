using Loyalty.Domain.Customers;

namespace Loyalty.Domain.Tests;

public class SeenIndexTests
{
    [Fact]
    public void Finds_exactly_the_remembered_ids_through_appends_growth_trims_and_replacement()
    {
        var random = new Random(17);
        var state = new CustomerState();
        var model = new Dictionary<string, SeenEvent>(StringComparer.Ordinal);
        var next = 0;
        for (var step = 0; step < 6_000; step++)
        {
            switch (random.Next(20))
            {
                case 0:
                    // Forget a random share (the window's sweep): positions move, the index is built again in place.
                    var cut = random.Next(next + 1);
                    state.RemoveSeenWhere(s => s.OccurredTicks < cut);
                    foreach (var gone in model.Where(p => p.Value.OccurredTicks < cut).Select(p => p.Key).ToList())
                    {
                        model.Remove(gone);
                    }
                    break;
                case 1 when state.Seen.Count > 0:
                    // Forget the older half by instant, in place (the count bound's cut).
                    var floor = state.Seen.Select(s => s.OccurredTicks).Order().ElementAt(state.Seen.Count / 2);
                    state.RemoveSeenWhere(s => s.OccurredTicks <= floor);
                    model = state.Seen.ToDictionary(s => s.EventId, StringComparer.Ordinal);
                    break;
                default:
                    var id = random.Next(3) == 0 ? "évt-" + next : "e" + next;   // short plain ids and hashed keys alike
                    var seen = SeenEvent.Of(id, next, random.Next(1_000));
                    state.AddSeen(seen);
                    model[seen.EventId] = seen;
                    next++;
                    break;
            }
            // Look up known, forgotten and never-seen ids, sometimes before the index exists or after it went stale.
            for (var probe = 0; probe < 3; probe++)
            {
                var n = random.Next(next + 5);
                foreach (var id in new[] { "e" + n, "évt-" + n })
                {
                    var expected = model.TryGetValue(SeenEvent.KeyOf(id), out var found) ? found : (SeenEvent?)null;
                    Assert.Equal(expected, state.FindSeen(id));
                }
            }
        }
        Assert.Equal(model.Count, state.Seen.Count);
        Assert.All(state.Seen.Where(s => s.EventId[0] != '#'), s => Assert.Equal(s, state.FindSeen(s.EventId))); // hashed keys are looked up by their id
    }

    [Fact]
    public void A_snapshot_keeps_finding_its_own_ids_while_the_live_state_moves_on()
    {
        var state = new CustomerState();
        for (var i = 0; i < 100; i++)
        {
            state.AddSeen(SeenEvent.Of("e" + i, i, i));
        }
        Assert.NotNull(state.FindSeen("e5"));
        var snapshot = state.Snapshot();
        state.RemoveSeenWhere(s => s.OccurredTicks < 50);
        state.AddSeen(SeenEvent.Of("late", 200, 1));
        Assert.Null(state.FindSeen("e5"));
        Assert.Equal(5, snapshot.FindSeen("e5")!.Value.PointsDelta);
        Assert.Null(snapshot.FindSeen("late"));
        Assert.Equal(1, state.FindSeen("late")!.Value.PointsDelta);
    }
}

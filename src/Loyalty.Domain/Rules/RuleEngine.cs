using System.Security.Cryptography;
using System.Text;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;

namespace Loyalty.Domain.Rules;

/// <summary>What the program's rules did for one event.</summary>
public sealed record RuleOutcome(long Points, IReadOnlyList<GrantedReward> Rewards, IReadOnlyList<HeldPerk> Perks, IReadOnlyList<string> FiredRules)
{
    public static RuleOutcome None { get; } = new(0, [], [], []);

    /// <summary>Points per fired rule (non-zero only), for the ledger.</summary>
    public IReadOnlyList<(string RuleId, long Points)> PointsByRule { get; init; } = [];

    /// <summary>Rules whose conditions held but which did not fire, and why (e.g. a spent campaign budget).</summary>
    public IReadOnlyList<RuleDecline> Declined { get; init; } = [];
}

public sealed record RuleDecline(string RuleId, string Reason);

/// <summary>Decides whether a rule with a campaign budget may fire now; consumes its share when it may.</summary>
public interface IBudgetGate
{
    bool TryConsume(RuleDefinition rule, int grants, long points);
}

/// <summary>Every budget has room: for simulations and for code that enforces budgets elsewhere.</summary>
public sealed class UnlimitedBudget : IBudgetGate
{
    public static UnlimitedBudget Instance { get; } = new();

    public bool TryConsume(RuleDefinition rule, int grants, long points) => true;
}

/// <summary>
/// Evaluates every rule that listens to the event's kind, in program order, against the customer as the event left
/// them, and applies the effects of those that hold and are within their limits. Pure and deterministic: reward
/// codes are an HMAC of customer, event, rule and reward under a server secret.
/// </summary>
public static class RuleEngine
{
    private const string CodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // Crockford base32: no I, L, O, U

    public static RuleOutcome Apply(CustomerState state, LoyaltyEvent e, ActiveProgram program, DateTimeOffset now, EngineLimits limits, long basePoints,
        IBudgetGate? budgets = null)
    {
        if (e.Payload is null || !program.RulesByKind.TryGetValue(e.Payload.Kind, out var rules) || rules.IsEmpty)
        {
            return RuleOutcome.None;
        }
        var context = new RuleContext(state, e, program, now, basePoints);
        long points = 0;
        List<GrantedReward>? rewards = null;
        List<HeldPerk>? perks = null;
        List<string>? fired = null;
        List<RuleDecline>? declined = null;
        List<(string RuleId, long Points)>? byRule = null;
        foreach (var rule in rules)
        {
            if (!WithinLimits(rule, state, context) || rule.If is { } condition && !condition.Holds(context))
            {
                continue;
            }
            if (rule.Limits.Budget is { } budget && !BudgetAllows(rule, context, budgets))
            {
                (declined ??= []).Add(new RuleDecline(rule.Id, BudgetSpent(budget)));
                continue;
            }
            (fired ??= []).Add(rule.Id);
            RecordFiring(rule, state, e, now, limits);
            var pointsBefore = points;
            foreach (var effect in rule.Then)
            {
                points += Points(effect, context);
                if (effect.GrantReward is { } rewardId)
                {
                    Grant(program.Rewards[rewardId], amount: null, rule, context, limits, ref rewards, ref perks);
                }
                if (effect.GrantCurrencyPerMinuteTimesDifficulty is { } scaled)
                {
                    var amount = ScaledAmount(scaled, e);
                    if (amount > 0)
                    {
                        Grant(program.Rewards[scaled.Reward], amount, rule, context, limits, ref rewards, ref perks);
                    }
                }
                if (effect.GrantPerk is { } perk)
                {
                    (perks ??= []).Add(HoldPerk(state, perk.Perk, perk.Days, rule.Id, now));
                }
            }
            if (points != pointsBefore)
            {
                (byRule ??= []).Add((rule.Id, points - pointsBefore));
            }
        }
        if (fired is not null && state.Firings.Count > 0)
        {
            ForgetRetiredFirings(state, program);
        }
        if (fired is null && declined is null)
        {
            return RuleOutcome.None;
        }
        // The grants leave in an array of their exact size (the list they were collected in is this thread's scratch).
        // Lists nothing was added to answer the shared empty array: `list ?? []` would make a new empty list of each.
        return new RuleOutcome(points, rewards is null ? [] : rewards.ToArray(), perks ?? (IReadOnlyList<HeldPerk>)Array.Empty<HeldPerk>(),
            fired ?? (IReadOnlyList<string>)Array.Empty<string>())
        {
            Declined = declined ?? (IReadOnlyList<RuleDecline>)Array.Empty<RuleDecline>(),
            PointsByRule = byRule ?? (IReadOnlyList<(string, long)>)Array.Empty<(string, long)>(),
        };
    }

    /// <summary>Where one apply collects its grants, emptied and reused by the next on this thread: a list of these
    /// ~170-byte structs grown one grant at a time was the largest garbage of a rule apply.</summary>
    [ThreadStatic] private static List<GrantedReward>? t_grants;

    private static List<GrantedReward> GrantScratch()
    {
        var grants = t_grants ??= new List<GrantedReward>(8);
        grants.Clear();
        return grants;
    }

    // The helpers below hold the lambdas that capture parameters: a closure over a parameter is allocated on entry to
    // its method, and Apply runs for every event.

    /// <summary>Whether the rule's campaign budget lets it fire now (consuming its share when it does).</summary>
    private static bool BudgetAllows(RuleDefinition rule, RuleContext context, IBudgetGate? budgets)
    {
        var (state, e, program, now) = (context.State, context.Event, context.Program, context.Now);
        // Only grants that will really be made draw on the budget (a scaled amount of 0 or a reward at its
        // own cap grants nothing); a rule that grants no rewards at all (points, perks) counts one per firing.
        var grantsReward = rule.Then.Any(t => t.GrantReward is not null || t.GrantCurrencyPerMinuteTimesDifficulty is not null);
        var grants = !grantsReward ? 1 : rule.Then.Count(t =>
            t.GrantReward is { } id && program.Rewards.TryGetValue(id, out var r) && Allowed(state, RewardKey(r), r.MaxPerCustomer, r.PeriodDays, null, now)
            || t.GrantCurrencyPerMinuteTimesDifficulty is { } scaled && ScaledAmount(scaled, e) > 0);
        var rulePoints = rule.Then.Sum(t => Points(t, context));
        return (budgets ?? UnlimitedBudget.Instance).TryConsume(rule, grants, rulePoints);
    }

    /// <summary>Forgets the limits of rules and rewards the program no longer has.</summary>
    private static void ForgetRetiredFirings(CustomerState state, ActiveProgram program) =>
        state.Firings.RemoveAll(f => !program.FiringKeys.Contains(f.RuleId));

    private static int FiringIndex(CustomerState state, string key)
    {
        for (var i = 0; i < state.Firings.Count; i++)
        {
            if (state.Firings[i].RuleId == key)
            {
                return i;
            }
        }
        return -1;
    }

    private static int CountOf(List<string> list, string item)
    {
        var count = 0;
        foreach (var x in list)
        {
            count += x == item ? 1 : 0;
        }
        return count;
    }

    private static string BudgetSpent(CampaignBudget b)
    {
        var what = string.Join(" / ", new[] { b.MaxGrants is { } g ? $"{g} grants" : null, b.MaxPoints is { } p ? $"{p} points" : null }.OfType<string>());
        return $"the campaign budget of {what}{(b.PeriodDays is { } d ? $" per {d} days" : "")} is used up";
    }

    /// <summary>The budget a firing of the rule draws from now: one counter per rule and period, across all
    /// customers and program versions.</summary>
    public static string BudgetKey(ActiveProgram program, RuleDefinition rule, DateTimeOffset now, string unit)
    {
        var period = rule.Limits.Budget?.PeriodDays is { } days ? program.LocalDay(now) / days : 0;
        return $"{program.Definition.Id}/{rule.Id}/{period}/{unit}";
    }

    private static long ScaledAmount(ScaledCurrency scaled, LoyaltyEvent e) => e.Payload is GameSession g
        ? (long)decimal.Floor(g.DurationSeconds / 60 * g.Difficulty * scaled.PerMinuteTimesDifficulty)
        : 0;

    private static long Points(Effect effect, RuleContext c)
    {
        long points = 0;
        if (effect.AddPoints is { } add)
        {
            points += add;
        }
        if (effect.PointsPerCurrencyUnit is { } perUnit && c.Event.Payload is Purchase p)
        {
            points += (long)decimal.Floor((decimal)RuleContext.OrderValue(p) / c.Program.Definition.MinorUnitsPerUnit * perUnit);
        }
        if (effect.PointsPerMinuteTimesDifficulty is { } perMinute && c.Event.Payload is GameSession g)
        {
            points += (long)decimal.Floor(g.DurationSeconds / 60 * g.Difficulty * perMinute);
        }
        // Only earnings are multiplied: a refund takes back the bonus its lines earned (see the order's line points),
        // so multiplying the points it takes back would reverse the bonus twice.
        if (effect.MultiplyBasePoints is { } multiplier && c.BasePoints > 0)
        {
            points += (long)decimal.Floor(c.BasePoints * (multiplier - 1));
        }
        return points;
    }

    private static bool WithinLimits(RuleDefinition rule, CustomerState state, RuleContext c)
    {
        var limits = rule.Limits;
        var date = DateOnly.FromDateTime(c.LocalOccurred.DateTime);
        if (limits.StartDate is { } start && date < start || limits.EndDate is { } end && date > end)
        {
            return false;
        }
        if (CaseKey(rule, c.Event) is { } caseKey && CountOf(state.CaseFirings, caseKey) >= limits.MaxPerCase)
        {
            return false;
        }
        return Allowed(state, rule.Id, limits.MaxPerCustomer, limits.PeriodDays, limits.CooldownHours, c.Now);
    }

    /// <summary>"rule id|case key" for a rule firing on a support case, else null.</summary>
    private static string? CaseKey(RuleDefinition rule, LoyaltyEvent e) =>
        e.Payload is SupportCase s ? rule.Id + "|" + StoredKey.Of(s.CaseId) : null;

    private static void RecordFiring(RuleDefinition rule, CustomerState state, LoyaltyEvent e, DateTimeOffset now, EngineLimits limits)
    {
        if (CaseKey(rule, e) is { } caseKey)
        {
            state.CaseFirings.Add(caseKey);
            CustomerEngine.Bound(state.CaseFirings, limits.OnceOnlyKept);
        }
        Record(state, rule.Id, rule.Limits.MaxPerCustomer, rule.Limits.PeriodDays, rule.Limits.CooldownHours, now);
    }

    /// <summary>The per-customer history key of a reward's own cap ('/' never appears in rule ids).</summary>
    internal static string RewardKey(RewardDefinition reward) => "reward/" + reward.Id;

    internal static bool Allowed(CustomerState state, string key, int? max, int periodDays, double? cooldownHours, DateTimeOffset now)
    {
        if (max is null && cooldownHours is null)
        {
            return true;
        }
        var index = FiringIndex(state, key);
        var mine = index < 0 ? null : state.Firings[index].Minutes;
        if (mine is null || mine.Count == 0)
        {
            return true;
        }
        var nowMinute = RuleFiring.MinuteOf(now);
        if (max is { } m)
        {
            var from = nowMinute - periodDays * 1440;
            var count = 0;
            foreach (var minute in mine)
            {
                if (minute > from)
                {
                    count++;
                }
            }
            if (count >= m)
            {
                return false;
            }
        }
        return cooldownHours is not { } hours || mine[^1] + hours * 60 <= nowMinute;
    }

    internal static void Record(CustomerState state, string key, int? max, int periodDays, double? cooldownHours, DateTimeOffset now)
    {
        if (max is null && cooldownHours is null)
        {
            return;
        }
        // Keep only what the limits can still look at: firings inside the period, at most max.
        var nowMinute = RuleFiring.MinuteOf(now);
        var keep = Math.Max(1, max ?? 1);
        var index = FiringIndex(state, key);
        var from = nowMinute - periodDays * 1440;
        var minutes = new List<int>(keep);
        if (index >= 0)
        {
            foreach (var minute in state.Firings[index].Minutes)
            {
                if (minute > from)
                {
                    minutes.Add(minute);
                }
            }
        }
        minutes.Add(nowMinute);
        if (minutes.Count > keep)
        {
            minutes.RemoveRange(0, minutes.Count - keep);
        }
        var updated = new RuleFiring(key, minutes);
        if (index < 0)
        {
            state.Firings.Add(updated);
        }
        else
        {
            state.Firings[index] = updated;
        }
    }

    private static void Grant(RewardDefinition reward, long? amount, RuleDefinition rule, RuleContext c, EngineLimits limits,
        ref List<GrantedReward>? rewards, ref List<HeldPerk>? perks)
    {
        var state = c.State;
        if (!Allowed(state, RewardKey(reward), reward.MaxPerCustomer, reward.PeriodDays, null, c.Now))
        {
            return; // this customer already had this reward as often as the catalogue allows in the period
        }
        Record(state, RewardKey(reward), reward.MaxPerCustomer, reward.PeriodDays, null, c.Now);
        var index = rewards?.Count ?? 0;
        var prefix = reward.Coupon?.CodePrefix ?? "LOY";
        var code = CodeKey(limits.RewardCodeSecret, prefix, state.CustomerId, c.Event.EventId, rule.Id, reward.Id, index);
        DateTimeOffset? expires = reward.Coupon is { } coupon ? c.Now.AddDays(coupon.ValidityDays)
            : reward.Perk is { DurationDays: { } days } ? c.Now.AddDays(days) : null;
        var granted = new GrantedReward(reward.Id, rule.Id, reward.Kind, "", reward.Description,
            reward.Coupon?.ValueMinor ?? 0, reward.Coupon?.Percent ?? 0, amount ?? reward.Currency?.Amount ?? 0,
            c.Now, expires, StoredKey.Of(c.Event.EventId), c.Program.Version) { CodeValue = code };
        (rewards ??= GrantScratch()).Add(granted);
        // The customer keeps the grant without its description (the catalogue has it): stored state stays small.
        state.AddReward(granted with { Description = "" }, limits.RewardsKept);
        if (reward.Perk is { } perk)
        {
            (perks ??= []).Add(HoldPerk(state, perk.Name, perk.DurationDays, rule.Id, c.Now));
        }
    }

    /// <summary>Holds a perk until now + days (or permanently), extending and never shortening what is held.</summary>
    internal static HeldPerk HoldPerk(CustomerState state, string name, int? days, string ruleId, DateTimeOffset now)
    {
        long? until = days is { } d ? now.AddDays(d).UtcTicks : null;
        var index = state.Perks.FindIndex(p => p.Name == name);
        if (index >= 0)
        {
            var held = state.Perks[index];
            var active = held.UntilTicks is null || held.UntilTicks > now.UtcTicks;
            var keepUntil = held.UntilTicks is null && active ? null : until is null ? null : (long?)Math.Max(until.Value, active ? held.UntilTicks!.Value : 0);
            var updated = new HeldPerk(name, keepUntil, keepUntil == held.UntilTicks && active ? held.RuleId : ruleId, active ? held.Since : now);
            state.Perks[index] = updated;
            return updated;
        }
        var perk = new HeldPerk(name, until, ruleId, now);
        state.Perks.Add(perk);
        return perk;
    }

    // One keyed HMAC per thread and secret: keying a new HMAC for every code cost more than the rest of an event's
    // rules (a reset keeps the key).
    [ThreadStatic] private static string? t_hmacSecret;
    [ThreadStatic] private static IncrementalHash? t_hmac;

    private static IncrementalHash KeyedHmac(string secret)
    {
        if (t_hmac is null || !string.Equals(t_hmacSecret, secret, StringComparison.Ordinal))
        {
            t_hmac?.Dispose();
            t_hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret));
            t_hmacSecret = secret;
        }
        return t_hmac;
    }

    /// <summary>PREFIX-XXXX-XXXX-XXXX: 60 bits of HMAC-SHA256 in Crockford base32.</summary>
    public static string Code(string secret, string prefix, string customerId, string eventId, string ruleId, string rewardId, int index) =>
        CodeKey(secret, prefix, customerId, eventId, ruleId, rewardId, index).ToString();

    /// <summary><see cref="Code"/> as the key a reward keeps (no string of its own, unless the prefix is long or not ASCII).</summary>
    public static Customers.InlineKey CodeKey(string secret, string prefix, string customerId, string eventId, string ruleId, string rewardId, int index)
    {
        // The UTF-8 of "customer\nevent\nrule\nreward\nindex", written piece by piece (no string to throw away).
        var dataLength = Encoding.UTF8.GetMaxByteCount(customerId.Length + eventId.Length + ruleId.Length + rewardId.Length) + 4 + 11;
        Span<byte> buffer = dataLength <= 1024 ? stackalloc byte[dataLength] : new byte[dataLength];
        var written = 0;
        foreach (var part in (ReadOnlySpan<string>)[customerId, eventId, ruleId, rewardId])
        {
            written += Encoding.UTF8.GetBytes(part, buffer[written..]);
            buffer[written++] = (byte)'\n';
        }
        index.TryFormat(buffer[written..], out var digits, default, System.Globalization.CultureInfo.InvariantCulture);
        var source = buffer[..(written + digits)];
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        var hmac = KeyedHmac(secret);
        hmac.AppendData(source);
        hmac.GetHashAndReset(mac);
        var bits = BitConverter.ToUInt64(mac);
        Span<char> chars = prefix.Length <= 256 ? stackalloc char[prefix.Length + 15] : new char[prefix.Length + 15];
        prefix.AsSpan().CopyTo(chars);
        var at = prefix.Length;
        for (var i = 0; i < 12; i++)
        {
            if (i % 4 == 0)
            {
                chars[at++] = '-';
            }
            chars[at++] = CodeAlphabet[(int)(bits & 31)];
            bits >>= 5;
        }
        return Customers.InlineKey.Of(chars);
    }
}

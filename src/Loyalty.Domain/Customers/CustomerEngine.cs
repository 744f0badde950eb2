using System.Globalization;
using Loyalty.Domain.Events;
using Loyalty.Domain.Programs;
using Loyalty.Domain.Rules;

namespace Loyalty.Domain.Customers;

/// <summary>
/// The rules: applies one event to a customer's state under a program at a given time.
/// Deterministic: the same state, event, program and time always give the same result.
/// </summary>
public static partial class CustomerEngine
{
    private const int MaxSummaryLength = 200;

    [ThreadStatic] private static System.Text.StringBuilder? t_summary;
    // The summary's characters, copied out of the builder: the interaction log keeps them as UTF-8, no string is made.
    [ThreadStatic] private static char[]? t_summaryChars;

    private static void AppendJoined(System.Text.StringBuilder builder, IReadOnlyList<string> items)
    {
        for (var i = 0; i < items.Count; i++)
        {
            builder.Append(i == 0 ? "" : ", ").Append(items[i]);
        }
    }

    public static EventResult Apply(CustomerState state, LoyaltyEvent e, ActiveProgram program, DateTimeOffset now, EngineLimits limits,
        IBudgetGate? budgets = null)
    {
        if (EventValidator.Validate(e, program, now) is { } invalid)
        {
            return Reject(state, e, program, invalid.ToString(), invalid.Field);
        }
        if (state.Exists && !string.Equals(state.CustomerId, e.CustomerId, StringComparison.Ordinal))
        {
            return Reject(state, e, program, $"event.customer_id: '{e.CustomerId}' is not this customer", "event.customer_id");
        }

        // Exactly once: a known id is a duplicate, whatever its payload; an id too old to be known is refused.
        if (state.FindSeen(e.EventId) is { } seen)
        {
            return new EventResult(e.EventId, EventOutcome.Duplicate, seen.PointsDelta, null, null, Summary(state), program.Version);
        }
        var occurred = e.OccurredAt!.Value;
        var horizon = now - limits.DedupeWindow;
        if (occurred < horizon)
        {
            return Reject(state, e, program,
                $"event.occurred_at: older than the {limits.DedupeWindow.TotalDays:0}-day deduplication window; it cannot be applied exactly once", null);
        }
        if (occurred.UtcTicks <= state.DedupeFloorTicks)
        {
            return Reject(state, e, program,
                $"event.occurred_at: at or before {new DateTimeOffset(state.DedupeFloorTicks, TimeSpan.Zero):O}, older than the event ids this customer still remembers (at most {limits.DedupeMaxIds}, for {limits.DedupeWindow.TotalDays:0} days); it cannot be applied exactly once", null);
        }

        // Whatever fell due before this event (activations, expiry, tier period ends) happens first.
        DueWork.Advance(state, program, now);
        if (!state.Exists)
        {
            state.CustomerId = e.CustomerId;
            state.FirstSeen = now;
            state.Tier = program.Tiers[0].Name;
        }

        var day = program.LocalDay(occurred);
        var today = program.LocalDay(now);
        var outcome = ApplyPayload(state, e.Payload, StoredKey.Of(e.EventId), program, day, now, limits);
        if (outcome.Refusal is { } refusal)
        {
            if (!state.Exists || state.EventsApplied == 0)
            {
                // Nothing was ever applied: the customer was only created for this event, so undo that.
                state.CustomerId = "";
                state.FirstSeen = null;
                state.Tier = "";
            }
            return Reject(state, e, program, refusal, null);
        }

        // Points move, qualifying points follow (refunds give back the order day's qualifying points).
        // Purchase points wait out the return window when the program has one.
        var eventKey = StoredKey.Of(e.EventId);
        var orderKey = e.Payload switch { Purchase p => StoredKey.Of(p.OrderId), Refund r => StoredKey.Of(r.OrderId), _ => "" };
        DateTimeOffset? pendingUntil = null;
        if (e.Payload is Purchase && program.Definition.Points.PendingDays > 0 && occurred.AddDays(program.Definition.Points.PendingDays) > now)
        {
            pendingUntil = occurred.AddDays(program.Definition.Points.PendingDays);
        }
        Book(state, outcome.Points, eventKey, "", orderKey, pendingUntil, program, now);
        if (outcome.Points != 0)
        {
            AddQualifying(state, outcome.QualifyingDay ?? day, outcome.Points);
        }
        TrimWindows(state, program, today);
        var tierBefore = state.Tier;
        UpdateTier(state, program, now);

        // The program's rules see the customer as this event left them (aggregates, points, tier).
        var rules = RuleEngine.Apply(state, e, program, now, limits, outcome.Points, budgets);
        // Index loops over the rules' lists: a foreach through IReadOnlyList boxes an enumerator per event.
        for (var i = 0; i < rules.PointsByRule.Count; i++)
        {
            var (ruleId, rulePoints) = rules.PointsByRule[i];
            Book(state, rulePoints, eventKey, ruleId, orderKey, pendingUntil, program, now);
        }
        if (rules.Points != 0)
        {
            AddQualifying(state, day, rules.Points);
            TrimWindows(state, program, today);
            UpdateTier(state, program, now);
        }
        if (e.Payload is Purchase && rules.Points > 0)
        {
            ShareRulePoints(state, orderKey, rules.Points);
        }
        var revoked = e.Payload is Refund refund ? RevokeRewards(state, refund, program, now) : [];
        TierLifecycle.AfterEvent(state, program, now);
        var delta = outcome.Points + rules.Points;

        state.EventsApplied++;
        state.LastEventAt = state.LastEventAt is { } last && last > occurred ? last : occurred;
        RememberId(state, e.EventId, occurred.UtcTicks, delta, horizon, limits);

        // One builder per thread: the summary is the one string an event keeps, not its pieces.
        var summary = t_summary ??= new System.Text.StringBuilder(256);
        if (outcome.Text is not null)
        {
            summary.Clear().Append(outcome.Text);
        }
        if (rules.FiredRules.Count > 0)
        {
            summary.Append("; rules ");
            AppendJoined(summary, rules.FiredRules);
            if (rules.Points != 0)
            {
                summary.Append($" ({rules.Points:+#;-#;0} points)"); // formatted into the builder, no string of its own
            }
        }
        if (rules.Rewards.Count > 0)
        {
            summary.Append("; granted ");
            for (var i = 0; i < rules.Rewards.Count; i++)
            {
                rules.Rewards[i].CodeValue.AppendTo(summary.Append(i == 0 ? "" : ", "));
            }
        }
        for (var i = 0; i < rules.Rewards.Count; i++)
        {
            var reward = rules.Rewards[i];
            PointsBook.Notice(state, "reward", eventKey, reward.RuleId, reward.RewardId, reward.CodeValue, program.Version, now);
        }
        for (var i = 0; i < rules.Perks.Count; i++)
        {
            var perk = rules.Perks[i];
            PointsBook.Notice(state, "perk", eventKey, perk.RuleId, perk.Name,
                perk.UntilTicks is { } until ? $"until {new DateTimeOffset(until, TimeSpan.Zero):yyyy-MM-dd HH:mm} UTC" : "permanent", program.Version, now);
        }
        if (revoked.Count > 0)
        {
            summary.Append("; revoked ");
            AppendJoined(summary, revoked);
        }
        if (pendingUntil is { } due && delta > 0)
        {
            summary.Append(CultureInfo.InvariantCulture, $"; pending until {due.UtcDateTime:yyyy-MM-dd HH:mm} UTC");
        }
        if (state.Tier != tierBefore)
        {
            TierLifecycle.Record(state, tierBefore, state.Tier, now, eventKey, QualifyingPoints(state), "qualified", program.Version);
            summary.Append("; tier ").Append(tierBefore).Append(" → ").Append(state.Tier);
        }
        if (summary.Length > MaxSummaryLength)
        {
            summary.Length = MaxSummaryLength - 1; // keeps the stored state bounded in bytes
            summary.Append('…');
        }
        TrimRewards(state, now, limits);
        // Writes one slot once the log is full, and its text as bytes into the customer's ring (see InteractionLog).
        var text = (t_summaryChars ??= new char[MaxSummaryLength]).AsSpan(0, summary.Length);
        summary.CopyTo(0, text, summary.Length);
        state.Interactions.Add(++state.LastSequence, e.EventId, e.Payload!.Kind, e.Source, occurred, now, delta, text, state.Tier,
            program.Version, limits.InteractionsKept);
        return new EventResult(e.EventId, EventOutcome.Applied, delta, null, null, Summary(state), program.Version)
        {
            Rewards = rules.Rewards,
            Perks = rules.Perks,
            Declined = rules.Declined,
        };
    }

    /// <summary>What the event itself does (before rules): points, aggregates, the order it records.</summary>
    private static Change ApplyPayload(CustomerState state, EventPayload? payload, string eventKey, ActiveProgram program, int day,
        DateTimeOffset now, EngineLimits limits) => payload switch
        {
            Purchase p => ApplyPurchase(state, p, eventKey, program, day, now, limits),
            Refund r => ApplyRefund(state, r),
            GameSession g => ApplyGameSession(state, g, program, day),
            MatchResult m => ApplyMatch(state, m, program),
            Achievement a => ApplyAchievement(state, a, program, limits),
            SupportCase s => ApplySupport(state, s, program, day, limits),
            ProfileUpdate u => ApplyProfile(state, u),
            _ => Change.Refused("event.payload: unknown payload"),
        };

    /// <summary>The tier multiplier applied to earned points, floored to whole points.</summary>
    private static long Earn(decimal basePoints, CustomerState state, ActiveProgram program) =>
        (long)decimal.Floor(basePoints * program.TierByName(state.Tier).EarnMultiplier);

    private static Change ApplyPurchase(CustomerState state, Purchase p, string eventKey, ActiveProgram program, int day, DateTimeOffset now, EngineLimits limits)
    {
        var orderKey = StoredKey.Of(p.OrderId);
        if (state.Orders.Any(o => o.OrderId == orderKey))
        {
            return Change.Refused($"event.purchase.order_id: order '{p.OrderId}' was already recorded by another event");
        }
        var rules = program.Definition.Earning.Purchase;
        var multiplier = program.TierByName(state.Tier).EarnMultiplier;
        // Points of each line as an exact decimal; the order total is floored once and the whole points are
        // handed to lines by largest remainder, so refunding every line gives back exactly what was earned.
        var raw = new decimal[p.Lines.Count];
        decimal sum = 0;
        for (var i = 0; i < p.Lines.Count; i++)
        {
            var line = p.Lines[i];
            var value = (decimal)line.UnitPriceMinor * line.Quantity / program.Definition.MinorUnitsPerUnit;
            raw[i] = value * rules.PointsPerCurrencyUnit * program.CategoryMultiplier(line.Category.ToLowerInvariant()) * multiplier;
            sum += raw[i];
        }
        var total = (long)decimal.Floor(sum);
        var allocated = raw.Select(r => (long)decimal.Floor(r)).ToArray();
        var leftover = total - allocated.Sum();
        foreach (var i in Enumerable.Range(0, raw.Length).OrderByDescending(i => raw[i] - decimal.Floor(raw[i])).ThenBy(i => i))
        {
            if (leftover <= 0)
            {
                break;
            }
            allocated[i]++;
            leftover--;
        }

        var spendByCategory = p.Lines.GroupBy(l => StoredKey.Of(l.Category.ToLowerInvariant()))
            .Select(g => new CategorySpend(g.Key, g.Sum(l => l.UnitPriceMinor * l.Quantity))).ToList();
        // Merge lines of the same SKU so a refund by SKU finds one line.
        var lines = new List<OrderLine>();
        for (var i = 0; i < p.Lines.Count; i++)
        {
            var sku = StoredKey.Of(p.Lines[i].Sku);
            var idx = lines.FindIndex(l => l.Sku == sku);
            var value = p.Lines[i].UnitPriceMinor * p.Lines[i].Quantity;
            if (idx < 0)
            {
                var category = StoredKey.Of(p.Lines[i].Category.ToLowerInvariant());
                lines.Add(new OrderLine(sku, p.Lines[i].Quantity, allocated[i])
                {
                    ValueLeft = value,
                    CategoryIndex = spendByCategory.FindIndex(c => c.Category == category),
                });
            }
            else
            {
                lines[idx] = lines[idx] with
                {
                    QuantityLeft = lines[idx].QuantityLeft + p.Lines[i].Quantity,
                    PointsLeft = lines[idx].PointsLeft + allocated[i],
                    ValueLeft = lines[idx].ValueLeft + value,
                };
            }
        }
        state.Orders.Add(new OrderRecord(orderKey, day, lines) { Spend = spendByCategory, EventKey = eventKey });
        // Orders past the refund horizon go; then the oldest, by count and by total kept lines (state size stays bounded).
        state.Orders.RemoveAll(o => o.Day < day - limits.OrdersKeptDays);
        var keptLines = state.Orders.Sum(o => o.Lines.Count);
        while (state.Orders.Count > 1 && (state.Orders.Count > limits.OrdersKept || keptLines > limits.OrderLinesKept))
        {
            keptLines -= state.Orders[0].Lines.Count;
            state.Orders.RemoveAt(0);
        }

        // Category affinity: spend per category, and one purchase counted per category present in the order.
        foreach (var group in p.Lines.GroupBy(l => l.Category.ToLowerInvariant()))
        {
            var spend = group.Sum(l => l.UnitPriceMinor * l.Quantity);
            var idx = state.Categories.FindIndex(c => c.Day == day && c.Category == group.Key);
            state.Categories.Add(idx < 0
                ? new CategoryDay(day, group.Key, spend, 1)
                : state.Categories[idx] with { SpendMinor = state.Categories[idx].SpendMinor + spend, Purchases = state.Categories[idx].Purchases + 1 });
            if (idx >= 0)
            {
                state.Categories.RemoveAt(idx);
            }
        }
        if (state.Categories.Count > limits.CategoryBucketsKept)
        {
            // Too many distinct categories: drop the oldest days' buckets first, then the smallest spend.
            var keep = state.Categories.OrderByDescending(c => c.Day).ThenByDescending(c => c.SpendMinor)
                .Take(limits.CategoryBucketsKept).ToHashSet();
            state.Categories.RemoveAll(c => !keep.Contains(c));
        }
        var value_ = p.Lines.Sum(l => l.UnitPriceMinor * l.Quantity);
        var text = string.Create(CultureInfo.InvariantCulture, $"purchase {p.OrderId}: {p.Lines.Count} lines, {Money(value_, program)} {p.Currency}");
        foreach (var code in p.CouponCodes.Distinct(StringComparer.Ordinal))
        {
            text += UseCoupon(state, code, now);
        }
        return Change.Earned(total, text);
    }

    private static Change ApplyRefund(CustomerState state, Refund r)
    {
        var orderKey = StoredKey.Of(r.OrderId);
        var index = state.Orders.FindIndex(o => o.OrderId == orderKey);
        if (index < 0)
        {
            return Change.Refused($"event.refund.order_id: order '{r.OrderId}' is unknown (never purchased, or older than the kept orders)");
        }
        var order = state.Orders[index];
        var lines = order.Lines.ToList();
        long reversed = 0;
        for (var i = 0; i < r.Lines.Count; i++)
        {
            var line = r.Lines[i];
            var sku = StoredKey.Of(line.Sku);
            var idx = lines.FindIndex(l => l.Sku == sku);
            if (idx < 0)
            {
                return Change.Refused($"event.refund.lines[{i}].sku: '{line.Sku}' is not in order '{r.OrderId}'");
            }
            var kept = lines[idx];
            if (line.Quantity > kept.QuantityLeft)
            {
                return Change.Refused($"event.refund.lines[{i}].quantity: {line.Quantity} exceeds the {kept.QuantityLeft} not yet refunded");
            }
            // Whole remaining quantity gives back all remaining points; otherwise a proportional floor.
            var all = line.Quantity == kept.QuantityLeft;
            var points = all ? kept.PointsLeft : kept.PointsLeft * line.Quantity / kept.QuantityLeft;
            var value = all ? kept.ValueLeft : kept.ValueLeft * line.Quantity / kept.QuantityLeft;
            lines[idx] = kept with { QuantityLeft = kept.QuantityLeft - line.Quantity, PointsLeft = kept.PointsLeft - points, ValueLeft = kept.ValueLeft - value };
            reversed += points;
        }
        state.Orders[index] = order with { Lines = lines };
        return new Change(-reversed, $"refund of order {r.OrderId}: {r.Lines.Count} lines", null, order.Day);
    }

    private static Change ApplyGameSession(CustomerState state, GameSession g, ActiveProgram program, int day)
    {
        var minutes = g.DurationSeconds / 60;
        var points = Earn(minutes * g.Difficulty * program.Definition.Earning.GameSession.PointsPerMinute, state, program);
        var at = ActivityOf(state, day);
        var activity = state.Activity[at];
        state.Activity[at] = activity with { GameMinutes = activity.GameMinutes + minutes, GameSessions = activity.GameSessions + 1 };
        // The most frequent event writes its text straight into the summary's builder: no string of its own.
        (t_summary ??= new System.Text.StringBuilder(256)).Clear()
            .Append(CultureInfo.InvariantCulture, $"played {g.GameId}: {minutes} min at difficulty {g.Difficulty}, score {g.Score}");
        return Change.EarnedInSummary(points);
    }

    private static Change ApplyMatch(CustomerState state, MatchResult m, ActiveProgram program)
    {
        var bonus = program.RankBonuses.FirstOrDefault(b => m.Rank <= b.MaxRank);
        var points = bonus is null ? 0 : Earn(bonus.Points, state, program);
        return Change.Earned(points, $"match {m.MatchId} in {m.GameId}: rank {m.Rank} of {m.Participants}");
    }

    private static Change ApplyAchievement(CustomerState state, Achievement a, ActiveProgram program, EngineLimits limits)
    {
        var key = StoredKey.Of($"{a.GameId}/{a.AchievementId}");
        if (state.Achievements.Contains(key))
        {
            return Change.Earned(0, $"achievement {a.AchievementId} in {a.GameId} (already rewarded)");
        }
        state.Achievements.Add(key);
        Bound(state.Achievements, limits.OnceOnlyKept);
        var rules = program.Definition.Earning.Achievement;
        var basePoints = rules.Points.TryGetValue(a.AchievementId, out var p) ? p : rules.DefaultPoints;
        return Change.Earned(Earn(basePoints, state, program), $"achievement {a.AchievementId} in {a.GameId}");
    }

    private static Change ApplySupport(CustomerState state, SupportCase s, ActiveProgram program, int day, EngineLimits limits)
    {
        var opened = s.Status == SupportStatus.Opened;
        var rated = s.Satisfaction is not null;
        var at = ActivityOf(state, day);
        var a = state.Activity[at];
        state.Activity[at] = a with
        {
            SupportContacts = a.SupportContacts + (opened ? 1 : 0),
            Ratings = a.Ratings + (rated ? 1 : 0),
            RatingSum = a.RatingSum + (s.Satisfaction ?? 0),
        };
        long points = 0;
        var text = $"support case {s.CaseId} {s.Status.ToString().ToLowerInvariant()} via {s.Channel.ToString().ToLowerInvariant()}";
        if (s.Status == SupportStatus.Resolved)
        {
            var caseKey = StoredKey.Of(s.CaseId);
            if (state.ResolvedCases.Contains(caseKey))
            {
                text += " (bonus already paid)";
            }
            else
            {
                state.ResolvedCases.Add(caseKey);
                Bound(state.ResolvedCases, limits.OnceOnlyKept);
                var rules = program.Definition.Earning.Support;
                points = Earn(s.Channel == SupportChannel.Human ? rules.ResolvedByHuman : rules.ResolvedByBot, state, program);
            }
        }
        if (rated)
        {
            text += $", satisfaction {s.Satisfaction}/5";
        }
        return Change.Earned(points, text);
    }

    private static Change ApplyProfile(CustomerState state, ProfileUpdate u)
    {
        var p = state.Profile;
        state.Profile = p with
        {
            DisplayName = u.DisplayName ?? p.DisplayName,
            BirthYear = u.BirthYear ?? p.BirthYear,
            AccessibilityNeeds = u.AccessibilityNeeds ?? p.AccessibilityNeeds,
            TimeZone = u.TimeZone ?? p.TimeZone,
        };
        // The summary names which fields changed, never their values: profiles hold personal data.
        var fields = new List<string>();
        if (u.DisplayName is not null) { fields.Add("display_name"); }
        if (u.BirthYear is not null) { fields.Add("birth_year"); }
        if (u.AccessibilityNeeds is not null) { fields.Add("accessibility_needs"); }
        if (u.TimeZone is not null) { fields.Add("time_zone"); }
        return Change.Earned(0, "profile updated: " + string.Join(", ", fields));
    }

    /// <summary>Books a change of points: earnings into a lot (pending within a return window), reversals out of the
    /// lots (see <see cref="PointsBook.Reverse"/>).</summary>
    private static void Book(CustomerState state, long points, string eventKey, string ruleId, string orderKey, DateTimeOffset? pendingUntil,
        ActiveProgram program, DateTimeOffset now)
    {
        if (points > 0)
        {
            PointsBook.Earn(state, points, "earn", eventKey, ruleId, orderKey, pendingUntil, program, now);
        }
        else if (points < 0)
        {
            PointsBook.Reverse(state, -points, eventKey, ruleId, orderKey, program, now);
        }
    }

    /// <summary>Hands a purchase's rule points to its lines by line value (largest remainder), so refunding a line
    /// also takes back its share of the bonuses the order earned.</summary>
    private static void ShareRulePoints(CustomerState state, string orderKey, long points)
    {
        var index = state.Orders.FindLastIndex(o => o.OrderId == orderKey);
        if (index < 0)
        {
            return;
        }
        var order = state.Orders[index];
        var total = order.Lines.Sum(l => l.ValueLeft);
        var lines = order.Lines.ToList();
        if (total <= 0)
        {
            lines[0] = lines[0] with { PointsLeft = lines[0].PointsLeft + points };
        }
        else
        {
            var shares = lines.Select(l => (Whole: (long)((System.Numerics.BigInteger)points * l.ValueLeft / total),
                Remainder: (long)((System.Numerics.BigInteger)points * l.ValueLeft % total))).ToArray();
            var leftover = points - shares.Sum(x => x.Whole);
            var order_ = Enumerable.Range(0, lines.Count).OrderByDescending(i => shares[i].Remainder).ThenBy(i => i).ToArray();
            for (var k = 0; k < lines.Count; k++)
            {
                var i = order_[k];
                lines[i] = lines[i] with { PointsLeft = lines[i].PointsLeft + shares[i].Whole + (k < leftover ? 1 : 0) };
            }
        }
        state.Orders[index] = order with { Lines = lines };
    }

    /// <summary>Marks a coupon the customer holds as used by a purchase. A code that is not theirs, or is expired, revoked
    /// or already used, does not stop the purchase (it happened); the summary says why the coupon was not marked.</summary>
    private static string UseCoupon(CustomerState state, string code, DateTimeOffset now)
    {
        var index = state.Rewards.FindLastIndex(r => r.CodeValue.Is(code) && r.Kind == "coupon");
        if (index < 0)
        {
            return $"; coupon {code} is not one of this customer's";
        }
        var coupon = state.Rewards[index];
        var problem = coupon.UsedAt is not null ? "already used"
            : coupon.RevokedAt is not null ? "revoked"
            : coupon.ExpiresAt is { } expires && expires <= now ? "expired"
            : null;
        if (problem is not null)
        {
            return $"; coupon {code} {problem}";
        }
        state.Rewards[index] = coupon with { UsedAt = now };
        return $"; used {code}";
    }

    /// <summary>Coupons a purchase earned are revoked by a refund of that order when their rule's condition no longer
    /// holds for what is left of the order (all of it refunded, or the value or categories no longer enough).</summary>
    private static List<string> RevokeRewards(CustomerState state, Refund refund, ActiveProgram program, DateTimeOffset now)
    {
        var revoked = new List<string>();
        var order = state.Orders.FindLast(o => o.OrderId == StoredKey.Of(refund.OrderId));
        if (order is null || order.EventKey.Length == 0)
        {
            return revoked;
        }
        var left = order.Lines.Where(l => l.QuantityLeft > 0)
            .Select(l => new LineItem(l.Sku, l.CategoryIndex < order.Spend.Count ? order.Spend[l.CategoryIndex].Category : "",
                l.QuantityLeft, l.ValueLeft / l.QuantityLeft)).ToList();
        var remaining = new LoyaltyEvent
        {
            EventId = order.EventKey,
            CustomerId = state.CustomerId,
            OccurredAt = now,
            Payload = new Purchase(refund.OrderId, program.Definition.Currency, left),
        };
        var basePoints = order.Lines.Sum(l => l.PointsLeft);
        for (var i = 0; i < state.Rewards.Count; i++)
        {
            var reward = state.Rewards[i];
            if (!reward.EventIdValue.Is(order.EventKey) || reward.RevokedAt is not null || reward.UsedAt is not null || reward.Kind != "coupon")
            {
                continue;
            }
            var rule = program.Definition.Rules.FirstOrDefault(r => r.Id == reward.RuleId);
            var holds = left.Count > 0 && (rule?.If is not { } condition
                || condition.Holds(new RuleContext(state, remaining, program, now, basePoints)));
            if (!holds)
            {
                state.Rewards[i] = reward with { RevokedAt = now };
                revoked.Add(reward.Code);
            }
        }
        return revoked;
    }

    private static void UpdateTier(CustomerState state, ActiveProgram program, DateTimeOffset now)
    {
        // Upgrades happen on the event that crosses a threshold. Downgrades belong to the tier lifecycle
        // (end of a tier period), so a tier is never lowered here.
        var qualified = program.TierFor(QualifyingPoints(state));
        if (program.TierRank(qualified.Name) > program.TierRank(state.Tier))
        {
            state.Tier = qualified.Name;
            TierLifecycle.StartPeriod(state, program, now);
        }
        else if (program.TierRank(state.Tier) == 0 && state.Tier != program.Tiers[0].Name)
        {
            state.Tier = program.Tiers[0].Name; // a tier no longer in the program
        }
    }

    public static long QualifyingPoints(CustomerState state) => state.Qualifying.Sum(d => d.Points);

    public static void AddQualifyingPoints(CustomerState state, int day, long points) => AddQualifying(state, day, points);

    private static void AddQualifying(CustomerState state, int day, long points)
    {
        var idx = state.Qualifying.FindIndex(d => d.Day == day);
        if (idx < 0)
        {
            state.Qualifying.Add(new DayPoints(day, points));
            state.Qualifying.Sort((a, b) => a.Day.CompareTo(b.Day));
        }
        else
        {
            state.Qualifying[idx] = new DayPoints(day, state.Qualifying[idx].Points + points);
        }
    }

    /// <summary>Where the day's activity bucket is, adding an empty one if there is none (no delegate or closure per
    /// event: the caller updates the bucket in place).</summary>
    private static int ActivityOf(CustomerState state, int day)
    {
        for (var i = 0; i < state.Activity.Count; i++)
        {
            if (state.Activity[i].Day == day)
            {
                return i;
            }
        }
        state.Activity.Add(ActivityDay.Empty(day));
        return state.Activity.Count - 1;
    }

    /// <summary>Forgets rewards that expired or were revoked long enough ago.</summary>
    internal static void TrimRewards(CustomerState state, DateTimeOffset now, EngineLimits limits)
    {
        state.ForgetRewardsEndedBefore(now.AddDays(-limits.RewardsKeptAfterExpiryDays).UtcTicks);
    }

    /// <summary>Drops day buckets that fell out of their windows.</summary>
    public static void TrimWindows(CustomerState state, ActiveProgram program, int today)
    {
        var history = program.Definition.History;
        // Checked before anything is removed (usually nothing is): the removals' lambdas make a closure per call.
        var qualifyingFrom = today - program.Definition.Tiers.QualifyingWindowDays;
        var categoriesFrom = today - history.AffinityWindowDays;
        var activityFrom = today - history.ActivityWindowDays;
        if (AnyThrough(state.Qualifying, static d => d.Day, qualifyingFrom)
            || AnyThrough(state.Categories, static c => c.Day, categoriesFrom) || AnyThrough(state.Activity, static a => a.Day, activityFrom))
        {
            RemoveDaysThrough(state, qualifyingFrom, categoriesFrom, activityFrom);
        }
    }

    private static bool AnyThrough<T>(List<T> days, Func<T, int> day, int through)
    {
        foreach (var d in System.Runtime.InteropServices.CollectionsMarshal.AsSpan(days))
        {
            if (day(d) <= through)
            {
                return true;
            }
        }
        return false;
    }

    private static void RemoveDaysThrough(CustomerState state, int qualifyingFrom, int categoriesFrom, int activityFrom)
    {
        state.Qualifying.RemoveAll(d => d.Day <= qualifyingFrom);
        state.Categories.RemoveAll(c => c.Day <= categoriesFrom);
        state.Activity.RemoveAll(a => a.Day <= activityFrom);
    }

    /// <summary>Remembers an applied id (event, redemption, adjustment...) for deduplication, keeping the table
    /// within its window and count bound.</summary>
    internal static void RememberId(CustomerState state, string id, long occurredTicks, long delta, DateTimeOffset horizon, EngineLimits limits)
    {
        state.AddSeen(SeenEvent.Of(id, occurredTicks, delta), (int)Math.Min(int.MaxValue, limits.DedupeMaxIds + 1L));
        TrimSeen(state, horizon, limits);
    }

    private static void TrimSeen(CustomerState state, DateTimeOffset horizon, EngineLimits limits)
    {
        // Ids older than the window are no longer needed: such events are refused by age anyway.
        // Ids arrive out of occurred_at order, so sweep the whole list, when the oldest-arrived id is out of the window,
        // every 64 events (deterministic: it depends on the state alone), or when the list is over its bound.
        var horizonTicks = horizon.UtcTicks;
        if (state.Seen.Count > 0 && state.Seen[0].OccurredTicks < horizonTicks
            || state.EventsApplied % 64 == 0 || state.Seen.Count > limits.DedupeMaxIds)
        {
            ForgetSeenBefore(state, horizonTicks);
            // Remember the cut, so a clock that steps back (another silo, a reactivation) cannot re-admit
            // an id forgotten here.
            state.DedupeFloorTicks = Math.Max(state.DedupeFloorTicks, horizonTicks - 1);
        }
        if (state.Seen.Count > limits.DedupeMaxIds)
        {
            ForgetOldestSeen(state, limits);
        }
    }

    // The lambdas that capture live in these helpers: a closure is allocated on entry to the method that declares what
    // it captures, and TrimSeen runs for every event.
    private static void ForgetSeenBefore(CustomerState state, long horizonTicks) =>
        state.RemoveSeenWhere(s => s.OccurredTicks < horizonTicks);

    /// <summary>Over the count bound: forget the oldest tenth by occurred_at and raise the floor past them.</summary>
    /// <remarks>In place: the floor is found among the ids' instants, sorted in a buffer of this thread, and the ids at
    /// or before it leave the list, which keeps its array and the arrival order of the rest. Sorting the ids into a new
    /// list and filtering that into another allocated about 800 KB, mostly large objects (3,000 ids of 72 bytes), every
    /// 300 events of a customer at the bound: each busy customer's share of the background gen2 collections.</remarks>
    private static void ForgetOldestSeen(CustomerState state, EngineLimits limits)
    {
        var seen = state.Seen;
        var count = seen.Count;
        var drop = Math.Max(count - limits.DedupeMaxIds, limits.DedupeMaxIds / 10);
        var ticks = t_seenTicks is { } buffer && buffer.Length >= count ? buffer : t_seenTicks = new long[Math.Max(count, 4096)];
        for (var i = 0; i < count; i++)
        {
            ticks[i] = seen[i].OccurredTicks;
        }
        var sorted = ticks.AsSpan(0, count);
        sorted.Sort();
        var floor = sorted[drop - 1];
        // Everything at the floor's tick goes too, so "at or before the floor" is never still remembered.
        state.DedupeFloorTicks = Math.Max(state.DedupeFloorTicks, floor);
        ForgetSeenBefore(state, floor + 1);
    }

    /// <summary>The instants of a customer's remembered ids while <see cref="ForgetOldestSeen"/> finds its floor.</summary>
    [ThreadStatic] private static long[]? t_seenTicks;

    internal static void Bound(List<string> list, int max)
    {
        if (list.Count > max)
        {
            list.RemoveRange(0, list.Count - max);
        }
    }

    private static EventResult Reject(CustomerState state, LoyaltyEvent e, ActiveProgram program, string error, string? field) =>
        new(e.EventId ?? "", EventOutcome.Rejected, 0, error, field, state.Exists ? Summary(state) : null, program.Version);

    private static CustomerSummary Summary(CustomerState state) => CustomerSummary.Of(state);

    private static string Money(long minor, ActiveProgram program)
    {
        var unit = program.Definition.MinorUnitsPerUnit;
        var decimals = unit switch { 1 => 0, 10 => 1, 100 => 2, _ => 3 };
        return ((decimal)minor / unit).ToString("F" + decimals, CultureInfo.InvariantCulture);
    }

    /// <param name="Text">What the event did, for its summary; null when it is in the summary's builder already.</param>
    private readonly record struct Change(long Points, string? Text, string? Refusal, int? QualifyingDay)
    {
        public static Change Earned(long points, string text) => new(points, text, null, null);
        public static Change EarnedInSummary(long points) => new(points, null, null, null);
        public static Change Refused(string why) => new(0, "", why, null);
    }
}

using Google.Protobuf.WellKnownTypes;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Services;

/// <summary>Maps the public API to domain values and back. Values are carried as received (unknown enum
/// numbers included) so that the domain validator can say precisely what is wrong; few-valued text (source, game id,
/// category, currency) as one shared instance per value (<see cref="SharedText"/>).</summary>
public static class ProtoMapping
{
    public static LoyaltyEvent ToDomain(V1.Event e) => new()
    {
        EventId = e.EventId,
        CustomerId = e.CustomerId,
        OccurredAt = ToInstant(e.OccurredAt),
        Source = SharedText.Sources.Share(e.Source),
        Payload = e.PayloadCase switch
        {
            V1.Event.PayloadOneofCase.Purchase => new Purchase(e.Purchase.OrderId, SharedText.Names.Share(e.Purchase.Currency), Lines(e.Purchase.Lines)) { CouponCodes = [.. e.Purchase.CouponCodes] },
            V1.Event.PayloadOneofCase.Refund => new Refund(e.Refund.OrderId, Lines(e.Refund.Lines)),
            V1.Event.PayloadOneofCase.GameSession => new GameSession(SharedText.Names.Share(e.GameSession.GameId), e.GameSession.DurationSeconds, e.GameSession.Difficulty, e.GameSession.Score),
            V1.Event.PayloadOneofCase.MatchResult => new MatchResult(SharedText.Names.Share(e.MatchResult.GameId), e.MatchResult.MatchId, e.MatchResult.Rank, e.MatchResult.Participants),
            V1.Event.PayloadOneofCase.Achievement => new Achievement(SharedText.Names.Share(e.Achievement.GameId), e.Achievement.AchievementId),
            V1.Event.PayloadOneofCase.SupportCase => new SupportCase(e.SupportCase.CaseId, (SupportStatus)(int)e.SupportCase.Status,
                (SupportChannel)(int)e.SupportCase.Channel, e.SupportCase.HasSatisfaction ? e.SupportCase.Satisfaction : null,
                e.SupportCase.BotTurns, e.SupportCase.WaitSeconds),
            V1.Event.PayloadOneofCase.ProfileUpdate => new ProfileUpdate(
                e.ProfileUpdate.HasDisplayName ? e.ProfileUpdate.DisplayName : null,
                e.ProfileUpdate.HasBirthYear ? e.ProfileUpdate.BirthYear : null,
                e.ProfileUpdate.HasAccessibilityNeeds ? e.ProfileUpdate.AccessibilityNeeds : null,
                e.ProfileUpdate.HasTimeZone ? e.ProfileUpdate.TimeZone : null),
            _ => null,
        },
    };

    private static LineItem[] Lines(Google.Protobuf.Collections.RepeatedField<V1.LineItem> lines)
    {
        var result = new LineItem[lines.Count];
        for (var i = 0; i < lines.Count; i++)
        {
            result[i] = new LineItem(lines[i].Sku, SharedText.Names.Share(lines[i].Category), lines[i].Quantity, lines[i].UnitPriceMinor);
        }
        return result;
    }

    /// <summary>Null when absent or outside the range a Timestamp may hold.</summary>
    private static DateTimeOffset? ToInstant(Timestamp? t)
    {
        if (t is null)
        {
            return null;
        }
        if (t.Nanos is < 0 or > 999_999_999 || t.Seconds < -62_135_596_800 || t.Seconds > 253_402_300_799)
        {
            return DateTimeOffset.MinValue; // present but not a valid instant: refused as "before the year 2000"
        }
        return t.ToDateTimeOffset();
    }

    public static V1.PublishResult ToProto(EventResult r)
    {
        var result = new V1.PublishResult
        {
            EventId = r.EventId,
            Outcome = r.Outcome switch
            {
                EventOutcome.Applied => V1.Outcome.Applied,
                EventOutcome.Duplicate => V1.Outcome.Duplicate,
                EventOutcome.Rejected => V1.Outcome.Rejected,
                _ => V1.Outcome.Unspecified,
            },
            Error = r.Error ?? "",
            ErrorField = r.ErrorField ?? "",
            PointsDelta = r.PointsDelta,
        };
        if (r.Customer is { } c)
        {
            result.Customer = ToProto(c);
        }
        result.ProgramVersion = r.ProgramVersion;
        // By index: a foreach over an IReadOnlyList boxes its enumerator, for every event answered. Sized first: a
        // repeated field's first array holds 8.
        if (r.Rewards.Count > 0)
        {
            result.Rewards.Capacity = r.Rewards.Count;
        }
        for (var i = 0; i < r.Rewards.Count; i++)
        {
            result.Rewards.Add(ToProto(r.Rewards[i], r.EventId));
        }
        for (var i = 0; i < r.Perks.Count; i++)
        {
            result.Perks.Add(ToProto(r.Perks[i]));
        }
        for (var i = 0; i < r.Declined.Count; i++)
        {
            result.Declined.Add(new V1.RuleDecline { RuleId = r.Declined[i].RuleId, Reason = r.Declined[i].Reason });
        }
        return result;
    }

    public static V1.LedgerEntry ToProto(LedgerEntry e) => new()
    {
        Sequence = e.Sequence,
        Kind = e.Kind,
        Points = e.Points,
        PendingPoints = e.PendingPoints,
        BalanceAfter = e.BalanceAfter,
        EventId = e.EventKey,
        RuleId = e.RuleId,
        ProgramVersion = e.ProgramVersion,
        At = Timestamp.FromDateTimeOffset(e.At),
        Note = e.Note,
        Ref = e.Ref,
    };

    public static V1.PublishResult NotApplied(string eventId, string why) => new()
    {
        EventId = eventId,
        Outcome = V1.Outcome.NotApplied,
        Error = why,
    };

    public static V1.PublishResult Rejected(string eventId, FieldError error) => new()
    {
        EventId = eventId,
        Outcome = V1.Outcome.Rejected,
        Error = error.ToString(),
        ErrorField = error.Field,
    };

    public static V1.CustomerSummary ToProto(CustomerSummary c) => new()
    {
        CustomerId = c.CustomerId,
        PointsAvailable = c.PointsAvailable,
        PointsPending = c.PointsPending,
        PointsLifetime = c.PointsLifetime,
        Tier = c.Tier,
    };

    public static V1.Customer ToProto(CustomerView v)
    {
        var customer = new V1.Customer
        {
            Summary = ToProto(v.Summary),
            TierProgress = new V1.TierProgress
            {
                CurrentTier = v.TierProgress.CurrentTier,
                NextTier = v.TierProgress.NextTier,
                QualifyingPoints = v.TierProgress.QualifyingPoints,
                PointsToNextTier = v.TierProgress.PointsToNextTier,
                WindowDays = v.TierProgress.WindowDays,
            },
            Profile = new V1.Profile
            {
                DisplayName = v.Profile.DisplayName,
                BirthYear = v.Profile.BirthYear,
                AccessibilityNeeds = v.Profile.AccessibilityNeeds,
                TimeZone = v.Profile.TimeZone,
            },
            Activity = new V1.ActivityTotals
            {
                WindowDays = v.Activity.WindowDays,
                GameMinutes = v.Activity.GameMinutes,
                GameSessions = v.Activity.GameSessions,
                SupportContacts = v.Activity.SupportContacts,
                SupportRatings = v.Activity.SupportRatings,
                AverageSatisfaction = v.Activity.AverageSatisfaction,
            },
            FirstSeen = Timestamp.FromDateTimeOffset(v.FirstSeen),
            EventsApplied = v.EventsApplied,
            AffinityWindowDays = v.AffinityWindowDays,
        };
        if (v.LastEventAt is { } last)
        {
            customer.LastEventAt = Timestamp.FromDateTimeOffset(last);
        }
        foreach (var reward in v.Rewards)
        {
            customer.Rewards.Add(ToProto(reward));
        }
        foreach (var perk in v.Perks)
        {
            customer.Perks.Add(ToProto(perk));
        }
        foreach (var change in v.TierHistory)
        {
            customer.TierHistory.Add(new V1.TierChange
            {
                From = change.From, To = change.To, At = Timestamp.FromDateTimeOffset(change.At),
                EventId = change.EventKey, QualifyingPoints = change.QualifyingPoints, Reason = change.Reason,
            });
        }
        customer.ExpiringWindowDays = v.ExpiringWindowDays;
        foreach (var expiring in v.Expiring)
        {
            customer.ExpiringSoon.Add(new V1.ExpiringPoints { At = Timestamp.FromDateTimeOffset(expiring.At), Points = expiring.Points });
        }
        if (v.NextActivation is { } activation)
        {
            customer.NextActivationAt = Timestamp.FromDateTimeOffset(activation);
        }
        if (v.TierPeriodEnd is { } periodEnd)
        {
            customer.TierPeriodEnd = Timestamp.FromDateTimeOffset(periodEnd);
        }
        if (v.GraceUntil is { } grace)
        {
            customer.GraceUntil = Timestamp.FromDateTimeOffset(grace);
        }
        customer.PointsOwed = v.Debt;
        foreach (var a in v.Affinity)
        {
            customer.Affinity.Add(new V1.CategoryAffinity
            {
                Category = a.Category,
                SpendMinor = a.SpendMinor,
                PurchaseCount = a.PurchaseCount,
                SpendShare = a.SpendShare,
            });
        }
        return customer;
    }

    public static V1.Interaction ToProto(Interaction i) => new()
    {
        Sequence = i.Sequence,
        EventId = i.EventId,
        Kind = i.Kind,
        Source = i.Source,
        OccurredAt = Timestamp.FromDateTimeOffset(i.OccurredAt),
        AppliedAt = Timestamp.FromDateTimeOffset(i.AppliedAt),
        PointsDelta = i.PointsDelta,
        Summary = i.Summary,
        TierAfter = i.TierAfter,
        ProgramVersion = i.ProgramVersion,
    };

    /// <param name="eventId">The id of the event the reward answers, if known: the grant's own event key is that id
    /// (a short id is its own key), so its string is used rather than a new one made.</param>
    public static V1.RewardGrant ToProto(GrantedReward g, string? eventId = null)
    {
        var grant = new V1.RewardGrant
        {
            RewardId = g.RewardId,
            RuleId = g.RuleId,
            Kind = g.Kind,
            Code = g.Code,
            Description = g.Description,
            ValueMinor = g.ValueMinor,
            Percent = g.Percent,
            Amount = g.Amount,
            GrantedAt = Timestamp.FromDateTimeOffset(g.GrantedAt),
            ProgramVersion = g.ProgramVersion,
            EventId = eventId is not null && g.EventIdValue.Is(eventId) ? eventId : g.EventId,
        };
        if (g.ExpiresAt is { } expires)
        {
            grant.ExpiresAt = Timestamp.FromDateTimeOffset(expires);
        }
        if (g.RevokedAt is { } revoked)
        {
            grant.RevokedAt = Timestamp.FromDateTimeOffset(revoked);
        }
        if (g.UsedAt is { } used)
        {
            grant.UsedAt = Timestamp.FromDateTimeOffset(used);
        }
        return grant;
    }

    public static V1.HeldPerk ToProto(HeldPerk p)
    {
        var perk = new V1.HeldPerk { Name = p.Name, RuleId = p.RuleId, Since = Timestamp.FromDateTimeOffset(p.Since) };
        if (p.UntilTicks is { } until)
        {
            perk.Until = Timestamp.FromDateTimeOffset(new DateTimeOffset(until, TimeSpan.Zero));
        }
        return perk;
    }

    public static V1.ListEligibleRewardsResponse ToProto(Domain.Rules.Eligibility e)
    {
        var response = new V1.ListEligibleRewardsResponse { ProgramVersion = e.ProgramVersion };
        foreach (var r in e.Rewards)
        {
            response.Rewards.Add(new V1.EligibleReward
            {
                RewardId = r.RewardId, Kind = r.Kind, Description = r.Description, PointsPrice = r.PointsPrice,
                RedeemableNow = r.RedeemableNow, PointsMissing = r.PointsMissing,
            });
        }
        foreach (var m in e.NearMisses)
        {
            response.NearMisses.Add(new V1.NearMiss { RuleId = m.RuleId, Description = m.Description, RewardIds = { m.RewardIds }, Missing = m.Missing });
        }
        return response;
    }
}

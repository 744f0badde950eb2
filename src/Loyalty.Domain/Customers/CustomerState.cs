using System.Text.Json.Serialization;

namespace Loyalty.Domain.Customers;

/// <summary>
/// Everything the engine keeps about one customer. Every collection is bounded (see <see cref="EngineLimits"/>);
/// entries are immutable records so a snapshot for storage is a cheap shallow copy of the lists.
/// Stored with System.Text.Json under short, stable property names: renaming a C# member must not rename
/// stored data, and new members must have defaults so yesterday's state still loads.
/// </summary>
public sealed class CustomerState : IJsonOnDeserialized
{
    public const int CurrentSchema = 1;

    [JsonPropertyName("schema")] public int Schema { get; set; } = CurrentSchema;
    [JsonPropertyName("id")] public string CustomerId { get; set; } = "";
    [JsonPropertyName("firstSeen")] public DateTimeOffset? FirstSeen { get; set; }
    [JsonPropertyName("lastEventAt")] public DateTimeOffset? LastEventAt { get; set; }
    [JsonPropertyName("available")] public long PointsAvailable { get; set; }
    [JsonPropertyName("pending")] public long PointsPending { get; set; }
    [JsonPropertyName("lifetime")] public long PointsLifetime { get; set; }
    [JsonPropertyName("tier")] public string Tier { get; set; } = "";
    [JsonPropertyName("applied")] public long EventsApplied { get; set; }
    [JsonPropertyName("seq")] public long LastSequence { get; set; }
    /// <summary>The customer's journal sequence this state includes: replay starts after it.</summary>
    [JsonPropertyName("jseq")] public long JournalSeq { get; set; }
    [JsonPropertyName("profile")] public CustomerProfile Profile { get; set; } = new();

    /// <summary>Event ids already applied, with what each did. Bounded by count and by age.</summary>
    [JsonPropertyName("seen")] public List<SeenEvent> Seen { get; set; } = [];
    /// <summary>Latest occurred_at among ids forgotten because of the count bound (UTC ticks); events at
    /// or before it that are not in <see cref="Seen"/> are rejected rather than risk counting them twice.</summary>
    [JsonPropertyName("dedupeFloor")] public long DedupeFloorTicks { get; set; }

    /// <summary>Recent interactions, oldest first.</summary>
    [JsonPropertyName("interactions")] public InteractionLog Interactions { get; set; } = new();
    /// <summary>Qualifying points per program-local day.</summary>
    [JsonPropertyName("qualifying")]
    [JsonConverter(typeof(DayPointsListConverter))]
    public List<DayPoints> Qualifying { get; set; } = [];
    /// <summary>Spend and purchase count per category per program-local day.</summary>
    [JsonPropertyName("categories")] public List<CategoryDay> Categories { get; set; } = [];
    /// <summary>Game and support activity per program-local day.</summary>
    [JsonPropertyName("activity")]
    [JsonConverter(typeof(ActivityListConverter))]
    public List<ActivityDay> Activity { get; set; } = [];
    /// <summary>Recent orders, kept so refunds can reverse exactly what each line earned.</summary>
    [JsonPropertyName("orders")] public List<OrderRecord> Orders { get; set; } = [];
    /// <summary>Achievements already paid ("game/achievement").</summary>
    [JsonPropertyName("achievements")] public List<string> Achievements { get; set; } = [];
    /// <summary>Support cases whose resolution bonus was already paid.</summary>
    [JsonPropertyName("resolvedCases")] public List<string> ResolvedCases { get; set; } = [];
    /// <summary>Rule firings on support cases, one "rule id|case key" per firing (bounded): a case's reward pays at most
    /// the rule's maxPerCase times, whatever the event ids.</summary>
    [JsonPropertyName("caseFirings")] public List<string> CaseFirings { get; set; } = [];
    /// <summary>Rewards granted by rules, newest last (bounded).</summary>
    [JsonPropertyName("rewards")] public RecentList<GrantedReward> Rewards { get; set; } = [];
    /// <summary>Perks held, with their end (null = permanent).</summary>
    [JsonPropertyName("perks")] public List<HeldPerk> Perks { get; set; } = [];
    /// <summary>The newest ledger entries, oldest first; older ones are in the ledger archive (see
    /// <see cref="LedgerArchivedThrough"/>).</summary>
    [JsonPropertyName("ledger")] public LedgerList Ledger { get; set; } = [];
    /// <summary>Sequence number of the last ledger entry written.</summary>
    [JsonPropertyName("ledgerSeq")] public long LedgerSeq { get; set; }
    /// <summary>Every entry up to this sequence number is in the ledger archive (so may be trimmed from state).</summary>
    [JsonPropertyName("ledgerArchived")] public long LedgerArchivedThrough { get; set; }
    /// <summary>Every ledger entry up to this sequence number is in the webhook outbox (or was not for any endpoint).
    /// Engine bookkeeping, never changed by applying events: a checkpoint queues the entries after it before it is
    /// written, so entries a checkpoint holds are never lost to webhooks. Null in states stored before webhooks existed
    /// (loading one starts at its ledger end: history is not sent again).</summary>
    [JsonPropertyName("noticesQueued")] public long? NoticesQueuedThrough { get; set; }

    /// <summary>Tier changes, oldest first (the newest 20).</summary>
    [JsonPropertyName("tierHistory")] public List<TierChange> TierHistory { get; set; } = [];

    /// <summary>Points held for checkouts (two-phase redemption), until confirmed, cancelled or expired.</summary>
    [JsonPropertyName("holds")] public List<PointsHold> Holds { get; set; } = [];

    /// <summary>Points in lots: pending (until their due time) or spendable (until their expiry), oldest first.
    /// <see cref="PointsAvailable"/> = Σ spendable lots − <see cref="Debt"/>; <see cref="PointsPending"/> = Σ pending lots.</summary>
    [JsonPropertyName("lots")] public List<PointsLot> Lots { get; set; } = [];
    /// <summary>Points reversed by refunds beyond what was left (the balance below zero); later earnings pay it back.</summary>
    [JsonPropertyName("debt")] public long Debt { get; set; }
    /// <summary>When the current tier's period ends (UTC ticks; 0 = no period: the lowest tier, or tiers never go down).</summary>
    [JsonPropertyName("tierEnd")] public long TierPeriodEndTicks { get; set; }
    /// <summary>End of the grace period after a missed requalification (UTC ticks; 0 = not in grace).</summary>
    [JsonPropertyName("grace")] public long GraceUntilTicks { get; set; }

    /// <summary>When each rule last fired for this customer (for per-customer caps and cooldowns).</summary>
    [JsonPropertyName("firings")] public List<RuleFiring> Firings { get; set; } = [];

    // The import members below are left out of the stored JSON while unset (most customers never are imported).
    /// <summary>The member import that created this customer (null: not created by a member import).</summary>
    [JsonPropertyName("memberImport")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public MemberImportMark? MemberImport { get; set; }
    /// <summary>Known only from imported history so far: a member import may still complete it. Any live event or
    /// operation ends this.</summary>
    [JsonPropertyName("historyOnly")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool HistoryOnly { get; set; }
    /// <summary>Imported history events (<see cref="HistoryKeys"/>, base64); null when none.</summary>
    [JsonPropertyName("history")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public string? HistoryKeys { get; set; }

    [JsonIgnore] public bool Exists => FirstSeen is not null;

    /// <summary>Where each remembered id is in <see cref="Seen"/> (see <see cref="SeenIndex"/>).</summary>
    [JsonIgnore] private SeenIndex? _seenIndex;

    // The earliest end (expiry or revocation, UTC ticks) among the rewards, for the list and version it was computed
    // from: TrimRewards runs for every event and otherwise reads every kept reward (~17 KB per customer, from memory
    // the cache no longer holds) to find nothing to forget.
    [JsonIgnore] private RecentList<GrantedReward>? _rewardsEndsOf;
    [JsonIgnore] private int _rewardsEndsVersion;
    [JsonIgnore] private long _rewardsEarliestEnd;

    /// <summary>Grants a reward, keeping at most <paramref name="kept"/> (the oldest drop off).</summary>
    public void AddReward(GrantedReward reward, int kept)
    {
        var known = RewardsEndKnown;
        Rewards.Add(reward, kept);
        if (known)
        {
            // Dropping the oldest can only make the earliest end later: the old one stays a safe bound.
            _rewardsEarliestEnd = Math.Min(_rewardsEarliestEnd, EndTicks(reward));
            _rewardsEndsVersion = Rewards.Version;
        }
    }

    /// <summary>Forgets the rewards that ended (expired or were revoked) before <paramref name="horizonTicks"/>. Runs for
    /// every event: while the earliest end is known and not yet due, it reads no reward at all.</summary>
    public void ForgetRewardsEndedBefore(long horizonTicks)
    {
        if (RewardsEndKnown && _rewardsEarliestEnd >= horizonTicks)
        {
            return;
        }
        if (EarliestRewardEnd() < horizonTicks)
        {
            RemoveRewardsEndedBefore(horizonTicks);
        }
        _rewardsEndsOf = Rewards;
        _rewardsEarliestEnd = EarliestRewardEnd();
        _rewardsEndsVersion = Rewards.Version;
    }

    // Its own method: a lambda over a parameter makes its closure on entry to the method that holds it, and
    // ForgetRewardsEndedBefore runs for every event.
    private void RemoveRewardsEndedBefore(long horizonTicks) => Rewards.RemoveAll(r => EndTicks(r) < horizonTicks);

    private long EarliestRewardEnd()
    {
        var earliest = long.MaxValue;
        Rewards.AsSpans(out var older, out var newer);
        foreach (ref readonly var r in older)
        {
            earliest = Math.Min(earliest, EndTicks(r));
        }
        foreach (ref readonly var r in newer)
        {
            earliest = Math.Min(earliest, EndTicks(r));
        }
        return earliest;
    }

    /// <summary>When a reward ends (expires or is revoked, whichever is first), or never.</summary>
    public static long EndTicks(in GrantedReward reward) => Math.Min(
        reward.ExpiresAt is { } e ? e.UtcTicks : long.MaxValue, reward.RevokedAt is { } v ? v.UtcTicks : long.MaxValue);

    private bool RewardsEndKnown => ReferenceEquals(_rewardsEndsOf, Rewards) && _rewardsEndsVersion == Rewards.Version;

    /// <summary>The newest kept reward with this code, or none (rewards are values: a search that finds nothing must
    /// say so rather than answer an empty reward).</summary>
    public GrantedReward? RewardWithCode(string code) => NewestReward(InlineKey.Of(code), byCode: true);

    /// <inheritdoc cref="RewardWithCode(string)"/>
    public GrantedReward? RewardWithCode(InlineKey code) => NewestReward(code, byCode: true);

    /// <summary>The newest kept reward granted by the event, redemption or grant stored under <paramref name="eventKey"/>,
    /// or none.</summary>
    public GrantedReward? RewardGrantedBy(string eventKey) => NewestReward(InlineKey.Of(eventKey), byCode: false);

    // Keys compare inside the rewards (InlineKey.Of of a short ASCII text makes no string): no string per reward read.
    private GrantedReward? NewestReward(InlineKey key, bool byCode)
    {
        for (var i = Rewards.Count - 1; i >= 0; i--)
        {
            ref readonly var reward = ref Rewards.ItemRef(i); // by reference: a reward is a struct of a dozen fields
            if ((byCode ? reward.CodeValue : reward.EventIdValue) == key)
            {
                return reward;
            }
        }
        return null;
    }

    public SeenEvent? FindSeen(string eventId)
    {
        var index = _seenIndex ??= new SeenIndex();
        if (!index.Current)
        {
            index.Rebuild(Seen);
        }
        var at = index.Find(Seen, SeenEvent.KeyOf(eventId));
        return at >= 0 ? Seen[at] : null;
    }

    /// <summary>A list read from storage has the capacity its reader doubled up to (3,000 ids in 4,096 slots): it keeps
    /// only room for what it holds, and <see cref="AddSeen"/> grows it to the bound from there.</summary>
    void IJsonOnDeserialized.OnDeserialized()
    {
        if (Seen.Capacity - Seen.Count > Seen.Count / 8)
        {
            Seen.Capacity = Seen.Count;
        }
    }

    /// <summary>Remembers an id. <paramref name="most"/> is the most ids the list ever holds (the count bound, plus the
    /// one added before the trim that keeps to it): a full list that would double past it grows to exactly that. A busy
    /// customer's 3,001 ids then take 216 KB instead of an array of 4,096 slots (295 KB).</summary>
    public void AddSeen(SeenEvent seen, int most = int.MaxValue)
    {
        if (Seen.Count == Seen.Capacity && Seen.Count < most && Seen.Count > most / 2)
        {
            Seen.Capacity = most;
        }
        Seen.Add(seen);
        if (_seenIndex is { Current: true } index)
        {
            index.Appended(Seen, Seen.Count - 1);
        }
    }

    public void RemoveSeenWhere(Predicate<SeenEvent> match)
    {
        if (Seen.RemoveAll(match) > 0)
        {
            _seenIndex?.Invalidate();
        }
    }

    /// <summary>Appends a ledger entry (the one way entries are added).</summary>
    public void AddToLedger(in LedgerEntry entry) => Ledger.Add(in entry);

    /// <summary>The kept ledger entries after <paramref name="after"/> up to <paramref name="through"/>, oldest first. The
    /// ledger is in sequence order with the newest last, so this reads only the entries it returns and the one before
    /// them: the reader of what one command added, or what was stored since the last hand-over, never scans it all.</summary>
    public LedgerSlice LedgerBetween(long after, long through = long.MaxValue)
    {
        var (first, end) = LedgerRange(after, through);
        return Ledger.Slice(first, end - first);
    }

    /// <summary>Where <see cref="LedgerBetween"/>'s entries are in the ledger list: from <c>first</c> up to <c>end</c>.</summary>
    private (int First, int End) LedgerRange(long after, long through)
    {
        var ledger = Ledger;
        var end = ledger.Count;
        while (end > 0 && ledger.ItemRef(end - 1).Sequence > through)
        {
            end--;
        }
        var first = end;
        while (first > 0 && ledger.ItemRef(first - 1).Sequence > after)
        {
            first--;
        }
        return (first, end);
    }

    /// <summary>The ledger entries to move to the archive so that only the newest <paramref name="keep"/> stay in
    /// state (none while at most half as many again are held: entries go in chunks), and the sequence number they reach.
    /// The entries are a view of this state's ledger, not a copy (a checkpoint's ~480 entries of ~190 bytes were a
    /// large object per checkpoint): read them before the ledger changes, as a checkpoint does with the snapshot it owns
    /// (archive, then <see cref="TrimArchivedLedger"/>). Reading them after it changed throws.</summary>
    public (IReadOnlyList<LedgerEntry> Entries, long Through) LedgerToArchive(int keep)
    {
        if (Ledger.Count <= keep + Math.Max(1, keep / 2))
        {
            return ([], LedgerArchivedThrough);
        }
        var through = Ledger[Ledger.Count - keep - 1].Sequence;
        var after = LedgerArchivedThrough;
        var (first, end) = LedgerRange(after, through);
        return (end == first ? [] : new LedgerView(Ledger, first, end - first, after, through), through);
    }

    /// <summary>Consecutive entries of a ledger list, read in place; each read checks the entry is still one of them.</summary>
    private sealed class LedgerView(LedgerList ledger, int start, int count, long after, long through) : IReadOnlyList<LedgerEntry>
    {
        public int Count => count;

        public LedgerEntry this[int index]
        {
            get
            {
                ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)count, nameof(index));
                var at = start + index;
                if (at >= ledger.Count || ledger.ItemRef(at).Sequence <= after || ledger.ItemRef(at).Sequence > through)
                {
                    throw new InvalidOperationException("The ledger changed after its entries to archive were taken; take them again.");
                }
                return ledger[at];
            }
        }

        public IEnumerator<LedgerEntry> GetEnumerator()
        {
            for (var i = 0; i < count; i++)
            {
                yield return this[i];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>Drops ledger entries that are in the archive.</summary>
    public void TrimArchivedLedger(long through)
    {
        if (through > LedgerArchivedThrough)
        {
            LedgerArchivedThrough = through;
        }
        Ledger.RemoveThrough(LedgerArchivedThrough);
    }

    /// <summary>A copy that shares the immutable entries: what goes to storage while the live state moves on.</summary>
    public CustomerState Snapshot() => Snapshot(null);

    /// <summary>A <see cref="Snapshot()"/> whose remembered ids and ledger go into <paramref name="into"/>'s lists
    /// (emptied first), which the caller reuses once it is done with the snapshot: a checkpoint's, which would
    /// otherwise copy up to 3,000 ids and ~500 ledger entries (large objects) every time.</summary>
    public CustomerState Snapshot(SnapshotLists? into)
    {
        var copy = (CustomerState)MemberwiseClone();
        copy._seenIndex = null;
        copy._rewardsEndsOf = null;
        copy.Seen = into is null ? [.. Seen] : SnapshotLists.Fill(into.Seen, Seen);
        copy.Interactions = Interactions.Copy();
        copy.Qualifying = [.. Qualifying];
        copy.Categories = [.. Categories];
        copy.Activity = [.. Activity];
        copy.Orders = [.. Orders];
        copy.Achievements = [.. Achievements];
        copy.ResolvedCases = [.. ResolvedCases];
        copy.CaseFirings = [.. CaseFirings];
        copy.Rewards = Rewards.Copy();
        copy.Perks = [.. Perks];
        copy.Firings = [.. Firings];
        copy.Ledger = into is null ? Ledger.Copy() : into.Ledger.CopyFrom(Ledger);
        copy.Holds = [.. Holds];
        copy.Lots = [.. Lots];
        copy.TierHistory = [.. TierHistory];
        return copy;
    }
}

public sealed record CustomerProfile
{
    [JsonPropertyName("name")] public string DisplayName { get; init; } = "";
    [JsonPropertyName("birthYear")] public int BirthYear { get; init; }
    [JsonPropertyName("access")] public bool AccessibilityNeeds { get; init; }
    [JsonPropertyName("tz")] public string TimeZone { get; init; } = "";
}

/// <param name="EventId">The event id, or for a long id its hash (see <see cref="KeyOf"/>).</param>
/// <param name="OccurredTicks">UTC ticks of the event's occurred_at.</param>
/// <remarks>A value, not an object: every applied event adds one to the customer's state for up to the dedupe window,
/// and objects that outlive the GC's young collections are what it pays for.</remarks>
public readonly record struct SeenEvent(
    string EventId,
    [property: JsonPropertyName("t"), JsonPropertyOrder(1)] long OccurredTicks,
    [property: JsonPropertyName("d"), JsonPropertyOrder(2)] long PointsDelta)
{
    private readonly InlineKey _key = InlineKey.Of(EventId);

    /// <summary>The stored key (makes a string: compare with <see cref="Key"/> where that is all that is needed).</summary>
    [JsonPropertyName("i"), JsonPropertyOrder(0)] public string EventId { get => _key.ToString(); init => _key = InlineKey.Of(value); }

    /// <summary>The stored key, kept inside the value (see <see cref="InlineKey"/>).</summary>
    [JsonIgnore] public InlineKey Key => _key;

    public static string KeyOf(string eventId) => StoredKey.Of(eventId);

    public static SeenEvent Of(string eventId, long occurredTicks, long pointsDelta) =>
        new(KeyOf(eventId), occurredTicks, pointsDelta);
}

public readonly record struct Interaction(
    [property: JsonPropertyName("seq")] long Sequence,
    [property: JsonPropertyName("id")] string EventId,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("src")] string Source,
    [property: JsonPropertyName("at")] DateTimeOffset OccurredAt,
    [property: JsonPropertyName("applied")] DateTimeOffset AppliedAt,
    [property: JsonPropertyName("d")] long PointsDelta,
    [property: JsonPropertyName("text")] string Summary,
    [property: JsonPropertyName("tier")] string TierAfter)
{
    /// <summary>The program version the event was evaluated under.</summary>
    [JsonPropertyName("ver")] public string ProgramVersion { get; init; } = "";
}

/// <summary>Day buckets stored as one flat array [day, points, day, points, ...] (a year of daily buckets is the
/// largest list most customers have); the older form, an array of objects, still reads.</summary>
public sealed class DayPointsListConverter : JsonConverter<List<DayPoints>>
{
    public override List<DayPoints> Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options)
    {
        if (reader.TokenType != System.Text.Json.JsonTokenType.StartArray)
        {
            throw new System.Text.Json.JsonException("qualifying: expected an array");
        }
        var list = new List<DayPoints>();
        while (reader.Read() && reader.TokenType != System.Text.Json.JsonTokenType.EndArray)
        {
            if (reader.TokenType == System.Text.Json.JsonTokenType.StartObject)
            {
                list.Add(System.Text.Json.JsonSerializer.Deserialize<DayPoints>(ref reader, options)!);
                continue;
            }
            var day = reader.GetInt32();
            reader.Read();
            list.Add(new DayPoints(day, reader.GetInt64()));
        }
        return list;
    }

    public override void Write(System.Text.Json.Utf8JsonWriter writer, List<DayPoints> value, System.Text.Json.JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (var d in value)
        {
            writer.WriteNumberValue(d.Day);
            writer.WriteNumberValue(d.Points);
        }
        writer.WriteEndArray();
    }
}

/// <summary>Activity days stored as one flat array of six numbers per day (day, minutes, sessions, contacts, ratings,
/// rating sum); the older form, an array of objects, still reads.</summary>
public sealed class ActivityListConverter : JsonConverter<List<ActivityDay>>
{
    public override List<ActivityDay> Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options)
    {
        if (reader.TokenType != System.Text.Json.JsonTokenType.StartArray)
        {
            throw new System.Text.Json.JsonException("activity: expected an array");
        }
        var list = new List<ActivityDay>();
        while (reader.Read() && reader.TokenType != System.Text.Json.JsonTokenType.EndArray)
        {
            if (reader.TokenType == System.Text.Json.JsonTokenType.StartObject)
            {
                list.Add(System.Text.Json.JsonSerializer.Deserialize<ActivityDay>(ref reader, options)!);
                continue;
            }
            var day = reader.GetInt32();
            var n = new long[5];
            for (var i = 0; i < 5; i++)
            {
                reader.Read();
                n[i] = reader.GetInt64();
            }
            list.Add(new ActivityDay(day, n[0], checked((int)n[1]), checked((int)n[2]), checked((int)n[3]), checked((int)n[4])));
        }
        return list;
    }

    public override void Write(System.Text.Json.Utf8JsonWriter writer, List<ActivityDay> value, System.Text.Json.JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (var a in value)
        {
            writer.WriteNumberValue(a.Day);
            writer.WriteNumberValue(a.GameMinutes);
            writer.WriteNumberValue(a.GameSessions);
            writer.WriteNumberValue(a.SupportContacts);
            writer.WriteNumberValue(a.Ratings);
            writer.WriteNumberValue(a.RatingSum);
        }
        writer.WriteEndArray();
    }
}

public readonly record struct DayPoints(
    [property: JsonPropertyName("day")] int Day,
    [property: JsonPropertyName("p")] long Points);

public sealed record CategoryDay(
    [property: JsonPropertyName("day")] int Day,
    [property: JsonPropertyName("c")] string Category,
    [property: JsonPropertyName("spend")] long SpendMinor,
    [property: JsonPropertyName("n")] int Purchases);

public readonly record struct ActivityDay(
    [property: JsonPropertyName("day")] int Day,
    [property: JsonPropertyName("min")] long GameMinutes,
    [property: JsonPropertyName("sessions")] int GameSessions,
    [property: JsonPropertyName("contacts")] int SupportContacts,
    [property: JsonPropertyName("ratings")] int Ratings,
    [property: JsonPropertyName("ratingSum")] int RatingSum)
{
    public static ActivityDay Empty(int day) => new(day, 0, 0, 0, 0, 0);
}

/// <summary>An order's lines with the points each line earned and what is left to refund.</summary>
public sealed record OrderRecord(
    [property: JsonPropertyName("id")] string OrderId,
    [property: JsonPropertyName("day")] int Day,
    [property: JsonPropertyName("lines")] IReadOnlyList<OrderLine> Lines)
{
    /// <summary>The purchase event (stored key): rewards it granted are revoked when a refund undoes their condition.</summary>
    [JsonPropertyName("ev")] public string EventKey { get; init; } = "";
    /// <summary>Spend per category (stored key of the lower-cased category) at purchase time, for affinity over
    /// the last N purchases.</summary>
    [JsonPropertyName("spend")] public IReadOnlyList<CategorySpend> Spend { get; init; } = [];
}

public sealed record CategorySpend(
    [property: JsonPropertyName("c")] string Category,
    [property: JsonPropertyName("v")] long ValueMinor);

/// <summary>The kinds of <see cref="LedgerEntry"/>.</summary>
public static class LedgerKinds
{
    /// <summary>Changes of points.</summary>
    public static readonly IReadOnlyList<string> Points = ["earn", "pending", "activate", "spend", "expire", "reverse", "adjust", "import"];
    /// <summary>Notices: no points, something happened (a reward granted, a perk granted or ended, a new tier, points
    /// about to expire).</summary>
    public static readonly IReadOnlyList<string> Notices = ["reward", "perk", "perk_expired", "tier", "expiring"];
    public static readonly IReadOnlyList<string> All = [.. Points, .. Notices];
}

/// <summary>One entry of a customer's history. Changes of points: earn, pending, activate, spend, expire, reverse,
/// adjust, import (opening balances and imported history). Notices (no points): reward (granted), perk (granted or extended), perk_expired, tier (changed), expiring
/// (points expire within 30 days). The sequence is the customer's notification sequence (Customers.Watch).</summary>
public readonly record struct LedgerEntry(
    [property: JsonPropertyName("s"), JsonPropertyOrder(0)] long Sequence,
    [property: JsonPropertyName("k"), JsonPropertyOrder(1)] string Kind,
    [property: JsonPropertyName("p"), JsonPropertyOrder(2)] long Points,
    [property: JsonPropertyName("b"), JsonPropertyOrder(3)] long BalanceAfter,
    string EventKey,
    [property: JsonPropertyName("r"), JsonPropertyOrder(5)] string RuleId,
    [property: JsonPropertyName("v"), JsonPropertyOrder(6)] string ProgramVersion,
    [property: JsonPropertyName("at"), JsonPropertyOrder(7)] DateTimeOffset At)
{
    private readonly InlineKey _eventKey = InlineKey.Of(EventKey);

    /// <summary>The event, operation or grant the entry came from (makes a string: see <see cref="EventKeyValue"/>).</summary>
    [JsonPropertyName("e"), JsonPropertyOrder(4)] public string EventKey { get => _eventKey.ToString(); init => _eventKey = InlineKey.Of(value); }

    /// <summary>The event key, kept inside the entry (see <see cref="InlineKey"/>).</summary>
    [JsonIgnore] public InlineKey EventKeyValue => _eventKey;

    private readonly InlineKey _note;

    /// <summary>Why, for operator adjustments; the reward, for redemptions; the code, for a reward notice.</summary>
    [JsonPropertyName("note"), JsonPropertyOrder(8)] public string Note { get => _note.ToString(); init => _note = InlineKey.Of(value); }

    /// <summary>The note, kept inside the entry (a reward notice's code: see <see cref="InlineKey"/>).</summary>
    [JsonIgnore] public InlineKey NoteValue { get => _note; init => _note = value; }
    /// <summary>Change of pending points (<see cref="Points"/> is the change of available points): a "pending" entry
    /// adds here, an "activate" entry moves from here to available, a refund may take from either.</summary>
    [JsonPropertyName("pd"), JsonPropertyOrder(9)] public long PendingPoints { get; init; }
    /// <summary>What a notice is about: the reward id (reward), perk name (perk, perk_expired), new tier (tier), expiry
    /// instant (expiring).</summary>
    [JsonPropertyName("ref"), JsonPropertyOrder(10)] public string Ref { get; init; } = "";
    /// <summary>The change of available + pending points.</summary>
    [JsonIgnore] public long Total => Points + PendingPoints;
}

/// <summary>Points earned together: spendable from <see cref="EarnedTicks"/> until <see cref="ExpiresTicks"/> (0 = never),
/// or pending until <see cref="PendingUntilTicks"/> (0 = not pending). Pending lots remember their order, so a refund
/// within the return window takes back that order's own pending points.</summary>
public readonly record struct PointsLot(
    [property: JsonPropertyName("p")] long Points,
    [property: JsonPropertyName("at")] long EarnedTicks,
    [property: JsonPropertyName("exp")] long ExpiresTicks,
    [property: JsonPropertyName("due")] long PendingUntilTicks,
    [property: JsonPropertyName("o")] string OrderKey)
{
    [JsonIgnore] public bool IsPending => PendingUntilTicks != 0;
    /// <summary>An "expiring" notice was written for this lot.</summary>
    [JsonPropertyName("w")] public bool Warned { get; init; }
}

/// <summary>A change of tier: when, why (the event and the qualifying points it reached).</summary>
public sealed record TierChange(
    [property: JsonPropertyName("from")] string From,
    [property: JsonPropertyName("to")] string To,
    [property: JsonPropertyName("at")] DateTimeOffset At,
    [property: JsonPropertyName("event")] string EventKey,
    [property: JsonPropertyName("q")] long QualifyingPoints)
{
    /// <summary>Why: "qualified", "requalified in grace", "period ended without requalifying".</summary>
    [JsonPropertyName("why")] public string Reason { get; init; } = "";
}

/// <summary>Points held by a reservation until <see cref="UntilTicks"/> (UTC).</summary>
public sealed record PointsHold(
    [property: JsonPropertyName("id")] string ReservationKey,
    [property: JsonPropertyName("p")] long Points,
    [property: JsonPropertyName("until")] long UntilTicks);

/// <summary>A reward a rule granted. Codes are unique per grant and derived from a server secret.</summary>
public readonly record struct GrantedReward(
    [property: JsonPropertyName("reward"), JsonPropertyOrder(0)] string RewardId,
    [property: JsonPropertyName("rule"), JsonPropertyOrder(1)] string RuleId,
    [property: JsonPropertyName("kind"), JsonPropertyOrder(2)] string Kind,
    string Code,
    [property: JsonPropertyName("text"), JsonPropertyOrder(4)] string Description,
    [property: JsonPropertyName("value"), JsonPropertyOrder(5)] long ValueMinor,
    [property: JsonPropertyName("percent"), JsonPropertyOrder(6)] int Percent,
    [property: JsonPropertyName("amount"), JsonPropertyOrder(7)] long Amount,
    [property: JsonPropertyName("at"), JsonPropertyOrder(8)] DateTimeOffset GrantedAt,
    [property: JsonPropertyName("until"), JsonPropertyOrder(9)] DateTimeOffset? ExpiresAt,
    string EventId,
    [property: JsonPropertyName("version"), JsonPropertyOrder(11)] string ProgramVersion)
{
    // Both inside the value (see InlineKey): a grant leaves no string of its own in the customer's state.
    private readonly InlineKey _code = InlineKey.Of(Code);
    private readonly InlineKey _eventId = InlineKey.Of(EventId);

    /// <summary>The coupon or reward code (makes a string: compare with <see cref="CodeValue"/>).</summary>
    [JsonPropertyName("code"), JsonPropertyOrder(3)] public string Code { get => _code.ToString(); init => _code = InlineKey.Of(value); }

    /// <summary>The stored key of the event, redemption or grant that granted it (makes a string: compare with
    /// <see cref="EventIdValue"/>).</summary>
    [JsonPropertyName("event"), JsonPropertyOrder(10)] public string EventId { get => _eventId.ToString(); init => _eventId = InlineKey.Of(value); }

    [JsonIgnore] public InlineKey CodeValue { get => _code; init => _code = value; }
    [JsonIgnore] public InlineKey EventIdValue => _eventId;

    /// <summary>Set when a refund took away the condition the reward was granted for.</summary>
    [JsonPropertyName("revoked"), JsonPropertyOrder(12)] public DateTimeOffset? RevokedAt { get; init; }
    /// <summary>Set when a purchase used the coupon; a used coupon is never revoked.</summary>
    [JsonPropertyName("used"), JsonPropertyOrder(13)] public DateTimeOffset? UsedAt { get; init; }
}

public sealed record HeldPerk(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("until")] long? UntilTicks,
    [property: JsonPropertyName("rule")] string RuleId,
    [property: JsonPropertyName("since")] DateTimeOffset Since);

/// <summary>When a rule with per-customer limits fired for this customer: minutes since 2000-01-01 UTC, oldest
/// first, at most the rule's maxPerCustomer (≤ 50) within its period.</summary>
public sealed record RuleFiring(
    [property: JsonPropertyName("rule")] string RuleId,
    [property: JsonPropertyName("m")] IReadOnlyList<int> Minutes)
{
    private static readonly DateTimeOffset Epoch = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static int MinuteOf(DateTimeOffset instant) => (int)((instant - Epoch).Ticks / TimeSpan.TicksPerMinute);
}

/// <param name="PointsLeft">Points the line's remaining units earned: base points and its share of the rule points
/// the purchase earned (shared by line value).</param>
public sealed record OrderLine(
    [property: JsonPropertyName("sku")] string Sku,
    [property: JsonPropertyName("qty")] int QuantityLeft,
    [property: JsonPropertyName("p")] long PointsLeft)
{
    /// <summary>Value of the remaining units (minor units).</summary>
    [JsonPropertyName("v")] public long ValueLeft { get; init; }
    /// <summary>The line's category as an index into the order's <see cref="OrderRecord.Spend"/> list.</summary>
    [JsonPropertyName("c")] public int CategoryIndex { get; init; }
}

/// <summary>Lists a snapshot can keep its largest parts in (remembered ids, ledger), reused from one snapshot to the
/// next by their owner: see <see cref="CustomerState.Snapshot(SnapshotLists)"/>.</summary>
public sealed class SnapshotLists
{
    public List<SeenEvent> Seen { get; } = [];
    public LedgerList Ledger { get; } = [];

    internal static List<T> Fill<T>(List<T> list, List<T> from)
    {
        list.Clear();
        list.AddRange(from);
        return list;
    }

    /// <summary>Empties the lists (they keep their arrays), dropping what they referred to.</summary>
    public void Clear()
    {
        Seen.Clear();
        Ledger.Clear();
    }
}

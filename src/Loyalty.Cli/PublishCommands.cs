using System.CommandLine;
using System.Globalization;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;
using Loyalty.Contracts.V1;

namespace Loyalty.Cli;

/// <summary>`loyalty publish KIND ...`: one event per call. The event id defaults to a new GUID and is printed,
/// so a retry with `--event-id` is safe.</summary>
public static class PublishCommands
{
    public static Command Build()
    {
        var publish = new Command("publish", "Publish one event (purchase, refund, game-session, match, achievement, support, profile)");
        publish.Subcommands.Add(Purchase());
        publish.Subcommands.Add(Refund());
        publish.Subcommands.Add(GameSessionCommand());
        publish.Subcommands.Add(Match());
        publish.Subcommands.Add(AchievementCommand());
        publish.Subcommands.Add(Support());
        publish.Subcommands.Add(Profile());
        return publish;
    }

    private sealed class Common
    {
        public Option<string> Customer { get; } = new("--customer", "-c") { Description = "Customer id", Required = true };
        public Option<string> EventId { get; } = new("--event-id") { Description = "Idempotency key (default: a new GUID)" };
        public Option<string> Source { get; } = new("--source") { Description = "Event source", DefaultValueFactory = _ => "cli" };
        public Option<DateTimeOffset?> At { get; } = new("--at") { Description = "When it happened (ISO 8601; default now)" };

        public Command Command(string name, string description, params Option[] options)
        {
            var command = new Command(name, description) { Customer, EventId, Source, At };
            foreach (var option in options)
            {
                command.Options.Add(option);
            }
            return command;
        }

        public Event Event(ParseResult parse) => new()
        {
            EventId = parse.GetValue(EventId) is { Length: > 0 } id ? id : Guid.NewGuid().ToString("N"),
            CustomerId = parse.GetValue(Customer)!,
            Source = parse.GetValue(Source) ?? "",
            OccurredAt = Timestamp.FromDateTimeOffset(parse.GetValue(At) ?? DateTimeOffset.UtcNow),
        };
    }

    private static Option<string[]> LinesOption() => new("--line", "-l")
    {
        Description = "A line as sku:category:quantity:unit_price_minor (repeat for more lines)",
        Required = true,
        AllowMultipleArgumentsPerToken = false,
    };

    private static Command Purchase()
    {
        var common = new Common();
        var order = new Option<string>("--order") { Description = "Order id", Required = true };
        var currency = new Option<string>("--currency") { Description = "ISO 4217 currency", DefaultValueFactory = _ => "EUR" };
        var lines = LinesOption();
        var coupons = new Option<string[]>("--coupon") { Description = "A loyalty coupon code used at checkout (repeatable)", AllowMultipleArgumentsPerToken = false };
        var command = common.Command("purchase", "A purchase with line items", order, currency, lines, coupons);
        command.SetAction((parse, ct) => Send(parse, () =>
        {
            var e = common.Event(parse);
            e.Purchase = new Contracts.V1.Purchase { OrderId = parse.GetValue(order)!, Currency = parse.GetValue(currency)! };
            e.Purchase.Lines.AddRange(ParseLines(parse.GetValue(lines)!));
            e.Purchase.CouponCodes.AddRange(parse.GetValue(coupons) ?? []);
            return e;
        }, ct));
        return command;
    }

    private static Command Refund()
    {
        var common = new Common();
        var order = new Option<string>("--order") { Description = "Order id of the purchase", Required = true };
        var lines = LinesOption();
        var command = common.Command("refund", "Return lines of an earlier purchase", order, lines);
        command.SetAction((parse, ct) => Send(parse, () =>
        {
            var e = common.Event(parse);
            e.Refund = new Contracts.V1.Refund { OrderId = parse.GetValue(order)! };
            e.Refund.Lines.AddRange(ParseLines(parse.GetValue(lines)!));
            return e;
        }, ct));
        return command;
    }

    private static Command GameSessionCommand()
    {
        var common = new Common();
        var game = new Option<string>("--game") { Description = "Game id", Required = true };
        var minutes = new Option<int>("--minutes") { Description = "Minutes played", Required = true };
        var difficulty = new Option<int>("--difficulty") { Description = "Difficulty (1..program max)", DefaultValueFactory = _ => 1 };
        var score = new Option<long>("--score") { Description = "Score" };
        var command = common.Command("game-session", "A play session", game, minutes, difficulty, score);
        command.SetAction((parse, ct) => Send(parse, () =>
        {
            var e = common.Event(parse);
            e.GameSession = new GameSession
            {
                GameId = parse.GetValue(game)!,
                DurationSeconds = checked(parse.GetValue(minutes) * 60),
                Difficulty = parse.GetValue(difficulty),
                Score = parse.GetValue(score),
            };
            return e;
        }, ct));
        return command;
    }

    private static Command Match()
    {
        var common = new Common();
        var game = new Option<string>("--game") { Description = "Game id", Required = true };
        var match = new Option<string>("--match") { Description = "Match id", Required = true };
        var rank = new Option<int>("--rank") { Description = "Final rank (1 = winner)", Required = true };
        var participants = new Option<int>("--participants") { Description = "Number of participants", Required = true };
        var command = common.Command("match", "A match result", game, match, rank, participants);
        command.SetAction((parse, ct) => Send(parse, () =>
        {
            var e = common.Event(parse);
            e.MatchResult = new MatchResult
            {
                GameId = parse.GetValue(game)!,
                MatchId = parse.GetValue(match)!,
                Rank = parse.GetValue(rank),
                Participants = parse.GetValue(participants),
            };
            return e;
        }, ct));
        return command;
    }

    private static Command AchievementCommand()
    {
        var common = new Common();
        var game = new Option<string>("--game") { Description = "Game id", Required = true };
        var achievement = new Option<string>("--achievement") { Description = "Achievement id", Required = true };
        var command = common.Command("achievement", "An achievement unlocked", game, achievement);
        command.SetAction((parse, ct) => Send(parse, () =>
        {
            var e = common.Event(parse);
            e.Achievement = new Achievement { GameId = parse.GetValue(game)!, AchievementId = parse.GetValue(achievement)! };
            return e;
        }, ct));
        return command;
    }

    private static Command Support()
    {
        var common = new Common();
        var caseId = new Option<string>("--case") { Description = "Case id", Required = true };
        var status = new Option<string>("--status") { Description = "opened | escalated | resolved", Required = true };
        var channel = new Option<string>("--channel") { Description = "bot | human", Required = true };
        var satisfaction = new Option<int?>("--satisfaction") { Description = "1..5 (omit when not rated)" };
        var botTurns = new Option<int>("--bot-turns") { Description = "Turns with the bot" };
        var wait = new Option<int>("--wait-seconds") { Description = "Seconds the customer waited" };
        var command = common.Command("support", "A support case opened, escalated or resolved", caseId, status, channel, satisfaction, botTurns, wait);
        command.SetAction((parse, ct) => Send(parse, () =>
        {
            var e = common.Event(parse);
            e.SupportCase = new SupportCase
            {
                CaseId = parse.GetValue(caseId)!,
                Status = parse.GetValue(status)!.ToLowerInvariant() switch
                {
                    "opened" => SupportStatus.Opened,
                    "escalated" => SupportStatus.Escalated,
                    "resolved" => SupportStatus.Resolved,
                    var other => throw new ArgumentException($"--status: '{other}' is not opened, escalated or resolved"),
                },
                Channel = parse.GetValue(channel)!.ToLowerInvariant() switch
                {
                    "bot" => SupportChannel.Bot,
                    "human" => SupportChannel.Human,
                    var other => throw new ArgumentException($"--channel: '{other}' is not bot or human"),
                },
                BotTurns = parse.GetValue(botTurns),
                WaitSeconds = parse.GetValue(wait),
            };
            if (parse.GetValue(satisfaction) is { } rating)
            {
                e.SupportCase.Satisfaction = rating;
            }
            return e;
        }, ct));
        return command;
    }

    private static Command Profile()
    {
        var common = new Common();
        var name = new Option<string>("--name") { Description = "Display name" };
        var birthYear = new Option<int?>("--birth-year") { Description = "Birth year" };
        var access = new Option<bool?>("--accessibility-needs") { Description = "true | false" };
        var zone = new Option<string>("--time-zone") { Description = "IANA time zone, e.g. Europe/Berlin" };
        var command = common.Command("profile", "Update the customer's profile (only the given fields change)", name, birthYear, access, zone);
        command.SetAction((parse, ct) => Send(parse, () =>
        {
            var e = common.Event(parse);
            e.ProfileUpdate = new ProfileUpdate();
            if (parse.GetValue(name) is { } n) { e.ProfileUpdate.DisplayName = n; }
            if (parse.GetValue(birthYear) is { } y) { e.ProfileUpdate.BirthYear = y; }
            if (parse.GetValue(access) is { } a) { e.ProfileUpdate.AccessibilityNeeds = a; }
            if (parse.GetValue(zone) is { } z) { e.ProfileUpdate.TimeZone = z; }
            return e;
        }, ct));
        return command;
    }

    internal static IEnumerable<LineItem> ParseLines(string[] specs)
    {
        foreach (var spec in specs)
        {
            var parts = spec.Split(':');
            if (parts.Length != 4
                || !int.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var quantity)
                || !long.TryParse(parts[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var price))
            {
                throw new ArgumentException($"--line '{spec}': expected sku:category:quantity:unit_price_minor, e.g. stroller-x1:baby:1:24999");
            }
            yield return new LineItem { Sku = parts[0], Category = parts[1], Quantity = quantity, UnitPriceMinor = price };
        }
    }

    private static Task<int> Send(ParseResult parse, Func<Event> build, CancellationToken ct)
    {
        Event e;
        try
        {
            e = build();
        }
        catch (ArgumentException error)
        {
            Console.Error.WriteLine($"error: {error.Message}");
            return Task.FromResult(2);
        }
        return CliApp.Run(parse, async (channel, json) =>
        {
            var result = await new Ingestion.IngestionClient(channel).PublishAsync(new PublishRequest { Event = e }, cancellationToken: ct);
            if (json)
            {
                return CliApp.Print(result);
            }
            var c = result.Customer;
            var outcome = result.Outcome.ToString().ToUpperInvariant();
            Console.WriteLine(result.Outcome == Outcome.Rejected
                ? $"{outcome} {result.EventId}: {result.Error}"
                : $"{outcome} {CliApp.Signed(result.PointsDelta)} points (event {result.EventId})");
            if (c is not null)
            {
                Console.WriteLine($"  {c.CustomerId}: {c.PointsAvailable} available, {c.PointsPending} pending, {c.PointsLifetime} lifetime, tier {c.Tier}");
            }
            foreach (var r in result.Rewards)
            {
                Console.WriteLine($"  unlocked {r.RewardId} {r.Code}: {r.Description}");
            }
            foreach (var p in result.Perks)
            {
                Console.WriteLine($"  perk {p.Name} {(p.Until is null ? "(permanent)" : $"until {p.Until.ToDateTimeOffset():u}")}");
            }
            foreach (var d in result.Declined)
            {
                Console.WriteLine($"  not granted ({d.RuleId}): {d.Reason}");
            }
            return result.Outcome == Outcome.Rejected ? 4 : 0;
        });
    }
}

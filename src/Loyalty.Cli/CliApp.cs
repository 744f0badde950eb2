using System.CommandLine;
using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Loyalty.Contracts.V1;

namespace Loyalty.Cli;

/// <summary>The `loyalty` command line. Human-readable output by default, protobuf JSON with --json.</summary>
public static class CliApp
{
    public const string DefaultServer = "http://127.0.0.1:5080";

    internal static Option<string> ServerOption => Server;
    internal static Option<bool> JsonOption => Json;
    internal static Option<string?> ApiKeyOption => ApiKey;

    /// <summary>Where <c>deploy/local/start</c> leaves the local admin key, and where the CLI looks when no key is given.</summary>
    public static string DefaultKeyFile => Environment.GetEnvironmentVariable("LOYALTY_API_KEY_FILE") is { Length: > 0 } f ? f
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") is { Length: > 0 } x ? x
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config"), "loyalty", "api-key");

    private static readonly Option<string?> ApiKey = new("--api-key")
    {
        Description = "API key (env LOYALTY_API_KEY; default: the key in ~/.config/loyalty/api-key, which deploy/local/start writes)",
        Recursive = true,
    };

    /// <summary>The key to send: --api-key, else LOYALTY_API_KEY, else the key file (never shown in --help).</summary>
    internal static string? ResolveApiKey(ParseResult parse) =>
        parse.GetValue(ApiKey) is { Length: > 0 } given ? given
        : Environment.GetEnvironmentVariable("LOYALTY_API_KEY") is { Length: > 0 } k ? k
        : File.Exists(DefaultKeyFile) ? File.ReadAllText(DefaultKeyFile).Trim() : null;

    private static readonly Option<string> Server = new("--server", "-s")
    {
        Description = $"Engine address, or several separated by commas, or dns:///host:port (env LOYALTY_SERVER; default {DefaultServer})",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("LOYALTY_SERVER") is { Length: > 0 } s ? s : DefaultServer,
        Recursive = true,
    };

    private static readonly Option<bool> Json = new("--json") { Description = "Print the raw API response as JSON", Recursive = true };

    public static RootCommand Build()
    {
        var root = new RootCommand("Loyalty: send events to the engine, inspect customers and the program.");
        root.Options.Add(Server);
        root.Options.Add(Json);
        root.Options.Add(ApiKey);
        root.Subcommands.Add(PublishCommands.Build());
        root.Subcommands.Add(CustomerCommands());
        root.Subcommands.Add(ProgramCommands());
        root.Subcommands.Add(StreamCommands.Watch());
        root.Subcommands.Add(StreamCommands.Stream());
        root.Subcommands.Add(BenchCommand.Build());
        root.Subcommands.Add(KeyCommands.Build());
        root.Subcommands.Add(AuditCommand());
        root.Subcommands.Add(WebhookCommands.Build());
        root.Subcommands.Add(ImportCommands.Build());
        root.Subcommands.Add(ReportCommands.Build());
        return root;
    }

    private static Command CustomerCommands()
    {
        var customer = new Command("customer", "Inspect a customer");

        var showId = new Argument<string>("customer-id") { Description = "The customer id" };
        var show = new Command("show", "Show points, tier, profile and category affinity") { showId };
        show.SetAction((parse, ct) => Run(parse, async (client, json) =>
        {
            var c = await new Customers.CustomersClient(client).GetCustomerAsync(new GetCustomerRequest { CustomerId = parse.GetValue(showId)! }, cancellationToken: ct);
            if (json)
            {
                return Print(c);
            }
            var s = c.Summary;
            Console.WriteLine($"Customer {s.CustomerId}");
            Console.WriteLine($"  points     {s.PointsAvailable} available, {s.PointsPending} pending, {s.PointsLifetime} lifetime");
            if (c.NextActivationAt is not null)
            {
                Console.WriteLine($"  pending    next points become spendable {c.NextActivationAt.ToDateTimeOffset():u}");
            }
            foreach (var expiring in c.ExpiringSoon)
            {
                Console.WriteLine($"  expiring   {expiring.Points} points at {expiring.At.ToDateTimeOffset():u}");
            }
            if (c.PointsOwed > 0)
            {
                Console.WriteLine($"  owed       {c.PointsOwed} points (refunds of points already spent; later earnings pay them back)");
            }
            var t = c.TierProgress;
            Console.WriteLine(t.NextTier.Length > 0
                ? $"  tier       {t.CurrentTier} ({t.QualifyingPoints} qualifying points in {t.WindowDays} days; {t.PointsToNextTier} more for {t.NextTier})"
                : $"  tier       {t.CurrentTier} (top tier; {t.QualifyingPoints} qualifying points in {t.WindowDays} days)");
            if (c.TierPeriodEnd is not null)
            {
                Console.WriteLine($"  tier kept  until {c.TierPeriodEnd.ToDateTimeOffset():u}{(c.GraceUntil is null ? "" : $", in grace until {c.GraceUntil.ToDateTimeOffset():u}")}");
            }
            var p = c.Profile;
            Console.WriteLine($"  profile    name '{p.DisplayName}', birth year {(p.BirthYear == 0 ? "unknown" : p.BirthYear.ToString(CultureInfo.InvariantCulture))}, accessibility needs {(p.AccessibilityNeeds ? "yes" : "no")}, time zone '{p.TimeZone}'");
            Console.WriteLine($"  activity   {c.Activity.GameMinutes} game minutes in {c.Activity.GameSessions} sessions, {c.Activity.SupportContacts} support contacts (last {c.Activity.WindowDays} days)");
            Console.WriteLine($"  events     {c.EventsApplied} applied, first seen {c.FirstSeen.ToDateTimeOffset():u}");
            foreach (var perk in c.Perks)
            {
                Console.WriteLine($"  perk       {perk.Name} {(perk.Until is null ? "(permanent)" : $"until {perk.Until.ToDateTimeOffset():u}")} via {perk.RuleId}");
            }
            if (c.Rewards.Count > 0)
            {
                Console.WriteLine("  rewards    (newest first)");
                foreach (var r in c.Rewards.Take(10))
                {
                    var value = r.Percent > 0 ? $"{r.Percent} %" : r.ValueMinor > 0 ? Money(r.ValueMinor) : r.Amount > 0 ? $"x{r.Amount}" : "";
                    Console.WriteLine($"    {r.Code,-24} {r.RewardId,-22} {value,8}  {(r.RevokedAt is not null ? $"revoked {r.RevokedAt.ToDateTimeOffset():yyyy-MM-dd}" : r.UsedAt is not null ? $"used {r.UsedAt.ToDateTimeOffset():yyyy-MM-dd}" : r.ExpiresAt is null ? "" : $"expires {r.ExpiresAt.ToDateTimeOffset():yyyy-MM-dd}")}");
                }
            }
            if (c.Affinity.Count > 0)
            {
                Console.WriteLine($"  affinity   (last {c.AffinityWindowDays} days)");
                foreach (var a in c.Affinity)
                {
                    Console.WriteLine($"    {a.Category,-16} {Money(a.SpendMinor),12} spend  {a.PurchaseCount,4} purchases  {a.SpendShare,6:P0}");
                }
            }
            return 0;
        }));

        var listId = new Argument<string>("customer-id") { Description = "The customer id" };
        var pageSize = new Option<int>("--page-size") { Description = "Interactions per page (1..100)", DefaultValueFactory = _ => 20 };
        var pageToken = new Option<string>("--page-token") { Description = "Token from a previous page" };
        var all = new Option<bool>("--all") { Description = "Follow page tokens to the end of the kept history" };
        var interactions = new Command("interactions", "List recent interactions, newest first") { listId, pageSize, pageToken, all };
        interactions.SetAction((parse, ct) => Run(parse, async (client, json) =>
        {
            var customers = new Customers.CustomersClient(client);
            var request = new ListInteractionsRequest
            {
                CustomerId = parse.GetValue(listId)!,
                PageSize = parse.GetValue(pageSize),
                PageToken = parse.GetValue(pageToken) ?? "",
            };
            while (true)
            {
                var page = await customers.ListInteractionsAsync(request, cancellationToken: ct);
                if (json)
                {
                    Print(page);
                }
                else
                {
                    foreach (var i in page.Interactions)
                    {
                        Console.WriteLine($"#{i.Sequence,-5} {i.OccurredAt.ToDateTimeOffset():u}  {i.Kind,-14} {Signed(i.PointsDelta),8}  {i.Summary}  [{i.EventId}]");
                    }
                }
                if (!parse.GetValue(all) || page.NextPageToken.Length == 0)
                {
                    if (!json && page.NextPageToken.Length > 0)
                    {
                        Console.WriteLine($"more: --page-token {page.NextPageToken}");
                    }
                    return 0;
                }
                request.PageToken = page.NextPageToken;
            }
        }));

        var eligibleId = new Argument<string>("customer-id") { Description = "The customer id" };
        var eligible = new Command("eligible", "Rewards redeemable now with their points price, and near misses") { eligibleId };
        eligible.SetAction((parse, ct) => Run(parse, async (client, json) =>
        {
            var e = await new Customers.CustomersClient(client).ListEligibleRewardsAsync(new ListEligibleRewardsRequest { CustomerId = parse.GetValue(eligibleId)! }, cancellationToken: ct);
            if (json)
            {
                return Print(e);
            }
            Console.WriteLine($"Catalogue (program version {e.ProgramVersion}):");
            foreach (var r in e.Rewards)
            {
                Console.WriteLine(r.RedeemableNow
                    ? $"  [now]  {r.RewardId,-22} {r.PointsPrice,7} points  {r.Description}"
                    : $"  [{r.PointsMissing} more] {r.RewardId,-22} {r.PointsPrice,7} points  {r.Description}");
            }
            if (e.NearMisses.Count > 0)
            {
                Console.WriteLine("Near misses:");
                foreach (var m in e.NearMisses)
                {
                    Console.WriteLine($"  {m.RuleId}: {m.Missing} -> {string.Join(", ", m.RewardIds)}");
                }
            }
            return 0;
        }));

        var ledgerId = new Argument<string>("customer-id") { Description = "The customer id" };
        var ledgerSize = new Option<int>("--page-size") { Description = "Entries per page (1..1000)", DefaultValueFactory = _ => 20 };
        var ledgerToken = new Option<string>("--page-token") { Description = "Token from a previous page" };
        var ledger = new Command("ledger", "Every change of points, newest first") { ledgerId, ledgerSize, ledgerToken };
        ledger.SetAction((parse, ct) => Run(parse, async (client, json) =>
        {
            var page = await new Customers.CustomersClient(client).ListLedgerAsync(new ListLedgerRequest
            {
                CustomerId = parse.GetValue(ledgerId)!, PageSize = parse.GetValue(ledgerSize), PageToken = parse.GetValue(ledgerToken) ?? "",
            }, cancellationToken: ct);
            if (json)
            {
                return Print(page);
            }
            foreach (var e in page.Entries)
            {
                Console.WriteLine($"#{e.Sequence,-6} {e.At.ToDateTimeOffset():u}  {e.Kind,-8} {Signed(e.Points),8}{(e.PendingPoints != 0 ? $" ({Signed(e.PendingPoints)} pending)" : "")}  balance {e.BalanceAfter,8}  {e.RuleId}{(e.Note.Length > 0 ? " " + e.Note : "")}");
            }
            if (page.NextPageToken.Length > 0)
            {
                Console.WriteLine($"more: --page-token {page.NextPageToken}");
            }
            return 0;
        }));

        var redeemId = new Argument<string>("customer-id") { Description = "The customer id" };
        var rewardArg = new Argument<string>("reward-id") { Description = "A catalogue reward with a points price" };
        var redemptionId = new Option<string>("--redemption-id") { Description = "Idempotency key (default: a new GUID, printed)" };
        var redeem = new Command("redeem", "Spend points on a catalogue reward") { redeemId, rewardArg, redemptionId };
        redeem.SetAction((parse, ct) => Run(parse, async (client, json) =>
        {
            var key = parse.GetValue(redemptionId) is { Length: > 0 } k ? k : Guid.NewGuid().ToString("N");
            var r = await new Customers.CustomersClient(client).RedeemAsync(new RedeemRequest
            {
                CustomerId = parse.GetValue(redeemId)!, RewardId = parse.GetValue(rewardArg)!, RedemptionId = key,
            }, cancellationToken: ct);
            if (json)
            {
                return Print(r);
            }
            Console.WriteLine($"{r.Outcome.ToString().ToUpperInvariant()} {Signed(r.PointsDelta)} points: {r.Reward?.RewardId} {r.Reward?.Code} (redemption {key})");
            Console.WriteLine($"  {r.Customer.CustomerId}: {r.Customer.PointsAvailable} available");
            return 0;
        }));

        var adjustId = new Argument<string>("customer-id") { Description = "The customer id" };
        var pointsArg = new Argument<long>("points") { Description = "Points to add (negative to take away)" };
        var reason = new Option<string>("--reason") { Description = "Why (recorded on the ledger)", Required = true };
        var adjustmentId = new Option<string>("--adjustment-id") { Description = "Idempotency key (default: a new GUID, printed)" };
        var adjust = new Command("adjust", "Correct a customer's points, with a reason") { adjustId, pointsArg, reason, adjustmentId };
        adjust.SetAction((parse, ct) => Run(parse, async (client, json) =>
        {
            var key = parse.GetValue(adjustmentId) is { Length: > 0 } k ? k : Guid.NewGuid().ToString("N");
            var r = await new Customers.CustomersClient(client).AdjustAsync(new AdjustRequest
            {
                CustomerId = parse.GetValue(adjustId)!, Points = parse.GetValue(pointsArg), Reason = parse.GetValue(reason)!, AdjustmentId = key,
            }, cancellationToken: ct);
            if (json)
            {
                return Print(r);
            }
            Console.WriteLine($"{r.Outcome.ToString().ToUpperInvariant()} {Signed(r.PointsDelta)} points (adjustment {key}); {r.Customer.PointsAvailable} available");
            return 0;
        }));

        var goodwillId = new Argument<string>("customer-id") { Description = "The customer id" };
        var goodwillReward = new Argument<string>("reward-id") { Description = "A reward of the active program's catalogue" };
        var goodwillReason = new Option<string>("--reason") { Description = "Why (recorded on the ledger and in the audit log)", Required = true };
        var grantId = new Option<string>("--grant-id") { Description = "Idempotency key (default: a new GUID, printed)" };
        var goodwill = new Command("goodwill", "Grant a catalogue reward free as goodwill, with a reason (customers:care)") { goodwillId, goodwillReward, goodwillReason, grantId };
        goodwill.SetAction((parse, ct) => Run(parse, async (client, json) =>
        {
            var key = parse.GetValue(grantId) is { Length: > 0 } k ? k : Guid.NewGuid().ToString("N");
            var r = await new Customers.CustomersClient(client).GrantGoodwillAsync(new GrantGoodwillRequest
            {
                CustomerId = parse.GetValue(goodwillId)!, RewardId = parse.GetValue(goodwillReward)!, Reason = parse.GetValue(goodwillReason)!, GrantId = key,
            }, cancellationToken: ct);
            if (json)
            {
                return Print(r);
            }
            Console.WriteLine($"{r.Outcome.ToString().ToUpperInvariant()}: {r.Reward?.RewardId} {r.Reward?.Code}: {r.Reward?.Description} (grant {key})");
            return 0;
        }));

        var reserveId = new Argument<string>("customer-id") { Description = "The customer id" };
        var reservePoints = new Argument<long>("points") { Description = "Points to hold" };
        var reservationOption = new Option<string>("--reservation-id") { Description = "Idempotency key (default: a new GUID, printed)" };
        var ttl = new Option<int>("--ttl-seconds") { Description = "How long the hold lasts (1..86400)", DefaultValueFactory = _ => 900 };
        var reserve = new Command("reserve", "Hold points for a checkout (confirm or cancel later)") { reserveId, reservePoints, reservationOption, ttl };
        reserve.SetAction((parse, ct) => Run(parse, async (client, json) =>
        {
            var key = parse.GetValue(reservationOption) is { Length: > 0 } k ? k : Guid.NewGuid().ToString("N");
            var r = await new Customers.CustomersClient(client).ReserveAsync(new ReserveRequest
            {
                CustomerId = parse.GetValue(reserveId)!, ReservationId = key, Points = parse.GetValue(reservePoints), TtlSeconds = parse.GetValue(ttl),
            }, cancellationToken: ct);
            if (json)
            {
                return Print(r);
            }
            Console.WriteLine($"{r.Outcome.ToString().ToUpperInvariant()}: {parse.GetValue(reservePoints)} points held for {parse.GetValue(ttl)} s (reservation {key})");
            return 0;
        }));

        var settleId = new Argument<string>("customer-id") { Description = "The customer id" };
        var settleReservation = new Argument<string>("reservation-id") { Description = "The reservation" };
        var note = new Option<string>("--note") { Description = "Recorded on the spend entry, e.g. the order" };
        var confirm = new Command("confirm", "Spend held points") { settleId, settleReservation, note };
        confirm.SetAction((parse, ct) => Run(parse, async (client, json) =>
        {
            var r = await new Customers.CustomersClient(client).ConfirmAsync(new ConfirmRequest
            {
                CustomerId = parse.GetValue(settleId)!, ReservationId = parse.GetValue(settleReservation)!, Note = parse.GetValue(note) ?? "",
            }, cancellationToken: ct);
            if (json)
            {
                return Print(r);
            }
            Console.WriteLine($"{r.Outcome.ToString().ToUpperInvariant()} {Signed(r.PointsDelta)} points; {r.Customer.PointsAvailable} available");
            return 0;
        }));
        var cancelId = new Argument<string>("customer-id") { Description = "The customer id" };
        var cancelReservation = new Argument<string>("reservation-id") { Description = "The reservation" };
        var cancel = new Command("cancel", "Release held points") { cancelId, cancelReservation };
        cancel.SetAction((parse, ct) => Run(parse, async (client, json) =>
        {
            var r = await new Customers.CustomersClient(client).CancelAsync(new CancelRequest
            {
                CustomerId = parse.GetValue(cancelId)!, ReservationId = parse.GetValue(cancelReservation)!,
            }, cancellationToken: ct);
            if (json)
            {
                return Print(r);
            }
            Console.WriteLine(r.Released ? "released" : "nothing was held under that id");
            return 0;
        }));

        customer.Subcommands.Add(show);
        customer.Subcommands.Add(interactions);
        customer.Subcommands.Add(reserve);
        customer.Subcommands.Add(confirm);
        customer.Subcommands.Add(cancel);
        customer.Subcommands.Add(eligible);
        customer.Subcommands.Add(ledger);
        customer.Subcommands.Add(redeem);
        customer.Subcommands.Add(goodwill);
        customer.Subcommands.Add(adjust);
        return customer;
    }

    private static Command ProgramCommands() => ProgramCommandsBuilder.Build();

    private static Command AuditCommand()
    {
        var size = new Option<int>("--page-size") { Description = "Entries to show (newest first)", DefaultValueFactory = _ => 50 };
        var customer = new Option<string>("--customer") { Description = "Only the entries about this customer (matched by its pseudonym; the log never holds ids)" };
        var audit = new Command("audit", "Show the audit log of admin actions (needs customers:admin)") { size, customer };
        audit.SetAction((parse, ct) => Run(parse, async (client, json) =>
        {
            var page = await new Audit.AuditClient(client).ListAuditEntriesAsync(new ListAuditEntriesRequest
            {
                PageSize = parse.GetValue(size),
                CustomerId = parse.GetValue(customer) ?? "",
            }, cancellationToken: ct);
            if (json)
            {
                return Print(page);
            }
            foreach (var e in page.Entries)
            {
                Console.WriteLine($"{e.At.ToDateTimeOffset():u}  {e.Caller,-20} {e.Action,-26} {e.Outcome,-18} {e.Target}  {e.Detail}{(e.Reason.Length > 0 ? $"  reason: {e.Reason}" : "")}");
            }
            return 0;
        }));
        return audit;
    }

    /// <summary>Runs one API call with a channel to the configured server and turns gRPC errors into exit codes.</summary>
    internal static async Task<int> Run(ParseResult parse, Func<GrpcChannel, bool, Task<int>> call)
    {
        var address = parse.GetValue(Server)!;
        using var channel = EngineChannel.Create(address, ResolveApiKey(parse));
        try
        {
            return await call(channel, parse.GetValue(Json));
        }
        catch (RpcException e)
        {
            Console.Error.WriteLine($"error: {e.StatusCode}: {e.Status.Detail}");
            if (e.StatusCode == StatusCode.Unavailable && e.Status.DebugException is not null)
            {
                Console.Error.WriteLine($"  (is the engine running at {address}? start it with deploy/local/start)");
            }
            return e.StatusCode switch
            {
                StatusCode.InvalidArgument => 2,
                StatusCode.NotFound => 3,
                _ => 1,
            };
        }
    }

    internal static int Print(IMessage message)
    {
        Console.WriteLine(JsonFormatter.Default.Format(message));
        return 0;
    }

    internal static string Money(long minor) => ((decimal)minor / 100).ToString("F2", CultureInfo.InvariantCulture);

    internal static string Signed(long points) => points > 0 ? "+" + points.ToString(CultureInfo.InvariantCulture) : points.ToString(CultureInfo.InvariantCulture);

    internal static Timestamp Now() => Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
}

using System.CommandLine;
using Google.Protobuf;
using Loyalty.Contracts.V1;

namespace Loyalty.Cli;

/// <summary>`loyalty program show|versions|validate|publish|simulate`.</summary>
public static class ProgramCommandsBuilder
{
    public static Command Build()
    {
        var program = new Command("program", "Show, validate, publish and simulate loyalty programs");
        program.Subcommands.Add(Show());
        program.Subcommands.Add(Versions());
        program.Subcommands.Add(Validate());
        program.Subcommands.Add(Publish());
        program.Subcommands.Add(Simulate());
        return program;
    }

    private static Command Show()
    {
        var version = new Option<string>("--version") { Description = "A past version (default: the active one)" };
        var show = new Command("show", "Show the active program (or a past version)") { version };
        show.SetAction((parse, ct) => CliApp.Run(parse, async (client, json) =>
        {
            var p = await new Programs.ProgramsClient(client).GetProgramAsync(new GetProgramRequest { Version = parse.GetValue(version) ?? "" }, cancellationToken: ct);
            if (json)
            {
                return CliApp.Print(p);
            }
            Console.WriteLine($"{p.Name} ({p.ProgramId}) version {p.Version} #{p.Number}{(p.Active ? " (active)" : "")}, published by {p.Author} at {p.PublishedAt?.ToDateTimeOffset():u}");
            Console.WriteLine($"  currency {p.Currency}, time zone {p.TimeZone}, qualifying window {p.QualifyingWindowDays} days, {p.RuleCount} rules, {p.RewardCount} rewards");
            foreach (var t in p.Tiers)
            {
                Console.WriteLine($"  tier {t.Name,-10} from {t.QualifyingPoints,7} qualifying points, earn x{t.EarnMultiplier}");
            }
            return 0;
        }));
        return show;
    }

    private static Command Versions()
    {
        var versions = new Command("versions", "List published versions, newest first");
        versions.SetAction((parse, ct) => CliApp.Run(parse, async (client, json) =>
        {
            var list = await new Programs.ProgramsClient(client).ListProgramVersionsAsync(new ListProgramVersionsRequest(), cancellationToken: ct);
            if (json)
            {
                return CliApp.Print(list);
            }
            foreach (var v in list.Versions)
            {
                Console.WriteLine($"#{v.Number,-3} {v.Version}  {v.PublishedAt.ToDateTimeOffset():u}  {v.Author,-20} {v.Source}{(v.Active ? "  (active)" : "")}");
            }
            return 0;
        }));
        return versions;
    }

    private static Command Validate()
    {
        var file = new Argument<FileInfo>("file") { Description = "Program JSON file" };
        var validate = new Command("validate", "Check a program file; every error names its JSON path") { file };
        validate.SetAction((parse, ct) => CliApp.Run(parse, async (client, json) =>
        {
            var text = await File.ReadAllTextAsync(parse.GetValue(file)!.FullName, ct);
            var result = await new Programs.ProgramsClient(client).ValidateProgramAsync(new ValidateProgramRequest { ProgramJson = text }, cancellationToken: ct);
            if (json)
            {
                CliApp.Print(result);
            }
            else if (result.Valid)
            {
                Console.WriteLine($"valid: it would be version {result.Version}");
            }
            else
            {
                foreach (var e in result.Errors)
                {
                    Console.WriteLine($"{e.Path}: {e.Problem}");
                }
            }
            return result.Valid ? 0 : 2;
        }));
        return validate;
    }

    private static Command Publish()
    {
        var file = new Argument<FileInfo>("file") { Description = "Program JSON file" };
        var expected = new Option<string>("--expected-version") { Description = "The active version your draft is based on (default: the active version now)" };
        var author = new Option<string>("--author") { Description = "Who publishes", DefaultValueFactory = _ => Environment.UserName };
        var publish = new Command("publish", "Make a program file the active program on every silo") { file, expected, author };
        publish.SetAction((parse, ct) => CliApp.Run(parse, async (client, json) =>
        {
            var programs = new Programs.ProgramsClient(client);
            var text = await File.ReadAllTextAsync(parse.GetValue(file)!.FullName, ct);
            var basedOn = parse.GetValue(expected) ?? (await programs.GetProgramAsync(new GetProgramRequest(), cancellationToken: ct)).Version;
            var result = await programs.PublishProgramAsync(new PublishProgramRequest { ProgramJson = text, ExpectedVersion = basedOn, Author = parse.GetValue(author) ?? "" }, cancellationToken: ct);
            if (json)
            {
                return CliApp.Print(result);
            }
            Console.WriteLine($"published version {result.Version} (#{result.Number}), replacing {basedOn}");
            return 0;
        }));
        return publish;
    }

    private static Command Simulate()
    {
        var file = new Argument<FileInfo>("file") { Description = "Draft program JSON file" };
        var customer = new Option<string>("--customer", "-c") { Description = "Start from this customer's current state" };
        var fresh = new Option<bool>("--new-customer") { Description = "Start from a customer never seen" };
        var events = new Option<FileInfo>("--events") { Description = "Events as JSON lines (loyalty.v1.Event in protobuf JSON)", Required = true };
        var simulate = new Command("simulate", "What events would earn and unlock under a draft; changes nothing") { file, customer, fresh, events };
        simulate.SetAction((parse, ct) => CliApp.Run(parse, async (client, json) =>
        {
            var request = new SimulateProgramRequest
            {
                ProgramJson = await File.ReadAllTextAsync(parse.GetValue(file)!.FullName, ct),
                CustomerId = parse.GetValue(customer) ?? "",
                NewCustomer = parse.GetValue(fresh),
            };
            var parser = new JsonParser(JsonParser.Settings.Default.WithIgnoreUnknownFields(false));
            foreach (var line in await File.ReadAllLinesAsync(parse.GetValue(events)!.FullName, ct))
            {
                if (line.Trim().Length > 0)
                {
                    request.Events.Add(parser.Parse<Event>(line));
                }
            }
            var result = await new Programs.ProgramsClient(client).SimulateProgramAsync(request, cancellationToken: ct);
            if (json)
            {
                return CliApp.Print(result);
            }
            Console.WriteLine($"Under draft version {result.Version} (nothing was changed):");
            foreach (var r in result.Results)
            {
                var rewards = r.Rewards.Count == 0 ? "" : "  rewards: " + string.Join(", ", r.Rewards.Select(g => $"{g.RewardId} {g.Code}"));
                var perks = r.Perks.Count == 0 ? "" : "  perks: " + string.Join(", ", r.Perks.Select(p => p.Name));
                Console.WriteLine($"  {r.EventId,-20} {r.Outcome.ToString().ToUpperInvariant(),-9} {CliApp.Signed(r.PointsDelta),7} points{rewards}{perks}{(r.Error.Length > 0 ? "  " + r.Error : "")}");
            }
            return 0;
        }));
        return simulate;
    }
}

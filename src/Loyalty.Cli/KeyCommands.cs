using System.CommandLine;
using System.Globalization;
using Loyalty.Contracts;

namespace Loyalty.Cli;

/// <summary><c>loyalty keys create</c>: makes an API key, prints it once, and prints the configuration (salted hash only)
/// the engine needs to accept it.</summary>
internal static class KeyCommands
{
    public static Command Build()
    {
        var id = new Option<string>("--id") { Description = "Key id: a-z, 0-9, '-' (shown in logs and the audit log)", Required = true };
        var scopes = new Option<string>("--scopes")
        {
            Description = $"Comma-separated scopes: {string.Join(", ", ApiKeys.Scopes)}, or * for all",
            Required = true,
        };
        var sources = new Option<string?>("--sources") { Description = "Comma-separated event source prefixes this key may send (default: any)" };
        var rate = new Option<double>("--rate") { Description = "Calls (or events, for Publish/PublishBatch) per second; 0 = unlimited" };
        var burst = new Option<double>("--burst") { Description = "Token bucket size (default: one second's worth)" };
        var index = new Option<int>("--index") { Description = "Position in Loyalty:Auth:Keys for the environment form", DefaultValueFactory = _ => 0 };
        var keyFile = new Option<string?>("--key-file") { Description = "Also write the key to this file (mode 600), e.g. for the CLI" };
        var envFile = new Option<string?>("--env-file") { Description = "Write the configuration as NAME=value lines to this file instead of printing it" };
        var create = new Command("create", "Create an API key: prints the key once, and the configuration (salted hash) for the engine")
        {
            id, scopes, sources, rate, burst, index, keyFile, envFile,
        };
        create.SetAction(parse =>
        {
            var scopeList = Split(parse.GetValue(scopes));
            var unknown = scopeList.Where(s => s != "*" && !ApiKeys.Scopes.Contains(s)).ToList();
            if (scopeList.Count == 0 || unknown.Count > 0)
            {
                Console.Error.WriteLine($"error: unknown scopes {string.Join(", ", unknown)}; use {string.Join(", ", ApiKeys.Scopes)} or *");
                return 2;
            }
            ApiKeys.Created key;
            try
            {
                key = ApiKeys.Create(parse.GetValue(id)!);
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"error: --id: {e.Message}");
                return 2;
            }
            var i = parse.GetValue(index);
            var lines = new List<string>
            {
                $"Loyalty__Auth__Keys__{i}__Id={key.Id}",
                $"Loyalty__Auth__Keys__{i}__Salt={key.Salt}",
                $"Loyalty__Auth__Keys__{i}__Hash={key.Hash}",
            };
            lines.AddRange(scopeList.Select((s, n) => $"Loyalty__Auth__Keys__{i}__Scopes__{n}={s}"));
            lines.AddRange(Split(parse.GetValue(sources)).Select((s, n) => $"Loyalty__Auth__Keys__{i}__Sources__{n}={s}"));
            if (parse.GetValue(rate) > 0)
            {
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"Loyalty__Auth__Keys__{i}__RatePerSecond={parse.GetValue(rate)}"));
            }
            if (parse.GetValue(burst) > 0)
            {
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"Loyalty__Auth__Keys__{i}__Burst={parse.GetValue(burst)}"));
            }
            if (parse.GetValue(keyFile) is { } path)
            {
                WritePrivate(path, key.Key + "\n");
            }
            if (parse.GetValue(envFile) is { } env)
            {
                WritePrivate(env, string.Join("\n", lines) + "\n");
            }
            else
            {
                Console.WriteLine("# Engine configuration (environment form; the engine keeps only the salted hash):");
                lines.ForEach(Console.WriteLine);
            }
            Console.Error.WriteLine($"API key '{key.Id}' (shown once; send it in the {ApiKeys.Header} header, or set LOYALTY_API_KEY for the CLI):");
            Console.Error.WriteLine(key.Key);
            return 0;
        });
        return new Command("keys", "API keys for service clients") { create };
    }

    private static List<string> Split(string? value) =>
        (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    private static void WritePrivate(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, text);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}

using System.CommandLine;
using System.Globalization;
using System.Text;
using Loyalty.Contracts;
using Loyalty.Contracts.V1;

namespace Loyalty.Cli;

/// <summary><c>loyalty webhooks status</c> (how each endpoint is doing) and <c>loyalty webhooks verify</c> (check a
/// captured delivery's signature, for receivers testing their side).</summary>
internal static class WebhookCommands
{
    public static Command Build()
    {
        var webhooks = new Command("webhooks", "Webhook deliveries: status of the endpoints, and signature checks for receivers");
        webhooks.Subcommands.Add(Status());
        webhooks.Subcommands.Add(Verify());
        webhooks.Subcommands.Add(Listen());
        return webhooks;
    }

    private static Command Status()
    {
        var status = new Command("status", "Delivered, failed, waiting and retrying notices per endpoint, the oldest waiting and the last error (needs an operator's scope)");
        status.SetAction((parse, ct) => CliApp.Run(parse, async (client, json) =>
        {
            var response = await new Webhooks.WebhooksClient(client).GetWebhookStatusAsync(new GetWebhookStatusRequest(), cancellationToken: ct);
            if (json)
            {
                return CliApp.Print(response);
            }
            if (response.Endpoints.Count == 0)
            {
                Console.WriteLine("No webhook endpoints are configured (Loyalty:Webhooks:Endpoints).");
                return 0;
            }
            var now = DateTimeOffset.UtcNow;
            foreach (var e in response.Endpoints)
            {
                Console.WriteLine($"{e.Name}  {e.Url}  kinds: {(e.Kinds.Count == 0 ? "all" : string.Join(",", e.Kinds))}");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  delivered {e.Delivered:N0}  failed {e.Failed:N0}  waiting {e.Pending:N0}  retrying {e.Retrying:N0}  oldest waiting {(e.OldestUndelivered is null ? "-" : Age(now - e.OldestUndelivered.ToDateTimeOffset()))}"));
                if (e.LastError.Length > 0)
                {
                    Console.WriteLine($"  last error {e.LastErrorAt.ToDateTimeOffset():u}: {e.LastError}");
                }
            }
            return 0;
        }));
        return status;
    }

    private static string Age(TimeSpan age) => age.TotalSeconds < 90 ? $"{age.TotalSeconds:F0} s" : age.TotalMinutes < 90 ? $"{age.TotalMinutes:F0} min" : $"{age.TotalHours:F1} h";

    private static Command Verify()
    {
        var secret = new Option<string>("--secret") { Description = "The endpoint's secret (Loyalty:Webhooks:Endpoints:N:Secret)", Required = true };
        var request = new Option<string>("--request") { Description = "A captured HTTP request (headers, a blank line, the body) in a file, or - for stdin (the default)" };
        var signature = new Option<string>("--signature") { Description = "The Loyalty-Signature header value, with --body instead of --request" };
        var body = new Option<string>("--body") { Description = "The request body (file, or - for stdin), with --signature" };
        var tolerance = new Option<int>("--tolerance") { Description = "Refuse a timestamp more than this many seconds from now (0: do not check)", DefaultValueFactory = _ => 300 };
        var verify = new Command("verify", "Check the signature of a captured webhook delivery: exit 0 if valid, 1 if not") { secret, request, signature, body, tolerance };
        verify.SetAction(async (parse, ct) =>
        {
            string? header;
            byte[] content;
            if (parse.GetValue(signature) is { Length: > 0 } given)
            {
                header = given;
                content = await Read(parse.GetValue(body) ?? "-", ct);
            }
            else
            {
                (header, content) = Split(await Read(parse.GetValue(request) ?? "-", ct));
                if (header is null)
                {
                    Console.Error.WriteLine($"invalid: the request has no {WebhookSignatures.SignatureHeader} header");
                    return 1;
                }
            }
            var window = parse.GetValue(tolerance);
            var verdict = WebhookSignatures.Verify(parse.GetValue(secret)!, header, content, DateTimeOffset.UtcNow, window > 0 ? TimeSpan.FromSeconds(window) : null);
            Console.WriteLine(verdict switch
            {
                WebhookSignatures.Verdict.Valid => $"valid: signed with this secret over the {content.Length}-byte body",
                WebhookSignatures.Verdict.Mismatch => "invalid: the signature does not match this secret and body (was the body changed, e.g. re-encoded?)",
                WebhookSignatures.Verdict.TooOld => $"invalid: signed correctly, but the timestamp is more than {window} s from now (a replay?)",
                _ => $"invalid: the header is not t=<unix seconds>,v1=<hex>",
            });
            return verdict == WebhookSignatures.Verdict.Valid ? 0 : 1;
        });
        return verify;
    }

    private static Command Listen()
    {
        var port = new Option<int>("--port") { Description = "Loopback port to receive on", DefaultValueFactory = _ => 9099 };
        var secret = new Option<string>("--secret") { Description = "Check every delivery's signature with this secret" };
        var quiet = new Option<bool>("--quiet") { Description = "Print counts every 5 s instead of every delivery" };
        var listen = new Command("listen", "A local webhook receiver on http://127.0.0.1:PORT/ for trying endpoints out: prints each delivery (and checks its signature), answers 204") { port, secret, quiet };
        listen.SetAction(async (parse, ct) =>
        {
            using var listener = new System.Net.HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{parse.GetValue(port)}/");
            listener.Start();
            var key = parse.GetValue(secret);
            var brief = parse.GetValue(quiet);
            long received = 0, invalid = 0;
            var ids = new HashSet<string>(StringComparer.Ordinal);
            Console.WriteLine($"listening on http://127.0.0.1:{parse.GetValue(port)}/ (Ctrl-C to stop)");
            using var report = brief ? new Timer(_ =>
            {
                lock (ids)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.UtcNow:u}  {received:N0} received, {ids.Count:N0} distinct, {invalid:N0} invalid signatures"));
                }
            }, null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5)) : null;
            using var stop = ct.Register(listener.Stop);
            while (!ct.IsCancellationRequested)
            {
                System.Net.HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception) when (ct.IsCancellationRequested)
                {
                    break;
                }
                _ = Task.Run(async () =>
                {
                    using var buffer = new MemoryStream();
                    await context.Request.InputStream.CopyToAsync(buffer, ct);
                    var body = buffer.ToArray();
                    var id = context.Request.Headers[WebhookSignatures.DeliveryIdHeader] ?? "";
                    var verdict = key is { Length: > 0 } ? WebhookSignatures.Verify(key, context.Request.Headers[WebhookSignatures.SignatureHeader] ?? "", body,
                        DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)).ToString().ToLowerInvariant() : "unchecked";
                    lock (ids)
                    {
                        received++;
                        invalid += verdict is "valid" or "unchecked" ? 0 : 1;
                        ids.Add(id);
                    }
                    context.Response.StatusCode = 204;
                    context.Response.Close();
                    if (!brief)
                    {
                        Console.WriteLine($"{id}  signature {verdict}  {Encoding.UTF8.GetString(body)}");
                    }
                }, CancellationToken.None);
            }
            return 0;
        });
        return listen;
    }

    private static async Task<byte[]> Read(string path, CancellationToken ct)
    {
        if (path != "-")
        {
            return await File.ReadAllBytesAsync(path, ct);
        }
        using var buffer = new MemoryStream();
        await Console.OpenStandardInput().CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }

    /// <summary>The signature header and the body (Content-Length bytes if given) of a raw HTTP/1.1 request.</summary>
    internal static (string? Signature, byte[] Body) Split(byte[] raw)
    {
        var text = Encoding.Latin1.GetString(raw);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var gap = 4;
        if (end < 0)
        {
            end = text.IndexOf("\n\n", StringComparison.Ordinal);
            gap = 2;
        }
        if (end < 0)
        {
            return (null, []);
        }
        string? signature = null;
        var length = -1;
        foreach (var line in text[..end].Split('\n').Select(l => l.TrimEnd('\r')))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }
            var (name, value) = (line[..colon].Trim(), line[(colon + 1)..].Trim());
            if (name.Equals(WebhookSignatures.SignatureHeader, StringComparison.OrdinalIgnoreCase))
            {
                signature = value;
            }
            else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) && int.TryParse(value, CultureInfo.InvariantCulture, out var n))
            {
                length = n;
            }
        }
        var body = raw[(end + gap)..];
        return (signature, length >= 0 && length <= body.Length ? body[..length] : body);
    }
}

using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Loyalty.Contracts.V1;

namespace Loyalty.Cli;

/// <summary><c>loyalty watch</c> and <c>loyalty stream</c>.</summary>
internal static class StreamCommands
{
    public static Command Watch()
    {
        var id = new Argument<string>("customer-id") { Description = "The customer to watch" };
        var since = new Option<long>("--since") { Description = "Replay history after this sequence number first (0 = all of it)", DefaultValueFactory = _ => 0 };
        var count = new Option<int?>("--count") { Description = "Stop after this many entries (default: watch until Ctrl-C)" };
        var command = new Command("watch", "Print a customer's points changes, rewards, perks and tier changes as they happen") { id, since, count };
        command.SetAction((parse, ct) => CliApp.Run(parse, async (channel, json) =>
        {
            using var call = new Customers.CustomersClient(channel).Watch(new WatchRequest { CustomerId = parse.GetValue(id)!, Since = parse.GetValue(since) }, cancellationToken: ct);
            var left = parse.GetValue(count);
            try
            {
                while ((left is null || left > 0) && await call.ResponseStream.MoveNext(ct))
                {
                    var e = call.ResponseStream.Current;
                    if (json)
                    {
                        Console.WriteLine(JsonFormatter.Default.Format(e));
                    }
                    else
                    {
                        var points = e.Points != 0 || e.PendingPoints != 0
                            ? $"{CliApp.Signed(e.Points),8}{(e.PendingPoints != 0 ? $" ({CliApp.Signed(e.PendingPoints)} pending)" : "")}  balance {e.BalanceAfter}"
                            : $"{"",8}  {e.Ref}";
                        Console.WriteLine($"#{e.Sequence,-6} {e.At.ToDateTimeOffset():u}  {e.Kind,-12} {points}  {e.Note}");
                    }
                    left--;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && ct.IsCancellationRequested)
            {
            }
            return 0;
        }));
        return command;
    }

    public static Command Stream()
    {
        var file = new Argument<FileInfo>("file") { Description = "Events as JSON lines (one loyalty.v1.Event per line, proto JSON); - for standard input" };
        var command = new Command("stream", "Send a file of events through one PublishStream, with progress and a summary") { file };
        command.SetAction((parse, ct) => CliApp.Run(parse, async (channel, json) =>
        {
            var path = parse.GetValue(file)!;
            using var reader = path.Name == "-" ? new StreamReader(Console.OpenStandardInput()) : new StreamReader(path.FullName);
            long total = path.Name == "-" ? 0 : File.ReadLines(path.FullName).Count(l => l.Trim().Length > 0);
            using var call = new Ingestion.IngestionClient(channel).PublishStream(cancellationToken: ct);
            var sent = 0L;
            string? badLine = null;
            var writing = Task.Run(async () =>
            {
                string? line;
                var number = 0;
                while ((line = await reader.ReadLineAsync(ct)) is not null)
                {
                    number++;
                    if (line.Trim().Length == 0)
                    {
                        continue;
                    }
                    Event e;
                    try
                    {
                        e = JsonParser.Default.Parse<Event>(line);
                    }
                    catch (InvalidProtocolBufferException ex)
                    {
                        badLine = $"line {number}: not an event: {ex.Message}";
                        break;
                    }
                    await call.RequestStream.WriteAsync(new PublishRequest { Event = e }, ct);
                    Interlocked.Increment(ref sent);
                }
                await call.RequestStream.CompleteAsync();
            }, ct);

            var counts = new Dictionary<Outcome, long>();
            long points = 0, received = 0;
            var watch = Stopwatch.StartNew();
            var lastDraw = TimeSpan.Zero;
            var firstErrors = new List<string>();
            await foreach (var r in call.ResponseStream.ReadAllAsync(ct))
            {
                received++;
                counts[r.Outcome] = counts.GetValueOrDefault(r.Outcome) + 1;
                points += r.Outcome == Outcome.Applied ? r.PointsDelta : 0;
                if (r.Outcome is Outcome.Rejected or Outcome.NotApplied && firstErrors.Count < 10)
                {
                    firstErrors.Add($"{r.EventId}: {r.Outcome} {r.Error}");
                }
                if (json)
                {
                    Console.WriteLine(JsonFormatter.Default.Format(r));
                }
                else if (watch.Elapsed - lastDraw > TimeSpan.FromMilliseconds(200))
                {
                    lastDraw = watch.Elapsed;
                    Console.Error.Write($"\r{Bar(received, total)} {received:N0}{(total > 0 ? $"/{total:N0}" : "")} events, {received / Math.Max(watch.Elapsed.TotalSeconds, 0.001):N0}/s   ");
                }
            }
            await writing;
            if (!json)
            {
                Console.Error.Write($"\r{Bar(received, total)} {received:N0}{(total > 0 ? $"/{total:N0}" : "")} events\n");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{received:N0} events in {watch.Elapsed.TotalSeconds:F1} s ({received / Math.Max(watch.Elapsed.TotalSeconds, 0.001):N0}/s): " +
                    $"{counts.GetValueOrDefault(Outcome.Applied):N0} applied, {counts.GetValueOrDefault(Outcome.Duplicate):N0} duplicate, " +
                    $"{counts.GetValueOrDefault(Outcome.Rejected):N0} rejected, {counts.GetValueOrDefault(Outcome.NotApplied):N0} not applied; {CliApp.Signed(points)} points"));
                foreach (var error in firstErrors)
                {
                    Console.WriteLine("  " + error);
                }
            }
            if (badLine is not null)
            {
                Console.Error.WriteLine($"error: {badLine} (the events before it were sent)");
                return 2;
            }
            return counts.GetValueOrDefault(Outcome.NotApplied) > 0 ? 1 : 0;
        }));
        return command;
    }

    private static string Bar(long done, long total)
    {
        const int width = 30;
        if (total <= 0)
        {
            return "[" + new string('=', (int)(done / 1000 % width)).PadRight(width) + "]";
        }
        var filled = (int)Math.Min(width, done * width / total);
        return "[" + new string('#', filled).PadRight(width, '.') + "]";
    }
}

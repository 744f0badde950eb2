using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using CsvHelper;
using Grpc.Core;
using Loyalty.Contracts.V1;
using Spectre.Console;

namespace Loyalty.Cli;

/// <summary>
/// <c>loyalty import members FILE</c> and <c>loyalty import history FILE</c>: a file read a batch at a time and sent
/// through the Imports service, several batches in flight. Every line is idempotent by (import id, customer), and the
/// import id comes from the file's bytes, so running the same command again (after Ctrl-C, a crash, an outage) skips
/// what is done (UNCHANGED) and finishes the rest.
/// </summary>
internal static class ImportCommands
{
    public const int MaxBatch = 1000;
    private const int MaxParallel = 32;
    private const int ShownRejections = 20;
    // A batch is retried this long on UNAVAILABLE, RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED (a restarting silo, a
    // rate limit, an overloaded cluster) before the import gives up; each attempt has its own deadline.
    // Every batch is idempotent, so a slow store is waited out rather than given up on: a retry finds the customers
    // the failed attempt finished already done (they answer at once) and only waits for the rest.
    private static readonly TimeSpan RetryBudget = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan AttemptDeadline = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan PlainProgressEvery = TimeSpan.FromSeconds(2);

    public static Command Build()
    {
        var import = new Command("import", "Bring members and their history in from another system (resumable: run the same command again to finish)");
        import.Subcommands.Add(Members());
        import.Subcommands.Add(History());
        return import;
    }

    /// <summary>The options both imports take.</summary>
    private sealed class Common
    {
        public Argument<FileInfo> File { get; } = new("file");
        public Option<string> ImportId { get; } = new("--import-id") { Description = "Names the import (default: derived from the file's bytes, so running the same file again continues it)" };
        public Option<int> Batch { get; } = new("--batch") { Description = $"Lines per call (1..{MaxBatch})", DefaultValueFactory = _ => 500 };
        public Option<int> Parallel { get; } = new("--parallel") { Description = $"Calls in flight (1..{MaxParallel})", DefaultValueFactory = _ => 4 };
        public Option<string> Rejects { get; } = new("--rejects") { Description = "Where the rejected lines are written, as CSV (default: FILE.rejects.csv)" };

        public Command Command(string name, string description, string fileDescription, params Option[] options)
        {
            File.Description = fileDescription;
            var command = new Command(name, description) { File, ImportId, Batch, Parallel, Rejects };
            foreach (var option in options)
            {
                command.Options.Add(option);
            }
            return command;
        }

        /// <summary>The settings of one run, or an error message for exit code 2.</summary>
        public (ImportSettings? Settings, string? Error) Settings(ParseResult parse, string kind)
        {
            var file = parse.GetValue(File)!;
            if (!file.Exists)
            {
                return (null, $"{file.FullName}: no such file");
            }
            var batch = parse.GetValue(Batch);
            if (batch is < 1 or > MaxBatch)
            {
                return (null, $"--batch: {batch} is not 1..{MaxBatch}");
            }
            var parallel = parse.GetValue(Parallel);
            if (parallel is < 1 or > MaxParallel)
            {
                return (null, $"--parallel: {parallel} is not 1..{MaxParallel}");
            }
            string hash;
            long lines;
            try
            {
                (hash, lines) = Scan(file.FullName);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return (null, $"{file.FullName}: {e.Message}");
            }
            return (new ImportSettings
            {
                Kind = kind,
                Path = file.FullName,
                ImportId = parse.GetValue(ImportId) is { Length: > 0 } id ? id : $"{kind}-{hash}",
                Batch = batch,
                Parallel = parallel,
                RejectsPath = parse.GetValue(Rejects) is { Length: > 0 } r ? r : file.FullName + ".rejects.csv",
                EstimatedLines = lines,
            }, null);
        }
    }

    private sealed class ImportSettings
    {
        public required string Kind { get; init; }
        public required string Path { get; init; }
        public required string ImportId { get; init; }
        public required int Batch { get; init; }
        public required int Parallel { get; init; }
        public required string RejectsPath { get; init; }
        public required long EstimatedLines { get; set; }
    }

    private static Command Members()
    {
        var common = new Common();
        var format = new Option<string>("--format") { Description = "csv or jsonl (default: from the extension: .csv, .jsonl, .ndjson)" };
        var command = common.Command("members", "Create members with their opening balance, tier and profile",
            "CSV with a header row, or JSON lines; fields: " + string.Join(", ", MemberFileReader.Fields), format);
        command.SetAction(async (parse, ct) =>
        {
            var (settings, error) = common.Settings(parse, "members");
            if (settings is null)
            {
                return Usage(error!);
            }
            MemberFileReader reader;
            try
            {
                var kind = MemberFileReader.FormatOf(settings.Path, parse.GetValue(format));
                reader = MemberFileReader.Open(settings.Path, kind);
                // The header row is not a member.
                settings.EstimatedLines -= kind == ImportFileFormat.Csv ? 1 : 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException)
            {
                return Usage($"{Path.GetFileName(settings.Path)}: {e.Message}");
            }
            using (reader)
            {
                return await CliApp.Run(parse, (channel, json) =>
                {
                    var client = new Imports.ImportsClient(channel);
                    return Execute(settings, json, reader.Lines(), laneOf: null, async (batch, options) =>
                    {
                        var request = new ImportMembersRequest { ImportId = settings.ImportId };
                        request.Members.AddRange(batch);
                        return (await client.ImportMembersAsync(request, options)).Results;
                    }, m => (m.Line, m.CustomerId, ""), ct);
                });
            }
        });
        return command;
    }

    private static Command History()
    {
        var common = new Common();
        var earn = new Option<bool>("--earn-points") { Description = "Book the points the events earn (as \"import\" ledger entries); without it they only count toward tiers and windows" };
        var command = common.Command("history", "Apply past events (they count toward the program's windows; they never fire rules)",
            "JSON lines, each a loyalty.v1.Event in protobuf JSON", earn);
        command.SetAction(async (parse, ct) =>
        {
            var (settings, error) = common.Settings(parse, "history");
            if (settings is null)
            {
                return Usage(error!);
            }
            HistoryFileReader reader;
            try
            {
                reader = HistoryFileReader.Open(settings.Path);
            }
            catch (IOException e)
            {
                return Usage($"{Path.GetFileName(settings.Path)}: {e.Message}");
            }
            using (reader)
            {
                var earnPoints = parse.GetValue(earn);
                return await CliApp.Run(parse, (channel, json) =>
                {
                    var client = new Imports.ImportsClient(channel);
                    // One customer's events always go through the same lane, one batch at a time, so they reach the
                    // server in file order even with several batches in flight (a refund after its purchase).
                    return Execute(settings, json, reader.Lines(), laneOf: h => h.Event.CustomerId, async (batch, options) =>
                    {
                        var request = new ImportHistoryRequest { ImportId = settings.ImportId, EarnPoints = earnPoints };
                        // Each customer's events together, still in file order: the server applies them per customer.
                        request.Events.AddRange(batch.GroupBy(h => h.Event.CustomerId, StringComparer.Ordinal).SelectMany(g => g));
                        var results = (await client.ImportHistoryAsync(request, options)).Results;
                        // Hand the answers back in batch order (they echo the line).
                        var byLine = new Dictionary<long, ImportLineResult>();
                        foreach (var r in results)
                        {
                            byLine.TryAdd(r.Line, r);
                        }
                        return [.. batch.Select(h => byLine.GetValueOrDefault(h.Line))];
                    }, h => (h.Line, h.Event.CustomerId, h.Event.EventId), ct);
                });
            }
        });
        return command;
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 2;
    }

    /// <summary>The first 16 hex digits of the file's SHA-256 (the default import id), and its number of lines.</summary>
    private static (string Hash, long Lines) Scan(string path)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var buffer = new byte[1 << 20];
        long lines = 0;
        var last = (byte)'\n';
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            sha.AppendData(buffer, 0, read);
            lines += buffer.AsSpan(0, read).Count((byte)'\n');
            last = buffer[read - 1];
        }
        lines += last == '\n' ? 0 : 1;
        return (Convert.ToHexStringLower(sha.GetHashAndReset())[..16], lines);
    }

    /// <summary>Counts and rejections, updated by the reader and by every batch's answer.</summary>
    private sealed class Tally
    {
        private readonly Lock gate = new();
        private readonly List<ImportRejection> rejections = [];
        private long imported, unchanged, retries;

        public long Imported => Interlocked.Read(ref imported);
        public long Unchanged => Interlocked.Read(ref unchanged);
        public long Rejected
        {
            get
            {
                lock (gate)
                {
                    return rejections.Count;
                }
            }
        }
        public long Retries => Interlocked.Read(ref retries);
        public long Done => Imported + Unchanged + Rejected;

        public void Reject(ImportRejection rejection)
        {
            lock (gate)
            {
                rejections.Add(rejection);
            }
        }

        public void Retried() => Interlocked.Increment(ref retries);

        public void Answer<T>(IReadOnlyList<T> batch, IReadOnlyList<ImportLineResult?> results, Func<T, (long Line, string Customer, string EventId)> describe)
        {
            for (var i = 0; i < batch.Count; i++)
            {
                var result = i < results.Count ? results[i] : null;
                switch (result?.Outcome)
                {
                    case ImportOutcome.Imported:
                        Interlocked.Increment(ref imported);
                        break;
                    case ImportOutcome.Unchanged:
                        Interlocked.Increment(ref unchanged);
                        break;
                    case ImportOutcome.Rejected:
                        Reject(new ImportRejection(result.Line, result.CustomerId, result.EventId, result.Field, result.Reason));
                        break;
                    default:
                        var (line, customer, eventId) = describe(batch[i]);
                        Reject(new ImportRejection(line, customer, eventId, "", result is null ? "no answer from the server for this line" : $"unknown outcome {result.Outcome}"));
                        break;
                }
            }
        }

        /// <summary>Every rejection so far, by line.</summary>
        public List<ImportRejection> Rejections()
        {
            lock (gate)
            {
                return [.. rejections.OrderBy(r => r.Line)];
            }
        }
    }

    /// <summary>Reads <paramref name="lines"/>, sends them in batches, shows progress and reports; returns the exit code.</summary>
    /// <param name="laneOf">For history: the customer, whose lines must stay in order (one lane per call in flight).
    /// Null: any batch may go through any call.</param>
    private static async Task<int> Execute<T>(ImportSettings settings, bool json, IEnumerable<ImportLine<T>> lines, Func<T, string>? laneOf,
        Func<List<T>, CallOptions, Task<IReadOnlyList<ImportLineResult?>>> send, Func<T, (long Line, string Customer, string EventId)> describe, CancellationToken ct)
        where T : class
    {
        var header = $"import {settings.ImportId}: {settings.Kind} from {Path.GetFileName(settings.Path)} (about {settings.EstimatedLines} lines, batches of {settings.Batch}, {settings.Parallel} in flight)";
        (json ? Console.Error : Console.Out).WriteLine(header);

        var tally = new Tally();
        // The first Ctrl-C (or SIGTERM) stops new batches and lets those in flight finish; a second one ends them too.
        // Handled here, not by System.CommandLine, whose handler would end the process 2 s after the first Ctrl-C,
        // before the report: a handler that cancels the signal keeps the ones registered before it from running.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var abort = new CancellationTokenSource();
        var signal = 0;
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            if (Interlocked.CompareExchange(ref signal, context.Signal == PosixSignal.SIGTERM ? 143 : 130, 0) != 0)
            {
                abort.Cancel();
                return;
            }
            Console.Error.WriteLine("stopping: no new batches; waiting for those in flight (Ctrl-C again to abandon them)");
            stop.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        var lanes = laneOf is null ? 1 : settings.Parallel;
        // Bounded, so the reader is never more than a few batches ahead of the server: the file is streamed.
        var queues = Enumerable.Range(0, lanes).Select(_ => Channel.CreateBounded<List<T>>(new BoundedChannelOptions(laneOf is null ? settings.Parallel : 1)
        {
            SingleWriter = true,
            SingleReader = laneOf is not null,
        })).ToArray();
        Exception? fatal = null;

        async Task Produce()
        {
            var pending = new List<T>?[lanes];
            try
            {
                foreach (var line in lines)
                {
                    if (stop.IsCancellationRequested)
                    {
                        return;
                    }
                    if (line.Rejection is { } rejection)
                    {
                        tally.Reject(rejection);
                        continue;
                    }
                    var lane = laneOf is null ? 0 : (StringComparer.Ordinal.GetHashCode(laneOf(line.Record!)) & int.MaxValue) % lanes;
                    var batch = pending[lane] ??= new List<T>(settings.Batch);
                    batch.Add(line.Record!);
                    if (batch.Count == settings.Batch)
                    {
                        await queues[lane].Writer.WriteAsync(batch, stop.Token);
                        pending[lane] = null;
                    }
                }
                for (var lane = 0; lane < lanes; lane++)
                {
                    if (pending[lane] is { } rest)
                    {
                        await queues[lane].Writer.WriteAsync(rest, stop.Token);
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            finally
            {
                foreach (var queue in queues)
                {
                    queue.Writer.TryComplete();
                }
            }
        }

        async Task Consume(ChannelReader<List<T>> queue)
        {
            await foreach (var batch in queue.ReadAllAsync(CancellationToken.None))
            {
                if (stop.IsCancellationRequested)
                {
                    return;
                }
                try
                {
                    tally.Answer(batch, await SendWithRetries(batch), describe);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    // Stopped while waiting to retry: the batch is left for the next run.
                    return;
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && abort.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    // Anything else ends the import: the calls in flight too, then the CLI's usual error handling.
                    Interlocked.CompareExchange(ref fatal, e, null);
                    stop.Cancel();
                    abort.Cancel();
                    return;
                }
            }
        }

        async Task<IReadOnlyList<ImportLineResult?>> SendWithRetries(List<T> batch)
        {
            var started = Stopwatch.GetTimestamp();
            var wait = TimeSpan.FromMilliseconds(500);
            while (true)
            {
                try
                {
                    return await send(batch, new CallOptions(deadline: DateTime.UtcNow + AttemptDeadline, cancellationToken: abort.Token));
                }
                catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.ResourceExhausted or StatusCode.DeadlineExceeded
                    && !abort.IsCancellationRequested && Stopwatch.GetElapsedTime(started) < RetryBudget)
                {
                    // Safe: the server answers UNCHANGED for every line it had already taken.
                    tally.Retried();
                    await Task.Delay(wait * (0.75 + Random.Shared.NextDouble() / 2), stop.Token);
                    wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, TimeSpan.FromSeconds(8).Ticks));
                }
            }
        }

        var watch = Stopwatch.StartNew();
        var producer = Task.Run(Produce, CancellationToken.None);
        var consumers = laneOf is null
            ? Enumerable.Range(0, settings.Parallel).Select(_ => Task.Run(() => Consume(queues[0].Reader), CancellationToken.None))
            : queues.Select(q => Task.Run(() => Consume(q.Reader), CancellationToken.None));
        var run = Task.WhenAll([producer, .. consumers]);
        await ShowProgress(run, settings, tally, watch);

        try
        {
            await run;
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            // A file the reader cannot go on with: what was read before the fault was sent.
            Console.Error.WriteLine($"error: {Path.GetFileName(settings.Path)}: {e.Message}");
            Report(settings, json, tally, watch.Elapsed, interrupted: false);
            return 2;
        }
        if (fatal is not null)
        {
            // What was done stays done: the report so far, then the CLI's usual error handling.
            Report(settings, json, tally, watch.Elapsed, interrupted: true);
            ExceptionDispatchInfo.Throw(fatal);
        }
        var interrupted = signal != 0 || ct.IsCancellationRequested;
        var rejected = Report(settings, json, tally, watch.Elapsed, interrupted);
        return interrupted ? (signal != 0 ? signal : 130) : rejected > 0 ? 1 : 0;
    }

    /// <summary>A progress bar on stderr when it is a terminal; otherwise (CI, pipes) a plain line every 2 s and at the end.</summary>
    private static async Task ShowProgress(Task run, ImportSettings settings, Tally tally, Stopwatch watch)
    {
        var unit = settings.Kind == "members" ? "members" : "events";
        string Rate() => $"{tally.Done / Math.Max(watch.Elapsed.TotalSeconds, 0.001):F0} {unit}/s";
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        if (!Console.IsErrorRedirected && console.Profile.Capabilities.Ansi)
        {
            await console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask(Markup.Escape(Path.GetFileName(settings.Path)), autoStart: true, maxValue: Math.Max(settings.EstimatedLines, 1));
                    while (!run.IsCompleted)
                    {
                        Update(task);
                        await Task.WhenAny(run, Task.Delay(200));
                    }
                    Update(task);
                    task.MaxValue = Math.Max(task.Value, 1);
                    task.StopTask();
                });
            return;

            void Update(ProgressTask task)
            {
                task.Value = Math.Min(tally.Done, task.MaxValue);
                task.Description = Markup.Escape($"{tally.Done:N0} lines, {Rate()}{(tally.Rejected > 0 ? $", {tally.Rejected:N0} rejected" : "")}{(tally.Retries > 0 ? $", {tally.Retries} retries" : "")}");
            }
        }
        void Plain() => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"progress: {tally.Done} of about {settings.EstimatedLines} lines ({100.0 * tally.Done / Math.Max(settings.EstimatedLines, 1):F0} %), {Rate()}, {tally.Rejected} rejected{(tally.Retries > 0 ? $", {tally.Retries} retries" : "")}"));
        while (!run.IsCompleted)
        {
            if (await Task.WhenAny(run, Task.Delay(PlainProgressEvery)) != run)
            {
                Plain();
            }
        }
        Plain();
    }

    /// <summary>Writes the rejects file and prints the report; returns the number of rejected lines.</summary>
    private static long Report(ImportSettings settings, bool json, Tally tally, TimeSpan elapsed, bool interrupted)
    {
        var rejections = tally.Rejections();
        var history = settings.Kind == "history";
        var rejectsFile = WriteRejects(settings.RejectsPath, rejections, history);
        var lines = tally.Imported + tally.Unchanged + rejections.Count;
        if (json)
        {
            var report = new JsonObject
            {
                ["importId"] = settings.ImportId,
                ["imported"] = tally.Imported,
                ["unchanged"] = tally.Unchanged,
                ["rejected"] = rejections.Count,
                ["lines"] = lines,
                ["seconds"] = Math.Round(elapsed.TotalSeconds, 3),
                ["interrupted"] = interrupted,
                ["rejectsFile"] = rejectsFile,
                ["rejects"] = new JsonArray([.. rejections.Select(r =>
                {
                    var o = new JsonObject { ["line"] = r.Line, ["customerId"] = r.CustomerId };
                    if (history)
                    {
                        o["eventId"] = r.EventId;
                    }
                    o["field"] = r.Field;
                    o["reason"] = r.Reason;
                    return (JsonNode)o;
                })]),
            };
            Console.WriteLine(report.ToJsonString());
        }
        else
        {
            var unit = history ? "events" : "members";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"imported {tally.Imported}, unchanged {tally.Unchanged}, rejected {rejections.Count} ({lines} lines in {elapsed.TotalSeconds:F1} s, {lines / Math.Max(elapsed.TotalSeconds, 0.001):F0} {unit}/s)"));
            foreach (var r in rejections.Take(ShownRejections))
            {
                Console.WriteLine($"  line {r.Line}: customer {r.CustomerId}: {r.Field}: {r.Reason}");
            }
            if (rejectsFile is not null)
            {
                Console.WriteLine(rejections.Count > ShownRejections
                    ? $"  ... and {rejections.Count - ShownRejections} more: all rejected lines are in {rejectsFile}"
                    : $"  the rejected lines are in {rejectsFile}");
            }
        }
        if (interrupted)
        {
            (json ? Console.Error : Console.Out).WriteLine("interrupted: run the same command again to finish (the lines already done answer UNCHANGED)");
        }
        return rejections.Count;
    }

    /// <summary>The rejects as CSV (returns the path), or no file at all when nothing was rejected: a file left by an
    /// earlier run would otherwise read as this run's.</summary>
    private static string? WriteRejects(string path, List<ImportRejection> rejections, bool history)
    {
        try
        {
            if (rejections.Count == 0)
            {
                File.Delete(path);
                return null;
            }
            using var csv = CsvWriter.ToFile(path, new CsvWriterOptions());
            csv.WriteHeader(history ? ["line", "customer_id", "event_id", "field", "reason"] : ["line", "customer_id", "field", "reason"]);
            foreach (var r in rejections)
            {
                var line = r.Line.ToString(CultureInfo.InvariantCulture);
                csv.WriteRecord(history ? [line, r.CustomerId, r.EventId, r.Field, r.Reason] : [line, r.CustomerId, r.Field, r.Reason]);
            }
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"warning: cannot write the rejected lines to {path}: {e.Message}");
            return null;
        }
    }
}

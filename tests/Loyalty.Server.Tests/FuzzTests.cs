using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Loyalty.Contracts.V1;
using Loyalty.TestKit;
using Xunit.Abstractions;
using static Loyalty.Server.Tests.Events;

namespace Loyalty.Server.Tests;

/// <summary>
/// Hostile input: tens of thousands of random, mutated and extreme messages to every RPC. The server must answer every
/// call with a proper status, never crash or hang, and leave every customer the fuzz did not address unchanged.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class FuzzTests(InProcessEngineFixture fixture, ITestOutputHelper output)
{
    /// <summary>What the engine said with each UNAVAILABLE or INTERNAL answer (printed if any call was answered wrongly).</summary>
    private readonly System.Collections.Concurrent.ConcurrentBag<string> _failures = [];
    /// <summary>Calls answered UNAVAILABLE and sent again.</summary>
    private int _retried;

    /// <summary>Statuses a well-behaved server may give to garbage. INTERNAL and UNKNOWN are failures (a bug
    /// surfaced), UNAVAILABLE a crash, DEADLINE_EXCEEDED a hang (except for watch streams, which never end by themselves).</summary>
    private static readonly HashSet<StatusCode> Proper =
    [
        StatusCode.OK, StatusCode.InvalidArgument, StatusCode.NotFound, StatusCode.FailedPrecondition,
        StatusCode.PermissionDenied, StatusCode.ResourceExhausted, StatusCode.OutOfRange, StatusCode.AlreadyExists,
    ];

    private static IEnumerable<MethodDescriptor> AllMethods() =>
        new[] { IngestionReflection.Descriptor, CustomersReflection.Descriptor, ProgramsReflection.Descriptor, AuditReflection.Descriptor }
            .SelectMany(f => f.Services).SelectMany(s => s.Methods);

    /// <summary>The default run: every RPC gets about 220 messages of every kind of damage.</summary>
    [Fact]
    public Task Thousands_of_random_and_mutated_messages_get_proper_statuses_and_change_no_untouched_customer() => Fuzz(5_000, seed: 20261125);

    /// <summary>The load run (LOYALTY_TESTS=load): six times as many, with other seeds.</summary>
    [Fact]
    [Trait("Category", "Load")]
    public Task Tens_of_thousands_of_random_and_mutated_messages_get_proper_statuses_and_change_no_untouched_customer() => Fuzz(48_000, seed: Environment.TickCount);

    private async Task Fuzz(int messages, int seed)
    {
        // Customers the fuzz never addresses, with some history; their state must come out unchanged.
        var untouched = Enumerable.Range(0, 5).Select(_ => "keep-" + Guid.NewGuid().ToString("N")).ToList();
        foreach (var id in untouched)
        {
            await fixture.Server.Ingestion.PublishBatchAsync(new PublishBatchRequest
            {
                Events = { Purchase(id, "o-1", Line("ball", "sports", 2, 1999)), Game(id, 20, 2), Support(id, SupportStatus.Resolved, SupportChannel.Human, 5) },
            });
        }
        var before = await Snapshot(untouched);

        var methods = AllMethods().ToList();
        var templates = Templates();
        var counts = new ConcurrentDictionary<string, int>();
        var unexpected = new ConcurrentBag<string>();
        var random = new Random(seed);
        output.WriteLine($"seed {seed}");
        var plan = Enumerable.Range(0, messages).Select(i => (Method: methods[i % methods.Count], Seed: random.Next())).ToList();
        await Parallel.ForEachAsync(plan, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (item, _) =>
        {
            var rng = new Random(item.Seed);
            var (kind, payload) = Mutate(item.Method, templates, rng);
            var status = await Send(item.Method, payload, rng);
            if (status == StatusCode.Unavailable)
            {
                // UNAVAILABLE tells a client to retry: a call that met the customer's activation being replaced
                // (another fuzzed call erased it; Orleans then rejects the messages it cannot forward) is answered
                // properly the second time. A crash or a hang is not.
                await Task.Delay(200, CancellationToken.None);
                status = await Send(item.Method, payload, new Random(item.Seed));
                Interlocked.Increment(ref _retried);
            }
            counts.AddOrUpdate($"{kind} -> {status}", 1, (_, n) => n + 1);
            var hangOk = status == StatusCode.DeadlineExceeded && item.Method.IsServerStreaming && !item.Method.IsClientStreaming;
            // Bytes that are not a message of the method's input type are refused by the gRPC framework before any
            // engine code runs, as UNKNOWN ("Exception was thrown by handler", no details). Accepted only for those.
            // (A stream whose frame is refused that way may also show as CANCELLED to a client still writing.)
            var undecodable = status is StatusCode.Unknown or StatusCode.Cancelled && !Decodes(item.Method.InputType, payload);
            if (undecodable)
            {
                counts.AddOrUpdate($"{kind} -> (not a {item.Method.InputType.Name}) Unknown", 1, (_, n) => n + 1);
                counts.AddOrUpdate($"{kind} -> {status}", 0, (_, n) => n - 1);
            }
            if (!Proper.Contains(status) && !hangOk && !undecodable)
            {
                unexpected.Add($"{item.Method.FullName} {kind} ({payload.Length} bytes): {status}");
            }
        });

        output.WriteLine($"{messages:N0} messages to {methods.Count} RPCs; {_retried} answered UNAVAILABLE and were sent again");
        foreach (var (key, n) in counts.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"{n,7:N0}  {key}");
        }
        foreach (var problem in unexpected.Take(20))
        {
            output.WriteLine("UNEXPECTED " + problem);
        }
        foreach (var failure in _failures.Take(20))
        {
            output.WriteLine("ENGINE SAID " + failure);
        }
        if (!unexpected.IsEmpty)
        {
            // The engine's reasons first (each with its exception), then the end of its log.
            var log = fixture.Log;
            foreach (var at in Reasons.SelectMany(what => AllIndexes(log, what)).Order().Take(10))
            {
                var from = Math.Max(0, log.LastIndexOf('\n', at) + 1);
                output.WriteLine($"ENGINE LOG {log.AsSpan(from, Math.Min(3000, log.Length - from))}");
            }
            output.WriteLine(log[^Math.Min(20_000, log.Length)..]);
        }
        Assert.Empty(unexpected);
        Assert.Equal(messages, counts.Values.Sum());
        Assert.Equal(before, await Snapshot(untouched));
        // Still serving normally.
        var after = await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = Game(NewCustomer(), 5, 1) });
        Assert.Equal(Outcome.Applied, after.Outcome);
    }

    [Fact]
    public async Task An_oversized_message_is_refused_with_resource_exhausted()
    {
        var batch = new PublishBatchRequest();
        var e = Game(NewCustomer(), 5, 1);
        e.Source = new string('x', 5 * 1024 * 1024);   // beyond the 4 MB limit
        batch.Events.Add(e);
        var refused = await Assert.ThrowsAsync<RpcException>(() => fixture.Server.Ingestion.PublishBatchAsync(batch).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Equal(Outcome.Applied, (await fixture.Server.Ingestion.PublishAsync(new PublishRequest { Event = Game(NewCustomer(), 5, 1) })).Outcome);
    }

    /// <summary>What the engine logs when a call fails for a reason of its own (ErrorMappingInterceptor).</summary>
    private static readonly string[] Reasons = ["storage or cluster unavailable", "timed out", " failed"];

    private static IEnumerable<int> AllIndexes(string text, string what)
    {
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            yield return i;
        }
    }

    private static bool Decodes(MessageDescriptor type, byte[] payload)
    {
        try
        {
            type.Parser.ParseFrom(payload);
            return true;
        }
        catch (InvalidProtocolBufferException)
        {
            return false;
        }
    }

    private async Task<string> Snapshot(IEnumerable<string> customers)
    {
        var parts = new List<string>();
        foreach (var id in customers)
        {
            var customer = await fixture.Server.Customers.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
            var ledger = await fixture.Server.Customers.ListLedgerAsync(new ListLedgerRequest { CustomerId = id, PageSize = 100 });
            parts.Add(JsonFormatter.Default.Format(customer.Summary) + JsonFormatter.Default.Format(ledger));
        }
        return string.Join("\n", parts);
    }

    /// <summary>Valid requests to start mutations from, by input type.</summary>
    private static Dictionary<MessageDescriptor, byte[]> Templates()
    {
        var fuzzCustomer = "fuzz-" + Guid.NewGuid().ToString("N");
        var purchase = Purchase(fuzzCustomer, "o-9", Line("sku", "toys", 1, 1500), Line("sku2", "baby", 3, 799));
        var messages = new IMessage[]
        {
            new PublishRequest { Event = purchase },
            new PublishBatchRequest { Events = { purchase, Game(fuzzCustomer, 30, 3), Support(fuzzCustomer, SupportStatus.Resolved, SupportChannel.Human, 4) } },
            new GetCustomerRequest { CustomerId = fuzzCustomer },
            new ListLedgerRequest { CustomerId = fuzzCustomer, PageSize = 10 },
            new ListInteractionsRequest { CustomerId = fuzzCustomer, PageSize = 10 },
            new ListEligibleRewardsRequest { CustomerId = fuzzCustomer },
            new RedeemRequest { CustomerId = fuzzCustomer, RedemptionId = "r-1", RewardId = "coffee" },
            new AdjustRequest { CustomerId = fuzzCustomer, AdjustmentId = "a-1", Points = 10, Reason = "fuzz" },
            new GrantGoodwillRequest { CustomerId = fuzzCustomer, GrantId = "g-1", RewardId = "apology-coupon", Reason = "fuzz" },
            new ReserveRequest { CustomerId = fuzzCustomer, ReservationId = "h-1", Points = 10 },
            new ConfirmRequest { CustomerId = fuzzCustomer, ReservationId = "h-1" },
            new CancelRequest { CustomerId = fuzzCustomer, ReservationId = "h-1" },
            new ExportCustomerRequest { CustomerId = fuzzCustomer },
            new EraseCustomerRequest { CustomerId = fuzzCustomer },
            new WatchRequest { CustomerId = fuzzCustomer },
            new ValidateProgramRequest { ProgramJson = "{\"id\":\"x\"}" },
            new SimulateProgramRequest { ProgramJson = "{}", CustomerId = fuzzCustomer, Events = { purchase } },
            new ListAuditEntriesRequest { PageSize = 5 },
        };
        return messages.ToDictionary(m => m.Descriptor, m => m.ToByteArray());
    }

    private static (string Kind, byte[] Payload) Mutate(MethodDescriptor method, Dictionary<MessageDescriptor, byte[]> templates, Random rng)
    {
        var template = templates.TryGetValue(method.InputType, out var t) ? t : [];
        switch (rng.Next(8))
        {
            case 0:
                return ("random bytes", Bytes(rng, rng.Next(0, 512)));
            case 1:
                return ("empty", []);
            case 2:
            {
                // Flip a few bytes of a valid message.
                var copy = (byte[])template.Clone();
                for (var i = 0; i < 1 + rng.Next(4) && copy.Length > 0; i++)
                {
                    copy[rng.Next(copy.Length)] = (byte)rng.Next(256);
                }
                return ("flipped", copy);
            }
            case 3:
                return ("truncated", template.Length == 0 ? [] : template[..rng.Next(template.Length)]);
            case 4:
            {
                // An unknown field (number 999, varint) and a length-delimited field 998 of junk appended.
                var extra = new byte[] { 0xB8, 0x3E, 0x2A, 0xB2, 0x3E, 0x03, 0xFF, 0xFE, 0xFD };
                return ("unknown fields", [.. template, .. extra]);
            }
            case 5:
                return ("hostile strings", Hostile(method, rng));
            case 6:
            {
                // Deeply repeated: the same field thousands of times.
                var repeated = Enumerable.Repeat(template, 1 + rng.Next(3000)).SelectMany(b => b).ToArray();
                return ("repeated", repeated.Length > 3_000_000 ? repeated[..3_000_000] : repeated);
            }
            default:
                return ("valid", template);
        }
    }

    private static byte[] Bytes(Random rng, int length)
    {
        var bytes = new byte[length];
        rng.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Every string field set to something hostile, every number to an extreme.</summary>
    private static byte[] Hostile(MethodDescriptor method, Random rng)
    {
        var message = (IMessage)Activator.CreateInstance(method.InputType.ClrType)!;
        Fill(message, rng, 0);
        return message.ToByteArray();
    }

    private static readonly string[] Strings =
    [
        "", " ", new string('a', 100_000), "\u0000\u0001\u001f", "\u202e\u200b", "😀😀😀", "../../etc/passwd", "' or 1=1 --",
        "{\"$k\":\"purchase\"}", "\ud800", "keep-", "customer\nid", "%s%s%n",
    ];

    private static readonly long[] Numbers = [0, -1, 1, long.MaxValue, long.MinValue, int.MaxValue, int.MinValue, 1_000_000_001];

    private static void Fill(IMessage message, Random rng, int depth)
    {
        foreach (var field in message.Descriptor.Fields.InFieldNumberOrder())
        {
            var accessor = field.Accessor;
            if (field.IsRepeated || field.IsMap)
            {
                continue;
            }
            switch (field.FieldType)
            {
                case FieldType.String:
                    var s = Strings[rng.Next(Strings.Length)];
                    accessor.SetValue(message, s.StartsWith("keep-", StringComparison.Ordinal) ? "fuzz-" + s : s);
                    break;
                case FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32:
                    accessor.SetValue(message, (int)Numbers[rng.Next(Numbers.Length)]);
                    break;
                case FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64:
                    accessor.SetValue(message, Numbers[rng.Next(Numbers.Length)]);
                    break;
                case FieldType.Bool:
                    accessor.SetValue(message, rng.Next(2) == 0);
                    break;
                case FieldType.Enum:
                    accessor.SetValue(message, rng.Next(-3, 10));
                    break;
                case FieldType.Message when depth < 3 && field.MessageType.ClrType is { } type && type != typeof(Google.Protobuf.WellKnownTypes.Any):
                    var child = (IMessage)Activator.CreateInstance(type)!;
                    if (child is Google.Protobuf.WellKnownTypes.Timestamp ts)
                    {
                        ts.Seconds = Numbers[rng.Next(Numbers.Length)] % 315_537_897_599L;
                        ts.Nanos = rng.Next(-5, 1_000_000_005);
                    }
                    else
                    {
                        Fill(child, rng, depth + 1);
                    }
                    accessor.SetValue(message, child);
                    break;
            }
        }
    }

    private async Task<StatusCode> Send(MethodDescriptor method, byte[] payload, Random rng)
    {
        var bytes = Marshallers.Create<byte[]>(b => b, b => b);
        var type = (method.IsClientStreaming, method.IsServerStreaming) switch
        {
            (false, false) => MethodType.Unary,
            (false, true) => MethodType.ServerStreaming,
            (true, false) => MethodType.ClientStreaming,
            _ => MethodType.DuplexStreaming,
        };
        var call = new Method<byte[], byte[]>(type, method.Service.FullName, method.Name, bytes, bytes);
        var invoker = fixture.Server.Channel.CreateCallInvoker();
        var options = new CallOptions(deadline: DateTime.UtcNow.AddSeconds(type == MethodType.ServerStreaming ? 1 : 20));
        var started = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            switch (type)
            {
                case MethodType.Unary:
                    await invoker.AsyncUnaryCall(call, null, options, payload);
                    return StatusCode.OK;
                case MethodType.ServerStreaming:
                    using (var stream = invoker.AsyncServerStreamingCall(call, null, options, payload))
                    {
                        while (await stream.ResponseStream.MoveNext(CancellationToken.None))
                        {
                        }
                        return StatusCode.OK;
                    }
                default:
                    using (var duplex = invoker.AsyncDuplexStreamingCall(call, null, options))
                    {
                        var frames = 1 + rng.Next(5);
                        try
                        {
                            for (var i = 0; i < frames; i++)
                            {
                                await duplex.RequestStream.WriteAsync(payload);
                            }
                            await duplex.RequestStream.CompleteAsync();
                        }
                        catch (Exception e) when (e is IOException or InvalidOperationException)
                        {
                            // The server ended the call early (a refused frame): its status says why.
                        }
                        while (await duplex.ResponseStream.MoveNext(CancellationToken.None))
                        {
                        }
                        return duplex.GetStatus().StatusCode;
                    }
            }
        }
        catch (RpcException e) when (type == MethodType.ServerStreaming && e.StatusCode == StatusCode.Unavailable
            && started.Elapsed >= TimeSpan.FromSeconds(0.9) && e.Status.Detail.StartsWith("Error reading next message", StringComparison.Ordinal))
        {
            // The call's deadline ended it on the server first, which reset the stream while the client read: the same
            // hang until the deadline as DEADLINE_EXCEEDED (a watch never ends by itself).
            return StatusCode.DeadlineExceeded;
        }
        catch (RpcException e)
        {
            if (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal)
            {
                _failures.Add($"{method.FullName}: {e.StatusCode} {e.Status.Detail}");
            }
            return e.StatusCode;
        }
    }
}

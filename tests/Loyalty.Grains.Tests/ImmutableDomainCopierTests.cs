using System.Reflection;
using System.Runtime.CompilerServices;
using Loyalty.Domain.Events;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization.Cloning;

namespace Loyalty.Grains.Tests;

/// <summary>The values handed across local grain calls without a copy must really be immutable, all the way down.</summary>
public sealed class ImmutableDomainCopierTests
{
    public static TheoryData<string> SharedTypes() => [.. ImmutableDomainCopier.Types.Select(t => t.FullName!)];

    [Theory]
    [MemberData(nameof(SharedTypes))]
    public void Every_shared_type_is_a_sealed_record_of_init_only_immutable_members(string typeName)
    {
        var type = ImmutableDomainCopier.Types.Single(t => t.FullName == typeName);
        var problems = new List<string>();
        Check(type, problems, []);
        Assert.Empty(problems);
    }

    [Fact]
    public void A_mutable_member_is_caught()
    {
        var problems = new List<string>();
        Check(typeof(Mutable), problems, []);
        Assert.Contains(problems, p => p.Contains("Settable"));
        Assert.Contains(problems, p => p.Contains("Items"));
    }

    [Fact]
    public void Local_copies_share_the_event_and_result_but_other_domain_values_are_still_copied()
    {
        var services = new ServiceCollection().AddLoyaltySerialization().BuildServiceProvider();
        var copier = services.GetRequiredService<Orleans.Serialization.DeepCopier>();
        var e = new LoyaltyEvent
        {
            EventId = "e1", CustomerId = "c1", Payload = new Purchase("o1", "EUR", [new LineItem("sku", "toys", 1, 100)]),
        };
        Assert.Same(e, copier.Copy(e));
        var events = new[] { e };
        Assert.Same(e, copier.Copy(events)[0]);
        // Mutable state (not on the list) still gets a real copy.
        var state = new Loyalty.Domain.Customers.CustomerState { CustomerId = "c1" };
        Assert.NotSame(state, copier.Copy(state));
    }

    /// <summary>What a silo serializes and copies with: the engine's own registrations.</summary>
    private static (Orleans.Serialization.Serializer Serializer, Orleans.Serialization.DeepCopier Copier) Codecs()
    {
        var services = new ServiceCollection().AddLoyaltySerialization().BuildServiceProvider();
        return (services.GetRequiredService<Orleans.Serialization.Serializer>(), services.GetRequiredService<Orleans.Serialization.DeepCopier>());
    }

    [Fact]
    public void Ledger_entries_held_as_values_cross_silos_and_local_calls_intact()
    {
        var (serializer, copier) = Codecs();
        var at = new DateTimeOffset(2026, 12, 5, 9, 30, 0, TimeSpan.FromHours(1));
        Loyalty.Domain.Customers.LedgerEntry[] entries =
        [
            new(7, "earn", 40, 140, "e7", "r1", "v3", at) { Note = "note", PendingPoints = -5, Ref = "ref" },
            new(8, "tier", 0, 140, "e8", "", "v3", at.AddSeconds(1)),
        ];
        var back = serializer.Deserialize<Loyalty.Domain.Customers.LedgerEntry[]>(serializer.SerializeToArray(entries));
        Assert.Equal(entries, back);
        Assert.Equal(entries, copier.Copy(entries));
        var boxed = serializer.Deserialize<object>(serializer.SerializeToArray<object>(entries[0]));
        Assert.Equal(entries[0], boxed);
    }

    [Fact]
    public void Granted_rewards_held_as_values_cross_silos_intact_and_none_stays_none()
    {
        var (serializer, copier) = Codecs();
        var at = new DateTimeOffset(2026, 12, 5, 9, 30, 0, TimeSpan.FromHours(1));
        var reward = new Loyalty.Domain.Customers.GrantedReward("ship", "r1", "coupon", "SHIP-ABC", "Free shipping", 499, 0, 0,
            at, at.AddDays(30), "e7", "v3") { RevokedAt = at.AddDays(1) };
        var notice = new RewardNotice("c1", reward);
        Assert.Equal(notice, serializer.Deserialize<RewardNotice>(serializer.SerializeToArray(notice)));
        Assert.Equal(notice, copier.Copy(notice));
        var summary = Loyalty.Domain.Customers.CustomerSummary.Of(new Loyalty.Domain.Customers.CustomerState { CustomerId = "c1" });
        var with = new Loyalty.Domain.Customers.OperationResult(Loyalty.Domain.Customers.OperationOutcome.Applied, -500, null, reward, summary);
        Assert.Equal(reward, serializer.Deserialize<Loyalty.Domain.Customers.OperationResult>(serializer.SerializeToArray(with))!.Reward);
        var without = with with { Reward = null };
        Assert.Null(serializer.Deserialize<Loyalty.Domain.Customers.OperationResult>(serializer.SerializeToArray(without))!.Reward);
        Loyalty.Domain.Customers.GrantedReward[] list = [reward, reward with { Code = "SHIP-DEF", RevokedAt = null }];
        Assert.Equal(list, serializer.Deserialize<Loyalty.Domain.Customers.GrantedReward[]>(serializer.SerializeToArray(list)));
    }

    private sealed record Mutable(string Name)
    {
        public int Settable { get; set; }
        public List<string> Items { get; init; } = [];
    }

    private static readonly HashSet<Type> Leaves =
    [
        typeof(string), typeof(bool), typeof(int), typeof(long), typeof(double), typeof(decimal), typeof(DateTimeOffset),
        typeof(DateOnly), typeof(TimeSpan), typeof(Guid),
        typeof(Loyalty.Domain.Customers.InlineKey),   // a readonly struct of readonly fields: text like a string
    ];

    private static void Check(Type type, List<string> problems, HashSet<Type> seen)
    {
        if (!seen.Add(type) || Leaves.Contains(type) || type.IsEnum)
        {
            return;
        }
        if (Nullable.GetUnderlyingType(type) is { } inner)
        {
            Check(inner, problems, seen);
            return;
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyList<>))
        {
            Check(type.GetGenericArguments()[0], problems, seen);
            return;
        }
        if (type.IsAbstract)
        {
            // A polymorphic member: every concrete type deriving from it must be immutable too.
            foreach (var derived in type.Assembly.GetTypes().Where(t => !t.IsAbstract && type.IsAssignableFrom(t)))
            {
                Check(derived, problems, seen);
            }
            return;
        }
        var readOnlyStruct = type.IsValueType && type.GetCustomAttribute<System.Runtime.CompilerServices.IsReadOnlyAttribute>() is not null;
        if (!readOnlyStruct && (!type.IsSealed || type.GetMethod("<Clone>$") is null))
        {
            problems.Add($"{type.Name} is not a sealed record or a readonly struct");
        }
        foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            if (!field.IsInitOnly)
            {
                problems.Add($"{type.Name}.{field.Name} is a writable field");
            }
        }
        foreach (var property in type.GetProperties(BindingFlags.Instance | BindingFlags.Public))
        {
            if (property.SetMethod is { } setter
                && !setter.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(IsExternalInit)))
            {
                problems.Add($"{type.Name}.{property.Name} has a setter");
            }
            if (property.GetCustomAttribute<System.Text.Json.Serialization.JsonIgnoreAttribute>() is not null && property.SetMethod is null)
            {
                continue; // computed from the other members
            }
            var propertyType = property.PropertyType;
            if (!Leaves.Contains(propertyType) && !propertyType.IsEnum && Nullable.GetUnderlyingType(propertyType) is null
                && !(propertyType.IsGenericType && propertyType.GetGenericTypeDefinition() == typeof(IReadOnlyList<>))
                && !ImmutableDomainCopier.Types.Contains(propertyType) && !propertyType.IsAbstract)
            {
                problems.Add($"{type.Name}.{property.Name} is of {propertyType.Name}, which is not known to be immutable");
                continue;
            }
            Check(propertyType, problems, seen);
        }
    }
}

using Loyalty.Domain.Customers;
using Loyalty.Domain.Events;
using Loyalty.Domain.Rules;
using Orleans.Serialization.Cloning;

namespace Loyalty.Grains;

/// <summary>
/// Hands the hot-path domain values (events in, results and ledger entries out) across grain calls within a silo
/// without copying them. Orleans deep-copies every argument and result of a local call; for domain types that copy
/// is a JSON round trip (they cross silos as JSON), which cost more than applying the event. These types are
/// immutable records all the way down (init-only members of immutable types; a test checks it by reflection), so
/// sharing them is safe. Calls to other silos still serialize them.
/// </summary>
public sealed class ImmutableDomainCopier : IGeneralizedCopier, IOptionalDeepCopier
{
    /// <summary>The types passed by reference. Each must be a sealed record whose members are init-only and of
    /// immutable types (see ImmutableDomainCopierTests).</summary>
    public static readonly IReadOnlySet<Type> Types = new HashSet<Type>
    {
        typeof(LoyaltyEvent), typeof(LineItem), typeof(Purchase), typeof(Refund), typeof(GameSession), typeof(MatchResult),
        typeof(Achievement), typeof(SupportCase), typeof(ProfileUpdate),
        typeof(EventResult), typeof(CustomerSummary), typeof(GrantedReward), typeof(HeldPerk), typeof(RuleDecline),
        typeof(OperationResult), typeof(LedgerEntry),
    };

    public bool IsSupportedType(Type type) => Types.Contains(type);

    public bool IsShallowCopyable() => true;

    public object? DeepCopy(object? input, CopyContext context) => input;
}

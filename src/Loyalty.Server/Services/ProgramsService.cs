using Grpc.Core;
using Loyalty.Grains;
using V1 = Loyalty.Contracts.V1;

namespace Loyalty.Server.Services;

public sealed class ProgramsService(IProgramCatalog programs) : V1.Programs.ProgramsBase
{
    public override Task<V1.LoyaltyProgram> GetProgram(V1.GetProgramRequest request, ServerCallContext context)
    {
        var active = programs.Current;
        var d = active.Definition;
        var reply = new V1.LoyaltyProgram
        {
            ProgramId = d.Id,
            Name = d.Name,
            Version = active.Version,
            Currency = d.Currency,
            TimeZone = d.TimeZone,
            DefinitionJson = active.DefinitionJson,
            QualifyingWindowDays = d.Tiers.QualifyingWindowDays,
        };
        foreach (var tier in d.Tiers.Levels)
        {
            reply.Tiers.Add(new V1.Tier { Name = tier.Name, QualifyingPoints = tier.QualifyingPoints, EarnMultiplier = (double)tier.EarnMultiplier });
        }
        return Task.FromResult(reply);
    }
}

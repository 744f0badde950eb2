using Loyalty.Domain.Programs;

namespace Loyalty.Grains;

/// <summary>The silo-local copy of the active program: evaluating an event never needs a grain call.</summary>
public interface IProgramCatalog
{
    ActiveProgram Current { get; }
}

public sealed class ProgramCatalog(ActiveProgram program) : IProgramCatalog
{
    public ActiveProgram Current { get; } = program;
}

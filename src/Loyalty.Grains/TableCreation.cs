using Azure.Data.Tables;

namespace Loyalty.Grains;

/// <summary>Creates an Azure table once for the stores that write to it; a failed or cancelled attempt is not
/// remembered, so the next call tries again (a network blip at start must not break the store until a restart).</summary>
public sealed class TableCreation(TableClient table)
{
    private Task? _created;

    public Task EnsureAsync(CancellationToken cancellationToken)
    {
        var created = _created;
        if (created is null || created.IsFaulted || created.IsCanceled)
        {
            _created = created = table.CreateIfNotExistsAsync(CancellationToken.None);
        }
        return created.WaitAsync(cancellationToken);
    }
}

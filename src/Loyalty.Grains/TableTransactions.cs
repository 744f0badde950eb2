using Azure.Data.Tables;

namespace Loyalty.Grains;

public static class TableTransactions
{
    /// <summary>Submits one entity-group transaction; a delete of a row that is gone already (removed meanwhile by
    /// another silo, an erase, a retry) is left out and the rest submitted again, since one failed action fails the
    /// whole transaction. Any other failure is thrown.</summary>
    public static async Task SubmitLeavingOutGoneAsync(this TableClient table, List<TableTransactionAction> actions, CancellationToken cancellationToken)
    {
        while (actions.Count > 0)
        {
            try
            {
                await table.SubmitTransactionAsync(actions, cancellationToken);
                return;
            }
            catch (TableTransactionFailedException e) when (e.Status == 404 && e.FailedTransactionActionIndex is { } index
                && actions[index].ActionType == TableTransactionActionType.Delete)
            {
                actions.RemoveAt(index);
            }
        }
    }
}

using Grpc.Net.Client;
using Loyalty.Contracts.V1;

namespace Loyalty.TestKit;

/// <summary>A running engine as a client sees it: its API (gRPC over HTTP/2, the admin test key on <see cref="Channel"/>)
/// and its operator port. Either its own process (<see cref="ServerProcess"/>) or hosted in the test process.</summary>
public interface IEngine
{
    int Port { get; }
    string Address { get; }
    GrpcChannel Channel { get; }
    int OperatorPort { get; }
    string OperatorAddress { get; }
    Ingestion.IngestionClient Ingestion { get; }
    Customers.CustomersClient Customers { get; }
    Programs.ProgramsClient Programs { get; }
}

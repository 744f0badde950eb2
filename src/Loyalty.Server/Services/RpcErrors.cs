using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Loyalty.Domain.Events;

namespace Loyalty.Server.Services;

/// <summary>Errors with a precise status; bad fields are named in the message and in a google.rpc.BadRequest detail.</summary>
public static class RpcErrors
{
    public static RpcException InvalidArgument(FieldError error) => InvalidArgument(error.Field, error.Message);

    public static RpcException InvalidArgument(string field, string message)
    {
        var status = new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = $"{field}: {message}",
            Details =
            {
                Any.Pack(new BadRequest
                {
                    FieldViolations = { new BadRequest.Types.FieldViolation { Field = field, Description = message } },
                }),
            },
        };
        return status.ToRpcException();
    }

    public static RpcException NotFound(string message) =>
        new Google.Rpc.Status { Code = (int)Code.NotFound, Message = message }.ToRpcException();
}

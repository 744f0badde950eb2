using System.Net;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Programs;
using Loyalty.Grains;
using Loyalty.Server;
using Loyalty.Server.Services;
using Microsoft.AspNetCore.Server.Kestrel.Core;

var builder = WebApplication.CreateBuilder(args);
var settings = builder.Configuration.GetSection("Loyalty").Get<LoyaltySettings>() ?? new LoyaltySettings();

ActiveProgram program;
try
{
    program = ProgramLoader.LoadFile(settings.ResolveProgramPath(builder.Environment.ContentRootPath));
}
catch (ProgramValidationException e)
{
    // A program that fails validation is never activated: refuse to start, naming file, path and problem.
    Console.Error.WriteLine($"loyalty: cannot start: {e.Message}");
    foreach (var error in e.Errors)
    {
        Console.Error.WriteLine($"  {error.Path}: {error.Problem}");
    }
    return 2;
}

builder.WebHost.ConfigureKestrel(kestrel =>
{
    // Plaintext HTTP/2 (h2c): gRPC without TLS needs an HTTP/2-only endpoint.
    kestrel.Listen(IPAddress.Parse(settings.Api.Address), settings.Api.Port, listen => listen.Protocols = HttpProtocols.Http2);
});

builder.UseOrleans(silo =>
{
    silo.UseLocalhostClustering(settings.Cluster.SiloPort, settings.Cluster.GatewayPort,
        serviceId: settings.Cluster.ServiceId, clusterId: settings.Cluster.ClusterId);
    silo.AddLoyalty(program, settings.Storage, settings.Limits.ToEngineLimits());
});

builder.Services.AddSingleton(settings);
builder.Services.AddGrpc(grpc =>
{
    grpc.MaxReceiveMessageSize = 16 * 1024 * 1024;
    grpc.Interceptors.Add<ErrorMappingInterceptor>();
});

var app = builder.Build();
app.MapGrpcService<IngestionService>();
app.MapGrpcService<CustomersService>();
app.MapGrpcService<ProgramsService>();

var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Loyalty");
if (settings.Limits.RewardCodeSecret == EngineLimits.Default.RewardCodeSecret)
{
    log.LogWarning("Loyalty:Limits:RewardCodeSecret is the development default: reward codes are guessable by anyone with the source. Set a secret in production");
}
if (settings.Storage.Provider == "Memory")
{
    log.LogWarning("Storage provider is Memory: customer state is NOT durable and is lost when this process stops");
}
app.Lifetime.ApplicationStarted.Register(() =>
    log.LogInformation("Loyalty engine ready: gRPC on http://{Address}:{Port}, program {ProgramId} version {Version}, storage {Storage}",
        settings.Api.Address, settings.Api.Port, program.Definition.Id, program.Version, settings.Storage.Provider));

await app.RunAsync();
return 0;

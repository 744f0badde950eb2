using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Orleans.Dashboard;
using System.Net;
using Loyalty.Domain.Customers;
using Loyalty.Domain.Programs;
using Loyalty.Grains;
using Loyalty.Server;
using Loyalty.Server.Auth;
using Loyalty.Server.Services;
using Loyalty.Server.Webhooks;
using Microsoft.AspNetCore.Server.Kestrel.Core;

var builder = WebApplication.CreateBuilder(args);
// The console's static assets: from the publish output's wwwroot, or, run from a build output (tests, the local
// scripts) in any environment, from the project's wwwroot through the build's static web assets manifest.
builder.WebHost.UseStaticWebAssets();
// Unknown keys under Loyalty: are mistakes (a misspelt environment variable would otherwise be ignored silently).
LoyaltySettings settings;
try
{
    settings = builder.Configuration.GetSection("Loyalty").Get<LoyaltySettings>(o => o.ErrorOnUnknownConfiguration = true) ?? new LoyaltySettings();
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"loyalty: cannot start: configuration: {e.Message}");
    return 2;
}

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

if (settings.Auth.Mode is not ("Keys" or "Anonymous"))
{
    Console.Error.WriteLine($"loyalty: cannot start: Loyalty:Auth:Mode '{settings.Auth.Mode}' is unknown; use Keys or Anonymous.");
    return 2;
}
var apiAddress = IPAddress.Parse(settings.Api.Address);
var tls = settings.Api.CertificatePath.Length > 0;
if (!tls && !IPAddress.IsLoopback(apiAddress) && !settings.Api.AllowPlaintext)
{
    Console.Error.WriteLine($"loyalty: cannot start: the API on {settings.Api.Address} would be plaintext. Set Loyalty:Api:CertificatePath " +
        "(HTTPS), bind to loopback for development, or set Loyalty:Api:AllowPlaintext=true when TLS is terminated in front of the engine.");
    return 2;
}

if (Loyalty.Server.StartupChecks.Problems(settings) is { Count: > 0 } problems)
{
    foreach (var problem in problems)
    {
        Console.Error.WriteLine($"loyalty: cannot start: {problem}");
    }
    return 2;
}

if (!args.Contains("--check-config") && Loyalty.Server.StartupChecks.PortInUse(settings) is { } busy)
{
    Console.Error.WriteLine($"loyalty: cannot start: {busy}");
    return 2;
}

if (args.Contains("--check-config"))
{
    // Prints the settings this process would run with (secrets redacted) and the program it would load, then exits:
    // for operators and for the test that checks the Kubernetes manifests against what the server reads.
    settings.Storage = settings.Storage with
    {
        ConnectionString = settings.Storage.ConnectionString.Length > 0 ? "(set)" : "",
        WebhooksConnectionString = settings.Storage.WebhooksConnectionString.Length > 0 ? "(set)" : "",
    };
    settings.Limits.RewardCodeSecret = settings.Limits.RewardCodeSecret == EngineLimits.Default.RewardCodeSecret ? "(development default)" : "(set)";
    settings.Api.CertificatePassword = settings.Api.CertificatePassword.Length > 0 ? "(set)" : "";
    settings.Auth.Jwt.SigningKey = settings.Auth.Jwt.SigningKey.Length > 0 ? "(set)" : "";
    settings.Webhooks.Endpoints.ForEach(e => e.Secret = e.Secret.Length > 0 ? "(set)" : "");
    Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { settings, program = new { program.Definition.Id, program.Version } },
        new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    return 0;
}

builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Limits.MaxRequestBodySize = settings.Api.MaxMessageBytes + 1024;
    kestrel.Listen(apiAddress, settings.Api.Port, listen =>
    {
        // gRPC, and the same RPCs as JSON (gRPC JSON transcoding). With a certificate, HTTPS with ALPN: HTTP/2 and
        // HTTP/1.1 on the one port. Without, h2c on loopback (or behind TLS): HTTP/2 only, as gRPC clients speak it;
        // JSON over HTTP/1.1 then has its own port (Loyalty:Api:HttpPort).
        listen.Protocols = tls ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http2;
        if (tls)
        {
            listen.UseHttps(settings.Api.CertificatePath, settings.Api.CertificatePassword.Length > 0 ? settings.Api.CertificatePassword : null);
        }
    });
    if (settings.Api.HttpPort > 0)
    {
        kestrel.Listen(apiAddress, settings.Api.HttpPort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            if (tls)
            {
                listen.UseHttps(settings.Api.CertificatePath, settings.Api.CertificatePassword.Length > 0 ? settings.Api.CertificatePassword : null);
            }
        });
    }
    // The operator endpoint (health, readiness, metrics, dashboard): HTTP/1.1 for probes and scrapers.
    kestrel.Listen(IPAddress.Parse(settings.Operator.Address), settings.Operator.Port, listen => listen.Protocols = HttpProtocols.Http1AndHttp2);
});

builder.UseOrleans(silo =>
{
    var cluster = settings.Cluster;
    switch (cluster.Provider)
    {
        case "Localhost":
            // Gateway port 0: no Orleans client gateway. Nothing uses an Orleans client; every caller goes through the
            // API, with its keys, scopes, limits and audit.
            silo.UseLocalhostClustering(cluster.SiloPort, gatewayPort: 0,
                primarySiloEndpoint: cluster.PrimarySiloPort > 0 ? new IPEndPoint(IPAddress.Loopback, cluster.PrimarySiloPort) : null,
                serviceId: cluster.ServiceId, clusterId: cluster.ClusterId);
            break;
        case "AzureTable":
            if (string.IsNullOrWhiteSpace(settings.Storage.ConnectionString))
            {
                throw new InvalidOperationException("Loyalty:Cluster:Provider=AzureTable needs Loyalty:Storage:ConnectionString (membership lives in the storage account).");
            }
            silo.UseAzureStorageClustering(options =>
            {
                options.TableServiceClient = new Azure.Data.Tables.TableServiceClient(settings.Storage.ConnectionString);
                options.TableName = cluster.MembershipTableName;
            });
            silo.Configure<Orleans.Configuration.ClusterOptions>(options =>
            {
                options.ClusterId = cluster.ClusterId;
                options.ServiceId = cluster.ServiceId;
            });
            silo.ConfigureEndpoints(IPAddress.Parse(cluster.AdvertisedAddress), cluster.SiloPort, gatewayPort: 0, cluster.ListenOnAnyAddress);
            break;
        default:
            throw new InvalidOperationException($"Loyalty:Cluster:Provider '{cluster.Provider}' is unknown; use Localhost or AzureTable.");
    }
    silo.AddLoyalty(program, settings.Storage, settings.Limits.ToEngineLimits(), settings.Journal.Validated(), settings.Webhooks);
    if (settings.Operator.Dashboard)
    {
        // Every silo of a cluster must agree on this setting (the dashboard's grains live on all of them).
        silo.AddDashboard();
    }
});

// After the silo's defaults: the webhook sender is HTTP, signed, with the standard resilience pipeline.
builder.Services.AddLoyaltyWebhookSender(settings.Webhooks);
builder.Services.AddSingleton<Loyalty.Server.Application.WebhookStatusQuery>();
builder.Services.AddSingleton<Loyalty.Server.Application.LiabilityReportQuery>();
builder.Services.AddHostedService<Loyalty.Server.Reports.LiabilityGauges>();
builder.Services.AddHostedService<FencedJournalStop>();
builder.Services.AddSingleton<ReadinessCheck>();   // one instance: it remembers what it last reported
builder.Services.AddHealthChecks().AddCheck<ReadinessCheck>("ready", tags: ["ready"]);
// The gRPC health service answers from the last published check (refreshed every second), so a Check call is trivial:
// it is also the bench's baseline RPC. /readyz evaluates on every request.
builder.Services.AddGrpcHealthChecks(options => options.UseHealthChecksCache = true).AddCheck<ReadinessCheck>("grpc-ready");
builder.Services.Configure<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckPublisherOptions>(options =>
{
    options.Delay = TimeSpan.Zero;
    options.Period = TimeSpan.FromSeconds(1);
});
// service.name "loyalty" (not unknown_service:dotnet), the silo's identity as resource attributes (Prometheus: target_info).
builder.Services.AddOpenTelemetry()
    .ConfigureResource(resource => resource
        .AddService("loyalty", serviceInstanceId: $"{settings.Cluster.AdvertisedAddress}:{settings.Cluster.SiloPort}")
        .AddAttributes(
        [
            new("loyalty.cluster_id", settings.Cluster.ClusterId),
            new("loyalty.service_id", settings.Cluster.ServiceId),
            new("loyalty.api_port", settings.Api.Port),
        ]))
    .WithMetrics(metrics => metrics
    .AddMeter(LoyaltyMetrics.MeterName)
    .AddMeter("Microsoft.Orleans")
    // The runtime's own: GC collections, pause time and heap sizes, thread pool, JIT (dotnet_gc_pause_time_seconds_total, ...).
    .AddMeter("System.Runtime")
    .AddPrometheusExporter(options => options.ScrapeResponseCacheDurationMilliseconds = 0));

builder.Services.AddSingleton(settings);
// The OpenAPI document of the JSON routes, generated from the protos' annotations and comments.
builder.Services.AddGrpcSwagger();
builder.Services.AddSwaggerGen(openApi =>
{
    openApi.SwaggerDoc("v1", new Microsoft.OpenApi.Models.OpenApiInfo
    {
        Title = "Loyalty API",
        Version = "v1",
        Description = "Every unary RPC of the gRPC API (package loyalty.v1) as JSON over HTTP. Send an API key in x-api-key " +
            "or as Authorization: Bearer. Errors are google.rpc.Status objects: 400 invalid (the message names the field), " +
            "401, 403, 404, 409, 429 (with Retry-After), 503.",
    });
    var contracts = Path.Combine(AppContext.BaseDirectory, "Loyalty.Contracts.xml");
    if (File.Exists(contracts))
    {
        openApi.IncludeXmlComments(contracts);
        openApi.IncludeGrpcXmlComments(contracts, includeControllerXmlComments: true);
    }
    var key = new Microsoft.OpenApi.Models.OpenApiSecurityScheme
    {
        Type = Microsoft.OpenApi.Models.SecuritySchemeType.ApiKey,
        In = Microsoft.OpenApi.Models.ParameterLocation.Header,
        Name = "x-api-key",
        Reference = new Microsoft.OpenApi.Models.OpenApiReference { Type = Microsoft.OpenApi.Models.ReferenceType.SecurityScheme, Id = "apiKey" },
    };
    openApi.AddSecurityDefinition("apiKey", key);
    openApi.AddSecurityRequirement(new Microsoft.OpenApi.Models.OpenApiSecurityRequirement { [key] = [] });
});
builder.Services.AddSingleton<Loyalty.Server.Auth.KeyRateLimiter>();
// HTTP requests (the console's API, the operator port) pay their key's bucket through ASP.NET Core's rate limiting
// middleware; gRPC calls pay per event in RpcAccessInterceptor, from the same buckets.
builder.Services.AddRateLimiter(_ => { });
builder.Services.AddOptions<Microsoft.AspNetCore.RateLimiting.RateLimiterOptions>().Configure<Loyalty.Server.Auth.KeyRateLimiter>((options, limiter) =>
{
    options.GlobalLimiter = limiter.ForHttp();
    options.OnRejected = async (rejected, ct) =>
    {
        var retryAfter = Loyalty.Server.Auth.KeyRateLimiter.RetryAfter(rejected.Lease);
        var response = rejected.HttpContext.Response;
        response.StatusCode = StatusCodes.Status429TooManyRequests;
        response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Loyalty.Grains.LoyaltyMetrics.AccessRefused("rate_limited");
        await response.WriteAsync($"key '{Caller.From(rejected.HttpContext.User)?.Id}' is over its rate limit; retry in {retryAfter.TotalSeconds:0.#} s", ct);
    };
});
builder.Services.AddSingleton<Loyalty.Server.Auth.AuditLog>();
builder.Services.AddSingleton<Loyalty.Server.Auth.OperatorSessions>();
builder.Services.AddSingleton<Loyalty.Server.Application.CustomerCare>();
builder.Services.AddSingleton<Loyalty.Server.Application.EventIntake>();
// Who calls (API key, bearer token, operator session) and what each endpoint needs: ASP.NET Core authentication and
// authorization policies (Auth/Scopes.cs), the same for gRPC, the console and the operator port.
builder.Services.AddLoyaltyAuthentication(settings);
builder.Services.AddLoyaltyAuthorization();
builder.Services.AddGrpc(grpc =>
{
    grpc.MaxReceiveMessageSize = settings.Api.MaxMessageBytes;
    grpc.Interceptors.Add<Loyalty.Server.Auth.RpcAccessInterceptor>();
    grpc.Interceptors.Add<ErrorMappingInterceptor>();
}).AddJsonTranscoding(json =>
{
    // Every unary RPC is also JSON over HTTP (routes from the google.api.http annotations in the protos), with the
    // same keys, scopes, limits, validation and audit: a route is the RPC, through the same interceptors.
    json.JsonSettings.WriteIndented = false;
    // The error details the API sends (a JSON error body carries them as typed objects).
    json.TypeRegistry = Google.Protobuf.Reflection.TypeRegistry.FromMessages(
        Google.Rpc.BadRequest.Descriptor, Google.Rpc.RetryInfo.Descriptor, Google.Rpc.ErrorInfo.Descriptor);
});

var app = builder.Build();
app.UseRouting();
int[] api = settings.Api.HttpPort > 0 ? [settings.Api.Port, settings.Api.HttpPort] : [settings.Api.Port];
app.UseLocalPorts(api);
app.UseAuthentication();
app.UseAuthorization();
app.UseRateLimiter();
var operatorPort = settings.Operator.Port;
app.MapGrpcService<IngestionService>().OnPort(api);
app.MapGrpcService<AuditService>().OnPort(api);
app.MapGrpcService<WebhooksService>().OnPort(api);
app.MapGrpcService<Loyalty.Server.Imports.ImportsService>().OnPort(api);
app.MapGrpcService<Loyalty.Server.Reports.ReportsService>().OnPort(api);
app.MapGrpcService<CustomersService>().OnPort(api);
app.MapGrpcService<ProgramsService>().OnPort(api);
app.MapGrpcHealthChecksService().OnPort(api).WithMetadata(new Loyalty.Server.Auth.RpcPolicyAttribute(Loyalty.Server.Auth.Scopes.Open));
// Operator endpoints: never on the API port.
app.MapGet("/healthz", () => Results.Text("live")).OnPort(operatorPort);
app.MapHealthChecks("/readyz", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions
{
    Predicate = check => check.Tags.Contains("ready"),
    ResponseWriter = async (context, report) =>
    {
        context.Response.ContentType = "text/plain";
        await context.Response.WriteAsync(report.Status == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy
            ? "ready: " + string.Join("; ", report.Entries.Select(e => e.Value.Description))
            : "not ready: " + string.Join("; ", report.Entries.Select(e => e.Value.Description)));
    },
}).OnPort(operatorPort);
// The OpenAPI document, without a key, wherever JSON is served (and on the operator port, for its reference page).
app.MapSwagger("/openapi/{documentName}.json").OnPort([.. api, operatorPort]);
// A browsable API reference on the operator port (static assets of Swagger UI; the API ports answer 404 for them).
app.UseSwaggerUI(ui =>
{
    ui.RoutePrefix = "api-reference";
    ui.SwaggerEndpoint("/openapi/v1.json", "Loyalty API v1");
    ui.DocumentTitle = "Loyalty API reference";
});
Loyalty.Server.Auth.OperatorAccess.Map(app, settings, operatorPort);
Loyalty.Server.SupportDesk.SupportConsole.Map(app, settings, operatorPort);
app.MapPrometheusScrapingEndpoint("/metrics").OnPort(operatorPort).RequireAuthorization(Loyalty.Server.Auth.Scopes.Metrics);
if (settings.Operator.Dashboard)
{
    app.MapOrleansDashboard(routePrefix: "/dashboard").OnPort(operatorPort).RequireAuthorization(Loyalty.Server.Auth.Scopes.Operator);
}

var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Loyalty");
// Pre-stop: readiness turns false at once (it watches ApplicationStopping); keep serving for a moment so clients and
// load balancers move away before Kestrel and the silo stop.
app.Lifetime.ApplicationStopping.Register(() =>
{
    log.LogInformation("Shutting down: not ready; serving for {Delay} more, then stopping", settings.Operator.ShutdownDelay);
    Thread.Sleep(settings.Operator.ShutdownDelay);
});
if (settings.Limits.RewardCodeSecret == EngineLimits.Default.RewardCodeSecret)
{
    log.LogWarning("Loyalty:Limits:RewardCodeSecret is the development default: reward codes are guessable by anyone with the source. Set a secret in production");
}
if (settings.Storage.Provider == "Memory")
{
    log.LogWarning("Storage provider is Memory: customer state is NOT durable and is lost when this process stops");
}
if (settings.Auth.Mode == "Anonymous")
{
    log.LogCritical("ANONYMOUS MODE (Loyalty:Auth:Mode=Anonymous): every caller may do everything (publish programs, adjust and erase customers) without credentials. Never run this outside development.");
}
else if (settings.Auth.Keys.Count == 0 && settings.Auth.Jwt.SigningKey.Length == 0)
{
    log.LogWarning("No API keys and no JWT signing key are configured (Loyalty:Auth): every call will be refused with UNAUTHENTICATED. Create a key with `loyalty keys create`.");
}
app.Lifetime.ApplicationStarted.Register(() =>
    log.LogInformation("Loyalty engine ready: gRPC on {Scheme}://{Address}:{Port}, JSON {Json}, operator endpoints on http://{OperatorAddress}:{OperatorPort} (/healthz, /readyz, /metrics, /api-reference), program {ProgramId} version {Version}, storage {Storage}, cluster {Cluster}",
        tls ? "https" : "http", settings.Api.Address, settings.Api.Port,
        settings.Api.HttpPort > 0 ? $"over HTTP/1.1 on {(tls ? "https" : "http")}://{settings.Api.Address}:{settings.Api.HttpPort}" : tls ? "on the API port" : "over HTTP/2 on the API port",
        settings.Operator.Address, settings.Operator.Port, program.Definition.Id, program.Version, settings.Storage.Provider, settings.Cluster.Provider));

try
{
    await app.RunAsync();
}
catch (Exception e) when (AddressInUse(e) is { } inUse)
{
    Console.Error.WriteLine($"loyalty: cannot start: {inUse} (is another engine running? stop it, or set Loyalty:Api:Port / Loyalty:Operator:Port / Loyalty:Cluster:SiloPort)");
    return 2;
}
return Environment.ExitCode;   // 0, or FencedJournalStop.ExitCode when the engine stopped because its journal was taken

// The bind error's own message ("Failed to bind to address http://127.0.0.1:5080: address already in use."), if a
// port in use is why the host did not start.
static string? AddressInUse(Exception e)
{
    for (Exception? x = e; x is not null; x = x.InnerException)
    {
        if (x is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse })
        {
            return e is IOException ? e.Message.TrimEnd('.') : "an address is already in use: " + x.Message;
        }
    }
    return null;
}

using System.Diagnostics;
using System.Text.Json;
using Loyalty.Domain.Programs;
using Loyalty.TestKit;
using YamlDotNet.RepresentationModel;

namespace Loyalty.Server.Tests;

/// <summary>The Kubernetes manifests and the Dockerfile agree with what the server reads: every environment variable is
/// a setting the server knows (checked by the server itself, <c>--check-config</c>), ports and probes line up, and the
/// program in the ConfigMap is the repository's sample.</summary>
[Trait("Needs", "Process")]
public sealed class DeploymentManifestTests
{
    private static readonly string K8s = Path.Combine(RepoPaths.Root, "deploy", "k8s");

    private static List<YamlMappingNode> Documents() =>
        Directory.GetFiles(K8s, "*.yaml").Order().SelectMany(file =>
        {
            var stream = new YamlStream();
            using var reader = new StreamReader(file);
            stream.Load(reader);
            return stream.Documents.Select(d => (YamlMappingNode)d.RootNode);
        }).ToList();

    private static YamlNode At(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            node = ((YamlMappingNode)node).Children[new YamlScalarNode(key)];
        }
        return node;
    }

    private static string Text(YamlNode node, params string[] path) => ((YamlScalarNode)At(node, path)).Value!;

    private static bool Has(YamlNode node, string key) => node is YamlMappingNode m && m.Children.ContainsKey(new YamlScalarNode(key));

    private static YamlMappingNode Kind(List<YamlMappingNode> docs, string kind) => docs.Single(d => Text(d, "kind") == kind);

    [Fact]
    public async Task The_deployment_environment_is_read_by_the_server_and_its_ports_and_probes_line_up()
    {
        var docs = Documents();
        var deployment = Kind(docs, "Deployment");
        var pod = At(deployment, "spec", "template");
        var container = ((YamlSequenceNode)At(pod, "spec", "containers")).Children.Cast<YamlMappingNode>().Single();
        var ports = ((YamlSequenceNode)At(container, "ports")).Children.ToDictionary(p => Text(p, "name"), p => int.Parse(Text(p, "containerPort"), System.Globalization.CultureInfo.InvariantCulture));

        // The environment exactly as a pod gets it (the pod IP and the Secret's values stand in).
        var env = new Dictionary<string, string>();
        foreach (var item in ((YamlSequenceNode)At(container, "env")).Children)
        {
            var name = Text(item, "name");
            if (Has(item, "value"))
            {
                env[name] = Text(item, "value").Replace("$(POD_IP)", "10.1.2.3", StringComparison.Ordinal);
            }
            else if (Has(At(item, "valueFrom"), "fieldRef"))
            {
                Assert.Equal("status.podIP", Text(item, "valueFrom", "fieldRef", "fieldPath"));
                env[name] = "10.1.2.3";
            }
            else
            {
                Assert.Contains(Text(item, "valueFrom", "secretKeyRef", "name"), (string[])["loyalty-storage", "loyalty-tls"]);
                env[name] = "secret-" + Text(item, "valueFrom", "secretKeyRef", "key");
            }
        }
        // The program the ConfigMap mounts at Loyalty__ProgramPath.
        var configMap = Kind(docs, "ConfigMap");
        var program = Path.Combine(Path.GetTempPath(), $"loyalty-configmap-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(program, Text(configMap, "data", "program.json"));
        Assert.Equal("/etc/loyalty/program.json", env["Loyalty__ProgramPath"]);
        env["Loyalty__ProgramPath"] = program;
        try
        {
            var settings = await CheckConfig(env);
            var s = settings.GetProperty("settings");
            Assert.Equal(ports["grpc"], s.GetProperty("Api").GetProperty("Port").GetInt32());
            Assert.Equal(ports["operator"], s.GetProperty("Operator").GetProperty("Port").GetInt32());
            Assert.Equal(ports["silo"], s.GetProperty("Cluster").GetProperty("SiloPort").GetInt32());
            Assert.False(s.GetProperty("Cluster").TryGetProperty("GatewayPort", out _), "there is no Orleans gateway to configure");
            Assert.Equal("10.1.2.3", s.GetProperty("Cluster").GetProperty("AdvertisedAddress").GetString());
            Assert.True(s.GetProperty("Cluster").GetProperty("ListenOnAnyAddress").GetBoolean());
            Assert.Equal("AzureTable", s.GetProperty("Cluster").GetProperty("Provider").GetString());
            Assert.Equal("AzureTable", s.GetProperty("Storage").GetProperty("Provider").GetString());
            Assert.Equal("(set)", s.GetProperty("Storage").GetProperty("ConnectionString").GetString());
            Assert.Equal("(set)", s.GetProperty("Limits").GetProperty("RewardCodeSecret").GetString());
            Assert.Equal("0.0.0.0", s.GetProperty("Api").GetProperty("Address").GetString());
            // Off loopback the API is HTTPS: the certificate comes from the mounted loyalty-tls Secret.
            Assert.Equal("/etc/loyalty-tls/tls.pfx", s.GetProperty("Api").GetProperty("CertificatePath").GetString());
            Assert.Equal("(set)", s.GetProperty("Api").GetProperty("CertificatePassword").GetString());
            Assert.Equal("Keys", s.GetProperty("Auth").GetProperty("Mode").GetString());
            Assert.Equal("0.0.0.0", s.GetProperty("Operator").GetProperty("Address").GetString());
            // The ConfigMap holds the repository's sample program, not a drifted copy.
            Assert.Equal(ProgramLoader.LoadFile(RepoPaths.SampleProgram).Version, settings.GetProperty("program").GetProperty("Version").GetString());
        }
        finally
        {
            File.Delete(program);
        }

        // Probes hit the operator port's endpoints (served there, tested by OperationsTests).
        Assert.Equal(("/readyz", "operator"), (Text(container, "readinessProbe", "httpGet", "path"), Text(container, "readinessProbe", "httpGet", "port")));
        Assert.Equal(("/healthz", "operator"), (Text(container, "livenessProbe", "httpGet", "path"), Text(container, "livenessProbe", "httpGet", "port")));
        Assert.Equal("/readyz", Text(container, "startupProbe", "httpGet", "path"));
        Assert.True(Has(At(container, "resources"), "requests"));

        // Services, the disruption budget and the autoscaler point at these pods and ports.
        var labels = ((YamlMappingNode)At(pod, "metadata", "labels")).Children.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value.ToString());
        foreach (var service in docs.Where(d => Text(d, "kind") == "Service"))
        {
            foreach (var (key, value) in (YamlMappingNode)At(service, "spec", "selector"))
            {
                Assert.Equal(labels[key.ToString()], value.ToString());
            }
            foreach (var port in ((YamlSequenceNode)At(service, "spec", "ports")).Children)
            {
                Assert.Contains(Text(port, "targetPort"), ports.Keys);
            }
        }
        foreach (var (key, value) in (YamlMappingNode)At(Kind(docs, "PodDisruptionBudget"), "spec", "selector", "matchLabels"))
        {
            Assert.Equal(labels[key.ToString()], value.ToString());
        }
        Assert.Equal(Text(deployment, "metadata", "name"), Text(Kind(docs, "HorizontalPodAutoscaler"), "spec", "scaleTargetRef", "name"));
        Assert.Equal("loyalty-program", Text(((YamlSequenceNode)At(pod, "spec", "volumes")).Children.Single(v => Text(v, "name") == "program"), "configMap", "name"));
    }

    [Fact]
    public void The_dockerfile_is_multi_stage_non_root_and_in_step_with_the_projects()
    {
        var docker = File.ReadAllLines(Path.Combine(RepoPaths.Root, "deploy", "docker", "Dockerfile"));
        Assert.True(docker.Count(l => l.StartsWith("FROM ", StringComparison.Ordinal)) >= 2, "not multi-stage");
        var user = docker.Last(l => l.StartsWith("USER ", StringComparison.Ordinal))["USER ".Length..].Split(':')[0];
        Assert.True(int.TryParse(user, out var uid) && uid > 0, $"USER {user} is not a non-root uid");
        var exposed = docker.Single(l => l.StartsWith("EXPOSE ", StringComparison.Ordinal)).Split(' ').Skip(1).ToHashSet();
        Assert.Equal(new HashSet<string> { "5080", "5081", "11111" }, exposed);   // no Orleans gateway
        Assert.Contains(docker, l => l.Contains("\"Loyalty.Server.dll\"", StringComparison.Ordinal));
        // Every project the server is built from is copied for the restore step, and the central props come first.
        var copied = docker.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal)).ToList();
        foreach (var project in new[] { "Loyalty.Server", "Loyalty.Grains", "Loyalty.Domain", "Loyalty.Contracts" })
        {
            Assert.True(File.Exists(Path.Combine(RepoPaths.Root, "src", project, project + ".csproj")));
            Assert.Contains(copied, l => l.Contains($"src/{project}/{project}.csproj", StringComparison.Ordinal));
        }
        var referenced = Directory.GetFiles(Path.Combine(RepoPaths.Root, "src"), "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains("Loyalty.Cli", StringComparison.Ordinal)).Select(Path.GetFileNameWithoutExtension);
        Assert.All(referenced, name => Assert.Contains(copied, l => l.Contains(name + ".csproj", StringComparison.Ordinal)));
        Assert.Contains(copied, l => l.Contains("Directory.Packages.props", StringComparison.Ordinal) && l.Contains("global.json", StringComparison.Ordinal));
    }

    /// <summary>Issue 16, finding 3: the silo port and gateway were reachable from any pod, and anyone knowing the cluster
    /// and service ids could call grains with no key. There is no gateway port, and a NetworkPolicy opens the silo port
    /// to silo pods only, the operator port to monitoring only, the API to clients.</summary>
    [Fact]
    public void The_network_policy_opens_the_silo_port_to_silos_only_the_operator_port_to_monitoring_only_and_there_is_no_gateway()
    {
        var docs = Documents();
        var pod = At(Kind(docs, "Deployment"), "spec", "template");
        var container = ((YamlSequenceNode)At(pod, "spec", "containers")).Children.Cast<YamlMappingNode>().Single();
        var portNames = ((YamlSequenceNode)At(container, "ports")).Children.Select(p => Text(p, "name")).ToHashSet();
        Assert.Equal(new HashSet<string> { "grpc", "operator", "silo" }, portNames);
        var labels = ((YamlMappingNode)At(pod, "metadata", "labels")).Children.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value.ToString());

        var policy = Kind(docs, "NetworkPolicy");
        var selected = ((YamlMappingNode)At(policy, "spec", "podSelector", "matchLabels")).Children.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value.ToString());
        Assert.Equal(labels, selected);   // it covers the silo pods
        Assert.Contains("Ingress", ((YamlSequenceNode)At(policy, "spec", "policyTypes")).Children.Select(n => n.ToString()));
        var rules = ((YamlSequenceNode)At(policy, "spec", "ingress")).Children.Cast<YamlMappingNode>().ToList();
        YamlMappingNode RuleFor(string port) => Assert.Single(rules, r => ((YamlSequenceNode)At(r, "ports")).Children.Any(p => Text(p, "port") == port));
        // Every port the pod opens has exactly one rule; nothing else is allowed in.
        Assert.All(rules, r => Assert.All(((YamlSequenceNode)At(r, "ports")).Children, p => Assert.Contains(Text(p, "port"), portNames)));
        Assert.False(Has(RuleFor("grpc"), "from"));   // the API: any client (credentials are checked by the engine)
        var silo = ((YamlSequenceNode)At(RuleFor("silo"), "from")).Children.Cast<YamlMappingNode>().ToList();
        var peers = Assert.Single(silo);
        Assert.False(Has(peers, "namespaceSelector"));   // this namespace
        Assert.Equal(labels, ((YamlMappingNode)At(peers, "podSelector", "matchLabels")).Children.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value.ToString()));
        var monitoring = Assert.Single(((YamlSequenceNode)At(RuleFor("operator"), "from")).Children.Cast<YamlMappingNode>());
        Assert.Equal("monitoring", Text(monitoring, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"));
        Assert.True(Has(monitoring, "podSelector"));
        // And no Service exposes the silo port.
        Assert.All(docs.Where(d => Text(d, "kind") == "Service"), service =>
            Assert.DoesNotContain(((YamlSequenceNode)At(service, "spec", "ports")).Children, p => Text(p, "targetPort") == "silo"));
    }

    private static async Task<JsonElement> CheckConfig(Dictionary<string, string> env)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(ServerProcess.ServerDll);
        info.ArgumentList.Add("--check-config");
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("Loyalty__", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }
        foreach (var (key, value) in env)
        {
            info.Environment[key] = value;
        }
        using var process = Process.Start(info)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"the server refused the manifest's environment: {error}{output}");
        return JsonDocument.Parse(output).RootElement.Clone();
    }
}

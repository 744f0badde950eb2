using System.Net;
using Loyalty.Domain.Customers;

namespace Loyalty.Server;

/// <summary>Settings the engine refuses to start with, each as one line naming the setting (issue 16, finding 11).</summary>
public static class StartupChecks
{
    public static IReadOnlyList<string> Problems(LoyaltySettings settings)
    {
        var problems = new List<string>(settings.Webhooks.Problems());
        var keys = settings.Auth.Keys;
        for (var i = 0; i < keys.Count; i++)
        {
            var key = keys[i];
            var at = $"Loyalty:Auth:Keys:{i}";
            if (string.IsNullOrWhiteSpace(key.Id))
            {
                problems.Add($"{at}:Id is empty");
            }
            else if (keys.FindIndex(k => k.Id == key.Id) < i)
            {
                problems.Add($"{at}:Id '{key.Id}' is used by an earlier key too; key ids must be unique");
            }
            if (!IsBase64(key.Salt, exactly: 16))
            {
                problems.Add($"{at}:Salt (key '{key.Id}') is not the base64 of 16 bytes (make keys with `loyalty keys create`)");
            }
            if (!IsBase64(key.Hash, exactly: 32))
            {
                problems.Add($"{at}:Hash (key '{key.Id}') is not the base64 of a SHA-256 hash (make keys with `loyalty keys create`)");
            }
        }
        var jwt = settings.Auth.Jwt;
        if (jwt.SigningKey.Length > 0)
        {
            if (!IsBase64(jwt.SigningKey, atLeast: 32))
            {
                problems.Add("Loyalty:Auth:Jwt:SigningKey must be the base64 of at least 32 bytes");
            }
            if (string.IsNullOrWhiteSpace(jwt.Issuer))
            {
                problems.Add("Loyalty:Auth:Jwt:Issuer is blank while JWT is on (Loyalty:Auth:Jwt:SigningKey is set)");
            }
            if (string.IsNullOrWhiteSpace(jwt.Audience))
            {
                problems.Add("Loyalty:Auth:Jwt:Audience is blank while JWT is on (Loyalty:Auth:Jwt:SigningKey is set)");
            }
        }
        var auth = settings.Auth;
        foreach (var (name, value) in new (string, long)[]
        {
            (nameof(auth.CareMaxAdjustPoints), auth.CareMaxAdjustPoints), (nameof(auth.CarePointsPerAgentPerDay), auth.CarePointsPerAgentPerDay),
            (nameof(auth.CarePointsPerCustomerPerDay), auth.CarePointsPerCustomerPerDay), (nameof(auth.CareGoodwillPerAgentPerDay), auth.CareGoodwillPerAgentPerDay),
            (nameof(auth.CareGoodwillPerCustomerPerDay), auth.CareGoodwillPerCustomerPerDay), (nameof(auth.CareActionsPerAgentPerDay), auth.CareActionsPerAgentPerDay),
        })
        {
            if (value < 0)
            {
                problems.Add($"Loyalty:Auth:{name} is {value}; it must be 0 (agents may not) or more");
            }
        }
        if (settings.Operator.SessionLifetime < TimeSpan.FromSeconds(1) || settings.Operator.SessionLifetime > TimeSpan.FromHours(12))
        {
            problems.Add($"Loyalty:Operator:SessionLifetime is {settings.Operator.SessionLifetime}; operator sessions last between 1 second and 12 hours");
        }
        if (string.IsNullOrEmpty(settings.Limits.RewardCodeSecret))
        {
            problems.Add("Loyalty:Limits:RewardCodeSecret is empty: reward codes would be an HMAC under no secret");
        }
        var exposed = !Loopback(settings.Api.Address) || !Loopback(settings.Operator.Address);
        if (exposed && settings.Limits.RewardCodeSecret == EngineLimits.Default.RewardCodeSecret)
        {
            problems.Add("Loyalty:Limits:RewardCodeSecret is the development default on a non-loopback address: set a long random secret");
        }
        if (exposed && settings.Auth.Mode == "Anonymous")
        {
            problems.Add("Loyalty:Auth:Mode=Anonymous on a non-loopback address: anonymous mode is for development on loopback only");
        }
        return problems;
    }

    /// <summary>The first of this engine's ports that another process already holds, as one line; null when all are free.
    /// Checked before anything starts, so a second engine on the same ports says so instead of failing half-way.</summary>
    public static string? PortInUse(LoyaltySettings settings)
    {
        var ports = new List<(string Setting, string Address, int Port)>
        {
            ("Loyalty:Api:Port", settings.Api.Address, settings.Api.Port),
            ("Loyalty:Api:HttpPort", settings.Api.Address, settings.Api.HttpPort),
            ("Loyalty:Operator:Port", settings.Operator.Address, settings.Operator.Port),
            ("Loyalty:Cluster:SiloPort", settings.Cluster.ListenOnAnyAddress ? "0.0.0.0" : settings.Cluster.AdvertisedAddress, settings.Cluster.SiloPort),
        };
        foreach (var (setting, address, port) in ports)
        {
            if (!IPAddress.TryParse(address, out var ip) || port <= 0)
            {
                continue;
            }
            try
            {
                using var probe = new System.Net.Sockets.Socket(ip.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                probe.ExclusiveAddressUse = true;
                probe.Bind(new IPEndPoint(ip, port));
            }
            catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
            {
                return $"{address}:{port} ({setting}) is already in use: is another engine running? Stop it or choose another port";
            }
            catch (System.Net.Sockets.SocketException)
            {
                // Not bindable here for another reason (e.g. an address of another host): the server reports it itself.
            }
        }
        return null;
    }

    private static bool Loopback(string address) => IPAddress.TryParse(address, out var ip) && IPAddress.IsLoopback(ip);

    private static bool IsBase64(string? value, int? exactly = null, int? atLeast = null)
    {
        if (string.IsNullOrEmpty(value))
        {
            return false;
        }
        var buffer = new byte[value.Length];
        if (!Convert.TryFromBase64String(value, buffer, out var length))
        {
            return false;
        }
        return (exactly is null || length == exactly) && (atLeast is null || length >= atLeast);
    }
}

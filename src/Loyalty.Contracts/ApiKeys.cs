using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Loyalty.Contracts;

/// <summary>
/// API keys for service clients: <c>lk_&lt;id&gt;_&lt;secret&gt;</c>, sent in the <see cref="Header"/> header. The server
/// keeps only the id, a random salt and SHA-256(salt ‖ key): a key is shown once, when it is created, and cannot be
/// read back from configuration. The id inside the key finds its entry, so checking a key costs one hash.
/// </summary>
public static partial class ApiKeys
{
    public const string Header = "x-api-key";

    /// <summary>Every scope. <c>*</c> in a key's scopes grants all of them.</summary>
    public static readonly IReadOnlyList<string> Scopes =
    [
        "ingest:shop", "ingest:game", "ingest:support", "ingest:profile",
        "customers:read", "customers:redeem", "customers:care", "customers:admin", "programs:admin",
        "metrics:read", "customers:import", "reports:read",
    ];

    public sealed record Created(string Id, string Key, string Salt, string Hash);

    public static Created Create(string id)
    {
        if (!IdPattern().IsMatch(id))
        {
            throw new ArgumentException("a key id is 1-40 characters of a-z, 0-9 and '-'", nameof(id));
        }
        var key = $"lk_{id}_{Base64Url(RandomNumberGenerator.GetBytes(32))}";
        var salt = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        return new Created(id, key, salt, Hash(salt, key));
    }

    public static string Hash(string salt, string key)
    {
        var saltBytes = Convert.FromBase64String(salt);
        var keyBytes = Encoding.UTF8.GetBytes(key);
        var data = new byte[saltBytes.Length + keyBytes.Length];
        saltBytes.CopyTo(data, 0);
        keyBytes.CopyTo(data, saltBytes.Length);
        return Convert.ToBase64String(SHA256.HashData(data));
    }

    /// <summary>The id a presented key claims to be (null if it is not shaped like a key).</summary>
    public static string? IdOf(string key)
    {
        var match = KeyPattern().Match(key);
        return match.Success ? match.Groups["id"].Value : null;
    }

    /// <summary>Constant-time check of a presented key against a stored salt and hash.</summary>
    public static bool Matches(string key, string salt, string hash)
    {
        try
        {
            return CryptographicOperations.FixedTimeEquals(Convert.FromBase64String(Hash(salt, key)), Convert.FromBase64String(hash));
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [GeneratedRegex("^[a-z0-9-]{1,40}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^lk_(?<id>[a-z0-9-]{1,40})_[A-Za-z0-9_-]{43}$")]
    private static partial Regex KeyPattern();
}

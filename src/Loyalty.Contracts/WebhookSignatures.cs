using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Loyalty.Contracts;

/// <summary>
/// The signature on every webhook delivery: <c>Loyalty-Signature: t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256(secret,
/// t + "." + body)&gt;</c>. The timestamp is signed with the body, so a receiver that also refuses old timestamps cannot
/// be sent a captured delivery again later. Shared by the engine (signing) and the CLI (`loyalty webhooks verify`).
/// </summary>
public static class WebhookSignatures
{
    public const string SignatureHeader = "Loyalty-Signature";
    public const string DeliveryIdHeader = "Loyalty-Delivery-Id";
    /// <summary>A secret shorter than this many bytes (UTF-8) is refused: HMAC-SHA256 keys under 32 bytes are weak.</summary>
    public const int MinSecretBytes = 32;

    public static string Sign(string secret, long unixSeconds, ReadOnlySpan<byte> body)
    {
        var t = unixSeconds.ToString(CultureInfo.InvariantCulture);
        return $"t={t},v1={Hex(secret, t, body)}";
    }

    public enum Verdict { Valid, Malformed, Mismatch, TooOld }

    /// <summary>Checks <paramref name="header"/> against the body. With a <paramref name="tolerance"/>, a timestamp further
    /// than that from <paramref name="now"/> is <see cref="Verdict.TooOld"/> even when the signature matches.</summary>
    public static Verdict Verify(string secret, string header, ReadOnlySpan<byte> body, DateTimeOffset now = default, TimeSpan? tolerance = null)
    {
        string? t = null;
        var signatures = new List<string>();
        foreach (var part in header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return Verdict.Malformed;
            }
            var (name, value) = (part[..eq], part[(eq + 1)..]);
            if (name == "t")
            {
                t = value;
            }
            else if (name == "v1")
            {
                signatures.Add(value);
            }
        }
        if (t is null || signatures.Count == 0 || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return Verdict.Malformed;
        }
        var expected = Encoding.ASCII.GetBytes(Hex(secret, t, body));
        // Constant-time comparison; several v1 values are allowed (a receiver rotating secrets may be sent both).
        var match = signatures.Any(s => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s.ToLowerInvariant()), expected));
        if (!match)
        {
            return Verdict.Mismatch;
        }
        if (tolerance is { } window && (now - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() > window)
        {
            return Verdict.TooOld;
        }
        return Verdict.Valid;
    }

    private static string Hex(string secret, string t, ReadOnlySpan<byte> body)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret));
        hmac.AppendData(Encoding.ASCII.GetBytes(t + "."));
        hmac.AppendData(body);
        return Convert.ToHexStringLower(hmac.GetHashAndReset());
    }
}

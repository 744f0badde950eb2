namespace Loyalty.Domain.Customers;

/// <summary>
/// How an identifier that is only ever matched (event ids, order ids, SKUs, achievement and case ids) is kept in
/// state: as itself when it is short plain ASCII, else as '#' + 128 bits of its SHA-256 in base64url (23 characters).
/// Plain keys never start with '#', so the two forms cannot meet. This bounds the stored size of every such key at
/// 40 bytes whatever the client sends (128 characters of CJK text would be 384 bytes).
/// </summary>
public static class StoredKey
{
    private const int MaxPlainLength = 40;

    public static string Of(string id)
    {
        if (id.Length <= MaxPlainLength && id.Length > 0 && id[0] != '#' && IsPlain(id))
        {
            return id;
        }
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(id));
        return "#" + Convert.ToBase64String(hash, 0, 16).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    private static bool IsPlain(string id)
    {
        foreach (var c in id)
        {
            if (c is < '!' or > '~' or '"' or '\\')
            {
                return false;
            }
        }
        return true;
    }
}

namespace Loyalty.Grains.Tests;

/// <summary>Stored JSON is deflated; the journal's pages are deflated into pooled buffers that grow when data does not
/// compress.</summary>
public sealed class DeflationTests
{
    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(200_000, true)]
    [InlineData(960_000, false)]
    [InlineData(960_000, true)]
    public void Deflating_into_a_pooled_buffer_gives_the_bytes_of_an_array_and_inflates_back(int length, bool random)
    {
        var raw = new byte[length];
        if (random)
        {
            new Random(length).NextBytes(raw); // incompressible: the output outgrows its first buffer (a third of the input)
        }
        else
        {
            for (var i = 0; i < raw.Length; i++)
            {
                raw[i] = (byte)"{\"k\":\"game_session\"}"[i % 20];
            }
        }
        byte[]? pooled = null;
        Deflation.Deflate(raw, data => pooled = data.ToArray());
        Assert.Equal(Deflation.Deflate(raw), pooled);
        Assert.Equal(raw, Deflation.Inflate(pooled!));
    }
}

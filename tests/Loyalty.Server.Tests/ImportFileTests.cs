extern alias LoyaltyCli;

using Loyalty.Contracts.V1;
using LoyaltyCli::Loyalty.Cli;

namespace Loyalty.Server.Tests;

/// <summary>The reading of `loyalty import` files, without a server: what is sent, and what is rejected with which
/// line (the physical line in the file), field and reason.</summary>
public sealed class ImportFileTests
{
    private static List<ImportLine<MemberRecord>> Csv(string text)
    {
        using var reader = MemberFileReader.Csv(new StringReader(text));
        return [.. reader.Lines()];
    }

    private static List<ImportLine<MemberRecord>> Jsonl(string text)
    {
        using var reader = MemberFileReader.Jsonl(new StringReader(text));
        return [.. reader.Lines()];
    }

    private static List<ImportLine<HistoryLine>> History(string text)
    {
        using var reader = HistoryFileReader.Jsonl(new StringReader(text));
        return [.. reader.Lines()];
    }

    private static DateTimeOffset At(Google.Protobuf.WellKnownTypes.Timestamp t) => t.ToDateTimeOffset();

    [Fact]
    public void A_csv_file_with_quoted_cells_lots_and_dates_is_read_field_by_field()
    {
        var lines = Csv(
            "customer_id,display_name,birth_year,accessibility_needs,time_zone,points_available,points_lifetime,tier,tier_since,qualifying_points,lots\r\n" +
            "alice,\"Smith, Alice\",1950,yes,Europe/Paris,150,900,gold,2024-03-01,400,100@2026-12-31;50@\r\n" +
            "bob,\"Bob \"\"the builder\"\"\",,0,,0,,,2024-05-01T10:30:00+02:00,,\r\n");

        Assert.Equal(2, lines.Count);
        Assert.All(lines, l => Assert.Null(l.Rejection));
        var alice = lines[0].Record!;
        Assert.Equal(2, lines[0].Line);
        Assert.Equal(2, alice.Line);
        Assert.Equal("alice", alice.CustomerId);
        Assert.Equal("Smith, Alice", alice.DisplayName);
        Assert.Equal(1950, alice.BirthYear);
        Assert.True(alice.AccessibilityNeeds);
        Assert.Equal("Europe/Paris", alice.TimeZone);
        Assert.Equal(150, alice.PointsAvailable);
        Assert.Equal(900, alice.PointsLifetime);
        Assert.Equal("gold", alice.Tier);
        Assert.Equal(new DateTimeOffset(2024, 3, 1, 0, 0, 0, TimeSpan.Zero), At(alice.TierSince));
        Assert.Equal(400, alice.QualifyingPoints);
        Assert.Equal(2, alice.Lots.Count);
        Assert.Equal(100, alice.Lots[0].Points);
        Assert.Equal(new DateTimeOffset(2026, 12, 31, 0, 0, 0, TimeSpan.Zero), At(alice.Lots[0].ExpiresAt));
        Assert.Equal(50, alice.Lots[1].Points);
        Assert.Null(alice.Lots[1].ExpiresAt);

        var bob = lines[1].Record!;
        Assert.Equal(3, bob.Line);
        Assert.Equal("Bob \"the builder\"", bob.DisplayName);
        // Empty cells are "not given".
        Assert.Equal(0, bob.BirthYear);
        Assert.False(bob.AccessibilityNeeds);
        Assert.Equal("", bob.TimeZone);
        Assert.Equal("", bob.Tier);
        Assert.Empty(bob.Lots);
        Assert.Equal(new DateTimeOffset(2024, 5, 1, 8, 30, 0, TimeSpan.Zero), At(bob.TierSince));
    }

    [Fact]
    public void Line_numbers_are_physical_lines_across_blank_lines_and_line_breaks_in_quotes()
    {
        var lines = Csv("customer_id,display_name\n\nalice,\"two\nlines\"\ncarol,x\n");

        Assert.Equal([3L, 5L], lines.Select(l => l.Line));
        Assert.Equal("two\nlines", lines[0].Record!.DisplayName);
        Assert.Equal(5, lines[1].Record!.Line);
    }

    [Fact]
    public void The_header_is_matched_ignoring_case_and_column_order()
    {
        var lines = Csv("Points_Available , CUSTOMER_ID\n7,alice\n");

        Assert.Equal("alice", lines[0].Record!.CustomerId);
        Assert.Equal(7, lines[0].Record!.PointsAvailable);
    }

    [Fact]
    public void An_unknown_column_is_an_error_before_any_line_is_read()
    {
        var error = Assert.Throws<InvalidDataException>(() => MemberFileReader.Csv(new StringReader("customer_id,points,tier\nalice,5,gold\n")));
        Assert.Contains("unknown column 'points'", error.Message, StringComparison.Ordinal);

        var missing = Assert.Throws<InvalidDataException>(() => MemberFileReader.Csv(new StringReader("display_name,tier\nAlice,gold\n")));
        Assert.Contains("customer_id", missing.Message, StringComparison.Ordinal);

        Assert.Throws<InvalidDataException>(() => MemberFileReader.Csv(new StringReader("")));
        Assert.Throws<InvalidDataException>(() => MemberFileReader.Csv(new StringReader("customer_id,tier,tier\n")));
    }

    [Fact]
    public void A_second_occurrence_of_a_customer_is_rejected_with_its_own_line()
    {
        var lines = Csv("customer_id,points_available\nalice,1\nbob,2\nalice,3\nalice,4\n");

        Assert.Equal(["alice", "bob"], lines.Where(l => l.Record is not null).Select(l => l.Record!.CustomerId));
        Assert.Equal(1, lines.Single(l => l.Record?.CustomerId == "alice").Record!.PointsAvailable);
        var rejected = lines.Where(l => l.Rejection is not null).Select(l => l.Rejection!).ToList();
        Assert.Equal([4L, 5L], rejected.Select(r => r.Line));
        Assert.All(rejected, r =>
        {
            Assert.Equal("alice", r.CustomerId);
            Assert.Equal("customer_id", r.Field);
            Assert.Contains("line 2", r.Reason, StringComparison.Ordinal);
        });
    }

    [Theory]
    [InlineData("points_available", "12x", "points_available", "'12x' is not a whole number")]
    [InlineData("birth_year", "99999999999", "birth_year", "'99999999999'")]
    [InlineData("accessibility_needs", "maybe", "accessibility_needs", "'maybe'")]
    [InlineData("tier_since", "01/02/2024", "tier_since", "'01/02/2024'")]
    [InlineData("tier_since", "2024-02-30", "tier_since", "'2024-02-30'")]
    [InlineData("lots", "100@2026-01-01;abc@", "lots[1].points", "'abc'")]
    [InlineData("lots", "100@2026-01-01;50@soon", "lots[1].expires_at", "'soon'")]
    public void A_cell_that_does_not_parse_rejects_its_line_with_the_field(string column, string cell, string field, string reason)
    {
        var lines = Csv($"customer_id,{column}\nalice,\nbob,{cell}\ncarol,\n");

        Assert.Equal(["alice", "carol"], lines.Where(l => l.Record is not null).Select(l => l.Record!.CustomerId));
        var rejection = Assert.Single(lines, l => l.Rejection is not null).Rejection!;
        Assert.Equal(3, rejection.Line);
        Assert.Equal("bob", rejection.CustomerId);
        Assert.Equal(field, rejection.Field);
        Assert.Contains(reason, rejection.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_line_with_broken_quoting_or_the_wrong_number_of_cells_is_rejected_and_the_reading_goes_on()
    {
        var lines = Csv("customer_id,display_name\nalice,\"A\"x\nbob,B,extra\ncarol,C\n");

        Assert.Equal("carol", Assert.Single(lines, l => l.Record is not null).Record!.CustomerId);
        var rejected = lines.Where(l => l.Rejection is not null).Select(l => l.Rejection!).ToList();
        Assert.Equal([2L, 3L], rejected.Select(r => r.Line));
        Assert.All(rejected, r => Assert.Equal("csv", r.Field));
    }

    [Fact]
    public void A_line_without_a_customer_is_rejected()
    {
        var rejection = Assert.Single(Csv("customer_id,tier\n ,gold\n")).Rejection!;
        Assert.Equal(2, rejection.Line);
        Assert.Equal("customer_id", rejection.Field);
    }

    [Fact]
    public void A_jsonl_file_is_read_with_lots_as_an_array_and_its_own_line_numbers()
    {
        var lines = Jsonl(
            """
            {"customer_id":"alice","display_name":"Smith, Alice","birth_year":1950,"accessibility_needs":true,"points_available":150,"tier_since":"2024-03-01T12:00:00Z","lots":[{"points":100,"expires_at":"2026-12-31"},{"points":50,"expires_at":null}]}

            {"customer_id":"bob","points_available":"20","tier":null,"accessibility_needs":"no","lots":"20@"}
            {"customer_id":"carol","points_available":1.5}
            {"customer_id":"dave","lots":[{"points":5,"expires":"2026-01-01"}]}
            {"customer_id":"erin","loyalty_points":5}
            not json
            {"customer_id":"alice"}
            """);

        var alice = lines[0].Record!;
        Assert.Equal(1, alice.Line);
        Assert.Equal("Smith, Alice", alice.DisplayName);
        Assert.Equal(1950, alice.BirthYear);
        Assert.True(alice.AccessibilityNeeds);
        Assert.Equal(new DateTimeOffset(2024, 3, 1, 12, 0, 0, TimeSpan.Zero), At(alice.TierSince));
        Assert.Equal([100L, 50L], alice.Lots.Select(l => l.Points));
        Assert.Equal(new DateTimeOffset(2026, 12, 31, 0, 0, 0, TimeSpan.Zero), At(alice.Lots[0].ExpiresAt));
        Assert.Null(alice.Lots[1].ExpiresAt);

        var bob = lines[1].Record!;
        Assert.Equal(3, bob.Line);
        Assert.Equal(20, bob.PointsAvailable);
        Assert.False(bob.AccessibilityNeeds);
        Assert.Equal(20, Assert.Single(bob.Lots).Points);

        var rejected = lines.Where(l => l.Rejection is not null).Select(l => l.Rejection!).ToDictionary(r => r.Line);
        Assert.Equal([4L, 5L, 6L, 7L, 8L], rejected.Keys.Order());
        Assert.Equal(("carol", "points_available"), (rejected[4].CustomerId, rejected[4].Field));
        Assert.Equal(("dave", "lots[0].expires"), (rejected[5].CustomerId, rejected[5].Field));
        Assert.Equal(("erin", "loyalty_points"), (rejected[6].CustomerId, rejected[6].Field));
        Assert.Equal("json", rejected[7].Field);
        Assert.Equal(("alice", "customer_id"), (rejected[8].CustomerId, rejected[8].Field));
        Assert.Contains("line 1", rejected[8].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_history_file_is_parsed_as_protobuf_json_and_a_bad_line_is_rejected_with_the_parsers_message()
    {
        var lines = History(
            """
            {"eventId":"e1","customerId":"c1","occurredAt":"2025-01-01T10:00:00Z","purchase":{"orderId":"o1","currency":"EUR","lines":[{"sku":"s","category":"toys","quantity":1,"unitPriceMinor":1000}]}}
            {"event_id":"e2","customer_id":"c1","occurred_at":"2025-01-02T10:00:00Z","refund":{"order_id":"o1"}}
            {"eventId":"e3","customerId":"c2","occurredAt":"yesterday","purchase":{}}

            {"eventId":"e4","customerId":"c2","colour":"red"}
            {"eventId":
            """);

        var sent = lines.Where(l => l.Record is not null).Select(l => l.Record!).ToList();
        Assert.Equal([1L, 2L], sent.Select(h => h.Line));
        Assert.Equal("o1", sent[0].Event.Purchase.OrderId);
        Assert.Equal(1000, sent[0].Event.Purchase.Lines[0].UnitPriceMinor);
        Assert.Equal(new DateTimeOffset(2025, 1, 2, 10, 0, 0, TimeSpan.Zero), At(sent[1].Event.OccurredAt));
        Assert.Equal(Event.PayloadOneofCase.Refund, sent[1].Event.PayloadCase);

        var rejected = lines.Where(l => l.Rejection is not null).Select(l => l.Rejection!).ToList();
        Assert.Equal([3L, 5L, 6L], rejected.Select(r => r.Line));
        Assert.All(rejected, r => Assert.Equal("event", r.Field));
        Assert.All(rejected, r => Assert.False(string.IsNullOrWhiteSpace(r.Reason)));
        Assert.Equal(("c2", "e3"), (rejected[0].CustomerId, rejected[0].EventId));
        Assert.Contains("colour", rejected[1].Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("members.csv", null, ImportFileFormat.Csv)]
    [InlineData("members.JSONL", null, ImportFileFormat.Jsonl)]
    [InlineData("members.ndjson", null, ImportFileFormat.Jsonl)]
    [InlineData("members.txt", "csv", ImportFileFormat.Csv)]
    [InlineData("members.csv", "jsonl", ImportFileFormat.Jsonl)]
    public void The_format_comes_from_the_option_else_the_extension(string path, string? format, ImportFileFormat expected) =>
        Assert.Equal(expected, MemberFileReader.FormatOf(path, format));

    [Fact]
    public void An_unknown_format_is_an_error()
    {
        Assert.Throws<ArgumentException>(() => MemberFileReader.FormatOf("members.txt", null));
        Assert.Throws<ArgumentException>(() => MemberFileReader.FormatOf("members.csv", "xml"));
    }
}

//! Reading files of every kind, in both formats.
use super::csv::LineFeeds;
use super::*;

#[test]
fn money_converts_with_the_currency_exponent() {
    assert_eq!(minor_units("12.34", "EUR"), Ok(1234));
    assert_eq!(minor_units("12.3", "eur"), Ok(1230));
    assert_eq!(minor_units("12", "EUR"), Ok(1200));
    assert_eq!(minor_units("1500", "JPY"), Ok(1500));
    assert!(minor_units("15.5", "JPY").is_err());
    assert!(minor_units("1.234", "EUR").is_err());
    assert!(minor_units("1,50", "EUR").is_err());
    assert!(minor_units("12", "XYZ").unwrap_err().contains("ISO 4217"));
    assert_eq!(minor_units("-1.00", "EUR"), Ok(-100));
}

#[test]
fn an_unreadable_header_is_reported_once() {
    let rows: Vec<_> = records::<OrderRow, _>(std::io::Cursor::new(vec![0x80u8]), Format::Csv)
        .take(5)
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, 1);
    assert!(rows[0].1.as_ref().unwrap_err().contains("header row"));
}

#[test]
fn csv_orders_are_read_with_line_numbers_and_bad_rows_reported() {
    let csv = "order_id,customer_id,placed_at,currency,revenue,discount_codes\n\
               1001,c-1,2026-03-01T10:00:00Z,EUR,49.99,ANNA10; welcome\n\
               1002,c-2,yesterday,EUR,10.00,\n\
               1003,c-3,2026-03-01T10:00:00+01:00,EUR,10.005,\n";
    let rows: Vec<_> = records::<OrderRow, _>(std::io::Cursor::new(csv), Format::Csv).collect();
    assert_eq!(rows.len(), 3);
    let (line, first) = &rows[0];
    assert_eq!(*line, 2);
    let first = first.as_ref().unwrap();
    assert_eq!(first.revenue_minor, 4999);
    assert_eq!(first.discount_codes, ["ANNA10", "welcome"]);
    assert_eq!(rows[1].0, 3);
    assert!(rows[1].1.as_ref().unwrap_err().contains("placed_at"));
    assert!(rows[2].1.as_ref().unwrap_err().contains("revenue"));
}

// Found by issue 20: `#[serde(flatten)]` read every attribute column as text, so an
// empty followers, influence_score or age was refused instead of read as "not given".
#[test]
fn empty_attribute_columns_are_missing_values() {
    let members = "channel,account_id,customer_id,first_seen,last_seen,bio,followers,influence_score,age,country\n\
                   anna-ig,u1,,2026-03-01,,,,,,\n\
                   anna-ig,u2,c-2,2026-03-01,2026-03-02,Hi,1500,0.75,31,FR\n";
    // The numeric attributes of a row.
    let numbers = |a: &crate::proto::MemberAttributes| (a.followers, a.influence_score, a.age);
    let rows: Vec<_> =
        records::<AudienceMemberRow, _>(std::io::Cursor::new(members), Format::Csv).collect();
    let empty = rows[0]
        .1
        .as_ref()
        .expect("a row of empty attributes is read");
    assert_eq!(
        numbers(empty.attributes.as_ref().unwrap()),
        (None, None, None)
    );
    let full = rows[1].1.as_ref().unwrap().attributes.as_ref().unwrap();
    assert_eq!(numbers(full), (Some(1500), Some(0.75), Some(31)));
    let interactions = "channel,interaction_id,kind,account_id,occurred_at,bio,followers,influence_score,age,country,is_customer\n\
                        anna-ig,i1,like,u1,2026-03-01T10:00:00Z,,,,,,\n\
                        anna-ig,i2,like,u1,2026-03-01T10:00:00Z,,12,,,,true\n";
    let rows: Vec<_> =
        records::<InteractionRow, _>(std::io::Cursor::new(interactions), Format::Csv).collect();
    let empty = rows[0]
        .1
        .as_ref()
        .expect("a row of empty attributes is read");
    let attributes = empty.attributes.as_ref().unwrap();
    assert_eq!(numbers(attributes), (None, None, None));
    assert_eq!(attributes.is_customer, None);
    let some = rows[1].1.as_ref().unwrap().attributes.as_ref().unwrap();
    assert_eq!((some.followers, some.is_customer), (Some(12), Some(true)));
    let bad = "channel,account_id,first_seen,followers\nanna-ig,u1,2026-03-01,many\n";
    let rows: Vec<_> =
        records::<AudienceMemberRow, _>(std::io::Cursor::new(bad), Format::Csv).collect();
    assert!(
        rows[0].1.as_ref().unwrap_err().contains("followers"),
        "{rows:?}"
    );
}

#[test]
fn line_feeds_replace_crlf_whatever_the_buffer_size() {
    use std::io::Read;
    for text in ["a\r\nb\r\n", "a\rb\r", "a\r\r\nb", "", "\r"] {
        let mut whole = String::new();
        LineFeeds::new(std::io::BufReader::with_capacity(1, text.as_bytes()))
            .read_to_string(&mut whole)
            .unwrap();
        let mut bytes = Vec::new();
        let mut reader = LineFeeds::new(std::io::BufReader::new(text.as_bytes()));
        let mut one = [0u8; 1];
        while reader.read(&mut one).unwrap() == 1 {
            bytes.push(one[0]);
        }
        let expected = match text {
            "a\r\nb\r\n" => "a\nb\n",
            "a\rb\r" => "a\rb\r\n",
            "a\r\r\nb" => "a\r\nb\n",
            "" => "",
            _ => "\r\n",
        };
        assert_eq!(whole, expected, "{text:?}");
        assert_eq!(String::from_utf8(bytes).unwrap(), expected, "{text:?}");
    }
}

// Found by issue 20: with CRLF line endings every reported line was one too low.
#[test]
fn crlf_files_report_the_same_lines_as_lf_files() {
    let lf = "order_id,placed_at,currency,revenue\n\
              1,2026-03-01T10:00:00Z,EUR,1.00\n\
              2,yesterday,EUR,1.00\n\
              3,2026-03-01T10:00:00Z,EUR,x\n";
    let crlf = lf.replace('\n', "\r\n");
    let lines = |text: String| {
        records::<OrderRow, _>(std::io::Cursor::new(text), Format::Csv)
            .map(|(line, row)| (line, row.is_ok()))
            .collect::<Vec<_>>()
    };
    let expected = vec![(2, true), (3, false), (4, false)];
    assert_eq!(lines(lf.to_string()), expected, "LF");
    assert_eq!(lines(crlf), expected, "CRLF");
    // Blank lines and a quoted field over two lines, in both line endings.
    let spread = "order_id,placed_at,currency,revenue,utm_campaign\n\
                  \n\
                  1,2026-03-01T10:00:00Z,EUR,1.00,\"two\nlines\"\n\
                  \n\
                  2,yesterday,EUR,1.00,x";
    let expected = vec![(3, true), (6, false)];
    assert_eq!(lines(spread.to_string()), expected, "LF");
    assert_eq!(lines(spread.replace('\n', "\r\n")), expected, "CRLF");
    let ndjson = "{\"metric_key\":\"a\",\"scope\":\"tenant\",\"day\":\"2026-03-01\",\"value\":1}\r\n\
                  {\"metric_key\":\"a\"}\r\n";
    let rows: Vec<_> =
        records::<MetricPointRow, _>(std::io::Cursor::new(ndjson), Format::Ndjson).collect();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
    assert!(rows[0].1.is_ok(), "{rows:?}");
}

#[test]
fn ndjson_skips_blank_lines_and_names_bad_ones() {
    let text = "{\"channel\":\"anna-ig\",\"day\":\"2026-03-01\",\"followers\":10}\n\n{\"channel\":\"x\"}\n";
    let rows: Vec<_> =
        records::<ChannelStatsRow, _>(std::io::Cursor::new(text), Format::Ndjson).collect();
    assert_eq!(rows.len(), 2);
    let first = rows[0].1.as_ref().unwrap();
    assert_eq!(first.channel, "channels/anna-ig");
    assert_eq!(first.followers, Some(10));
    assert_eq!(first.posts, None);
    assert_eq!(rows[1].0, 3);
    assert!(rows[1].1.as_ref().unwrap_err().contains("day"));
}

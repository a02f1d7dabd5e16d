//! Unusual follower jumps without engagement (ListFollowerFlags) as the analysts' commands
//! show them: beside the follower KPIs only, since a jump says nothing about ROAS or
//! giveaway entries, and as the rows of the report's audit section.
use super::format::{grouped, plain};
use super::report::escape;
use crate::proto;
use std::collections::HashMap;

/// The KPIs a follower jump belongs with.
pub const FOLLOWER_KPIS: [&str; 3] = ["followers", "follower_growth", "follower_growth_pct"];

/// Legend of the chart markers.
pub const LEGEND: &str = "unusual follower jump without engagement";

/// Whether tables and charts of `kpi` show follower jumps.
pub fn applies_to(kpi: &str) -> bool {
    FOLLOWER_KPIS.contains(&kpi)
}

/// One line of the report's audit section.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRow {
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// The channel's display name (its resource name when unknown).
    pub channel: String,
    /// Followers gained that day.
    pub gained: String,
    /// The median day of the 28 before.
    pub usual: String,
    /// Gain beyond the median day in percent of the followers before.
    pub share: String,
    /// Peak engagement of the day and the two before, and its usual level.
    pub engagement: String,
    /// The server's reason, with every number.
    pub reason: String,
}

/// Audit rows of `flags` (as ListFollowerFlags orders them), channels named by
/// `channel_names` (`channels/{c}` → display name).
pub fn audit_rows(
    flags: &[proto::FollowerFlag],
    channel_names: &HashMap<String, String>,
) -> Vec<AuditRow> {
    flags
        .iter()
        .map(|f| AuditRow {
            day: super::connection::day_text(f.day.as_ref()),
            channel: channel_names
                .get(&f.channel)
                .cloned()
                .unwrap_or_else(|| f.channel.clone()),
            gained: grouped(f.follower_growth as f64, 0),
            usual: plain(f.trailing_median_growth),
            share: if f.excess_percent.is_finite() {
                format!("{} %", grouped(f.excess_percent, 1))
            } else {
                "all".into()
            },
            engagement: format!(
                "{} (usual {})",
                plain(f.peak_engagement),
                plain(f.trailing_median_engagement)
            ),
            reason: f.reason.clone(),
        })
        .collect()
}

/// The report's audit section: a heading, what the flag means, and a table of `rows` (or
/// a sentence when there are none). Every text is escaped.
pub fn audit_html(rows: &[AuditRow]) -> String {
    let mut h = String::from(
        "<h2>Audit</h2>\n<p>Unusual follower jumps without engagement: days a channel \
         gained followers far beyond its usual days (at least the server's minimum share \
         and number) while its likes, comments and shares stayed at their usual level. \
         Bought followers look like this; check the channel before acting on it.</p>\n",
    );
    if rows.is_empty() {
        h.push_str("<p>No unusual follower jump without engagement in this period.</p>\n");
        return h;
    }
    h.push_str(
        "<table class=\"audit\">\n<thead><tr><th>Day</th><th>Channel</th>\
         <th class=\"num\">Gained</th><th class=\"num\">Usual day</th>\
         <th class=\"num\">Beyond usual</th><th class=\"num\">Engagement</th>\
         <th>Why</th></tr></thead>\n<tbody>\n",
    );
    for r in rows {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"reason\">{}</td></tr>\n",
            escape(&r.day),
            escape(&r.channel),
            escape(&r.gained),
            escape(&r.usual),
            escape(&r.share),
            escape(&r.engagement),
            escape(&r.reason),
        ));
    }
    h.push_str("</tbody>\n</table>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag() -> proto::FollowerFlag {
        proto::FollowerFlag {
            channel: "channels/anna-ig".into(),
            day: Some(proto::google::r#type::Date {
                year: 2026,
                month: 3,
                day: 5,
            }),
            follower_growth: 3000,
            trailing_median_growth: 10.0,
            growth_score: 4033.51,
            engagement_score: Some(0.0),
            reason: "gained 3,000 followers <because>".into(),
            excess_percent: 2990.0 / 12.8,
            previous_followers: 1280,
            peak_engagement: 310.0,
            trailing_median_engagement: 310.0,
        }
    }

    #[test]
    fn only_follower_kpis_show_jumps() {
        for kpi in ["followers", "follower_growth", "follower_growth_pct"] {
            assert!(applies_to(kpi), "{kpi}");
        }
        for kpi in [
            "roas",
            "giveaway_entries",
            "engagement_rate",
            "followers_became_customers",
        ] {
            assert!(!applies_to(kpi), "{kpi}");
        }
    }

    #[test]
    fn audit_rows_name_the_channel_and_format_the_numbers() {
        let names = HashMap::from([("channels/anna-ig".to_string(), "Anna on IG".to_string())]);
        let rows = audit_rows(&[flag()], &names);
        assert_eq!(
            rows,
            vec![AuditRow {
                day: "2026-03-05".into(),
                channel: "Anna on IG".into(),
                gained: "3,000".into(),
                usual: "10".into(),
                // 2,990 / 1,280 = 233.59 %.
                share: "233.6 %".into(),
                engagement: "310 (usual 310)".into(),
                reason: "gained 3,000 followers <because>".into(),
            }]
        );
        // An unknown channel keeps its resource name.
        let rows = audit_rows(&[flag()], &HashMap::new());
        assert_eq!(rows[0].channel, "channels/anna-ig");
        let html = audit_html(&rows);
        assert!(html.starts_with("<h2>Audit</h2>"), "{html}");
        assert!(html.contains("<td>channels/anna-ig</td>"), "{html}");
        assert!(html.contains("&lt;because&gt;"), "escaped: {html}");
        assert!(!html.contains("<because>"), "{html}");
        assert_eq!(
            html.matches("<tr>").count(),
            2,
            "header and one row: {html}"
        );
    }

    #[test]
    fn an_empty_audit_says_so() {
        let html = audit_html(&[]);
        assert!(html.contains("No unusual follower jump without engagement"));
        assert!(!html.contains("<table"));
    }
}

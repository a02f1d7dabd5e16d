//! `tally kpi list` and `tally kpi query`: the catalogue with the tenant's custom KPIs, and
//! one KPI's values per period on one or more scopes, marked where they can still change
//! or a follower jump looks bought, with a legend saying what the marks mean.
use super::connection::{Client, Conn, Currency, HumanError, day_text, naive};
use super::format::{self, OutputFormat, num, print_rows, text};
use crate::proto;
use chrono::NaiveDate;

/// Periods of a query.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Granularity {
    /// One value per day.
    #[default]
    Day,
    /// ISO weeks, clipped to the range.
    Week,
    /// Calendar months, clipped to the range.
    Month,
    /// The whole range as one period.
    Range,
}

impl Granularity {
    fn proto(self) -> proto::Granularity {
        match self {
            Granularity::Day => proto::Granularity::Day,
            Granularity::Week => proto::Granularity::Week,
            Granularity::Month => proto::Granularity::Month,
            Granularity::Range => proto::Granularity::Range,
        }
    }
}

/// `tally kpi …`.
#[derive(Debug, clap::Subcommand)]
pub enum KpiCommand {
    /// The KPI catalogue and the tenant's custom KPIs.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
        #[command(flatten)]
        conn: Conn,
    },
    /// Values of one KPI on one or more scopes, per period; marks values that can still
    /// change.
    Query(QueryArgs),
}

/// Every scope of one kind, for `--scope-kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScopeKind {
    /// Every influencer of the tenant.
    Influencers,
    /// Every campaign of the tenant.
    Campaigns,
    /// Every channel of the tenant.
    Channels,
}

/// Arguments of `tally kpi query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// KPI id (or a pushed metric key), such as `followers`.
    pub kpi: String,
    /// `tenant`, `influencers/{i}`, `campaigns/{c}` or `channels/{c}`; repeat it to compare
    /// scopes side by side.
    #[arg(
        long = "scope",
        value_name = "SCOPE",
        required_unless_present = "scope_kind"
    )]
    pub scopes: Vec<String>,
    /// Every influencer (campaign, channel) of the tenant, after the --scope ones.
    #[arg(long, value_enum)]
    pub scope_kind: Option<ScopeKind>,
    /// `segments/{s}`, for audience KPIs.
    #[arg(long)]
    pub segment: Option<String>,
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    pub from: NaiveDate,
    /// Last day (YYYY-MM-DD).
    #[arg(long)]
    pub to: NaiveDate,
    /// How to split the range.
    #[arg(long, value_enum, default_value_t)]
    pub granularity: Granularity,
    /// Swap the table's rows and columns. Several scopes print one row per scope and one
    /// column per period, and with this one row per period; one scope prints one row per
    /// period, and with this one column per period.
    #[arg(long)]
    pub transpose: bool,
    /// Output format. CSV and JSON have one record per scope and period.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub currency: Currency,
    #[command(flatten)]
    pub conn: Conn,
}

/// A mark a table puts after a value, explained in the legend under the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    /// The value is not final: recent days are computed again each night.
    Provisional,
    /// The period is partial: a clipped week or month, or days not computed yet.
    Partial,
    /// One of the scope's channels had an unusual follower jump in the period.
    FollowerJump,
}

impl Mark {
    const ALL: [Mark; 3] = [Mark::Provisional, Mark::Partial, Mark::FollowerJump];

    fn symbol(self) -> char {
        match self {
            Mark::Provisional => '*',
            Mark::Partial => '~',
            Mark::FollowerJump => '⚑',
        }
    }

    fn meaning(self) -> &'static str {
        match self {
            Mark::Provisional => {
                "provisional: recent days are computed again each night, so the value can \
                 still change"
            }
            Mark::Partial => {
                "partial period: fewer days than a full week or month, or days not computed \
                 yet; do not compare it with full periods"
            }
            Mark::FollowerJump => {
                "unusual follower jump without engagement (possibly bought followers) in \
                 the period"
            }
        }
    }
}

/// One scope's values, with what the tables show of it.
struct ScopeValues {
    /// `influencers/anna`.
    scope: String,
    /// `Anna`, or the scope when it has no display name.
    name: String,
    values: Vec<proto::KpiValue>,
    flags: Vec<proto::FollowerFlag>,
}

impl ScopeValues {
    /// The flags on days of `v`'s period, as `channel day`.
    fn flags_in(&self, v: &proto::KpiValue) -> Vec<String> {
        let (first, last) = (
            day_text(v.first_day.as_ref()),
            day_text(v.last_day.as_ref()),
        );
        self.flags
            .iter()
            .filter(|f| {
                let day = day_text(f.day.as_ref());
                day >= first && day <= last
            })
            .map(|f| {
                format!(
                    "{} {}",
                    f.channel.trim_start_matches("channels/"),
                    day_text(f.day.as_ref())
                )
            })
            .collect()
    }

    /// The marks of `v`, in [`Mark::ALL`] order; `matrix` when its period has a label of
    /// its own (which carries the partial mark) and follower jumps are marked in the cell
    /// rather than in a column of their own.
    fn marks(&self, v: &proto::KpiValue, matrix: bool) -> Vec<Mark> {
        let mut marks = Vec::new();
        if !v.r#final {
            marks.push(Mark::Provisional);
        }
        if !matrix && v.partial {
            marks.push(Mark::Partial);
        }
        if matrix && !self.flags_in(v).is_empty() {
            marks.push(Mark::FollowerJump);
        }
        marks
    }
}

/// KPIs whose values a follower jump moves directly: only these carry the follower-jump
/// flag (a jump says nothing about ROAS or giveaway entries).
fn is_follower_kpi(kpi: &str) -> bool {
    matches!(kpi, "followers" | "follower_growth" | "follower_growth_pct")
}

/// Up to three ids of `known` that `name` probably meant, closest first: those within an
/// edit distance of a third of its length (at least 2), then those that contain it.
pub(super) fn closest(name: &str, known: &[String]) -> Vec<String> {
    // Ids are short; a long name is no typo of one, and the distance costs the product of
    // the lengths.
    if name.len() > 128 {
        return Vec::new();
    }
    let name = name.to_lowercase();
    let within = (name.chars().count() / 3).max(2);
    let mut near: Vec<(usize, &String)> = known
        .iter()
        .filter_map(|id| {
            let d = strsim::levenshtein(&name, id);
            if d <= within {
                Some((d, id))
            } else if name.len() >= 3 && id.contains(name.as_str()) {
                Some((within + d, id))
            } else {
                None
            }
        })
        .collect();
    near.sort();
    near.dedup();
    near.into_iter().take(3).map(|(_, id)| id.clone()).collect()
}

/// The label of a period in a table's header or first column: the day, the ISO week
/// (`2026-W45`), the month (`2026-11`) or the range.
fn period_label(v: &proto::KpiValue, granularity: Granularity) -> String {
    let (Some(first), Some(last)) = (naive(v.first_day.as_ref()), naive(v.last_day.as_ref()))
    else {
        return String::new();
    };
    match granularity {
        Granularity::Day => first.to_string(),
        Granularity::Week => first.format("%G-W%V").to_string(),
        Granularity::Month => first.format("%Y-%m").to_string(),
        Granularity::Range => format!("{first}..{last}"),
    }
}

/// `text` followed by a blank and a slot per mark the table uses: the mark, or a space,
/// so that right-aligned numbers stay aligned whatever their marks.
fn with_marks(text: String, marks: &[Mark], used: &[Mark]) -> String {
    if used.is_empty() {
        return text;
    }
    let mut out = text;
    out.push(' ');
    for m in used {
        out.push(if marks.contains(m) { m.symbol() } else { ' ' });
    }
    out
}

/// The legend under a table: one line per mark it uses.
fn legend(used: &[Mark]) -> String {
    used.iter()
        .map(|m| format!("{} {}\n", m.symbol(), m.meaning()))
        .collect()
}

/// The scopes of a query: those named, then every one of `--scope-kind`, each once, with
/// the names people know them by.
async fn scopes(client: &Client, q: &QueryArgs) -> Result<Vec<(String, String)>, HumanError> {
    // Names come from one list of each kind the query names, not one call a scope.
    let mut kinds: Vec<ScopeKind> = q.scopes.iter().filter_map(|s| ScopeKind::of(s)).collect();
    kinds.extend(q.scope_kind);
    let mut names: Vec<(String, String)> = Vec::new();
    let mut of_kind: Vec<String> = Vec::new();
    for kind in [
        ScopeKind::Influencers,
        ScopeKind::Campaigns,
        ScopeKind::Channels,
    ] {
        if !kinds.contains(&kind) {
            continue;
        }
        let listed = kind.list(client).await?;
        if q.scope_kind == Some(kind) {
            if listed.is_empty() {
                let kind = format!("{kind:?}").to_lowercase();
                return Err(HumanError::Usage(format!(
                    "--scope-kind {kind}: the tenant has no {kind}"
                )));
            }
            of_kind = listed.iter().map(|(scope, _)| scope.clone()).collect();
        }
        names.extend(listed);
    }
    // The scope itself for `tenant`, an unnamed resource or one that does not exist (a
    // query on it says why).
    let name = |scope: &str| {
        names
            .iter()
            .find(|(s, name)| s == scope && !name.trim().is_empty())
            .map_or_else(|| scope.to_string(), |(_, name)| name.clone())
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for scope in q.scopes.iter().chain(&of_kind) {
        if !out.iter().any(|(s, _)| s == scope) {
            out.push((scope.clone(), name(scope)));
        }
    }
    Ok(out)
}

impl ScopeKind {
    /// The kind of resource a scope names, if it names one.
    fn of(scope: &str) -> Option<ScopeKind> {
        let (collection, _) = scope.split_once('/')?;
        match collection {
            "influencers" => Some(ScopeKind::Influencers),
            "campaigns" => Some(ScopeKind::Campaigns),
            "channels" => Some(ScopeKind::Channels),
            _ => None,
        }
    }

    /// Every resource of the kind: (name, display name).
    async fn list(self, client: &Client) -> Result<Vec<(String, String)>, HumanError> {
        Ok(match self {
            ScopeKind::Influencers => client
                .list_influencers()
                .await?
                .into_iter()
                .map(|i| (i.name, i.display_name))
                .collect(),
            ScopeKind::Campaigns => client
                .list_campaigns()
                .await?
                .into_iter()
                .map(|c| (c.name, c.display_name))
                .collect(),
            ScopeKind::Channels => client
                .list_channels()
                .await?
                .into_iter()
                .map(|c| (c.name, c.display_name))
                .collect(),
        })
    }
}

/// A query refused because its KPI id is unknown, with the ids it probably meant.
fn unknown_kpi(error: HumanError, kpi: &str, known: &[String]) -> HumanError {
    use tonic_types::StatusExt;
    let HumanError::Rpc(status) = &error else {
        return error;
    };
    let on_kpi = status.code() == tonic::Code::InvalidArgument
        && status.get_details_bad_request().is_some_and(|bad| {
            bad.field_violations
                .iter()
                .any(|v| v.field == "kpi_scope.kpi")
        });
    if on_kpi && !known.iter().any(|id| id == kpi) {
        HumanError::UnknownKpi {
            id: kpi.to_string(),
            suggestions: closest(kpi, known),
        }
    } else {
        error
    }
}

/// Names shown for the scopes: display names, with the id after a name two scopes share.
fn shown_names(scopes: &[ScopeValues]) -> Vec<String> {
    scopes
        .iter()
        .map(|s| {
            let shared = scopes.iter().filter(|o| o.name == s.name).count() > 1;
            if shared && s.name != s.scope {
                let id = s.scope.rsplit('/').next().unwrap_or(&s.scope);
                format!("{} ({id})", s.name)
            } else {
                s.name.clone()
            }
        })
        .collect()
}

/// The header of the column that names the scopes: their kind when they share one.
fn scope_header(scopes: &[ScopeValues]) -> &'static str {
    let kinds = [
        ("influencers/", "influencer"),
        ("campaigns/", "campaign"),
        ("channels/", "channel"),
    ];
    for (prefix, header) in kinds {
        if scopes.iter().all(|s| s.scope.starts_with(prefix)) {
            return header;
        }
    }
    "scope"
}

/// Runs `tally kpi query`.
async fn query(q: QueryArgs) -> Result<(), HumanError> {
    if q.to < q.from {
        return Err(HumanError::Usage(format!(
            "--to {} is before --from {}",
            q.to, q.from
        )));
    }
    let client = Client::connect(&q.conn).await?;
    let definitions = client.definitions().await?;
    let known: Vec<String> = definitions.iter().map(|d| d.id.clone()).collect();
    let unit = definitions
        .iter()
        .find(|d| d.id == q.kpi)
        .map(|d| d.unit.clone())
        .unwrap_or_default();
    let mut all = Vec::new();
    for (scope, name) in scopes(&client, &q).await? {
        let values = client
            .query(
                &q.kpi,
                &scope,
                q.segment.as_deref().unwrap_or(""),
                q.from,
                q.to,
                q.granularity.proto(),
            )
            .await
            .map_err(|e| unknown_kpi(e, &q.kpi, &known))?;
        let flags = if is_follower_kpi(&q.kpi) {
            client.follower_flags(&scope, q.from, q.to).await?
        } else {
            Vec::new()
        };
        all.push(ScopeValues {
            scope,
            name,
            values,
            flags,
        });
    }
    let currency = client.currency(&q.currency).await?;
    let currency = currency.as_deref();
    let show = |v: &proto::KpiValue| {
        format::value_or_reason(v.value, &v.undefined_reason, &unit, currency)
    };
    if q.format != OutputFormat::Table {
        // Follower jumps say nothing about other KPIs: only the follower KPIs have the column.
        let jumps = is_follower_kpi(&q.kpi);
        let mut headers = vec!["first_day", "last_day", "value"];
        if jumps {
            headers.push("follower_flags");
        }
        headers.extend(["undefined_reason", "scope", "name", "final", "partial"]);
        let mut raw = Vec::new();
        for s in &all {
            for v in &s.values {
                let mut row = vec![
                    text(day_text(v.first_day.as_ref())),
                    text(day_text(v.last_day.as_ref())),
                    num(v.value),
                ];
                if jumps {
                    row.push(text(s.flags_in(v).join(";")));
                }
                row.extend([
                    text(&v.undefined_reason),
                    text(&s.scope),
                    text(&s.name),
                    serde_json::Value::Bool(v.r#final),
                    serde_json::Value::Bool(v.partial),
                ]);
                raw.push(row);
            }
        }
        print_rows(q.format, &headers, &[], &raw, &[]);
        return Ok(());
    }
    let several = all.len() > 1;
    if !several && !q.transpose {
        // One scope: a row per period, the flags in a column of their own.
        let s = &all[0];
        let used: Vec<Mark> = Mark::ALL
            .into_iter()
            .filter(|m| {
                *m != Mark::FollowerJump && s.values.iter().any(|v| s.marks(v, false).contains(m))
            })
            .collect();
        let with_flags = s.values.iter().any(|v| !s.flags_in(v).is_empty());
        let mut headers = vec!["first_day", "last_day", "value"];
        if with_flags {
            headers.push("follower_flags");
        }
        let mut rows = Vec::new();
        for v in &s.values {
            let mut row = vec![
                day_text(v.first_day.as_ref()),
                day_text(v.last_day.as_ref()),
                with_marks(show(v), &s.marks(v, false), &used),
            ];
            if with_flags {
                let flags = s.flags_in(v);
                row.push(if flags.is_empty() {
                    String::new()
                } else {
                    format!("{} {}", Mark::FollowerJump.symbol(), flags.join(", "))
                });
            }
            rows.push(row);
        }
        let mut used = used;
        if with_flags {
            used.push(Mark::FollowerJump);
        }
        print!("{}", format::table(&headers, &rows, &[2]));
        print!("{}", legend(&used));
        return Ok(());
    }
    // Several scopes (or one, transposed): a matrix of scopes and periods, every mark in
    // the cells.
    let periods: Vec<&proto::KpiValue> = all
        .iter()
        .max_by_key(|s| s.values.len())
        .map(|s| s.values.iter().collect())
        .unwrap_or_default();
    // A period is partial alike on every scope; its label carries the mark.
    let partial: Vec<bool> = periods
        .iter()
        .map(|p| {
            all.iter().any(|s| {
                s.values
                    .iter()
                    .any(|v| v.partial && v.first_day == p.first_day && v.last_day == p.last_day)
            })
        })
        .collect();
    let used: Vec<Mark> = Mark::ALL
        .into_iter()
        .filter(|m| {
            (*m == Mark::Partial && partial.contains(&true))
                || all
                    .iter()
                    .any(|s| s.values.iter().any(|v| s.marks(v, true).contains(m)))
        })
        .collect();
    // Cells mark what is theirs: the partial mark is on the period's label.
    let cell_marks: Vec<Mark> = used
        .iter()
        .copied()
        .filter(|m| *m != Mark::Partial)
        .collect();
    // cells[scope][period]
    let cells: Vec<Vec<String>> = all
        .iter()
        .map(|s| {
            periods
                .iter()
                .map(|p| {
                    let same = |v: &&proto::KpiValue| {
                        v.first_day == p.first_day && v.last_day == p.last_day
                    };
                    match s.values.iter().find(same) {
                        Some(v) => with_marks(show(v), &s.marks(v, true), &cell_marks),
                        None => String::new(),
                    }
                })
                .collect()
        })
        .collect();
    let names = shown_names(&all);
    let labels: Vec<String> = periods
        .iter()
        .zip(&partial)
        .map(|(p, partial)| {
            let label = period_label(p, q.granularity);
            if *partial {
                format!("{label} {}", Mark::Partial.symbol())
            } else {
                label
            }
        })
        .collect();
    let scopes_as_rows = several != q.transpose;
    let (headers, rows): (Vec<String>, Vec<Vec<String>>) = if scopes_as_rows {
        let mut headers = vec![scope_header(&all).to_uppercase()];
        headers.extend(labels.iter().cloned());
        let rows = names
            .iter()
            .zip(&cells)
            .map(|(name, row)| {
                let mut out = vec![name.clone()];
                out.extend(row.iter().cloned());
                out
            })
            .collect();
        (headers, rows)
    } else {
        let mut headers = vec!["PERIOD".to_string()];
        headers.extend(names.iter().cloned());
        let rows = labels
            .iter()
            .enumerate()
            .map(|(i, label)| {
                let mut out = vec![label.clone()];
                out.extend(cells.iter().map(|row| row[i].clone()));
                out
            })
            .collect();
        (headers, rows)
    };
    let right: Vec<usize> = (1..headers.len()).collect();
    print!("{}", format::table_as_is(&headers, &rows, &right));
    print!("{}", legend(&used));
    if used.contains(&Mark::FollowerJump) {
        for (s, name) in all.iter().zip(&names) {
            let days: Vec<String> = s.values.iter().flat_map(|v| s.flags_in(v)).collect();
            if !days.is_empty() {
                println!("  {name}: {}", days.join(", "));
            }
        }
    }
    Ok(())
}

/// Runs `tally kpi …`.
pub async fn run(command: KpiCommand) -> Result<(), HumanError> {
    match command {
        KpiCommand::List { format, conn } => {
            let client = Client::connect(&conn).await?;
            let definitions = client.definitions().await?;
            let headers = ["id", "tier", "unit", "roll_up", "description"];
            let mut human = Vec::new();
            let mut raw = Vec::new();
            for d in &definitions {
                let tier = proto::Tier::try_from(d.tier)
                    .map(|t| t.as_str_name())
                    .unwrap_or("?");
                let roll_up = proto::RollUp::try_from(d.roll_up)
                    .map(|r| r.as_str_name())
                    .unwrap_or("?");
                let tier = if d.built_in { tier } else { "CUSTOM" };
                human.push(vec![
                    d.id.clone(),
                    tier.into(),
                    d.unit.clone(),
                    roll_up.into(),
                    d.description.replace('\n', " "),
                ]);
                raw.push(vec![
                    text(&d.id),
                    text(tier),
                    text(&d.unit),
                    text(roll_up),
                    text(&d.description),
                ]);
            }
            print_rows(format, &headers, &human, &raw, &[]);
            Ok(())
        }
        KpiCommand::Query(q) => query(q).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_ids_suggest_the_closest() {
        let known: Vec<String> = ["engagement_rate", "followers", "follower_growth", "ipm"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest("engagment_rate", &known), ["engagement_rate"]);
        assert_eq!(closest("Folowers", &known), ["followers"]);
        // A part of an id finds the ids holding it, after the near ones.
        assert_eq!(
            closest("follower", &known),
            ["followers", "follower_growth"]
        );
        assert!(closest("revenue", &known).is_empty());
        assert!(closest(&"x".repeat(200), &known).is_empty());
    }

    #[test]
    fn marks_keep_numbers_aligned() {
        let used = [Mark::Provisional, Mark::Partial, Mark::FollowerJump];
        assert_eq!(with_marks("12".into(), &[], &used), "12    ");
        assert_eq!(
            with_marks("12".into(), &[Mark::Provisional], &used),
            "12 *  "
        );
        assert_eq!(
            with_marks("12".into(), &[Mark::Provisional, Mark::Partial], &used),
            "12 *~ "
        );
        assert_eq!(
            with_marks("12".into(), &[Mark::FollowerJump], &used),
            "12   ⚑"
        );
        assert_eq!(with_marks("12".into(), &[], &[]), "12");
        assert_eq!(
            legend(&[Mark::Provisional]),
            format!("* {}\n", Mark::Provisional.meaning())
        );
    }

    #[test]
    fn periods_are_labelled_by_granularity() {
        let d = |y, m, d| connection_date(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        let v = proto::KpiValue {
            first_day: d(2026, 11, 2),
            last_day: d(2026, 11, 8),
            ..Default::default()
        };
        assert_eq!(period_label(&v, Granularity::Day), "2026-11-02");
        assert_eq!(period_label(&v, Granularity::Week), "2026-W45");
        assert_eq!(period_label(&v, Granularity::Month), "2026-11");
        assert_eq!(
            period_label(&v, Granularity::Range),
            "2026-11-02..2026-11-08"
        );
    }

    fn connection_date(day: NaiveDate) -> Option<proto::google::r#type::Date> {
        Some(super::super::connection::date(day))
    }
}

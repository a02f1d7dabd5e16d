//! `tally report` in a real browser: the demo tenant's campaign report rendered by headless
//! Chromium, its DOM (after the page's script ran) and a screenshot checked. Chromium comes
//! from the distribution's packages: installed here when missing (we run as root in CI);
//! where it cannot be installed the test says so and skips (fails under
//! TALLY_REQUIRE_CHROMIUM, which CI sets).
use crate::helpers::{self, TestApp, TestDb};
use std::path::{Path, PathBuf};
use std::process::Output;
use tally::connectors::demo::demo_registry;
use tally::jobs::JobSettings;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium's path, installing the Debian package when it is missing; `None`, with the
/// reason printed, when it cannot be had.
fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from(CHROMIUM);
    if path.exists() {
        return Some(path);
    }
    eprintln!("{CHROMIUM} is missing: installing the chromium package with apt-get");
    let installed = std::process::Command::new("sh")
        .arg("-c")
        .arg("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium")
        .status()
        .is_ok_and(|s| s.success());
    if installed && path.exists() {
        Some(path)
    } else if std::env::var_os("TALLY_REQUIRE_CHROMIUM").is_some() {
        panic!("TALLY_REQUIRE_CHROMIUM is set but chromium cannot be installed");
    } else {
        eprintln!(
            "SKIPPED report_browser: chromium is not installed and `apt-get install chromium` \
             failed (not root, no network or no Debian packages); install it to run this test"
        );
        None
    }
}

/// Runs headless Chromium with `args` (after the common flags) and returns its output.
fn headless(chromium: &Path, profile: &Path, args: &[&str]) -> Output {
    let output = std::process::Command::new(chromium)
        .args([
            "--headless",
            // Root in a container has no user namespace for the sandbox.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

/// Runs `tally ARGS` against the app's server with `key`.
async fn tally(app: &TestApp, key: &str, args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .env("TALLY_ADDR", format!("http://{}", app.addr))
        .env("TALLY_API_KEY", key)
        .env("TALLY_LOG", "off")
        .env_remove("TALLY_CURRENCY")
        .env_remove("TALLY_CONFIG")
        .env_remove("TALLY_TENANT_NAME")
        .output()
        .await
        .expect("run tally");
    assert!(
        output.status.success(),
        "tally {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start}")) + start.len();
    let to = text[from..].find(end).map_or(text.len(), |i| from + i);
    &text[from..to]
}

#[tokio::test]
async fn campaign_report_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        return;
    };
    let app = TestApp::spawn(TestDb::sqlite()).await;
    // The demo tenant with 10 days of history (a backfill is slow in debug builds): its
    // campaign ran 60 to 33 days ago, so the data holds the end of its order tail, and
    // its fees come from the campaign itself.
    let jobs = helpers::jobs(&app.store, demo_registry(), JobSettings::default());
    let demo = tally::demo::run(&jobs, chrono::Utc::now(), 10)
        .await
        .expect("demo");
    assert_eq!(demo.run.status, "succeeded", "{:?}", demo.run.error);
    eprintln!("report_browser: demo seeded in {:?}", demo.took);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let report_arg = report.display().to_string();
    tally(
        &app,
        &demo.key,
        &[
            "report",
            "--out",
            &report_arg,
            "--campaign",
            "campaigns/autumn-launch",
            "--tenant-name",
            "Demo Brand",
        ],
    )
    .await;

    // The DOM after the page's script sorted the table by ROAS, best first.
    let profile = dir.path().join("profile");
    let url = format!("file://{}#sort=roas", report.display());
    let dom = String::from_utf8(headless(&chromium, &profile, &["--dump-dom", &url]).stdout)
        .expect("utf-8 DOM");
    let title = between(&dom, "<title>", "</title>");
    assert!(
        title.starts_with("Demo Brand: campaign Autumn launch, "),
        "{title}"
    );
    let tiles: Vec<&str> = dom
        .split("<div class=\"tile\" data-kpi=\"")
        .skip(1)
        .map(|t| t.split('"').next().unwrap())
        .collect();
    assert_eq!(
        tiles,
        [
            "fees",
            "attributed_revenue",
            "roas",
            "attributed_orders",
            "code_buyers",
            "returning_buyers_after_code",
            "engagement_rate_per_post"
        ]
    );
    // The campaign's fees: 2,500 + 1,800 + 1,200 + 900 EUR.
    assert!(dom.contains("6,400.00 EUR"), "spend tile");
    let table = between(
        &dom,
        "<table class=\"sortable\" id=\"influencers\"",
        "</table>",
    );
    assert!(table.starts_with(" data-sortable=\"ready\""), "script ran");
    assert!(table.contains("aria-sort=\"descending\""), "sorted by hash");
    let rows: Vec<&str> = table.split("<tr class=\"influencer\">").skip(1).collect();
    let names: Vec<&str> = rows.iter().map(|r| between(r, "<td>", "</td>")).collect();
    let mut sorted_names = names.clone();
    sorted_names.sort();
    assert_eq!(
        sorted_names,
        [
            "Anna de Vries",
            "Chloé Martin",
            "Gwen Mulder",
            "Hugo de Boer"
        ]
    );
    // ROAS is the third value column (after the name): descending, undefined last.
    let roas: Vec<Option<f64>> = rows
        .iter()
        .map(|r| {
            let cell = r.split("<td class=\"num").nth(3).unwrap();
            between(cell, "data-v=\"", "\"").parse().ok()
        })
        .collect();
    let defined: Vec<f64> = roas.iter().flatten().copied().collect();
    assert!(!defined.is_empty(), "{roas:?}");
    assert!(defined.windows(2).all(|w| w[0] >= w[1]), "{roas:?}");
    assert!(
        roas.iter().skip_while(|r| r.is_some()).all(|r| r.is_none()),
        "{roas:?}"
    );
    assert!(dom.contains("download=\"influencers-"), "CSV link");
    assert!(dom.contains("href=\"data:text/csv;charset=utf-8;base64,"));
    // Display names only: no resource name is shown as text.
    for resource in ["influencers/", "campaigns/", "channels/"] {
        assert!(
            !dom.split('<').any(|t| t
                .split_once('>')
                .is_some_and(|(_, text)| text.contains(resource))),
            "{resource} shown as text"
        );
    }
    // The goals of the campaign and its participants, each with its chart; the audit
    // section is there, and no chart carries follower flags.
    assert!(dom.contains("Autumn launch pays for itself"));
    assert!(dom.contains("More returning buyers through Anna"));
    assert_eq!(dom.matches("<svg").count(), 2);
    assert!(dom.contains("<h2>Audit</h2>"));
    assert!(!between(&dom, "<h2>Goals</h2>", "<h2>Audit</h2>").contains("follower jump"));
    assert!(dom.contains("expected path"), "goal chart guides");
    // The Lift section of the campaign: its nine default series, each with a reason in
    // words (the 10 days of history hold no pre-period), so no lift chart.
    let lift = between(&dom, "<h2>Lift</h2>", "<h2>Audit</h2>");
    assert!(lift.contains("<h3>Autumn launch</h3>"), "{lift}");
    assert_eq!(lift.matches("<tr class=\"lift-kpi\"").count(), 9, "{lift}");
    assert_eq!(
        lift.matches("<td colspan=\"8\" class=\"reason\">").count(),
        9
    );
    assert!(!lift.contains("<svg"));

    // A screenshot of the page: the size asked for, and far more than a blank page.
    let shot = dir.path().join("report.png");
    headless(
        &chromium,
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000",
            &url,
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot");
    assert_eq!(png_size(&png), (1280, 2000));
    assert!(png.len() > 40_000, "{} bytes: a blank page?", png.len());
    // For people checking the look: TALLY_REPORT_SHOTS=<dir> keeps the page, its top
    // and its whole length, a weekly chart and the goal charts as PNGs.
    if let Some(keep) = std::env::var_os("TALLY_REPORT_SHOTS") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&report, keep.join("report.html")).unwrap();
        std::fs::copy(&shot, keep.join("report-top.png")).unwrap();
        let long = keep.join("report-long.png");
        headless(
            &chromium,
            &profile,
            &[
                &format!("--screenshot={}", long.display()),
                "--window-size=1280,5200",
                &url,
            ],
        );
        let to = (chrono::Utc::now().date_naive() - chrono::Days::new(1)).to_string();
        let from = (chrono::Utc::now().date_naive() - chrono::Days::new(63)).to_string();
        let charts: [(&str, Vec<&str>); 3] = [
            (
                "chart-weekly.png",
                vec![
                    "chart",
                    "attributed_revenue",
                    "--scope",
                    "influencers/anna",
                    "--scope",
                    "influencers/chloe",
                    "--granularity",
                    "week",
                    "--from",
                    &from,
                    "--to",
                    &to,
                ],
            ),
            (
                "goal-roas.png",
                vec!["chart", "roas", "--goal", "goals/campaign-roas"],
            ),
            (
                "goal-returning.png",
                vec![
                    "chart",
                    "returning_buyers_after_code",
                    "--goal",
                    "goals/loyal-anna",
                ],
            ),
        ];
        for (file, mut args) in charts {
            let out = keep.join(file).display().to_string();
            args.extend(["--out", &out]);
            tally(&app, &demo.key, &args).await;
        }
    }
    app.stop().await;
}

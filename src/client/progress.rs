//! Progress of a job run for people (`tally run-job`): a bar per tenant on a terminal, one
//! plain line otherwise. It shows only the numbers it is given; whoever runs or watches the
//! job reads them.
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// The display of one run: a bar on stderr when stdout is a terminal, else nothing after the
/// line [`JobProgress::start`] printed.
pub struct JobProgress {
    bar: Option<ProgressBar>,
    days: u64,
}

impl JobProgress {
    /// Starts showing a run of `job` over `days` days for `tenant`.
    pub fn start(tenant: &str, job: &str, days: u64) -> JobProgress {
        if !std::io::stdout().is_terminal() {
            println!("{tenant}: running {job} for {days} days");
            return JobProgress { bar: None, days };
        }
        let bar = ProgressBar::with_draw_target(Some(days), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:30}] {pos}/{len} days {msg} ({elapsed})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(tenant.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        JobProgress {
            bar: Some(bar),
            days,
        }
    }

    /// Whether [`JobProgress::show`] draws anything; without a terminal nobody needs the
    /// numbers, so the caller can skip reading them.
    pub fn is_live(&self) -> bool {
        self.bar.is_some()
    }

    /// Shows `done` days finished and `rows` rows pulled so far.
    pub fn show(&self, done: u64, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done.min(self.days));
            bar.set_message(format!(
                "{} rows pulled",
                super::format::grouped(rows as f64, 0)
            ));
        }
    }

    /// Clears the bar once the run has ended.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

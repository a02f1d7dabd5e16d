//! The nightly schedule inside `tally serve`: a cron job on tokio-cron-scheduler that runs
//! a tick of the runner, plus one tick at start to catch up on missed days.
use super::Jobs;
use chrono::{DateTime, Utc};
use tokio_cron_scheduler::{Job, JobScheduler};

/// Why the schedule could not start.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression is invalid.
    #[error(
        "job_schedule: `{0}` is not a cron expression with seconds (sec min hour day month weekday)"
    )]
    Expression(String),
    /// The scheduler failed.
    #[error("scheduler: {0}")]
    Scheduler(String),
}

/// The next time `schedule` fires after `after`, in UTC.
pub fn next_run(
    schedule: &str,
    time_zone: chrono_tz::Tz,
    after: DateTime<Utc>,
) -> Result<DateTime<Utc>, ScheduleError> {
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(schedule)
        .map_err(|_| ScheduleError::Expression(schedule.to_string()))?;
    cron.find_next_occurrence(&after.with_timezone(&time_zone), false)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ScheduleError::Expression(schedule.to_string()))
}

/// A running schedule; stop it with [`Schedule::shutdown`].
pub struct Schedule {
    scheduler: JobScheduler,
}

impl Schedule {
    /// Starts the schedule and a catch-up tick in the background.
    pub async fn start(jobs: Jobs) -> Result<Schedule, ScheduleError> {
        let settings = jobs.settings().clone();
        next_run(&settings.schedule, settings.schedule_time_zone, Utc::now())?;
        let err =
            |e: tokio_cron_scheduler::JobSchedulerError| ScheduleError::Scheduler(e.to_string());
        let scheduler = JobScheduler::new().await.map_err(err)?;
        let ticking = jobs.clone();
        let job = Job::new_async_tz(
            settings.schedule.as_str(),
            settings.schedule_time_zone,
            move |_, _| {
                let jobs = ticking.clone();
                Box::pin(async move { tick(&jobs).await })
            },
        )
        .map_err(err)?;
        scheduler.add(job).await.map_err(err)?;
        scheduler.start().await.map_err(err)?;
        // Platform totals exist only on the day: catch up now rather than at the next tick.
        tokio::spawn(async move { tick(&jobs).await });
        tracing::info!(schedule = %settings.schedule, time_zone = %settings.schedule_time_zone, "nightly job scheduled");
        Ok(Schedule { scheduler })
    }

    /// Stops scheduling; a tick already running finishes on its own task.
    pub async fn shutdown(mut self) {
        if let Err(e) = self.scheduler.shutdown().await {
            tracing::warn!(error = %e, "scheduler did not shut down cleanly");
        }
    }
}

async fn tick(jobs: &Jobs) {
    match jobs.tick(Utc::now()).await {
        Ok(runs) if !runs.is_empty() => tracing::info!(runs = runs.len(), "nightly tick ran"),
        Ok(_) => tracing::debug!("nightly tick: nothing due"),
        Err(e) => tracing::error!(error = %e, "nightly tick failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn next_run_reads_the_schedule_in_its_time_zone() {
        let after = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        let next = next_run("0 30 2 * * *", chrono_tz::Europe::Amsterdam, after).unwrap();
        // 02:30 in Amsterdam (UTC+1 in November) is 01:30 UTC.
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 24, 1, 30, 0).unwrap());
        assert!(matches!(
            next_run("every night", chrono_tz::UTC, after),
            Err(ScheduleError::Expression(_))
        ));
    }
}

//! A run's hold on its days: the lease renewed in the background while the run works, and
//! the claim of the day at hand, told lost when another replica took it.
use super::Jobs;
use chrono::{DateTime, NaiveDate, Utc};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A day this run holds. A lost claim is told on the claim itself, not on the run: a
/// renewal that lands after its day was finished must not fail the days after it.
pub(super) struct DayClaim {
    day: NaiveDate,
    lost: watch::Sender<bool>,
}

impl DayClaim {
    pub(super) fn new(day: NaiveDate) -> Arc<DayClaim> {
        Arc::new(DayClaim {
            day,
            lost: watch::Sender::new(false),
        })
    }

    pub(super) fn lose(&self) {
        self.lost.send_replace(true);
    }

    pub(super) fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Resolves once the claim is lost.
    pub(super) async fn lost(&self) {
        let mut lost = self.lost.subscribe();
        // The sender lives as long as `self`, so this ends only with a loss.
        let _ = lost.wait_for(|lost| *lost).await;
    }
}

/// Renews the leases of a run and of the day it works on until dropped.
pub(super) struct Heartbeat {
    claim: Arc<Mutex<Option<Arc<DayClaim>>>>,
    /// Set once the run is cancelled.
    pub(super) cancel: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    /// Makes `claim` the day whose lease is renewed, or none.
    pub(super) fn hold(&self, claim: Option<Arc<DayClaim>>) {
        *self.claim.lock().unwrap_or_else(|e| e.into_inner()) = claim;
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Jobs {
    /// The end of a lease taken or renewed now.
    pub(super) fn lease_until(&self) -> DateTime<Utc> {
        Utc::now()
            + chrono::Duration::from_std(self.inner.settings.lease)
                .unwrap_or(chrono::Duration::seconds(120))
    }

    /// Starts renewing the leases of `run_id` and of the day it holds.
    pub(super) fn heartbeat(&self, tenant: &str, run_id: &str) -> Heartbeat {
        let claim = Arc::new(Mutex::new(None::<Arc<DayClaim>>));
        let cancel = Arc::new(AtomicBool::new(false));
        let jobs = self.clone();
        let (tenant, run_id) = (tenant.to_string(), run_id.to_string());
        let (held, c) = (claim.clone(), cancel.clone());
        let settings = &self.inner.settings;
        let every = settings.heartbeat.unwrap_or(settings.lease / 3);
        let current = move || held.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let until = jobs.lease_until();
                let store = &jobs.inner.store;
                match store.extend_run(&tenant, &run_id, until).await {
                    Ok(cancelled) => c.store(cancelled, Ordering::SeqCst),
                    Err(e) => tracing::warn!(error = %e, "could not renew the run's lease"),
                }
                let Some(claim) = current() else { continue };
                match store
                    .extend_day(&tenant, claim.day, jobs.owner(), &run_id, until)
                    .await
                {
                    Ok(true) => {}
                    // The run lets go of a day before finishing it, so a claim it still
                    // holds is one this renewal could not find: another run took it.
                    Ok(false) if current().is_some_and(|c| Arc::ptr_eq(&c, &claim)) => {
                        tracing::warn!(tenant = %tenant, run = %run_id, day = %claim.day, "lost the day's claim to another run");
                        claim.lose();
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "could not renew the day's lease"),
                }
            }
        });
        Heartbeat {
            claim,
            cancel,
            task,
        }
    }
}

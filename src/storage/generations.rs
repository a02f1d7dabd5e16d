//! Write generations: counters this process bumps after it changes a tenant's data or
//! revokes an API key, so that a cache above the store can tell an answer computed before
//! a write from one computed after it. They count this process's writes only: another
//! replica's writes reach a cache through its time-to-live.
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Per-tenant data generations and one generation for the set of valid API keys.
#[derive(Debug, Default)]
pub struct Generations {
    tenants: Mutex<HashMap<String, u64>>,
    keys: AtomicU64,
    /// Wakes the open streams, so that those of a key revoked here end at once.
    revocations: tokio::sync::Notify,
}

impl Generations {
    /// The current generation of `tenant`'s data; 0 until its first write here.
    pub fn tenant(&self, tenant: &str) -> u64 {
        self.tenants
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(tenant)
            .copied()
            .unwrap_or(0)
    }

    /// Notes a committed write to `tenant`'s data.
    pub fn tenant_written(&self, tenant: &str) {
        let mut tenants = self
            .tenants
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match tenants.get_mut(tenant) {
            Some(generation) => *generation += 1,
            None => {
                tenants.insert(tenant.to_string(), 1);
            }
        }
    }

    /// The current generation of the API keys.
    pub fn keys(&self) -> u64 {
        self.keys.load(Ordering::Acquire)
    }

    /// Notes that a key stopped being valid.
    pub fn key_revoked(&self) {
        self.keys.fetch_add(1, Ordering::AcqRel);
        self.revocations.notify_waiters();
    }

    /// Completes at the next [`Generations::key_revoked`] after this call, even one made
    /// before the future is first polled.
    pub fn next_revocation(&self) -> tokio::sync::futures::Notified<'_> {
        self.revocations.notified()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_moves_only_its_tenants_generation() {
        let g = Generations::default();
        assert_eq!((g.tenant("a"), g.tenant("b")), (0, 0));
        g.tenant_written("a");
        g.tenant_written("a");
        assert_eq!((g.tenant("a"), g.tenant("b")), (2, 0));
        assert_eq!(g.keys(), 0);
        g.key_revoked();
        assert_eq!((g.keys(), g.tenant("a")), (1, 2));
    }
}

//! Follower flags (ListFollowerFlags): unusual follower jumps without engagement on every
//! channel of a scope.
use crate::domain::goal::Scope;
use crate::domain::tenant::Tenant;
use crate::engine::resources::ResourceError;
use crate::kpi::anomaly::{Flag, JumpRule};
use crate::kpi::period::Period;
use crate::storage::Store;

/// The flags of the channels of `scope` in `period`, each with its channel id, ordered by
/// day and then channel; `rule` says when a jump is material and unusual enough.
pub async fn follower_flags(
    store: &Store,
    tenant: &Tenant,
    scope: &Scope,
    period: &Period,
    rule: &JumpRule,
) -> Result<Vec<(String, Flag)>, ResourceError> {
    let dir = store.directory(&tenant.id).await?;
    let exists = match scope {
        Scope::Tenant => true,
        Scope::Influencer(id) => dir.influencers.contains(id),
        Scope::Campaign(id) => dir.campaigns.contains_key(id),
        Scope::Channel(id) => dir.channels.contains_key(id),
    };
    if !exists {
        return Err(ResourceError::NotFound(scope.to_string()));
    }
    // KPIs at tenant scope cover the brand's own channels; inflated audiences matter on
    // every channel, so here the tenant means all of them (as the proto says).
    let channels: Vec<String> = match scope {
        Scope::Tenant => dir.channels.keys().cloned().collect(),
        other => dir.scope_channels(other),
    };
    let series = store.follower_series(&tenant.id, &channels, period).await?;
    let mut flags: Vec<(String, Flag)> = Vec::new();
    for (channel, days) in &series {
        for flag in crate::kpi::anomaly::flags(days, period, rule) {
            flags.push((channel.clone(), flag));
        }
    }
    flags.sort_by(|a, b| (a.1.day, &a.0).cmp(&(b.1.day, &b.0)));
    Ok(flags)
}

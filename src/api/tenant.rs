//! TenantService: the operator's provisioning of tenants, their settings and API keys.
//! Called with the operator key alone (see [`Api::operator`]); each request converts into
//! a checked request of `engine::tenants`, one use case runs, the answer converts back.
use super::Api;
use super::convert::{self, Mask, Pager};
use super::error::{ApiError, Problems};
use crate::domain::names::{Collection, check_id};
use crate::domain::tenant::TenantSettings;
use crate::engine::tenants::{self, NewTenant, ProvisionError, SettingsChange};
use crate::proto;
use crate::proto::tenant_service_server::TenantService;
use crate::storage::tenants::{ApiKeyRecord, TenantRecord};
use tonic::{Request, Response, Status};

/// The settings UpdateTenantSettings may name in its mask, as TenantSettings calls them.
const SETTINGS: [&str; 6] = [
    "time_zone",
    "currency",
    "order_window_days",
    "returning_window_days",
    "recompute_trailing_days",
    "lift_pre_period_days",
];

/// The collection id of API keys inside a tenant's name.
const API_KEYS: &str = "apiKeys";

impl ApiError {
    /// Converts a provisioning error; `prefix` is the request field holding what was
    /// checked (`tenant`, `settings`), empty for none.
    fn from_provision(err: ProvisionError, prefix: &str) -> Self {
        match err {
            ProvisionError::Invalid(e) => ApiError::from_domain(e, prefix),
            ProvisionError::Storage(e) => ApiError::from_storage(e, prefix),
        }
    }
}

impl Api {
    /// Checks that the call carries the operator key: UNAUTHENTICATED for no key, a
    /// tenant's key or any other, and when no operator key is configured. A wrong key
    /// costs its address a token of the unknown-key limit, as a tenant key would.
    async fn operator<T>(&self, request: &Request<T>) -> Result<(), ApiError> {
        let Some(expected) = &self.operator_key else {
            return Err(ApiError::Unauthenticated(
                "TenantService is off: the server has no operator key \
                 (TALLY_OPERATOR_KEY_HASH)",
            ));
        };
        let hash = super::bearer_hash(request)?;
        let peer = request.remote_addr().map(|addr| addr.ip());
        if let (Some(guesses), Some(peer)) = (&self.guesses, peer) {
            guesses
                .before_lookup(peer, &hash)
                .await
                .map_err(ApiError::RateLimited)?;
        }
        let valid = crate::auth::hashes_equal(expected, &hash);
        if let Some(guesses) = &self.guesses {
            guesses.after_lookup(&hash, valid).await;
        }
        if !valid {
            return Err(ApiError::Unauthenticated(
                "TenantService takes the operator key only; tenants' API keys are refused",
            ));
        }
        if let Some(limiter) = &self.limiter {
            limiter.check(&hash).map_err(ApiError::RateLimited)?;
        }
        Ok(())
    }
}

fn tenant_to_proto(record: &TenantRecord) -> proto::Tenant {
    let s = &record.tenant.settings;
    proto::Tenant {
        name: Collection::Tenants.name(&record.tenant.id),
        display_name: record.tenant.display_name.clone(),
        settings: Some(proto::TenantSettings {
            time_zone: s.time_zone.clone(),
            currency: s.currency.clone(),
            order_window_days: s.order_window_days,
            returning_window_days: s.returning_window_days,
            recompute_trailing_days: s.trailing_days,
            lift_pre_period_days: s.lift_pre_period_days,
        }),
        create_time: convert::timestamp(record.create_time),
    }
}

fn key_to_proto(key: &ApiKeyRecord) -> proto::ApiKey {
    proto::ApiKey {
        name: format!(
            "{}/{API_KEYS}/{}",
            Collection::Tenants.name(&key.tenant_id),
            key.id
        ),
        create_time: convert::timestamp(key.create_time),
        revoke_time: key.revoke_time.and_then(convert::timestamp),
    }
}

/// The tenant id of `tenants/{tenant}` in `field`.
fn tenant_id(name: &str, field: &str) -> Result<String, ApiError> {
    convert::parse_name(name, field, Collection::Tenants).map(str::to_string)
}

/// The tenant and key ids of `tenants/{tenant}/apiKeys/{key}` in `field`.
fn key_ids(name: &str, field: &str) -> Result<(String, String), ApiError> {
    let malformed = || {
        ApiError::invalid(
            field,
            format!(
                "`{}` is not a resource name `tenants/{{tenant}}/{API_KEYS}/{{key}}`",
                crate::domain::names::shorten(name)
            ),
        )
    };
    let mut parts = name.splitn(4, '/');
    let (Some("tenants"), Some(tenant), Some(API_KEYS), Some(key)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(if name.is_empty() {
            ApiError::invalid(
                field,
                format!("is required: a resource name `tenants/{{tenant}}/{API_KEYS}/{{key}}`"),
            )
        } else {
            malformed()
        });
    };
    let mut problems = Problems::default();
    if let Err(e) = check_id(tenant) {
        problems.add(field, format!("tenant id: {e}"));
    }
    if let Err(e) = check_id(key) {
        problems.add(field, format!("key id: {e}"));
    }
    problems.finish()?;
    Ok((tenant.to_string(), key.to_string()))
}

/// CreateTenant's request, checked: zero values take the settings' defaults.
impl TryFrom<proto::CreateTenantRequest> for NewTenant {
    type Error = ApiError;

    fn try_from(req: proto::CreateTenantRequest) -> Result<NewTenant, ApiError> {
        let mut problems = Problems::default();
        let id = problems.or(
            convert::new_id(&req.tenant_id, "tenant_id", Collection::Tenants),
            String::new(),
        );
        let msg = problems.required(req.tenant, "tenant");
        let given = msg.settings.unwrap_or_default();
        let defaults = TenantSettings::default();
        let or_default = |value: i32, default: i32| if value == 0 { default } else { value };
        let settings = TenantSettings {
            time_zone: Some(given.time_zone)
                .filter(|s| !s.is_empty())
                .unwrap_or(defaults.time_zone),
            currency: Some(given.currency)
                .filter(|s| !s.is_empty())
                .unwrap_or(defaults.currency),
            order_window_days: or_default(given.order_window_days, defaults.order_window_days),
            returning_window_days: or_default(
                given.returning_window_days,
                defaults.returning_window_days,
            ),
            trailing_days: or_default(given.recompute_trailing_days, defaults.trailing_days),
            lift_pre_period_days: or_default(
                given.lift_pre_period_days,
                defaults.lift_pre_period_days,
            ),
        };
        let new = problems.domain(NewTenant::new(id, msg.display_name, settings), "tenant");
        problems.finish()?;
        new.ok_or_else(|| ApiError::invalid("tenant", "is not a valid tenant"))
    }
}

/// UpdateTenantSettings's request, checked: the tenant's id and the change.
struct UpdateSettings {
    id: String,
    change: SettingsChange,
}

impl TryFrom<proto::UpdateTenantSettingsRequest> for UpdateSettings {
    type Error = ApiError;

    fn try_from(req: proto::UpdateTenantSettingsRequest) -> Result<UpdateSettings, ApiError> {
        let mut problems = Problems::default();
        let id = problems.or(tenant_id(&req.name, "name"), String::new());
        let given = problems.required(req.settings, "settings");
        let mask = problems.take(Mask::read(req.update_mask.as_ref(), &SETTINGS, || {
            let set = [
                !given.time_zone.is_empty(),
                !given.currency.is_empty(),
                given.order_window_days != 0,
                given.returning_window_days != 0,
                given.recompute_trailing_days != 0,
                given.lift_pre_period_days != 0,
            ];
            SETTINGS
                .iter()
                .zip(set)
                .filter_map(|(field, set)| set.then_some(*field))
                .collect()
        }));
        let Some(mask) = mask else {
            return Err(problems.refuse());
        };
        if matches!(&mask, Mask::Fields(fields) if fields.is_empty()) {
            problems.add(
                "update_mask",
                "names no setting, and `settings` sets none to other than its zero value",
            );
        }
        let change = SettingsChange {
            time_zone: mask.has("time_zone").then(|| given.time_zone.clone()),
            currency: mask.has("currency").then(|| given.currency.clone()),
            order_window_days: mask
                .has("order_window_days")
                .then_some(given.order_window_days),
            returning_window_days: mask
                .has("returning_window_days")
                .then_some(given.returning_window_days),
            trailing_days: mask
                .has("recompute_trailing_days")
                .then_some(given.recompute_trailing_days),
            lift_pre_period_days: mask
                .has("lift_pre_period_days")
                .then_some(given.lift_pre_period_days),
        };
        let change = problems.domain(change.checked(), "settings");
        problems.finish()?;
        Ok(UpdateSettings {
            id,
            change: change.unwrap_or_default(),
        })
    }
}

#[tonic::async_trait]
impl TenantService for Api {
    async fn create_tenant(
        &self,
        request: Request<proto::CreateTenantRequest>,
    ) -> Result<Response<proto::Tenant>, Status> {
        self.operator(&request).await?;
        let new = NewTenant::try_from(request.into_inner())?;
        let record = tenants::create_tenant(&self.store, new)
            .await
            .map_err(|e| ApiError::from_provision(e, "tenant"))?;
        Ok(Response::new(tenant_to_proto(&record)))
    }

    async fn get_tenant(
        &self,
        request: Request<proto::GetTenantRequest>,
    ) -> Result<Response<proto::Tenant>, Status> {
        self.operator(&request).await?;
        let id = tenant_id(&request.get_ref().name, "name")?;
        let record = tenants::get_tenant(&self.store, &id)
            .await
            .map_err(|e| ApiError::from_provision(e, ""))?;
        Ok(Response::new(tenant_to_proto(&record)))
    }

    async fn list_tenants(
        &self,
        request: Request<proto::ListTenantsRequest>,
    ) -> Result<Response<proto::ListTenantsResponse>, Status> {
        self.operator(&request).await?;
        let req = request.get_ref();
        let pager = Pager::new(req.page_size, &req.page_token, &[])?;
        let page = tenants::list_tenants(&self.store, pager.request())
            .await
            .map_err(|e| ApiError::from_provision(e, ""))?;
        let next_page_token =
            pager.next_token(&page, page.items.last().map(|r| r.tenant.id.as_str()));
        Ok(Response::new(proto::ListTenantsResponse {
            tenants: page.items.iter().map(tenant_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_tenant_settings(
        &self,
        request: Request<proto::UpdateTenantSettingsRequest>,
    ) -> Result<Response<proto::Tenant>, Status> {
        self.operator(&request).await?;
        let UpdateSettings { id, change } = request.into_inner().try_into()?;
        let record = tenants::update_settings(&self.store, &id, &change)
            .await
            .map_err(|e| ApiError::from_provision(e, "settings"))?;
        Ok(Response::new(tenant_to_proto(&record)))
    }

    async fn create_api_key(
        &self,
        request: Request<proto::CreateApiKeyRequest>,
    ) -> Result<Response<proto::CreateApiKeyResponse>, Status> {
        self.operator(&request).await?;
        let tenant = tenant_id(&request.get_ref().parent, "parent")?;
        let (record, key) = tenants::create_api_key(&self.store, &tenant)
            .await
            .map_err(|e| ApiError::from_provision(e, ""))?;
        Ok(Response::new(proto::CreateApiKeyResponse {
            api_key: Some(key_to_proto(&record)),
            key,
        }))
    }

    async fn list_api_keys(
        &self,
        request: Request<proto::ListApiKeysRequest>,
    ) -> Result<Response<proto::ListApiKeysResponse>, Status> {
        self.operator(&request).await?;
        let req = request.get_ref();
        let mut problems = Problems::default();
        let tenant = problems.take(tenant_id(&req.parent, "parent"));
        let pager = problems.take(Pager::new(
            req.page_size,
            &req.page_token,
            &[req.parent.as_str()],
        ));
        let (Some(tenant), Some(pager)) = (tenant, pager) else {
            return Err(problems.refuse().into());
        };
        let page = tenants::list_api_keys(&self.store, &tenant, pager.request())
            .await
            .map_err(|e| ApiError::from_provision(e, ""))?;
        let next_page_token = pager.next_token(&page, page.items.last().map(|k| k.id.as_str()));
        Ok(Response::new(proto::ListApiKeysResponse {
            api_keys: page.items.iter().map(key_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<proto::RevokeApiKeyRequest>,
    ) -> Result<Response<proto::ApiKey>, Status> {
        self.operator(&request).await?;
        let (tenant, key) = key_ids(&request.get_ref().name, "name")?;
        let record = tenants::revoke_api_key(&self.store, &tenant, &key)
            .await
            .map_err(|e| ApiError::from_provision(e, ""))?;
        Ok(Response::new(key_to_proto(&record)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_parsed_strictly() {
        assert_eq!(
            key_ids("tenants/acme/apiKeys/k1a2b3", "name").unwrap(),
            ("acme".to_string(), "k1a2b3".to_string())
        );
        for bad in [
            "",
            "tenants/acme",
            "tenants/acme/keys/k1",
            "tenants/Acme/apiKeys/k1",
            "tenants/acme/apiKeys/k1/x",
            "tenants//apiKeys/k1",
        ] {
            assert!(key_ids(bad, "name").is_err(), "{bad}");
        }
    }
}

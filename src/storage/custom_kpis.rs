//! Custom KPI definitions.
use super::entities::{custom_kpi, goal, metric_point};
use super::revisioned::{self, still_used};
use super::{Result, StorageError, Store};
use crate::domain::Stored;
use crate::kpi::custom::CustomKpi;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use std::collections::HashSet;

fn to_domain(m: custom_kpi::Model) -> Stored<CustomKpi> {
    Stored {
        id: m.id,
        revision: m.revision,
        create_time: m.create_time,
        update_time: m.update_time,
        spec: CustomKpi {
            display_name: m.display_name,
            description: m.description,
            unit: m.unit,
            formula: m.formula,
            version: m.version,
        },
    }
}

impl Store {
    /// Every custom KPI of the tenant, by id.
    pub async fn custom_kpis(&self, tenant_id: &str) -> Result<Vec<Stored<CustomKpi>>> {
        Ok(custom_kpi::Entity::find()
            .filter(custom_kpi::Column::TenantId.eq(tenant_id))
            .order_by_asc(custom_kpi::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect())
    }

    /// Pushed metric keys with at least one point.
    pub async fn metric_key_set(&self, tenant_id: &str) -> Result<HashSet<String>> {
        let keys: Vec<String> = metric_point::Entity::find()
            .select_only()
            .column(metric_point::Column::MetricKey)
            .filter(metric_point::Column::TenantId.eq(tenant_id))
            .distinct()
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(keys.into_iter().collect())
    }

    /// Whether the pushed metric key has at least one point, on any scope: one key lookup.
    pub async fn metric_key_exists(&self, tenant_id: &str, key: &str) -> Result<bool> {
        let found: Option<String> = metric_point::Entity::find()
            .select_only()
            .column(metric_point::Column::MetricKey)
            .filter(metric_point::Column::TenantId.eq(tenant_id))
            .filter(metric_point::Column::MetricKey.eq(key))
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// Creates a custom KPI.
    pub async fn create_custom_kpi(
        &self,
        tenant_id: &str,
        id: &str,
        spec: &CustomKpi,
    ) -> Result<Stored<CustomKpi>> {
        if custom_kpi::Entity::find_by_id((tenant_id.to_string(), id.to_string()))
            .one(&self.db)
            .await?
            .is_some()
        {
            return Err(StorageError::AlreadyExists(format!(
                "kpiDefinitions/{id} already exists"
            )));
        }
        let now = Utc::now();
        let model = custom_kpi::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            id: Set(id.to_string()),
            display_name: Set(spec.display_name.clone()),
            description: Set(spec.description.clone()),
            unit: Set(spec.unit.clone()),
            formula: Set(spec.formula.clone()),
            version: Set(1),
            revision: Set(1),
            create_time: Set(now),
            update_time: Set(now),
        }
        .insert(&self.db)
        .await?;
        Ok(to_domain(model))
    }

    /// Replaces a custom KPI's fields if its revision is still `revision`; the version
    /// goes up when the formula changes.
    pub async fn update_custom_kpi(
        &self,
        tenant_id: &str,
        id: &str,
        revision: i64,
        spec: &CustomKpi,
        formula_changed: bool,
    ) -> Result<Stored<CustomKpi>> {
        let version = spec.version + i32::from(formula_changed);
        let columns = custom_kpi::Entity::update_many()
            .col_expr(
                custom_kpi::Column::DisplayName,
                spec.display_name.clone().into(),
            )
            .col_expr(
                custom_kpi::Column::Description,
                spec.description.clone().into(),
            )
            .col_expr(custom_kpi::Column::Unit, spec.unit.clone().into())
            .col_expr(custom_kpi::Column::Formula, spec.formula.clone().into())
            .col_expr(custom_kpi::Column::Version, version.into());
        revisioned::save(&self.db, tenant_id, id, revision, columns).await?;
        let model = revisioned::find::<custom_kpi::Entity>(&self.db, tenant_id, id).await?;
        Ok(to_domain(model))
    }

    /// Deletes a custom KPI unless goals or other custom KPIs use it.
    pub async fn delete_custom_kpi(
        &self,
        tenant_id: &str,
        id: &str,
        used_by: &[String],
    ) -> Result<()> {
        let goals = goal::Entity::find()
            .filter(goal::Column::TenantId.eq(tenant_id))
            .filter(goal::Column::Kpi.eq(id))
            .all(&self.db)
            .await?;
        let mut users: Vec<String> = goals
            .into_iter()
            .map(|g| format!("goals/{}", g.id))
            .collect();
        users.extend(used_by.iter().map(|u| format!("kpiDefinitions/{u}")));
        if !users.is_empty() {
            return Err(still_used(&format!("kpiDefinitions/{id}"), &users));
        }
        let deleted = custom_kpi::Entity::delete_many()
            .filter(custom_kpi::Column::TenantId.eq(tenant_id))
            .filter(custom_kpi::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(StorageError::NotFound(format!("kpiDefinitions/{id}")));
        }
        Ok(())
    }
}

//! sea-orm entities, one module per table of the foundation migration.
#![allow(missing_docs)]

/// Macro-free boilerplate shared by entities without relations.
macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod tenant {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub display_name: String,
        pub time_zone: String,
        pub currency: String,
        pub order_window_days: i32,
        pub returning_window_days: i32,
        pub trailing_days: i32,
        pub lift_pre_period_days: i32,
        pub create_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod api_key {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub key_hash: String,
        pub create_time: DateTimeUtc,
        pub revoke_time: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod influencer {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "influencers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub display_name: String,
        /// JSON array of strings.
        pub tags: String,
        pub revision: i64,
        pub create_time: DateTimeUtc,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod discount_code {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "discount_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        /// Trimmed, Unicode-lowercased code: the key orders are matched on.
        #[sea_orm(primary_key, auto_increment = false)]
        pub code_key: String,
        pub code: String,
        pub influencer_id: String,
        pub position: i32,
    }
    no_relations!();
}

pub mod tracking_value {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "tracking_values")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub source_key: String,
        /// Lowercased campaign, empty when the pair matches any campaign.
        #[sea_orm(primary_key, auto_increment = false)]
        pub campaign_key: String,
        pub utm_source: String,
        pub utm_campaign: String,
        pub influencer_id: String,
        pub position: i32,
    }
    no_relations!();
}

pub mod channel {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "channels")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub display_name: String,
        pub platform: String,
        pub owner_influencer_id: Option<String>,
        pub account_id: String,
        pub credentials_ref: String,
        pub revision: i64,
        pub create_time: DateTimeUtc,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod campaign {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "campaigns")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub display_name: String,
        pub start_date: Date,
        pub end_date: Date,
        pub revision: i64,
        pub create_time: DateTimeUtc,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod campaign_participant {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "campaign_participants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub campaign_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub influencer_id: String,
        pub position: i32,
        pub fee_currency: String,
        pub fee_minor: i64,
    }
    no_relations!();
}

pub mod giveaway {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "giveaways")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub campaign_id: String,
        pub host_influencer_id: Option<String>,
        pub display_name: String,
        pub position: i32,
    }
    no_relations!();
}

pub mod segment {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "segments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub display_name: String,
        pub rule: String,
        pub revision: i64,
        pub create_time: DateTimeUtc,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod goal {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "goals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub display_name: String,
        pub objective: String,
        pub kpi: String,
        pub scope: String,
        pub segment_id: Option<String>,
        pub baseline_rule: String,
        pub baseline_value: Option<f64>,
        pub target_kind: String,
        pub target_value: f64,
        pub direction: String,
        pub start_date: Date,
        pub deadline: Date,
        pub owner: String,
        pub trailing_days: Option<i32>,
        pub revision: i64,
        pub create_time: DateTimeUtc,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod idempotency_key {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub method: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        pub resource_name: String,
        pub create_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod channel_day_stat {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "channel_day_stats")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        pub followers: Option<i64>,
        pub posts: Option<i64>,
        pub mentions: Option<i64>,
        pub shares: Option<i64>,
        pub comments: Option<i64>,
        pub likes: Option<i64>,
        pub link_clicks: Option<i64>,
        pub views: Option<i64>,
        pub reach: Option<i64>,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod web_traffic {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "web_traffic")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        #[sea_orm(primary_key, auto_increment = false)]
        pub row_key: String,
        pub source: String,
        pub medium: String,
        pub campaign: String,
        pub channel_group: String,
        pub source_key: String,
        pub campaign_key: String,
        pub age_bracket: Option<String>,
        pub age: Option<i32>,
        pub country: Option<String>,
        pub country_lc: Option<String>,
        pub is_customer: Option<bool>,
        pub sessions: i64,
        pub users: i64,
        pub new_users: i64,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod order {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub order_id: String,
        pub customer_key: Option<String>,
        pub placed_at: DateTimeUtc,
        pub day: Date,
        pub revenue_minor: i64,
        pub cost_minor: i64,
        pub discount_minor: i64,
        pub currency: String,
        pub utm_source: String,
        pub utm_medium: String,
        pub utm_campaign: String,
        pub source_key: String,
        pub campaign_key: String,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod order_code {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub order_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        pub code: String,
        pub code_key: String,
    }
    no_relations!();
}

pub mod audience_member {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "audience_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub platform: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel_id: String,
        pub customer_id: Option<String>,
        pub first_seen: Date,
        pub last_seen: Option<Date>,
        pub bio: Option<String>,
        pub bio_lc: Option<String>,
        pub followers: Option<i64>,
        pub influence_score: Option<f64>,
        pub age: Option<i32>,
        pub country: Option<String>,
        pub country_lc: Option<String>,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod interaction {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "interactions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub interaction_id: String,
        pub kind: String,
        pub platform: String,
        pub account_id: String,
        pub occurred_at: DateTimeUtc,
        pub day: Date,
        pub is_customer: Option<bool>,
        pub bio: Option<String>,
        pub bio_lc: Option<String>,
        pub followers: Option<i64>,
        pub influence_score: Option<f64>,
        pub age: Option<i32>,
        pub country: Option<String>,
        pub country_lc: Option<String>,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod giveaway_entry {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "giveaway_entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub giveaway_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub entrant_key: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub entered_at: DateTimeUtc,
        pub day: Date,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod metric_point {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "metric_points")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub metric_key: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        pub value: f64,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

/// The wide snapshot row: a table before migration `m20261208_000010`, since then a view
/// over `kpi_series`, `kpi_values` and `kpi_value_runs` for reading by hand and by tests.
/// The service never reads or writes it.
pub mod kpi_snapshot {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "kpi_snapshots")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kpi_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub segment_id: String,
        pub value: Option<f64>,
        pub reason: Option<String>,
        pub numerator: Option<f64>,
        pub denominator: Option<f64>,
        pub definition_version: i32,
        pub run_id: String,
        pub compute_time: DateTimeUtc,
    }
    no_relations!();
}

/// A tenant's numbered series: a KPI on a scope and segment, at a grain.
pub mod kpi_series {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "kpi_series")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub kpi_id: String,
        pub scope: String,
        pub segment_id: String,
        pub grain: String,
    }
    no_relations!();
}

/// A stored value of a series for the period starting on `day`.
pub mod kpi_value {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "kpi_values")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        #[sea_orm(primary_key, auto_increment = false)]
        pub series_id: i32,
        pub value: Option<f64>,
        pub reason: Option<i16>,
        pub numerator: Option<f64>,
        pub denominator: Option<f64>,
    }
    no_relations!();
}

/// The run and definition version of every value of one KPI and grain on one day.
pub mod kpi_value_run {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "kpi_value_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kpi_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub grain: String,
        pub run_id: String,
        pub definition_version: i32,
    }
    no_relations!();
}

pub mod kpi_snapshot_day {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "kpi_snapshot_days")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        pub compute_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod custom_kpi {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "custom_kpis")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub display_name: String,
        pub description: String,
        pub unit: String,
        pub formula: String,
        pub version: i32,
        pub revision: i64,
        pub create_time: DateTimeUtc,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod job_run {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "job_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub job: String,
        pub first_day: Date,
        pub last_day: Date,
        pub forced: bool,
        pub status: String,
        pub owner: String,
        pub lease_until: DateTimeUtc,
        pub cancel_requested: bool,
        pub create_time: DateTimeUtc,
        pub start_time: Option<DateTimeUtc>,
        pub end_time: Option<DateTimeUtc>,
        pub rows_pulled: i64,
        pub error: Option<String>,
        pub report: String,
    }
    no_relations!();
}

pub mod job_day {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "job_days")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        pub status: String,
        pub run_id: String,
        pub owner: String,
        pub lease_until: DateTimeUtc,
        pub attempts: i32,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod source_pull {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "source_pulls")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        pub status: String,
        pub cursor: Option<String>,
        pub totals: Option<String>,
        pub rows: i64,
        pub error: Option<String>,
        pub attempts: i32,
        pub update_time: DateTimeUtc,
    }
    no_relations!();
}

pub mod raw_response {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "raw_responses")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: Date,
        #[sea_orm(primary_key, auto_increment = false)]
        pub page: i32,
        pub fetch_time: DateTimeUtc,
        pub latest: bool,
        pub previous_totals: Option<String>,
        pub body: Vec<u8>,
        pub compressed_bytes: i64,
        pub raw_bytes: i64,
    }
    no_relations!();
}

pub mod goal_evaluation {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "goal_evaluations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub goal_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub as_of: Date,
        pub measured_day: Date,
        pub current_value: Option<f64>,
        pub baseline: Option<f64>,
        pub target: Option<f64>,
        pub progress: Option<f64>,
        pub expected_progress: f64,
        pub forecast: Option<f64>,
        pub forecast_values: i32,
        pub status: String,
        pub reason: String,
        pub definition_version: i32,
        pub evaluate_time: DateTimeUtc,
    }
    no_relations!();
}

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

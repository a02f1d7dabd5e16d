//! Tenants, API keys, the resources of the API and the idempotency record of Create calls.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::keys::{fk, pk, tenant_fk};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Columns shared by every API resource: revision for etags, and audit times.
fn resource_columns(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(big_integer("revision"))
        .col(timestamp_with_time_zone("create_time"))
        .col(timestamp_with_time_zone("update_time"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tenants")
                    .col(string_len("id", 63).primary_key())
                    .col(string_len("display_name", 200))
                    .col(string_len("time_zone", 64))
                    .col(string_len("currency", 3))
                    .col(integer("order_window_days"))
                    .col(integer("returning_window_days"))
                    .col(integer("trailing_days"))
                    .col(timestamp_with_time_zone("create_time"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("id", 63))
                    .col(string_len_uniq("key_hash", 64))
                    .col(timestamp_with_time_zone("create_time"))
                    .col(timestamp_with_time_zone_null("revoke_time"))
                    .primary_key(&mut pk(&["id"]))
                    .foreign_key(&mut tenant_fk("api_keys"))
                    .to_owned(),
            )
            .await?;

        let mut influencers = Table::create();
        influencers
            .table("influencers")
            .col(string_len("tenant_id", 63))
            .col(string_len("id", 63))
            .col(string_len("display_name", 200))
            .col(text("tags"));
        resource_columns(&mut influencers)
            .primary_key(&mut pk(&["id"]))
            .foreign_key(&mut tenant_fk("influencers"));
        manager.create_table(influencers).await?;

        manager
            .create_table(
                Table::create()
                    .table("discount_codes")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("code_key", 256))
                    .col(string_len("code", 64))
                    .col(string_len("influencer_id", 63))
                    .col(integer("position"))
                    .primary_key(&mut pk(&["code_key"]))
                    .foreign_key(&mut fk(
                        "discount_codes",
                        "influencer_id",
                        "influencers",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("tracking_values")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("source_key", 800))
                    .col(string_len("campaign_key", 800))
                    .col(string_len("utm_source", 200))
                    .col(string_len("utm_campaign", 200))
                    .col(string_len("influencer_id", 63))
                    .col(integer("position"))
                    .primary_key(&mut pk(&["source_key", "campaign_key"]))
                    .foreign_key(&mut fk(
                        "tracking_values",
                        "influencer_id",
                        "influencers",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        let mut channels = Table::create();
        channels
            .table("channels")
            .col(string_len("tenant_id", 63))
            .col(string_len("id", 63))
            .col(string_len("display_name", 200))
            .col(string_len("platform", 16))
            .col(string_len_null("owner_influencer_id", 63))
            .col(string_len("account_id", 200))
            .col(string_len("credentials_ref", 128));
        resource_columns(&mut channels)
            .primary_key(&mut pk(&["id"]))
            .foreign_key(&mut tenant_fk("channels"))
            .foreign_key(&mut fk(
                "channels",
                "owner_influencer_id",
                "influencers",
                "id",
                ForeignKeyAction::Restrict,
            ))
            .index(
                Index::create()
                    .name("ux_channels_account")
                    .unique()
                    .col("tenant_id")
                    .col("platform")
                    .col("account_id"),
            );
        manager.create_table(channels).await?;

        let mut campaigns = Table::create();
        campaigns
            .table("campaigns")
            .col(string_len("tenant_id", 63))
            .col(string_len("id", 63))
            .col(string_len("display_name", 200))
            .col(date("start_date"))
            .col(date("end_date"));
        resource_columns(&mut campaigns)
            .primary_key(&mut pk(&["id"]))
            .foreign_key(&mut tenant_fk("campaigns"));
        manager.create_table(campaigns).await?;

        manager
            .create_table(
                Table::create()
                    .table("campaign_participants")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("campaign_id", 63))
                    .col(string_len("influencer_id", 63))
                    .col(integer("position"))
                    .col(string_len("fee_currency", 3))
                    .col(big_integer("fee_minor"))
                    .primary_key(&mut pk(&["campaign_id", "influencer_id"]))
                    .foreign_key(&mut fk(
                        "campaign_participants",
                        "campaign_id",
                        "campaigns",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "campaign_participants",
                        "influencer_id",
                        "influencers",
                        "id",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("giveaways")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("id", 63))
                    .col(string_len("campaign_id", 63))
                    .col(string_len_null("host_influencer_id", 63))
                    .col(string_len("display_name", 200))
                    .col(integer("position"))
                    .primary_key(&mut pk(&["id"]))
                    .foreign_key(&mut fk(
                        "giveaways",
                        "campaign_id",
                        "campaigns",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "giveaways",
                        "host_influencer_id",
                        "influencers",
                        "id",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;

        let mut segments = Table::create();
        segments
            .table("segments")
            .col(string_len("tenant_id", 63))
            .col(string_len("id", 63))
            .col(string_len("display_name", 200))
            .col(text("rule"));
        resource_columns(&mut segments)
            .primary_key(&mut pk(&["id"]))
            .foreign_key(&mut tenant_fk("segments"));
        manager.create_table(segments).await?;

        let mut goals = Table::create();
        goals
            .table("goals")
            .col(string_len("tenant_id", 63))
            .col(string_len("id", 63))
            .col(string_len("display_name", 200))
            .col(string_len("objective", 32))
            .col(string_len("kpi", 128))
            .col(string_len("scope", 200))
            .col(string_len_null("segment_id", 63))
            .col(string_len("baseline_rule", 32))
            .col(double_null("baseline_value"))
            .col(string_len("target_kind", 16))
            .col(double("target_value"))
            .col(string_len("direction", 8))
            .col(date("start_date"))
            .col(date("deadline"))
            .col(string_len("owner", 200))
            .col(integer_null("trailing_days"));
        resource_columns(&mut goals)
            .primary_key(&mut pk(&["id"]))
            .foreign_key(&mut tenant_fk("goals"))
            .foreign_key(&mut fk(
                "goals",
                "segment_id",
                "segments",
                "id",
                ForeignKeyAction::Restrict,
            ));
        manager.create_table(goals).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_goals_scope")
                    .table("goals")
                    .col("tenant_id")
                    .col("scope")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("method", 64))
                    .col(string_len("request_id", 64))
                    .col(string_len("resource_name", 200))
                    .col(timestamp_with_time_zone("create_time"))
                    .primary_key(&mut pk(&["method", "request_id"]))
                    .foreign_key(&mut tenant_fk("idempotency_keys"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "idempotency_keys",
            "goals",
            "segments",
            "giveaways",
            "campaign_participants",
            "campaigns",
            "channels",
            "tracking_values",
            "discount_codes",
            "influencers",
            "api_keys",
            "tenants",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

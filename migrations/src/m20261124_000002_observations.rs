//! Observations: the raw, dated data every KPI is computed from. Each table has a natural
//! primary key so that every write is an idempotent upsert, and indexes that fit the KPI
//! queries (by tenant and day; orders by customer and time; codes by key).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::keys::{fk, index, pk};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The segment attributes recorded with audience members and interactions; text
/// attributes also as a Unicode-lowercased copy (`*_lc`), because SQLite's LOWER only
/// folds ASCII and segment rules compare lowercased text.
fn member_attributes(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(text_null("bio"))
        .col(text_null("bio_lc"))
        .col(big_integer_null("followers"))
        .col(double_null("influence_score"))
        .col(integer_null("age"))
        .col(string_len_null("country", 64))
        .col(string_len_null("country_lc", 64))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("channel_day_stats")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("channel_id", 63))
                    .col(date("day"))
                    .col(big_integer_null("followers"))
                    .col(big_integer_null("posts"))
                    .col(big_integer_null("mentions"))
                    .col(big_integer_null("shares"))
                    .col(big_integer_null("comments"))
                    .col(big_integer_null("likes"))
                    .col(big_integer_null("link_clicks"))
                    .col(big_integer_null("views"))
                    .col(big_integer_null("reach"))
                    .col(timestamp_with_time_zone("update_time"))
                    .primary_key(&mut pk(&["channel_id", "day"]))
                    .foreign_key(&mut fk(
                        "channel_day_stats",
                        "channel_id",
                        "channels",
                        "id",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_channel_day_stats_day",
                "channel_day_stats",
                &["day"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("web_traffic")
                    .col(string_len("tenant_id", 63))
                    .col(date("day"))
                    // Digest of every dimension below: the natural key, since dimensions
                    // may be NULL and NULLs never collide in a unique index.
                    .col(string_len("row_key", 64))
                    .col(string_len("source", 200))
                    .col(string_len("medium", 200))
                    .col(string_len("campaign", 200))
                    .col(string_len("channel_group", 100))
                    .col(string_len("source_key", 800))
                    .col(string_len("campaign_key", 800))
                    .col(string_len_null("age_bracket", 16))
                    .col(integer_null("age"))
                    .col(string_len_null("country", 64))
                    .col(string_len_null("country_lc", 64))
                    .col(boolean_null("is_customer"))
                    .col(big_integer("sessions"))
                    .col(big_integer("users"))
                    .col(big_integer("new_users"))
                    .col(timestamp_with_time_zone("update_time"))
                    .primary_key(&mut pk(&["day", "row_key"]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_web_traffic_source",
                "web_traffic",
                &["source_key", "day"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("orders")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("order_id", 128))
                    // `c:<customer id>` or `e:<sha-256 of the e-mail>`; NULL when neither.
                    .col(string_len_null("customer_key", 200))
                    .col(timestamp_with_time_zone("placed_at"))
                    .col(date("day"))
                    .col(big_integer("revenue_minor"))
                    .col(big_integer("cost_minor"))
                    .col(big_integer("discount_minor"))
                    .col(string_len("currency", 3))
                    .col(string_len("utm_source", 200))
                    .col(string_len("utm_medium", 200))
                    .col(string_len("utm_campaign", 200))
                    .col(string_len("source_key", 800))
                    .col(string_len("campaign_key", 800))
                    .col(timestamp_with_time_zone("update_time"))
                    .primary_key(&mut pk(&["order_id"]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_orders_day", "orders", &["day"]))
            .await?;
        manager
            .create_index(index(
                "ix_orders_customer",
                "orders",
                &["customer_key", "placed_at", "order_id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("order_codes")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("order_id", 128))
                    .col(integer("position"))
                    .col(string_len("code", 64))
                    .col(string_len("code_key", 256))
                    // No foreign key to orders: codes are written and replaced only with
                    // their order, in one transaction, and PostgreSQL's cached plan for
                    // the key check (made while `orders` was empty) turns bulk loads into
                    // sequential scans.
                    .primary_key(&mut pk(&["order_id", "position"]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_order_codes_code", "order_codes", &["code_key"]))
            .await?;

        let mut members = Table::create();
        members
            .table("audience_members")
            .col(string_len("tenant_id", 63))
            .col(string_len("platform", 16))
            .col(string_len("account_id", 200))
            .col(string_len("channel_id", 63))
            .col(string_len_null("customer_id", 128))
            .col(date("first_seen"))
            .col(date_null("last_seen"));
        member_attributes(&mut members)
            .col(timestamp_with_time_zone("update_time"))
            .primary_key(&mut pk(&["platform", "account_id", "channel_id"]))
            .foreign_key(&mut fk(
                "audience_members",
                "channel_id",
                "channels",
                "id",
                ForeignKeyAction::Restrict,
            ));
        manager.create_table(members).await?;
        manager
            .create_index(index(
                "ix_audience_members_channel",
                "audience_members",
                &["channel_id"],
            ))
            .await?;

        let mut interactions = Table::create();
        interactions
            .table("interactions")
            .col(string_len("tenant_id", 63))
            .col(string_len("channel_id", 63))
            .col(string_len("interaction_id", 200))
            .col(string_len("kind", 16))
            .col(string_len("platform", 16))
            .col(string_len("account_id", 200))
            .col(timestamp_with_time_zone("occurred_at"))
            .col(date("day"))
            .col(boolean_null("is_customer"));
        member_attributes(&mut interactions)
            .col(timestamp_with_time_zone("update_time"))
            .primary_key(&mut pk(&["channel_id", "interaction_id"]))
            .foreign_key(&mut fk(
                "interactions",
                "channel_id",
                "channels",
                "id",
                ForeignKeyAction::Restrict,
            ));
        manager.create_table(interactions).await?;
        manager
            .create_index(index(
                "ix_interactions_day",
                "interactions",
                &["day", "kind"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("giveaway_entries")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("giveaway_id", 63))
                    .col(string_len("entrant_key", 200))
                    .col(timestamp_with_time_zone("entered_at"))
                    .col(date("day"))
                    .col(timestamp_with_time_zone("update_time"))
                    .primary_key(&mut pk(&["giveaway_id", "entrant_key", "entered_at"]))
                    .foreign_key(&mut fk(
                        "giveaway_entries",
                        "giveaway_id",
                        "giveaways",
                        "id",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("metric_points")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("metric_key", 128))
                    .col(string_len("scope", 200))
                    .col(date("day"))
                    .col(double("value"))
                    .col(timestamp_with_time_zone("update_time"))
                    .primary_key(&mut pk(&["metric_key", "scope", "day"]))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "metric_points",
            "giveaway_entries",
            "interactions",
            "audience_members",
            "order_codes",
            "orders",
            "web_traffic",
            "channel_day_stats",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

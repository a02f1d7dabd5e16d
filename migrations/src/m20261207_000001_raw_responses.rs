//! The platform responses each pull was mapped from, kept compressed so that a corrected
//! mapping can be applied to days the platforms no longer serve (`jobs/rederive`).
use crate::keys::{fk, index, pk};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("raw_responses")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("channel_id", 63))
                    .col(date("day"))
                    .col(integer("page"))
                    .col(timestamp_with_time_zone("fetch_time"))
                    // The pull's context that a derive needs again.
                    .col(boolean("latest"))
                    .col(text_null("previous_totals"))
                    // Deflated JSON of the page's responses, scrubbed of the credential.
                    .col(blob("body"))
                    .col(big_integer("compressed_bytes"))
                    .col(big_integer("raw_bytes"))
                    .primary_key(&mut pk(&["channel_id", "day", "page"]))
                    // Kept responses must not keep a channel alive.
                    .foreign_key(&mut fk(
                        "raw_responses",
                        "channel_id",
                        "channels",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        // Retention and the size bound drop a tenant's oldest days first.
        manager
            .create_index(index("ix_raw_responses_day", "raw_responses", &["day"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("raw_responses").to_owned())
            .await
    }
}

//! Audience members by linked customer: the audience KPIs look up the first order day of
//! every customer linked to a member. Without this index the list of linked customers was
//! read through the members' rows themselves (500,000 row lookups on data set M).
use sea_orm_migration::prelude::*;

use crate::keys::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                index(
                    "ix_audience_members_customer",
                    "audience_members",
                    &["customer_id"],
                )
                .if_not_exists()
                .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_audience_members_customer")
                    .table("audience_members")
                    .to_owned(),
            )
            .await
    }
}

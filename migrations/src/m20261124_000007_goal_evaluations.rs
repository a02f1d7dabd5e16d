//! Goal evaluations: one row per goal and the day it was evaluated as of.
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
                    .table("goal_evaluations")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("goal_id", 63))
                    .col(date("as_of"))
                    .col(date("measured_day"))
                    .col(double_null("current_value"))
                    .col(double_null("baseline"))
                    .col(double_null("target"))
                    .col(double_null("progress"))
                    .col(double("expected_progress"))
                    .col(double_null("forecast"))
                    .col(integer("forecast_values"))
                    .col(string_len("status", 16))
                    .col(text("reason"))
                    .col(integer("definition_version"))
                    .col(timestamp_with_time_zone("evaluate_time"))
                    .primary_key(&mut pk(&["goal_id", "as_of"]))
                    // Evaluations go with their goal.
                    .foreign_key(&mut fk(
                        "goal_evaluations",
                        "goal_id",
                        "goals",
                        "id",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_goal_evaluations_as_of",
                "goal_evaluations",
                &["as_of"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("goal_evaluations").to_owned())
            .await
    }
}

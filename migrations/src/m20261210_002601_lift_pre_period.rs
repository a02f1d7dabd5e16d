//! The tenant setting `lift_pre_period_days` (LIFT.md): how many days before a campaign's
//! start its lift's baseline learns from when a request names none. Existing tenants get
//! the default of 8 weeks.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .add_column(
                        ColumnDef::new("lift_pre_period_days")
                            .integer()
                            .not_null()
                            .default(56),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .drop_column("lift_pre_period_days")
                    .to_owned(),
            )
            .await
    }
}

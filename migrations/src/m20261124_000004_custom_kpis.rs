//! Custom KPI definitions: formulas over KPI ids and pushed metric keys.
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
                    .table("custom_kpis")
                    .col(string_len("tenant_id", 63))
                    .col(string_len("id", 128))
                    .col(string_len("display_name", 200))
                    .col(text("description"))
                    .col(string_len("unit", 32))
                    .col(text("formula"))
                    // Incremented when the formula changes; snapshots record it.
                    .col(integer("version"))
                    .col(big_integer("revision"))
                    .col(timestamp_with_time_zone("create_time"))
                    .col(timestamp_with_time_zone("update_time"))
                    .primary_key(Index::create().col("tenant_id").col("id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_custom_kpis_tenant")
                            .from("custom_kpis", "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("custom_kpis").to_owned())
            .await
    }
}

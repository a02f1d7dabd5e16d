//! Key helpers shared by the migrations: every key starts with `tenant_id`.
use sea_orm_migration::prelude::*;

/// A composite primary key `(tenant_id, cols...)`.
pub(crate) fn pk(cols: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.col("tenant_id");
    for col in cols {
        index.col(*col);
    }
    index
}

/// A foreign key `(tenant_id, from)` → `to (tenant_id, to_col)`.
pub(crate) fn fk(
    table: &'static str,
    from: &'static str,
    to: &'static str,
    to_col: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    let mut key = ForeignKey::create();
    key.name(format!("fk_{table}_{from}"))
        .from(table, ("tenant_id", from))
        .to(to, ("tenant_id", to_col))
        .on_delete(on_delete);
    key
}

/// The tenant column every table starts with, referencing `tenants`.
pub(crate) fn tenant_fk(table: &'static str) -> ForeignKeyCreateStatement {
    let mut key = ForeignKey::create();
    key.name(format!("fk_{table}_tenant"))
        .from(table, "tenant_id")
        .to("tenants", "id")
        .on_delete(ForeignKeyAction::Cascade);
    key
}

/// A named index on `(tenant_id, cols...)` of a table.
pub(crate) fn index(
    name: &str,
    table: &'static str,
    cols: &[&'static str],
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table).col("tenant_id");
    for col in cols {
        index.col(*col);
    }
    index.to_owned()
}

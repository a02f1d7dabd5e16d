//! KPIs: the catalogue, values and their reasons, custom formulas and the engine.
pub mod anomaly;
pub mod audience;
pub mod catalogue;
pub mod custom;
pub mod directory;
pub mod formula;
pub mod goal_eval;
pub mod key;
pub mod parts;
pub mod period;
pub mod social;
pub mod value;
pub mod web_shop;

pub use key::{Computed, KpiKey, Parts};

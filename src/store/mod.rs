//! Storage split by lifetime: durable entities in the relational database ([`db`]), minutes-long
//! protocol state in the hot store ([`hot`]).

pub mod db;
pub mod hot;
pub mod models;
pub mod schema;

pub use db::{Db, DbConnection, StoreError};
pub use hot::{HotStore, HotStoreError};

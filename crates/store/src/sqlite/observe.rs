//! [`Observe`] for SQLite: the metrics the writer updates, and file sizes read on demand.

use async_trait::async_trait;

use super::SqliteStore;
use crate::metrics::{Observe, StorageSizes, StoreMetrics};
use crate::Result;

#[async_trait]
impl Observe for SqliteStore {
    fn metrics(&self) -> &StoreMetrics {
        &self.shared.metrics
    }

    async fn sizes(&self) -> Result<StorageSizes> {
        let db = tokio::fs::metadata(&self.path).await?.len();
        let mut wal_path = self.path.clone().into_os_string();
        wal_path.push("-wal");
        // No WAL file (between a checkpoint and the next write after reopening) is an empty WAL.
        let wal = match tokio::fs::metadata(&wal_path).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        Ok(StorageSizes {
            db_bytes: i64::try_from(db).unwrap_or(i64::MAX),
            wal_bytes: Some(i64::try_from(wal).unwrap_or(i64::MAX)),
            cluster_id: "sqlite".into(),
        })
    }
}

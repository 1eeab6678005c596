//! [`Observe`] for etcd: the metrics this process's requests update, and the member's
//! `Status` (database size, cluster id) read on demand.

use async_trait::async_trait;

use super::{EtcdStore, Retry};
use crate::metrics::{Observe, StorageSizes, StoreMetrics};
use crate::Result;

#[async_trait]
impl Observe for EtcdStore {
    fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    async fn sizes(&self) -> Result<StorageSizes> {
        let status = self
            .on_member(Retry::Read, |client| {
                let mut m = client.maintenance_client();
                async move { m.status().await }
            })
            .await?;
        Ok(StorageSizes {
            db_bytes: status.db_size(),
            wal_bytes: None,
            cluster_id: status
                .header()
                .map(|h| format!("{:x}", h.cluster_id()))
                .unwrap_or_default(),
        })
    }
}

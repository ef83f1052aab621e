//! Klantcontact-destroyed markers on DynamoDB (DESIGN §5): [`MARKER_SHARDS`] reserved items
//! `zaaklink:klantcontact-destroyed:{n}`, each with a string set `markers` of marker lines
//! (`{at} {uuid} {url}`). A marker is added with `ADD` and removed with `DELETE` of exactly its
//! line, both atomic single-item updates that need no read and no version: two destroys never
//! conflict, and removing a checked marker leaves a newer one of the same klantcontact. The
//! sweep reads the items with one consistent BatchGetItem — no index, so nothing lags. The items
//! carry no `zaak`, `klantcontact`, `wasKlantcontact` or `outbox`: no index and no link scan
//! sees them.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{key, DynamoStore};
use crate::store::{DestroyedKlantcontact, StoreError};

/// How many items the markers are spread over (a string set item holds up to 400 KB, about
/// 2,500 markers; 16 of them hold about 40,000 destroys waiting for their recheck).
pub const MARKER_SHARDS: u32 = 16;

/// The key of marker shard `n`.
pub fn marker_item(n: u32) -> String {
    format!("zaaklink:klantcontact-destroyed:{n}")
}

/// The shard of a klantcontact (FNV-1a of its uuid, like the outbox shards).
fn shard(uuid: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in uuid.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h % MARKER_SHARDS
}

impl DynamoStore {
    /// `ADD markers :line` (or `DELETE`) on the marker's shard item.
    async fn update_marker(&self, m: &DestroyedKlantcontact, op: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&marker_item(shard(&m.uuid)))))
            .update_expression(format!("{op} #m :line"))
            .expression_attribute_names("#m", "markers")
            .expression_attribute_values(":line", AttributeValue::Ss(vec![m.encode()]))
            .send()
            .await
            .map_err(|e| self.unavailable("UpdateItem", &e))?;
        Ok(())
    }

    pub(super) async fn put_marker(&self, m: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.update_marker(m, "ADD").await
    }

    pub(super) async fn drop_marker(&self, m: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.update_marker(m, "DELETE").await
    }

    pub(super) async fn markers(&self) -> Result<Vec<DestroyedKlantcontact>, StoreError> {
        let keys: Vec<String> = (0..MARKER_SHARDS).map(marker_item).collect();
        let mut out = Vec::new();
        for item in self.batch_get(&keys).await? {
            if let Some(lines) = item.get("markers").and_then(|v| v.as_ss().ok()) {
                for line in lines {
                    out.push(DestroyedKlantcontact::decode(line)?);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_items_are_reserved_keys_spread_over_the_shards() {
        let mut used = std::collections::BTreeSet::new();
        for i in 0..500u32 {
            let u = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &i.to_be_bytes()).to_string();
            used.insert(shard(&u));
            assert!(uuid::Uuid::parse_str(&marker_item(shard(&u))).is_err());
        }
        assert_eq!(used.len(), MARKER_SHARDS as usize);
    }
}

use super::*;
use crate::store::LinkStore;

#[tokio::test]
async fn contract_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/zaaklink.db");
    let store = EmbeddedStore::open(&path).unwrap();
    crate::store::contract::store_contract(&store, async |_| {}).await;
    crate::store::checkpoint::contract::checkpoint_contract(&store).await;
    let audit = EmbeddedStore::open(&dir.path().join("audit.db")).unwrap();
    crate::store::audit_state::contract::audit_state_contract(&audit).await;
    let other = EmbeddedStore::open(&dir.path().join("was.db")).unwrap();
    crate::store::contract::was_and_markers_contract(&other).await;
    let before = store.get("a").await.unwrap();
    drop(store);
    let reopened = EmbeddedStore::open(&path).unwrap();
    assert_eq!(reopened.get("a").await.unwrap(), before);
    assert_eq!(before.unwrap().version, 3);
}

#[test]
fn a_file_that_is_not_a_state_file_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-redb.db");
    std::fs::write(&path, b"hello, this is not redb").unwrap();
    let e = EmbeddedStore::open(&path).err().unwrap();
    assert!(e.contains("not-redb.db"), "{e}");
}

//! The data folder holds every event and signing secret: a new one is created for its
//! owner only.

use std::os::unix::fs::PermissionsExt;

use crate::support::ADMIN_WEBHOOKS;

#[test]
fn a_new_data_folder_and_its_lock_file_are_private_to_their_owner() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("fresh").join("data");
    let service = ADMIN_WEBHOOKS.start(&dir, &[]);
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "the data folder");
    assert_eq!(
        mode(&dir.join("admin-webhooks.lock")),
        0o600,
        "the lock file"
    );
    drop(service);
}

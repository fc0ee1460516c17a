//! Size limits are checked before content is read.

use repo_render::Error;

use crate::common::{Repo, Request};

#[tokio::test]
async fn an_oversized_manifest_is_refused_from_its_metadata_before_it_is_read() {
    let repo = Repo::new();
    repo.file(
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    // A sparse 4 TiB file: reading it first would fail to allocate (or exhaust memory).
    let huge = std::fs::File::create(repo.root().join("app/huge.yaml")).unwrap();
    huge.set_len(4 << 40).unwrap();
    let err = Request::new(&repo, "app").render().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                limit: 10_000_000,
                ..
            }
        ),
        "{err:?}"
    );
}

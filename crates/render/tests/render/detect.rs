//! Source type detection, as upstream's tool detection documents it.

use std::collections::HashMap;

use repo_proto::v1alpha1::{
    ApplicationSource, ApplicationSourceDirectory, ApplicationSourceHelm, ApplicationSourcePlugin,
};
use repo_render::{detect, Error, SourceType};

use crate::common::{Repo, Request};

fn detect_at(
    repo: &Repo,
    dir: &str,
    source: &ApplicationSource,
    enabled: &HashMap<String, bool>,
) -> Result<SourceType, Error> {
    detect(&repo.root(), &repo.root().join(dir), source, enabled)
}

#[test]
fn files_decide_when_nothing_is_explicit() {
    let repo = Repo::new();
    repo.file("h/Chart.yaml", "name: x\n")
        .file("k/kustomization.yml", "resources: []\n")
        .file("K/Kustomization", "resources: []\n")
        .file("both/Chart.yaml", "name: x\n")
        .file("both/kustomization.yaml", "resources: []\n")
        .file("d/x.yaml", "a: 1\n")
        .file("deep/sub/Chart.yaml", "name: x\n");
    let none = ApplicationSource::default();
    let on = HashMap::new();
    for (dir, want) in [
        ("h", SourceType::Helm),
        ("k", SourceType::Kustomize),
        ("K", SourceType::Kustomize),
        ("both", SourceType::Kustomize),
        ("d", SourceType::Directory),
        ("deep", SourceType::Directory),
    ] {
        assert_eq!(detect_at(&repo, dir, &none, &on).unwrap(), want, "{dir}");
    }
    let off: HashMap<String, bool> = [("Kustomize".to_string(), false)].into();
    assert_eq!(
        detect_at(&repo, "both", &none, &off).unwrap(),
        SourceType::Helm
    );
    assert_eq!(
        detect_at(&repo, "k", &none, &off).unwrap(),
        SourceType::Directory
    );
}

#[test]
fn explicit_type_wins_unless_disabled() {
    let repo = Repo::new();
    repo.file("k/kustomization.yaml", "resources: []\n");
    let helm = ApplicationSource {
        helm: Some(ApplicationSourceHelm::default()),
        ..Default::default()
    };
    assert_eq!(
        detect_at(&repo, "k", &helm, &HashMap::new()).unwrap(),
        SourceType::Helm
    );
    let off: HashMap<String, bool> = [("Helm".to_string(), false)].into();
    assert_eq!(
        detect_at(&repo, "k", &helm, &off).unwrap(),
        SourceType::Directory
    );
    let two = ApplicationSource {
        directory: Some(ApplicationSourceDirectory::default()),
        ..helm
    };
    assert!(matches!(
        detect_at(&repo, "k", &two, &HashMap::new()),
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn plugins_are_unsupported_and_an_oci_root_renders_as_files() {
    let repo = Repo::new();
    repo.file("p/x.yaml", "a: 1\n");
    let mut req = Request::new(&repo, "p");
    req.source.plugin = Some(ApplicationSourcePlugin {
        name: Some("vault".into()),
        ..Default::default()
    });
    assert_eq!(
        detect(&req.root, &req.root.join("p"), &req.source, &req.enabled).unwrap(),
        SourceType::Plugin
    );
    let err = req.render().await.unwrap_err();
    assert!(
        matches!(err, Error::Unsupported { ref what } if what.contains("Plugin")),
        "{err}"
    );

    // The engine fetches OCI artifacts; what it unpacked renders like any content root.
    repo.file(
        "q/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    );
    let mut req = Request::new(&repo, "q");
    req.repo_url = "oci://registry.example.com/charts".into();
    let rendered = req.render().await.unwrap();
    assert_eq!(rendered.source_type, SourceType::Directory);
    assert_eq!(rendered.manifests.len(), 1);
}

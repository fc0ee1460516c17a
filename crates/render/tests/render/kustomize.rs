//! Kustomize apps: overrides applied to a private copy, output compared with what upstream
//! generates for the same Application.

use repo_proto::intstr::IntOrString;
use repo_proto::v1alpha1::{
    ApplicationSourceKustomize, KustomizeGvk, KustomizePatch, KustomizeReplica, KustomizeResId,
    KustomizeSelector,
};
use repo_render::SourceType;
use serde_json::json;

use crate::common::{have, sorted, tracking_id, Repo, Request};

fn repo() -> Repo {
    let repo = Repo::new();
    repo.file(
        "base/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n",
    )
    .file(
        "base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n",
    )
    .file("base/kustomization.yaml", "resources:\n- deployment.yaml\n- service.yaml\n")
    .file("overlays/prod/kustomization.yaml", "resources:\n- ../../base\n")
    .file(
        "components/extra/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- cm.yaml\n",
    )
    .file("components/extra/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  k: v\n");
    repo
}

/// Builds with the standalone binary and with `kubectl kustomize`, whichever are installed.
#[tokio::test]
async fn plain_build() {
    let repo = repo();
    let probe = Request::new(&repo, "overlays/prod");
    if !have(
        probe
            .tools
            .kustomize
            .as_ref()
            .or(probe.tools.kubectl.as_ref()),
        "kustomize or kubectl",
    ) {
        return;
    }
    let backends = [
        ("kustomize build", probe.tools.kustomize.is_some()),
        ("kubectl kustomize", probe.tools.kubectl.is_some()),
    ];
    for (tool, _) in backends.iter().filter(|(_, present)| *present) {
        let mut req = Request::new(&repo, "overlays/prod");
        if *tool == "kubectl kustomize" {
            req.tools.kustomize = None;
        }
        let rendered = req.render().await.unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert_eq!(rendered.source_type, SourceType::Kustomize);
        assert_eq!(rendered.commands, vec![format!("{tool} ./overlays/prod")]);
        assert_eq!(
            sorted(crate::common::parse(&rendered.manifests)),
            vec![
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "annotations": tracking_id("apps", "Deployment", "default", "web")},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}}),
                json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "web", "annotations": tracking_id("", "Service", "default", "web")},
                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
            ],
            "{tool}"
        );
    }
}

fn overrides() -> ApplicationSourceKustomize {
    ApplicationSourceKustomize {
        name_prefix: Some("prod-".into()),
        name_suffix: Some("-v1".into()),
        images: vec!["nginx=nginx:$ARGOCD_APP_SOURCE_TARGET_REVISION".into()],
        common_labels: [("team".to_string(), "payments".to_string())].into(),
        common_annotations: [("owner".to_string(), "$ARGOCD_APP_NAME".to_string())].into(),
        common_annotations_envsubst: Some(true),
        namespace: Some("shop".into()),
        replicas: vec![KustomizeReplica {
            name: Some("web".into()),
            count: Some(IntOrString {
                r#type: Some(0),
                int_val: Some(3),
                str_val: None,
            }),
        }],
        patches: vec![KustomizePatch {
            patch: Some(r#"[{"op": "add", "path": "/spec/minReadySeconds", "value": 5}]"#.into()),
            target: Some(KustomizeSelector {
                res_id: Some(KustomizeResId {
                    gvk: Some(KustomizeGvk {
                        group: Some("apps".into()),
                        version: Some("v1".into()),
                        kind: Some("Deployment".into()),
                    }),
                    name: None,
                    namespace: None,
                }),
                annotation_selector: None,
                label_selector: None,
            }),
            ..Default::default()
        }],
        components: vec![
            "../../components/extra".into(),
            "../../components/missing".into(),
        ],
        ignore_missing_components: Some(true),
        ..Default::default()
    }
}

#[tokio::test]
async fn overrides_match_upstream() {
    let repo = repo();
    let mut req = Request::new(&repo, "overlays/prod");
    if !have(req.tools.kustomize.as_ref(), "kustomize") {
        return;
    }
    req.source.target_revision = Some("1.27.0".into());
    req.source.kustomize = Some(overrides());
    let before = repo.snapshot();
    let rendered = req.render().await.unwrap();
    assert_eq!(repo.snapshot(), before, "the shared snapshot changed");
    assert_eq!(
        rendered.commands[..8],
        [
            "kustomize edit set nameprefix -- prod-",
            "kustomize edit set namesuffix -- -v1",
            "kustomize edit set image nginx=nginx:1.27.0",
            "kustomize edit set replicas web=3",
            "kustomize edit add label team:payments",
            "kustomize edit add annotation owner:guestbook",
            "kustomize edit set namespace -- shop",
            "# patches from the Application appended to the kustomization file (there is no `kustomize edit` for them)",
        ]
    );
    assert_eq!(
        rendered.commands[8..],
        [
            "kustomize edit add component ../../components/extra",
            "kustomize build ./overlays/prod"
        ]
    );
    let meta = |name: &str, kind: &str, group: &str| {
        let mut ann = tracking_id(group, kind, "shop", name);
        ann["owner"] = json!("guestbook");
        json!({"name": name, "namespace": "shop", "labels": {"team": "payments"}, "annotations": ann})
    };
    assert_eq!(
        sorted(crate::common::parse(&rendered.manifests)),
        vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("prod-extra-v1", "ConfigMap", ""), "data": {"k": "v"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("prod-web-v1", "Deployment", "apps"),
                "spec": {"replicas": 3, "minReadySeconds": 5,
                    "selector": {"matchLabels": {"app": "web", "team": "payments"}},
                    "template": {"metadata": {"labels": {"app": "web", "team": "payments"}, "annotations": {"owner": "guestbook"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.27.0"}]}}}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("prod-web-v1", "Service", ""),
                "spec": {"selector": {"app": "web", "team": "payments"}, "ports": [{"port": 80}]}}),
        ]
    );
}

#[tokio::test]
async fn overrides_without_standalone_kustomize_are_unsupported() {
    let repo = repo();
    let mut req = Request::new(&repo, "overlays/prod");
    req.tools.kustomize = None;
    req.source.kustomize = Some(overrides());
    let err = req.render().await.unwrap_err();
    assert!(
        matches!(err, repo_render::Error::Unsupported { .. }),
        "{err}"
    );
}

//! GenerateManifest: output formats, environment, init, failures.

use serde_json::{json, Value};
use tonic::Code;

use crate::support::{definition, env, message, pack, raw, repo, Sidecar};

fn parsed(manifests: &[String]) -> Vec<Value> {
    manifests
        .iter()
        .map(|m| serde_json::from_str(m).unwrap())
        .collect()
}

#[tokio::test]
async fn yaml_multi_document_output_skips_empty_documents() {
    let sidecar = Sidecar::start(&definition(
        "cat-yaml",
        "  generate:\n    command: [sh, -c]\n    args: ['for f in *.yaml; do cat \"$f\"; echo ---; done']\n",
    ));
    let repo = repo(&[
        (
            "app/a.yaml",
            "kind: A\nmetadata: {name: a}\n---\n---\nkind: B\nreplicas: 0777\n",
        ),
        ("app/b.yaml", "# only a comment\n---\nkind: C\nflag: yes\n"),
        ("other/d.yaml", "kind: D\n"),
    ]);
    let packed = pack(repo.path(), "app").await;
    let got = sidecar
        .plugin()
        .await
        .generate_manifest(&packed, &[])
        .await
        .unwrap();
    assert_eq!(
        parsed(&got.manifests),
        [
            json!({"kind": "A", "metadata": {"name": "a"}}),
            json!({"kind": "B", "replicas": 511}),
            json!({"kind": "C", "flag": true}),
        ]
    );
    assert_eq!(got.manifests[0], r#"{"kind":"A","metadata":{"name":"a"}}"#);
}

#[tokio::test]
async fn json_stream_output() {
    let sidecar = Sidecar::start(&definition(
        "json",
        "  generate:\n    command: [sh, -c, 'printf ''{\"kind\":\"A\",\"n\":1.0}\\n\\n{\"kind\":\"B\",\"l\":[1,2]}\\n''']\n",
    ));
    let repo = repo(&[("app/x", "")]);
    let packed = pack(repo.path(), "app").await;
    let got = sidecar
        .plugin()
        .await
        .generate_manifest(&packed, &[])
        .await
        .unwrap();
    assert_eq!(
        got.manifests,
        [r#"{"kind":"A","n":1}"#, r#"{"kind":"B","l":[1,2]}"#]
    );
}

#[tokio::test]
async fn garbage_output_is_a_clear_error() {
    let sidecar = Sidecar::start(&definition(
        "garbage",
        "  generate:\n    command: [echo, 'random garbage, not YAML']\n",
    ));
    let repo = repo(&[("app/x", "")]);
    let packed = pack(repo.path(), "app").await;
    let err = sidecar
        .plugin()
        .await
        .generate_manifest(&packed, &[])
        .await
        .unwrap_err();
    let (code, text) = message(err);
    assert_eq!(code, Code::InvalidArgument);
    assert!(
        text.contains(
            "failed to unmarshal manifest: document 1 is a string, not a Kubernetes object"
        ),
        "{text}"
    );
    let sidecar = Sidecar::start(&definition(
        "broken-yaml",
        "  generate:\n    command: [echo, 'invalid yaml: }']\n",
    ));
    let err = sidecar
        .plugin()
        .await
        .generate_manifest(&packed, &[])
        .await
        .unwrap_err();
    let (_, text) = message(err);
    assert!(
        text.contains("failed to unmarshal manifest: document 1:"),
        "{text}"
    );
}

/// The sidecar's own environment, then the request's on top, as upstream; the commands run in
/// the app directory.
#[tokio::test]
async fn environment_parameters_and_directory() {
    let script = r#"printf '{"kind":"ConfigMap","data":{"app":"%s","ns":"%s","foo":"%s","tag":"%s","params":"%s","kube":"%s","apis":"%s","sidecar":"%s","shared":"%s","dir":"%s","src":"%s"}}' "$ARGOCD_APP_NAME" "$ARGOCD_APP_NAMESPACE" "$ARGOCD_ENV_FOO" "$PARAM_IMAGE_TAG" "$(printf %s "$ARGOCD_APP_PARAMETERS" | tr -d '"')" "$KUBE_VERSION" "$KUBE_API_VERSIONS" "$SIDECAR_ONLY" "$SHARED" "${PWD##*/}" "$ARGOCD_APP_SOURCE_PATH""#;
    let yaml = definition(
        "env",
        &format!(
            "  generate:\n    command: [sh, -c]\n    args:\n      - {}\n",
            serde_json::to_string(script).unwrap()
        ),
    );
    let sidecar = Sidecar::with_env(
        &yaml,
        &[("SIDECAR_ONLY", "from-sidecar"), ("SHARED", "sidecar")],
    );
    let repo = repo(&[("apps/guestbook/x", "")]);
    let packed = pack(repo.path(), "apps/guestbook").await;
    let request = env(&[
        ("ARGOCD_APP_NAME", "guestbook"),
        ("ARGOCD_APP_NAMESPACE", "default"),
        ("ARGOCD_APP_SOURCE_PATH", "apps/guestbook"),
        ("ARGOCD_ENV_FOO", "bar"),
        ("PARAM_IMAGE_TAG", "v1.2.3"),
        (
            "ARGOCD_APP_PARAMETERS",
            r#"[{"name":"image-tag","string":"v1.2.3"}]"#,
        ),
        ("KUBE_VERSION", "1.30.0"),
        ("KUBE_API_VERSIONS", "v1,apps/v1"),
        ("SHARED", "request"),
        ("", "entries without a name are dropped"),
    ]);
    let got = sidecar
        .plugin()
        .await
        .generate_manifest(&packed, &request)
        .await
        .unwrap();
    assert_eq!(
        parsed(&got.manifests),
        [json!({"kind": "ConfigMap", "data": {
            "app": "guestbook", "ns": "default", "foo": "bar", "tag": "v1.2.3",
            "params": "[{name:image-tag,string:v1.2.3}]", "kube": "1.30.0", "apis": "v1,apps/v1",
            "sidecar": "from-sidecar", "shared": "request", "dir": "guestbook", "src": "apps/guestbook",
        }})]
    );
}

#[tokio::test]
async fn init_runs_first_in_the_app_directory() {
    let sidecar = Sidecar::start(&definition(
        "init",
        "  init:\n    command: [sh, -c, 'echo noise; echo made-by-init > marker']\n  generate:\n    command: [sh, -c, 'printf \"kind: Marker\\nvalue: %s\\n\" \"$(cat marker)\"']\n",
    ));
    let repo = repo(&[("app/x", "")]);
    let packed = pack(repo.path(), "app").await;
    let got = sidecar
        .plugin()
        .await
        .generate_manifest(&packed, &[])
        .await
        .unwrap();
    assert_eq!(
        got.manifests,
        [r#"{"kind":"Marker","value":"made-by-init"}"#]
    );
}

#[tokio::test]
async fn init_failure_stops_with_its_stderr() {
    let sidecar = Sidecar::start(&definition(
        "init-fails",
        "  init:\n    command: [sh, -c, 'echo init-broke >&2; exit 2']\n  generate:\n    command: [sh, -c, 'echo kind: Never']\n",
    ));
    let repo = repo(&[("app/x", "")]);
    let packed = pack(repo.path(), "app").await;
    let err = sidecar
        .plugin()
        .await
        .generate_manifest(&packed, &[])
        .await
        .unwrap_err();
    let (code, text) = message(err);
    assert_eq!(code, Code::Unknown);
    assert_eq!(
        text,
        "error generating manifests: `sh -c \"echo init-broke >&2; exit 2\"` failed exit status: 2: init-broke"
    );
}

/// A failing generate's error carries the end of its stderr, capped.
#[tokio::test]
async fn generate_failure_returns_the_capped_stderr_tail() {
    let sidecar = Sidecar::start(&definition(
        "fails",
        "  generate:\n    command: [sh, -c, 'head -c 1000000 /dev/zero | tr \"\\0\" x >&2; echo LAST-LINE >&2; exit 7']\n",
    ));
    let repo = repo(&[("app/x", "")]);
    let packed = pack(repo.path(), "app").await;
    let mut client = raw(&sidecar.socket).await;
    let status = client
        .generate_manifest(packed.requests(&[], 1024))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unknown);
    let text = status.message();
    assert!(
        text.ends_with("xxxxLAST-LINE"),
        "{}",
        &text[text.len() - 40..]
    );
    assert!(text.len() <= 4000, "{} bytes", text.len());
    assert!(
        text.starts_with("error generating manifests: `sh -c"),
        "{text:.100}"
    );
    // The repo-server's client shows it whole.
    let err = sidecar
        .plugin()
        .await
        .generate_manifest(&packed, &[])
        .await
        .unwrap_err();
    assert_eq!(message(err).1, text);
}

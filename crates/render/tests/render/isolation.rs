//! Tenant isolation: a tool reads only its own render's files. Kustomize loads base
//! directories from anywhere whatever the load restrictor, so a kustomization naming another
//! repository's snapshot would render that repository's Secrets; under the Landlock sandbox
//! the kernel refuses. On a kernel without Landlock these cases are skipped with the reason
//! (the server's fallback, unguessable snapshot paths, is proven end to end in
//! crates/cli/tests/isolation.rs).

use std::path::{Path, PathBuf};

use repo_proto::v1alpha1::{ApplicationSourceHelm, ApplicationSourceKustomize};
use repo_render::{Input, Kustomize, Sandbox};

use crate::common::{have, parse, Repo, Request};

const PASSWORD: &str = "dmljdGltLXBhc3N3b3Jk";

/// Another tenant's repository: a kustomize app with a Secret, and a Helm values file.
fn victim() -> Repo {
    let repo = Repo::new();
    repo.file("app/kustomization.yaml", "resources:\n- secret.yaml\n")
        .file(
            "app/secret.yaml",
            &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: victim-db\ndata:\n  password: {PASSWORD}\n"),
        )
        .file("app/password.txt", PASSWORD)
        .file("values/prod.yaml", &format!("password: {PASSWORD}\n"));
    repo
}

/// `to` as a path relative to `from` (both absolute), as an attacker writes it.
fn relative(from: &Path, to: &Path) -> String {
    let ups = from.components().count() - 1;
    format!(
        "{}{}",
        "../".repeat(ups),
        to.strip_prefix("/").unwrap().display()
    )
}

/// Whether tools run confined here; when the kernel has no Landlock, says why and skips.
fn confined(req: &Request) -> bool {
    if req.tools.sandbox.confines() {
        return true;
    }
    // Only the kernel's answer may turn it off (its reasons name Landlock), never a launcher
    // that did not run.
    let why = req.tools.sandbox.to_string();
    assert!(
        why.contains("Landlock"),
        "the sandbox launcher did not answer: {why}"
    );
    eprintln!("skipping: {}", req.tools.sandbox);
    false
}

/// Renders `req` unconfined first, which must reveal the victim's password (the attack is
/// real), then confined, which must fail and reveal nothing.
async fn assert_refused(req: &mut Request, case: &str) {
    let sandbox = req.tools.sandbox.clone();
    req.tools.sandbox = Sandbox::Unavailable("the comparison render".into());
    let open = req.render().await;
    req.tools.sandbox = sandbox;
    let open = open.unwrap_or_else(|e| panic!("{case}: the unconfined render failed: {e}"));
    assert!(
        open.manifests.concat().contains(PASSWORD),
        "{case}: {open:?}"
    );
    match req.render().await {
        Ok(rendered) => panic!("{case}: rendered {:?}", rendered.manifests),
        Err(e) => assert!(!e.to_string().contains(PASSWORD), "{case}: {e}"),
    }
}

#[tokio::test]
async fn a_kustomize_base_in_another_snapshot_is_unreadable() {
    let victim = victim();
    let attacker = Repo::new();
    let target = victim.root().canonicalize().unwrap().join("app");
    let app = attacker.root().canonicalize().unwrap().join("app");
    attacker.file(
        "app/kustomization.yaml",
        &format!("resources:\n- {}\n", relative(&app, &target)),
    );
    let mut req = Request::new(&attacker, "app");
    if !have(req.tools.kustomize.as_ref(), "kustomize") || !confined(&req) {
        return;
    }
    assert_refused(&mut req, "read in place").await;
    // Overrides make the tools work in a private mirror of the snapshot: same rule.
    req.source.kustomize = Some(ApplicationSourceKustomize {
        name_prefix: Some("x-".into()),
        ..Default::default()
    });
    // The mirror's app directory is <scratch>/<request>/repo/app: only its depth matters.
    let mirrored = req
        .tools
        .scratch
        .canonicalize()
        .unwrap()
        .join("req/repo/app");
    attacker.file(
        "app/kustomization.yaml",
        &format!("resources:\n- {}\n", relative(&mirrored, &target)),
    );
    assert_refused(&mut req, "private mirror").await;
}

#[tokio::test]
async fn load_restrictions_none_reads_nothing_outside() {
    let victim = victim();
    let attacker = Repo::new();
    let file = victim
        .root()
        .canonicalize()
        .unwrap()
        .join("app/password.txt");
    attacker.file(
        "app/kustomization.yaml",
        &format!(
            "configMapGenerator:\n- name: loot\n  files:\n  - {}\n",
            file.display()
        ),
    );
    let mut req = Request::new(&attacker, "app");
    if !have(req.tools.kustomize.as_ref(), "kustomize") || !confined(&req) {
        return;
    }
    req.kustomize = Kustomize::new("--load-restrictor LoadRestrictionsNone", "", []);
    assert_refused(&mut req, "LoadRestrictionsNone").await;
}

/// The other sources a render uses stay readable: a Helm values file from a `$ref` source.
#[tokio::test]
async fn ref_sources_of_the_render_stay_readable() {
    let values = victim();
    let chart = Repo::new();
    chart
        .file("chart/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n")
        .file(
            "chart/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  p: {{ .Values.password }}\n",
        );
    let mut req = Request::new(&chart, "chart");
    if !have(req.tools.helm.as_ref(), "helm") || !confined(&req) {
        return;
    }
    req.source.helm = Some(ApplicationSourceHelm {
        value_files: vec!["$values/values/prod.yaml".into()],
        ..Default::default()
    });
    let refs: Vec<(String, PathBuf)> = vec![("$values".into(), values.root())];
    let input = Input {
        values: repo_render::Values {
            refs: &refs,
            ..Default::default()
        },
        ..req.input()
    };
    let rendered = repo_render::render(&input).await.unwrap();
    assert_eq!(parse(&rendered.manifests)[0]["data"]["p"], PASSWORD);
}

/// Tools that write keep working confined: `helm dependency build` in the private copy.
#[tokio::test]
async fn helm_dependency_build_works_confined() {
    let repo = Repo::new();
    repo.file(
        "charts/top/Chart.yaml",
        "apiVersion: v2\nname: top\nversion: 0.1.0\ndependencies:\n- name: sub\n  version: 0.1.0\n  repository: file://../sub\n",
    )
    .file("charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n")
    .file(
        "charts/sub/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sub\n",
    );
    let req = Request::new(&repo, "charts/top");
    if !have(req.tools.helm.as_ref(), "helm") || !confined(&req) {
        return;
    }
    assert_eq!(req.objects().await[0]["metadata"]["name"], "sub");
}

/// ... and Kustomize's Helm chart inflator, which runs helm itself.
#[tokio::test]
async fn kustomize_inflates_helm_charts_confined() {
    let repo = Repo::new();
    repo.file(
        "app/kustomization.yaml",
        "helmGlobals:\n  chartHome: charts\nhelmCharts:\n- name: c\n  releaseName: r\n",
    )
    .file(
        "app/charts/c/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )
    .file("app/charts/c/values.yaml", "{}\n")
    .file(
        "app/charts/c/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inflated\n",
    );
    let mut req = Request::new(&repo, "app");
    let tools = (req.tools.kustomize.as_ref(), req.tools.helm.clone());
    if !have(tools.0, "kustomize") || !have(tools.1.as_ref(), "helm") || !confined(&req) {
        return;
    }
    let helm = tools.1.unwrap().display().to_string();
    req.kustomize = Kustomize::new(&format!("--enable-helm --helm-command {helm}"), "", []);
    assert_eq!(req.objects().await[0]["metadata"]["name"], "inflated");
}

//! Upstream's manifest keys for a set of sources. Every expected string comes from Go's
//! encoding/json (go1.19, omitzero emulated) on structs declared with upstream's field order
//! and tags, hashed as upstream's `manifestKey.String()` does.

use repo_proto::intstr::IntOrString;
use repo_proto::k8s::io::apimachinery::pkg::runtime::RawExtension;
use repo_proto::v1alpha1::*;

use super::name::Request;
use super::source::key_json;

/// The name of a request upstream's name tells apart.
fn manifest_name(req: &Request<'_>) -> String {
    super::name::manifest_name(req).expect("a name")
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn apis() -> Vec<String> {
    strings(&["v1", "batch/v1", "apps/v1"])
}

/// A request with upstream test defaults that each case overrides.
fn request<'a>(source: &'a ApplicationSource, apis: &'a [String]) -> Request<'a> {
    Request {
        revision: "r",
        source,
        refs: &[],
        ref_commits: &[],
        namespace: "n",
        tracking_method: "",
        app_label_key: "app.kubernetes.io/instance",
        app_name: "h",
        installation_id: "",
        source_integrity: None,
        kube_version: "1.29",
        api_versions: apis,
    }
}

fn json(req: &Request<'_>) -> String {
    let resolved = super::name::resolved(req.refs, req.ref_commits);
    String::from_utf8(key_json(req.source, req.refs, &resolved)).unwrap()
}

#[test]
fn a_plain_git_directory() {
    let source = ApplicationSource {
        repo_url: s("https://github.com/argoproj/argocd-example-apps.git"),
        path: s("guestbook"),
        target_revision: s("HEAD"),
        ..Default::default()
    };
    let apis = apis();
    let req = Request {
        revision: "53e28ff20cc530b9ada2173fbbd64d48338583ba",
        namespace: "default",
        app_name: "guestbook",
        ..request(&source, &apis)
    };
    assert_eq!(
        json(&req),
        r#"{"appSrc":{"repoURL":"","path":"guestbook"},"srcRefs":{}}"#
    );
    assert_eq!(
        manifest_name(&req),
        "mfst|app.kubernetes.io/instance|guestbook|53e28ff20cc530b9ada2173fbbd64d48338583ba|default|1830648003|nil"
    );
}

#[test]
fn a_helm_chart_with_every_option() {
    let raw = " {\"replicas\" : 2,\n \"html\": \"<b>&amp;</b>\u{2028}\", \"list\": [1, 2.5e3, true, null, {}]}\n";
    let source = ApplicationSource {
        repo_url: s("https://charts.example.com"),
        target_revision: s("1.2.*"),
        chart: s("web"),
        helm: Some(ApplicationSourceHelm {
            value_files: strings(&["values.yaml", "values-prod.yaml"]),
            parameters: vec![
                HelmParameter {
                    name: s("image.tag"),
                    value: s("1.2<3>"),
                    force_string: Some(true),
                },
                HelmParameter::default(),
            ],
            release_name: s("rel"),
            values: s("a: b\n&x: 'y'\n"),
            file_parameters: vec![HelmFileParameter {
                name: s("cfg"),
                path: s("files/c.json"),
            }],
            version: s("v3"),
            pass_credentials: Some(true),
            ignore_missing_value_files: Some(true),
            skip_crds: Some(true),
            values_object: Some(RawExtension {
                raw: Some(raw.as_bytes().to_vec()),
            }),
            namespace: s("web-ns"),
            kube_version: s("1.30"),
            api_versions: strings(&["x/v1"]),
            skip_tests: Some(true),
            skip_schema_validation: Some(true),
        }),
        ..Default::default()
    };
    let integrity = SourceIntegrity { git: None };
    let req = Request {
        revision: "1.2.7",
        namespace: "web",
        tracking_method: "annotation",
        app_name: "argocd_web",
        installation_id: "inst-1",
        source_integrity: Some(&integrity),
        kube_version: "v1.30.2",
        ..request(&source, &[])
    };
    assert_eq!(
        json(&req),
        r#"{"appSrc":{"repoURL":"https://charts.example.com","targetRevision":"1.2.*","helm":{"valueFiles":["values.yaml","values-prod.yaml"],"parameters":[{"name":"image.tag","value":"1.2\u003c3\u003e","forceString":true},{}],"releaseName":"rel","values":"a: b\n\u0026x: 'y'\n","fileParameters":[{"name":"cfg","path":"files/c.json"}],"version":"v3","passCredentials":true,"ignoreMissingValueFiles":true,"skipCrds":true,"valuesObject":{"replicas":2,"html":"\u003cb\u003e\u0026amp;\u003c/b\u003e\u2028","list":[1,2.5e3,true,null,{}]},"namespace":"web-ns","kubeVersion":"1.30","apiVersions":["x/v1"],"skipTests":true,"skipSchemaValidation":true},"chart":"web"},"srcRefs":{}}"#
    );
    assert_eq!(
        manifest_name(&req),
        "mfst|annotation:app.kubernetes.io/instance|argocd_web|1.2.7|web|2183884729|&SourceIntegrity{Git:nil,}|inst-1"
    );
}

#[test]
fn kustomize_with_images_replicas_patches_and_git_policies() {
    let count = |t: i64, i: i32, v: &str| {
        Some(IntOrString {
            r#type: Some(t),
            int_val: Some(i),
            str_val: s(v),
        })
    };
    let source = ApplicationSource {
        repo_url: s("https://git.example/k.git"),
        path: s("overlays/prod"),
        target_revision: s("main"),
        kustomize: Some(ApplicationSourceKustomize {
            name_prefix: s("p-"),
            name_suffix: s("-s"),
            images: strings(&["nginx=nginx:1.27", "redis"]),
            common_labels: [("z", "1"), ("a", "<x>"), ("B", "y")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            version: s("v5.4.3"),
            force_common_labels: Some(true),
            force_common_annotations: Some(true),
            namespace: s("kns"),
            common_annotations_envsubst: Some(true),
            replicas: vec![
                KustomizeReplica {
                    name: s("web"),
                    count: count(0, 3, ""),
                },
                KustomizeReplica {
                    name: s("api"),
                    count: count(1, 0, "5"),
                },
                KustomizeReplica {
                    name: s("none"),
                    count: None,
                },
            ],
            patches: vec![
                KustomizePatch {
                    path: s("p.yaml"),
                    target: Some(KustomizeSelector {
                        res_id: Some(KustomizeResId {
                            gvk: Some(KustomizeGvk {
                                group: s("apps"),
                                version: s("v1"),
                                kind: s("Deployment"),
                            }),
                            name: s("web"),
                            namespace: s("ns"),
                        }),
                        annotation_selector: None,
                        label_selector: s("a=b"),
                    }),
                    options: [
                        ("allowNameChange".to_string(), true),
                        ("allowKindChange".to_string(), false),
                    ]
                    .into(),
                    ..Default::default()
                },
                KustomizePatch {
                    patch: s("- op: add\n  path: /x"),
                    ..Default::default()
                },
                KustomizePatch {
                    target: Some(KustomizeSelector::default()),
                    ..Default::default()
                },
            ],
            components: strings(&["../c1"]),
            ignore_missing_components: Some(true),
            label_without_selector: Some(true),
            kube_version: s("1.28"),
            api_versions: strings(&["a/v1", "b/v1"]),
            label_include_templates: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let integrity = SourceIntegrity {
        git: Some(SourceIntegrityGit {
            policies: vec![
                SourceIntegrityGitPolicy {
                    repos: ["https://github.com/*", "*"]
                        .map(|u| SourceIntegrityGitPolicyRepo { url: s(u) })
                        .to_vec(),
                    gpg: Some(SourceIntegrityGitPolicyGpg {
                        mode: s("head"),
                        keys: strings(&["D56C4FCA57A46444", "4AEE18F83AFDEB23"]),
                    }),
                },
                SourceIntegrityGitPolicy::default(),
            ],
        }),
    };
    let apis = apis();
    let req = Request {
        revision: "0123456789abcdef0123456789abcdef01234567",
        namespace: "kns",
        tracking_method: "annotation+label",
        app_label_key: "team",
        app_name: "k",
        source_integrity: Some(&integrity),
        kube_version: "1.28",
        ..request(&source, &apis)
    };
    assert_eq!(
        json(&req),
        r#"{"appSrc":{"repoURL":"","path":"overlays/prod","kustomize":{"namePrefix":"p-","nameSuffix":"-s","images":["nginx=nginx:1.27","redis"],"commonLabels":{"B":"y","a":"\u003cx\u003e","z":"1"},"version":"v5.4.3","forceCommonLabels":true,"forceCommonAnnotations":true,"namespace":"kns","commonAnnotationsEnvsubst":true,"replicas":[{"name":"web","count":3},{"name":"api","count":"5"},{"name":"none","count":0}],"patches":[{"path":"p.yaml","target":{"group":"apps","version":"v1","kind":"Deployment","name":"web","namespace":"ns","labelSelector":"a=b"},"options":{"allowKindChange":false,"allowNameChange":true}},{"patch":"- op: add\n  path: /x"},{"target":{}}],"components":["../c1"],"ignoreMissingComponents":true,"labelWithoutSelector":true,"kubeVersion":"1.28","apiVersions":["a/v1","b/v1"],"labelIncludeTemplates":true}},"srcRefs":{}}"#
    );
    let name = manifest_name(&req);
    assert_eq!(
        name,
        "mfst|annotation+label:team|k|0123456789abcdef0123456789abcdef01234567|kns|952728171|&SourceIntegrity{Git:&SourceIntegrityGit{Policies:[]*SourceIntegrityGitPolicy{&SourceIntegrityGitPolicy{Repos:[]SourceIntegrityGitPolicyRepo{SourceIntegrityGitPolicyRepo{URL:https://github.com/*,},SourceIntegrityGitPolicyRepo{URL:*,},},GPG:&SourceIntegrityGitPolicyGPG{Mode:head,Keys:[D56C4FCA57A46444 4AEE18F83AFDEB23],},},&SourceIntegrityGitPolicy{Repos:[]SourceIntegrityGitPolicyRepo{},GPG:nil,},},},}"
    );
    assert!(super::name::checks_integrity(&name));
}

#[test]
fn a_directory_with_jsonnet_and_html_characters() {
    let var = |n: &str, v: &str, code: Option<bool>| JsonnetVar {
        name: s(n),
        value: s(v),
        code,
    };
    let source = ApplicationSource {
        repo_url: s("https://git.example/d"),
        path: s("a<b>&c\u{2028}"),
        name: s("n&m"),
        r#ref: s("r"),
        tag_prefix: s("v/"),
        directory: Some(ApplicationSourceDirectory {
            recurse: Some(true),
            jsonnet: Some(ApplicationSourceJsonnet {
                ext_vars: vec![var("e", "x\u{2028}y\"q\\", None)],
                tlas: vec![var("a", "1", Some(true)), JsonnetVar::default()],
                libs: strings(&["vendor"]),
            }),
            exclude: s("{a,b}"),
            include: s("*.yaml"),
            disable_extension_filter: Some(true),
        }),
        ..Default::default()
    };
    let req = Request {
        namespace: "",
        app_label_key: "",
        app_name: "d",
        kube_version: "",
        ..request(&source, &[])
    };
    assert_eq!(
        json(&req),
        r#"{"appSrc":{"repoURL":"","path":"a\u003cb\u003e\u0026c\u2028","directory":{"recurse":true,"jsonnet":{"extVars":[{"name":"e","value":"x\u2028y\"q\\"}],"tlas":[{"name":"a","value":"1","code":true},{"name":"","value":""}],"libs":["vendor"]},"exclude":"{a,b}","include":"*.yaml","disableExtensionFilter":true},"ref":"r","name":"n\u0026m","tagPrefix":"v/"},"srcRefs":{}}"#
    );
    assert_eq!(manifest_name(&req), "mfst||d|r||1843902880|nil");
}

#[test]
fn an_empty_jsonnet_is_left_out() {
    let source = ApplicationSource {
        repo_url: s("https://git.example/d"),
        directory: Some(ApplicationSourceDirectory {
            jsonnet: Some(ApplicationSourceJsonnet::default()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let apis = apis();
    let req = Request {
        tracking_method: "label",
        app_label_key: "l",
        app_name: "d",
        ..request(&source, &apis)
    };
    assert_eq!(
        json(&req),
        r#"{"appSrc":{"repoURL":"","directory":{}},"srcRefs":{}}"#
    );
    assert_eq!(manifest_name(&req), "mfst|l|d|r|n|1229729640|nil");
}

#[test]
fn a_plugin_with_env_and_every_kind_of_parameter() {
    let param = |n: &str| ApplicationSourcePluginParameter {
        name: s(n),
        ..Default::default()
    };
    let source = ApplicationSource {
        repo_url: s("https://git.example/p"),
        path: s("."),
        plugin: Some(ApplicationSourcePlugin {
            name: s("cmp-v1"),
            env: vec![
                EnvEntry {
                    name: s("FOO"),
                    value: s("b<a>r"),
                },
                EnvEntry::default(),
            ],
            parameters: vec![
                ApplicationSourcePluginParameter {
                    string: s("s"),
                    ..param("p1")
                },
                ApplicationSourcePluginParameter {
                    map: Some(OptionalMap::default()),
                    ..param("p2")
                },
                ApplicationSourcePluginParameter {
                    array: Some(OptionalArray::default()),
                    ..param("p3")
                },
                ApplicationSourcePluginParameter {
                    map: Some(OptionalMap {
                        map: [("b", "1"), ("a", "&")]
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .into(),
                    }),
                    array: Some(OptionalArray {
                        array: strings(&["x", "y"]),
                    }),
                    ..param("p4")
                },
                ApplicationSourcePluginParameter {
                    string: s(""),
                    ..param("p5")
                },
                ApplicationSourcePluginParameter::default(),
            ],
        }),
        ..Default::default()
    };
    let apis = apis();
    let req = Request {
        revision: "c0ffee",
        namespace: "pns",
        app_name: "p",
        ..request(&source, &apis)
    };
    assert_eq!(
        json(&req),
        r#"{"appSrc":{"repoURL":"","path":".","plugin":{"name":"cmp-v1","env":[{"name":"FOO","value":"b\u003ca\u003er"},{"name":"","value":""}],"parameters":[{"name":"p1","string":"s"},{"map":{},"name":"p2"},{"array":[],"name":"p3"},{"array":["x","y"],"map":{"a":"\u0026","b":"1"},"name":"p4"},{"name":"p5","string":""},{"name":""}]}},"srcRefs":{}}"#
    );
    assert_eq!(
        manifest_name(&req),
        "mfst|app.kubernetes.io/instance|p|c0ffee|pns|4103923050|nil"
    );
}

#[test]
fn ref_sources_carry_their_resolved_commits() {
    let source = ApplicationSource {
        repo_url: s("https://charts.example.com"),
        target_revision: s("2.0.0"),
        chart: s("app"),
        helm: Some(ApplicationSourceHelm {
            value_files: strings(&["$values/env/prod.yaml"]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let target = |url: &str, project: &str, revision: &str, chart: &str| RefTarget {
        repo: Some(Repository {
            repo: s(url),
            project: s(project),
            ..Default::default()
        }),
        target_revision: s(revision),
        chart: s(chart),
    };
    let refs = [
        (
            "values".to_string(),
            target("git@GitHub.com:Org/Values.git", "default", "main", ""),
        ),
        (
            "other".to_string(),
            target("https://example.com/other.git", "", "v1", "c"),
        ),
    ];
    let sha = "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef";
    let commits = [("git@GitHub.com:Org/Values.git".to_string(), sha.to_string())];
    let apis = apis();
    let req = Request {
        revision: "2.0.0",
        refs: &refs,
        ref_commits: &commits,
        namespace: "default",
        app_name: "refs",
        ..request(&source, &apis)
    };
    assert_eq!(
        json(&req),
        r#"{"appSrc":{"repoURL":"https://charts.example.com","targetRevision":"2.0.0","helm":{"valueFiles":["$values/env/prod.yaml"]},"chart":"app"},"srcRefs":{"other":{"repoURL":"https://example.com/other.git","project":"","targetRevision":"","chart":"c"},"values":{"repoURL":"git@GitHub.com:Org/Values.git","project":"default","targetRevision":"deadbeefdeadbeefdeadbeefdeadbeefdeadbeef","chart":""}},"resolvedRevisions":{"git@github.com/org/values":"deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"}}"#
    );
    assert_eq!(
        manifest_name(&req),
        "mfst|app.kubernetes.io/instance|refs|2.0.0|default|1805028660|nil"
    );
    // The same repository as this server keys it (normalized, marked as LFS) names the same.
    let ours = [(
        format!(
            "{}\n+lfs",
            repo_source::normalize("git@GitHub.com:Org/Values.git")
        ),
        sha.to_string(),
    )];
    assert_eq!(
        manifest_name(&Request {
            ref_commits: &ours,
            ..req
        }),
        "mfst|app.kubernetes.io/instance|refs|2.0.0|default|1805028660|nil"
    );
}

#[test]
fn values_object_without_bytes_is_null_and_unmarshalable_values_hash_nothing() {
    let helm = |raw: Option<Vec<u8>>| ApplicationSource {
        repo_url: s("https://git.example/h"),
        path: s("chart"),
        helm: Some(ApplicationSourceHelm {
            values_object: Some(RawExtension { raw }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let apis = apis();
    let source = helm(None);
    let req = request(&source, &apis);
    assert_eq!(
        json(&req),
        r#"{"appSrc":{"repoURL":"","path":"chart","helm":{"valuesObject":null}},"srcRefs":{}}"#
    );
    assert_eq!(
        manifest_name(&req),
        "mfst|app.kubernetes.io/instance|h|r|n|4154287484|nil"
    );
    // Go's json.Marshal fails on these (empty raw JSON, an IntOrString of an unknown type), and
    // upstream hashes the empty string.
    let empty = helm(Some(vec![]));
    assert_eq!(
        manifest_name(&request(&empty, &apis)),
        "mfst|app.kubernetes.io/instance|h|r|n|441431011|nil"
    );
    let bad_count = ApplicationSource {
        repo_url: s("https://git.example/k"),
        kustomize: Some(ApplicationSourceKustomize {
            replicas: vec![KustomizeReplica {
                name: s("x"),
                count: Some(IntOrString {
                    r#type: Some(2),
                    ..Default::default()
                }),
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let req = Request {
        app_name: "k",
        ..request(&bad_count, &apis)
    };
    assert_eq!(
        manifest_name(&req),
        "mfst|app.kubernetes.io/instance|k|r|n|441431011|nil"
    );
}

/// Upstream's TestCache_GetManifests: each part of the key names another entry.
#[test]
fn each_part_of_the_key_names_another_entry() {
    let empty = ApplicationSource::default();
    let key = |revision, source, namespace, label, app, commits: &[(String, String)]| {
        manifest_name(&Request {
            revision,
            source,
            ref_commits: commits,
            namespace,
            app_label_key: label,
            app_name: app,
            kube_version: "",
            ..request(&empty, &[])
        })
    };
    let base = key(
        "my-revision",
        &empty,
        "my-namespace",
        "my-app-label-key",
        "my-app-label-value",
        &[],
    );
    assert_eq!(
        base,
        "mfst|my-app-label-key|my-app-label-value|my-revision|my-namespace|1585391018|nil"
    );
    let path = ApplicationSource {
        path: s("other-path"),
        ..Default::default()
    };
    let commits = [(
        "my-referenced-source".to_string(),
        "my-referenced-revision".to_string(),
    )];
    for other in [
        key(
            "other-revision",
            &empty,
            "my-namespace",
            "my-app-label-key",
            "my-app-label-value",
            &[],
        ),
        key(
            "my-revision",
            &path,
            "my-namespace",
            "my-app-label-key",
            "my-app-label-value",
            &[],
        ),
        key(
            "my-revision",
            &empty,
            "other-namespace",
            "my-app-label-key",
            "my-app-label-value",
            &[],
        ),
        key(
            "my-revision",
            &empty,
            "my-namespace",
            "other-app-label-key",
            "my-app-label-value",
            &[],
        ),
        key(
            "my-revision",
            &empty,
            "my-namespace",
            "my-app-label-key",
            "other-app-label-value",
            &[],
        ),
        key(
            "my-revision",
            &empty,
            "my-namespace",
            "my-app-label-key",
            "my-app-label-value",
            &commits,
        ),
    ] {
        assert_ne!(other, base);
    }
}

#[test]
fn git_urls_normalize_as_upstream_does() {
    use super::source::normalize;
    assert_eq!(
        normalize(" git@GitHub.com:Org/Repo.git "),
        "git@github.com/org/repo"
    );
    assert_eq!(normalize("ssh://git@host:22/a/b.git"), "git@host:22/a/b");
    assert_eq!(normalize("https://user@host/a.git"), "https://user@host/a");
    assert_eq!(normalize("https://Host/A"), "https://host/a");
}

#[test]
fn only_names_with_git_policies_check_integrity() {
    use super::name::checks_integrity;
    let apis = apis();
    let source = ApplicationSource::default();
    let name = |integrity: Option<&SourceIntegrity>| {
        manifest_name(&Request {
            source_integrity: integrity,
            ..request(&source, &apis)
        })
    };
    let no_git = SourceIntegrity { git: None };
    let no_policies = SourceIntegrity {
        git: Some(SourceIntegrityGit::default()),
    };
    assert!(!checks_integrity(&name(None)));
    assert!(!checks_integrity(&name(Some(&no_git))));
    assert!(name(Some(&no_policies)).ends_with(
        "|&SourceIntegrity{Git:&SourceIntegrityGit{Policies:[]*SourceIntegrityGitPolicy{},},}"
    ));
    assert!(checks_integrity(&name(Some(&no_policies))));
}

#[test]
fn no_name_when_it_would_hold_no_ref_commits() {
    // Go cannot marshal this source: upstream's name then holds none of the ref sources'
    // commits, so renders at other commits would share it.
    let source = ApplicationSource {
        repo_url: s("https://git.example/h"),
        helm: Some(ApplicationSourceHelm {
            values_object: Some(RawExtension { raw: Some(vec![]) }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let apis = apis();
    let req = request(&source, &apis);
    assert!(super::name::manifest_name(&req).is_some(), "no ref commits");
    let commits = [("https://git.example/values".to_string(), "c1".to_string())];
    let with_refs = Request {
        ref_commits: &commits,
        ..req
    };
    assert_eq!(super::name::manifest_name(&with_refs), None);
}

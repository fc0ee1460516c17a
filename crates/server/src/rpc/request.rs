//! The one place where proto messages become domain values ("parse, don't validate"): each
//! request is parsed once, here, into `repo_source` types and engine requests; nothing past
//! this file sees a raw URL, revision or path from the wire.

use std::collections::HashMap;

use repo_git::Refresh;
use repo_proto::repository::{
    ManifestRequest, RepoServerAppDetailsQuery, UpdateRevisionForPathsRequest,
};
use repo_proto::v1alpha1::RefTarget as RefTargetMessage;
use repo_proto::v1alpha1::SourceIntegrity;
use repo_proto::v1alpha1::{ApplicationSource, HelmOptions, KustomizeOptions, Repository};
use repo_source::{
    App, Creds, Git, Helm, Invalid, Oci, Registry, Repo, RepoPath, Revision, Source,
};

use crate::engine::{Changes, Context, Generate, Probe, RefSource, RefSources, RefTarget};

/// The repository a request is about: URL from the `Repository` message (else the source's
/// `repoURL`) and its credentials. Git settings this server does not implement are refused.
pub(super) fn repo(message: Option<&Repository>, fallback_url: &str) -> Result<Repo, Invalid> {
    if let Some(m) = message {
        unsupported(m)?;
    }
    let lfs = message.is_some_and(|m| m.enable_lfs());
    Ok(parsed(message, fallback_url, false)?.with_lfs(lfs))
}

/// The repository's URL (as an `oci://` URL when `oci`) and credentials, refusing only an
/// unknown repository type.
fn parsed(message: Option<&Repository>, fallback_url: &str, oci: bool) -> Result<Repo, Invalid> {
    let m = message.cloned().unwrap_or_default();
    let url = m
        .repo
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| fallback_url.to_string());
    if url.is_empty() {
        return Err(Invalid::Missing("the repository URL (repo.repo)"));
    }
    // Upstream's repository types (empty means git); any other would be fetched as git.
    if let Some(kind) = m.r#type.as_deref() {
        if !matches!(kind, "" | "git" | "helm" | "oci") {
            return Err(Invalid::Url {
                url: repo_source::display(&url),
                reason: format!("unsupported repository type {kind:?}"),
            });
        }
    }
    let url = match oci {
        true => format!("oci://{}", url.strip_prefix("oci://").unwrap_or(&url)),
        false => url,
    };
    Repo::new(
        &url,
        Creds {
            username: m.username.unwrap_or_default(),
            password: m.password.unwrap_or_default(),
            bearer_token: m.bearer_token.unwrap_or_default(),
            ssh_private_key: m.ssh_private_key.unwrap_or_default(),
            insecure_ignore_host_key: m.insecure_ignore_host_key.unwrap_or(false),
            insecure: m.insecure.unwrap_or(false),
            tls_client_cert_data: m.tls_client_cert_data.unwrap_or_default(),
            tls_client_cert_key: m.tls_client_cert_key.unwrap_or_default(),
            known_hosts: String::new(),
            proxy: m.proxy.unwrap_or_default(),
            no_proxy: m.no_proxy.unwrap_or_default(),
            force_http_basic_auth: m.force_http_basic_auth.unwrap_or(false),
            github_app_id: m.github_app_id.unwrap_or_default(),
            github_app_installation_id: m.github_app_installation_id.unwrap_or_default(),
            github_app_private_key: m.github_app_private_key.unwrap_or_default(),
            github_app_enterprise_base_url: m.github_app_enterprise_base_url.unwrap_or_default(),
        },
    )
}

/// A Helm or OCI repository: cloud credentials are refused by name (GitHub App credentials
/// apply to git only, as upstream).
fn registry(message: Option<&Repository>, url: &str, oci: bool) -> Result<Repo, Invalid> {
    if let Some(m) = message {
        unsupported(m)?;
    }
    parsed(message, url, oci)
}

/// Upstream's `IsHelmOciRepo`: a Helm repository URL without scheme names an OCI registry.
fn scheme_less(url: &str) -> bool {
    !url.is_empty() && !url.contains("://")
}

/// Refuses repository settings this server does not implement (cloud credentials), rather
/// than answering without them.
fn unsupported(m: &Repository) -> Result<(), Invalid> {
    let set = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
    let refusals = [
        (
            set(&m.gcp_service_account_key),
            "gcpServiceAccountKey",
            "GCP service account credentials",
        ),
        (
            m.use_azure_workload_identity() || set(&m.azure_service_principal_client_id),
            "useAzureWorkloadIdentity",
            "Azure credentials",
        ),
    ];
    match refusals.into_iter().find(|(refused, _, _)| *refused) {
        Some((_, field, what)) => Err(Invalid::Unsupported { field, what }),
        None => Ok(()),
    }
}

/// The revision to use: the request's, else the source's `targetRevision`, else HEAD.
pub(super) fn revision(
    requested: &str,
    source: Option<&ApplicationSource>,
) -> Result<Revision, Invalid> {
    match (requested, source) {
        ("", Some(source)) => Revision::new(source.target_revision()),
        (requested, _) => Revision::new(requested),
    }
}

/// The application inside the fetched files.
pub(super) fn app(source: &ApplicationSource) -> Result<App, Invalid> {
    Ok(App {
        path: RepoPath::new(source.path())?,
        spec: source.clone(),
    })
}

/// A request's source: what to fetch, at which revision, and the app in it. As upstream, an
/// `oci://` `repoURL` is an OCI artifact, else a `chart` is a Helm chart, else it is git.
pub(super) fn source(
    source: Option<&ApplicationSource>,
    field: &'static str,
    repository: Option<&Repository>,
    requested: &str,
) -> Result<Source, Invalid> {
    let source = source.ok_or(Invalid::Missing(field))?;
    let message = repository.cloned().unwrap_or_default();
    let url = message
        .repo
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| source.repo_url().to_string());
    let plain_http = message.insecure_oci_force_http();
    if source.repo_url().starts_with("oci://") {
        return Ok(Source::Oci(Oci {
            repo: registry(repository, &url, true)?,
            revision: fetched_revision(
                requested,
                source,
                "targetRevision (an OCI tag, digest or semver constraint)",
            )?,
            plain_http,
            app: app(source)?,
        }));
    }
    if !source.chart().is_empty() {
        let oci = message.enable_oci() || scheme_less(&url);
        let chart = RepoPath::new(source.chart())?;
        let dir = chart.as_str().rsplit('/').next().unwrap_or_default();
        return Ok(Source::Helm(Helm {
            repo: registry(repository, &url, oci)?,
            version: fetched_revision(
                requested,
                source,
                "targetRevision (the chart version or a semver constraint)",
            )?,
            registry: match oci {
                true => Registry::Oci { plain_http },
                false => Registry::Index,
            },
            pass_credentials: source.helm.as_ref().is_some_and(|h| h.pass_credentials()),
            app: App {
                path: RepoPath::new(dir)?,
                spec: source.clone(),
            },
            chart,
        }));
    }
    Ok(Source::Git(Git {
        repo: repo(repository, source.repo_url())?,
        revision: revision(requested, Some(source))?,
        tag_prefix: source.tag_prefix().to_string(),
        app: app(source)?,
    }))
}

/// TestRepository: what to check, by the repository's type (empty means git, as upstream).
pub(super) fn probe(message: Option<&Repository>) -> Result<Probe, Invalid> {
    let m = message.ok_or(Invalid::NoRepo)?;
    let plain_http = m.insecure_oci_force_http();
    match m.r#type() {
        "helm" if m.enable_oci() => {
            if !scheme_less(m.repo()) {
                return Err(Invalid::Url {
                    url: repo_source::display(m.repo()),
                    reason: "OCI Helm repository URL should include hostname and port only".into(),
                });
            }
            let repo = registry(Some(m), "", true)?;
            Ok(Probe::Oci { repo, plain_http })
        }
        "helm" => Ok(Probe::Index(registry(Some(m), "", false)?)),
        "oci" => {
            let repo = registry(Some(m), "", true)?;
            Ok(Probe::Oci { repo, plain_http })
        }
        // Git, or a type `repo` refuses without asking any server.
        _ => Ok(Probe::Git(repo(Some(m), "")?)),
    }
}

/// A Helm repository's index (GetHelmCharts); an OCI registry has none.
pub(super) fn index(message: Option<&Repository>) -> Result<Repo, Invalid> {
    let m = message.ok_or(Invalid::NoRepo)?;
    if m.enable_oci() {
        return Err(Invalid::Unsupported {
            field: "enableOCI",
            what: "listing the charts (GetHelmCharts) of an OCI registry, which has no index",
        });
    }
    registry(Some(m), "", false)
}

/// An OCI repository (ListOCITags, GetOCIMetadata) and its `insecureOCIForceHttp`.
pub(super) fn oci(message: Option<&Repository>) -> Result<(Repo, bool), Invalid> {
    let m = message.ok_or(Invalid::NoRepo)?;
    Ok((registry(Some(m), "", true)?, m.insecure_oci_force_http()))
}

/// GetRevisionChartDetails: the chart `name` at `revision` of a Helm repository, read by the
/// same rule as an application's chart source.
pub(super) fn chart(
    message: Option<&Repository>,
    name: &str,
    revision: &str,
) -> Result<Source, Invalid> {
    let m = message.ok_or(Invalid::NoRepo)?;
    if name.is_empty() {
        return Err(Invalid::Missing("the chart name (name)"));
    }
    let spec = ApplicationSource {
        repo_url: m.repo.clone(),
        chart: Some(name.to_string()),
        target_revision: Some(revision.to_string()),
        ..Default::default()
    };
    source(Some(&spec), "source", Some(m), "")
}

/// ResolveRevision: the app's source (by `sourceIndex`) and the revision to resolve. A git
/// revision resolves as asked (empty is `HEAD`), not as the source's `targetRevision`.
pub(super) fn resolution(
    message: Option<&Repository>,
    spec: Option<&ApplicationSource>,
    ambiguous: &str,
) -> Result<Source, Invalid> {
    let spec = spec.cloned().unwrap_or_default();
    match source(Some(&spec), "source", message, ambiguous)? {
        Source::Git(git) => Ok(Source::Git(Git {
            revision: revision(ambiguous, None)?,
            ..git
        })),
        other => Ok(other),
    }
}

/// The version or tag of a Helm or OCI source: no `HEAD` to fall back to.
fn fetched_revision(
    requested: &str,
    source: &ApplicationSource,
    what: &'static str,
) -> Result<Revision, Invalid> {
    let raw = match requested {
        "" => source.target_revision(),
        requested => requested,
    };
    if raw.is_empty() {
        return Err(Invalid::Missing(what));
    }
    Revision::new(raw)
}

/// The application a render is for, as the caller describes it.
pub(super) fn context(req: &ManifestRequest) -> Context {
    Context {
        name: req.app_name.clone(),
        namespace: req.namespace.clone(),
        project: req.project_name.clone(),
        kube_version: req.kube_version.clone(),
        api_versions: req.api_versions.clone(),
        tracking_method: req.tracking_method.clone(),
        label_key: req.app_label_key.clone(),
        installation_id: req.installation_id.clone(),
        enabled: req.enabled_source_types.clone(),
        kustomize: kustomize(req.kustomize_options.as_ref()),
        refs: ref_sources(&req.ref_sources),
        schemes: schemes(req.helm_options.as_ref()),
        helm_repos: super::helm_repos::parse(req),
        generate_paths: req.annotation_manifest_generate_paths.clone(),
    }
}

/// `refSources`, each target parsed on its own and its error kept for when a value file
/// names it (`repo.repo` is its URL, `targetRevision` its revision).
pub(super) fn ref_sources(refs: &HashMap<String, RefTargetMessage>) -> RefSources {
    let parse = |t: &RefTargetMessage| {
        Ok(RefSource {
            repo: repo(t.repo.as_ref(), "")?,
            revision: Revision::new(t.target_revision())?,
            chart: t.chart().to_string(),
        })
    };
    refs.iter()
        .map(|(name, t)| (name.clone(), parse(t)))
        .collect()
}

/// `helmOptions.valuesFileSchemes`; none without `helmOptions`, as upstream's repo-server (the
/// controller sends argocd-cm's list, `https,http` by default).
pub(super) fn schemes(options: Option<&HelmOptions>) -> Vec<String> {
    options
        .map(|o| o.values_file_schemes.clone())
        .unwrap_or_default()
}

/// `kustomizeOptions` (argocd-cm's `kustomize.buildOptions`, `kustomize.path.<version>`, the
/// deprecated `binaryPath`). A version's own `buildOptions` are not used, as upstream's
/// repo-server does not use them.
pub(super) fn kustomize(options: Option<&KustomizeOptions>) -> repo_render::Kustomize {
    let Some(o) = options else {
        return repo_render::Kustomize::default();
    };
    repo_render::Kustomize::new(
        o.build_options(),
        o.binary_path(),
        o.versions
            .iter()
            .map(|v| (v.name().to_string(), v.path().to_string())),
    )
}

/// GenerateManifest.
pub(super) fn generate(req: &ManifestRequest) -> Result<Generate, Invalid> {
    Ok(Generate {
        source: source(
            req.application_source.as_ref(),
            "applicationSource",
            req.repo.as_ref(),
            &req.revision,
        )?,
        context: context(req),
        no_cache: req.no_cache,
        refresh: refresh(req.no_cache, req.no_revision_cache),
        ref_sources: encoded_refs(&req.ref_sources),
        multiple: req.has_multiple_sources,
        policies: policies(req.source_integrity.as_ref()),
        integrity: req.source_integrity.clone(),
        verify_signature: req.verify_signature,
    })
}

/// GetAppDetails: the source, and the context its renders run in.
pub(super) fn details(query: &RepoServerAppDetailsQuery) -> Result<(Source, Context), Invalid> {
    let source = source(query.source.as_ref(), "source", query.repo.as_ref(), "")?;
    let context = Context {
        name: query.app_name.clone(),
        enabled: query.enabled_source_types.clone(),
        kustomize: kustomize(query.kustomize_options.as_ref()),
        refs: ref_sources(&query.ref_sources),
        schemes: schemes(query.helm_options.as_ref()),
        ..Context::default()
    };
    Ok((source, context))
}

/// `sourceIntegrity`'s git policies as the domain value (absent means none applies).
pub(super) fn policies(integrity: Option<&SourceIntegrity>) -> repo_git::Policies {
    let policies = integrity.and_then(|i| i.git.as_ref());
    repo_git::Policies(
        policies
            .map(|git| git.policies.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|p| repo_git::Policy {
                repos: p.repos.iter().map(|r| r.url().to_string()).collect(),
                gpg: p.gpg.as_ref().map(|g| repo_git::Gpg {
                    mode: g.mode().to_string(),
                    keys: g.keys.clone(),
                }),
            })
            .collect(),
    )
}

/// Upstream's `noCache`/`noRevisionCache`: either lists the refs anew.
pub(super) fn refresh(no_cache: bool, no_revision_cache: bool) -> Refresh {
    if no_cache || no_revision_cache {
        Refresh::Fresh
    } else {
        Refresh::Cached
    }
}

/// Each `refSources` entry by name, encoded: part of the manifest key.
fn encoded_refs(refs: &HashMap<String, RefTargetMessage>) -> Vec<(String, Vec<u8>)> {
    use prost::Message;
    refs.iter()
        .map(|(name, target)| (name.clone(), target.encode_to_vec()))
        .collect()
}

/// UpdateRevisionForPaths, read as upstream reads it: the main source is git unless its
/// repository says otherwise or, untyped, the source is a Helm chart or an OCI artifact.
pub(super) fn changes(req: &UpdateRevisionForPathsRequest) -> Result<Changes, Invalid> {
    let message = req.repo.as_ref().ok_or(Invalid::NoRepo)?;
    let url = message.repo();
    let source = req.application_source.clone().unwrap_or_default();
    let kind = match message.r#type() {
        "" if url.starts_with("oci://") => "oci",
        "" if !source.chart().is_empty() || source.repo_url().starts_with("oci://") => "helm",
        "" => "git",
        other => other,
    };
    let git = (kind == "git")
        .then(|| repo(Some(message), ""))
        .transpose()?;
    let used_refs = if req.has_multiple_sources {
        source
            .helm
            .iter()
            .flat_map(|h| {
                h.value_files
                    .iter()
                    .map(String::as_str)
                    .chain(h.file_parameters.iter().map(|p| p.path()))
            })
            .filter(|f| f.starts_with('$'))
            .map(|f| f.split_once('/').map_or(f, |(name, _)| name).to_string())
            .fold(Vec::new(), |mut names, name| {
                if !names.contains(&name) {
                    names.push(name);
                }
                names
            })
    } else {
        Vec::new()
    };
    let targets =
        |refs: &HashMap<String, RefTargetMessage>| -> Result<HashMap<String, RefTarget>, Invalid> {
            refs.iter()
                .filter(|(name, _)| used_refs.contains(name))
                .map(|(name, t)| {
                    let target = RefTarget {
                        repo: repo(t.repo.as_ref(), "")?,
                        target_revision: t.target_revision().to_string(),
                    };
                    Ok((name.clone(), target))
                })
                .collect()
        };
    Ok(Changes {
        repo_key: repo_source::normalize(url),
        git,
        revision: req.revision.clone(),
        synced: req.synced_revision.clone(),
        paths: req.paths.clone(),
        refresh: refresh(false, req.no_revision_cache),
        refs: targets(&req.ref_sources)?,
        synced_refs: targets(&req.synced_ref_sources)?,
        used_refs,
        context: Context {
            name: req.app_name.clone(),
            namespace: req.namespace.clone(),
            kube_version: req.kube_version.clone(),
            api_versions: req.api_versions.clone(),
            tracking_method: req.tracking_method.clone(),
            label_key: req.app_label_key.clone(),
            installation_id: req.installation_id.clone(),
            ..Context::default()
        },
        ref_sources: encoded_refs(&req.ref_sources),
        integrity: req.source_integrity.clone(),
        spec: source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_option_like_values_and_missing_urls() {
        let with_path = |path: &str| ApplicationSource {
            repo_url: Some("https://git.example/a.git".into()),
            path: Some(path.into()),
            ..Default::default()
        };
        assert!(matches!(
            source(Some(&with_path("--exec")), "applicationSource", None, ""),
            Err(Invalid::Option { .. })
        ));
        assert!(matches!(
            source(
                Some(&with_path("a")),
                "applicationSource",
                None,
                "--upload-pack=x"
            ),
            Err(Invalid::Option { .. })
        ));
        assert_eq!(
            source(None, "applicationSource", None, "").unwrap_err(),
            Invalid::Missing("applicationSource")
        );
        assert!(matches!(repo(None, ""), Err(Invalid::Missing(_))));
    }

    #[test]
    fn source_integrity_becomes_policies() {
        use repo_proto::v1alpha1::{
            SourceIntegrityGit, SourceIntegrityGitPolicy, SourceIntegrityGitPolicyGpg,
            SourceIntegrityGitPolicyRepo,
        };
        assert_eq!(policies(None), repo_git::Policies::default());
        assert_eq!(
            policies(Some(&SourceIntegrity::default())),
            repo_git::Policies::default(),
            "an empty integrity block asks for nothing"
        );
        let integrity = SourceIntegrity {
            git: Some(SourceIntegrityGit {
                policies: vec![
                    SourceIntegrityGitPolicy {
                        repos: vec![
                            SourceIntegrityGitPolicyRepo {
                                url: Some("https://git.example/*".into()),
                            },
                            SourceIntegrityGitPolicyRepo {
                                url: Some("!https://git.example/open".into()),
                            },
                        ],
                        gpg: Some(SourceIntegrityGitPolicyGpg {
                            mode: Some("strict".into()),
                            keys: vec!["D56C4FCA57A46444".into()],
                        }),
                    },
                    SourceIntegrityGitPolicy::default(),
                ],
            }),
        };
        assert_eq!(
            policies(Some(&integrity)),
            repo_git::Policies(vec![
                repo_git::Policy {
                    repos: vec![
                        "https://git.example/*".into(),
                        "!https://git.example/open".into()
                    ],
                    gpg: Some(repo_git::Gpg {
                        mode: "strict".into(),
                        keys: vec!["D56C4FCA57A46444".into()],
                    }),
                },
                repo_git::Policy::default(),
            ])
        );
    }

    #[test]
    fn helm_and_oci_repositories_refuse_cloud_credentials_too() {
        let m = Repository {
            repo: Some("registry.example.com/charts".into()),
            gcp_service_account_key: Some("{}".into()),
            ..Default::default()
        };
        assert!(matches!(
            registry(Some(&m), "", true),
            Err(Invalid::Unsupported {
                field: "gcpServiceAccountKey",
                ..
            })
        ));
    }

    #[test]
    fn unimplemented_repository_settings_are_refused_by_name() {
        let with = |m: Repository| {
            repo(
                Some(&Repository {
                    repo: Some("https://git.example/a.git".into()),
                    ..m
                }),
                "",
            )
        };
        let refused = |m: Repository| match with(m) {
            Err(Invalid::Unsupported { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert!(
            with(Repository {
                enable_lfs: Some(true),
                ..Default::default()
            })
            .unwrap()
            .lfs
        );
        assert_eq!(
            refused(Repository {
                gcp_service_account_key: Some("{}".into()),
                github_app_id: Some(7),
                ..Default::default()
            }),
            "gcpServiceAccountKey"
        );
        let app = with(Repository {
            github_app_id: Some(7),
            github_app_installation_id: Some(9),
            github_app_private_key: Some("PEM".into()),
            github_app_enterprise_base_url: Some("https://ghe.example/api/v3".into()),
            ..Default::default()
        })
        .unwrap();
        let c = &app.creds;
        assert_eq!((c.github_app_id, c.github_app_installation_id), (7, 9));
        assert_eq!(c.github_app_private_key, "PEM");
        assert_eq!(
            c.github_app_enterprise_base_url,
            "https://ghe.example/api/v3"
        );
        let proxied = with(Repository {
            proxy: Some("http://p:3128".into()),
            force_http_basic_auth: Some(true),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(proxied.creds.proxy, "http://p:3128");
        assert!(proxied.creds.force_http_basic_auth);
        assert!(with(Repository {
            enable_lfs: Some(false),
            proxy: Some(String::new()),
            ..Default::default()
        })
        .is_ok());
    }

    #[test]
    fn revision_falls_back_to_the_source_then_head() {
        let src = ApplicationSource {
            target_revision: Some("v1".into()),
            ..Default::default()
        };
        assert_eq!(revision("", Some(&src)).unwrap().as_str(), "v1");
        assert_eq!(revision("main", Some(&src)).unwrap().as_str(), "main");
        assert_eq!(
            revision("", Some(&ApplicationSource::default()))
                .unwrap()
                .as_str(),
            "HEAD"
        );
        assert_eq!(revision("", None).unwrap().as_str(), "HEAD");
    }

    #[test]
    fn credentials_come_from_the_message() {
        let m = Repository {
            repo: Some("https://git.example/a.git".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        let r = repo(Some(&m), "ignored").unwrap();
        assert_eq!(r.url(), "https://git.example/a.git");
        assert_eq!(r.creds.password, "pw");
        assert_eq!(repo(None, "https://x/y").unwrap().url(), "https://x/y");
    }
}

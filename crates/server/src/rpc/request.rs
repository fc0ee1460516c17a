//! The one place where proto messages become domain values ("parse, don't validate"): each
//! request is parsed once, here, into `repo_source` types and engine requests; nothing past
//! this file sees a raw URL, revision or path from the wire.

use repo_proto::repository::{ManifestRequest, RepoServerAppDetailsQuery};
use repo_proto::v1alpha1::{ApplicationSource, KustomizeOptions, Repository};
use repo_source::{App, Creds, Git, Invalid, Repo, RepoPath, Revision, Source};

use crate::engine::{Context, Generate};

/// The repository a request is about: URL from the `Repository` message (else the source's
/// `repoURL`) and its credentials.
pub fn repo(message: Option<&Repository>, fallback_url: &str) -> Result<Repo, Invalid> {
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
        },
    )
}

/// The revision to use: the request's, else the source's `targetRevision`, else HEAD.
pub fn revision(requested: &str, source: Option<&ApplicationSource>) -> Result<Revision, Invalid> {
    match (requested, source) {
        ("", Some(source)) => Revision::new(source.target_revision()),
        (requested, _) => Revision::new(requested),
    }
}

/// The application inside the fetched files.
pub fn app(source: &ApplicationSource) -> Result<App, Invalid> {
    Ok(App {
        path: RepoPath::new(source.path())?,
        spec: source.clone(),
    })
}

/// A request's source: what to fetch, at which revision, and the app in it.
pub fn source(
    source: Option<&ApplicationSource>,
    field: &'static str,
    repository: Option<&Repository>,
    requested: &str,
) -> Result<Source, Invalid> {
    let source = source.ok_or(Invalid::Missing(field))?;
    Ok(Source::Git(Git {
        repo: repo(repository, source.repo_url())?,
        revision: revision(requested, Some(source))?,
        tag_prefix: source.tag_prefix().to_string(),
        app: app(source)?,
    }))
}

/// The application a render is for, as the caller describes it.
pub fn context(req: &ManifestRequest) -> Context {
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
    }
}

/// `kustomizeOptions` (argocd-cm's `kustomize.buildOptions`, `kustomize.path.<version>`, the
/// deprecated `binaryPath`). A version's own `buildOptions` are not used, as upstream's
/// repo-server does not use them.
pub fn kustomize(options: Option<&KustomizeOptions>) -> repo_render::Kustomize {
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
pub fn generate(req: &ManifestRequest) -> Result<Generate, Invalid> {
    use prost::Message;
    Ok(Generate {
        source: source(
            req.application_source.as_ref(),
            "applicationSource",
            req.repo.as_ref(),
            &req.revision,
        )?,
        context: context(req),
        no_cache: req.no_cache,
        ref_sources: req
            .ref_sources
            .iter()
            .map(|(name, target)| (name.clone(), target.encode_to_vec()))
            .collect(),
    })
}

/// GetAppDetails: the source, and the context its renders run in.
pub fn details(query: &RepoServerAppDetailsQuery) -> Result<(Source, Context), Invalid> {
    let source = source(query.source.as_ref(), "source", query.repo.as_ref(), "")?;
    let context = Context {
        name: query.app_name.clone(),
        enabled: query.enabled_source_types.clone(),
        kustomize: kustomize(query.kustomize_options.as_ref()),
        ..Context::default()
    };
    Ok((source, context))
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

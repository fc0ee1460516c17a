//! The request's `repos` and `helmRepoCreds`: the Helm repositories chart dependencies may
//! come from, with their credentials, read as upstream's `getHelmRepos` reads them. Which of
//! them a chart uses is decided against its dependencies when it is rendered.

use repo_proto::repository::ManifestRequest;
use repo_proto::v1alpha1::{RepoCreds, Repository};
use repo_render::HelmRepo;
use repo_source::{Creds, Repo};

/// Every repository and credential template of the request; one whose URL does not parse is
/// left out (no dependency can name it).
pub(super) fn parse(req: &ManifestRequest) -> Vec<HelmRepo> {
    let repos = req.repos.iter().filter_map(repository);
    let templates = req.helm_repo_creds.iter().filter_map(template);
    repos.chain(templates).collect()
}

/// A repository: its name, URL and credentials, OCI when `enableOCI` or of type `oci`.
fn repository(m: &Repository) -> Option<HelmRepo> {
    let creds = Creds {
        username: m.username().to_string(),
        password: m.password().to_string(),
        tls_client_cert_data: m.tls_client_cert_data().to_string(),
        tls_client_cert_key: m.tls_client_cert_key().to_string(),
        insecure: m.insecure(),
        ..Creds::default()
    };
    let oci = m.enable_oci() || m.r#type() == "oci";
    helm_repo(
        m.name(),
        m.repo(),
        creds,
        oci,
        m.insecure_oci_force_http(),
        false,
        azure(m.use_azure_workload_identity()),
    )
}

/// A credential template: what upstream copies from it into the repository it makes for a
/// dependency URL (no `insecure`); a template of type `oci` turns OCI on.
fn template(m: &RepoCreds) -> Option<HelmRepo> {
    let creds = Creds {
        username: m.username().to_string(),
        password: m.password().to_string(),
        tls_client_cert_data: m.tls_client_cert_data().to_string(),
        tls_client_cert_key: m.tls_client_cert_key().to_string(),
        ..Creds::default()
    };
    let oci = m.enable_oci() || m.r#type() == "oci";
    let azure = azure(m.use_azure_workload_identity());
    helm_repo(
        "",
        m.url(),
        creds,
        oci,
        m.insecure_oci_force_http(),
        true,
        azure,
    )
}

/// Upstream's Helm credentials take Azure workload identity; a dependency build here cannot.
fn azure(on: bool) -> Option<&'static str> {
    on.then_some("useAzureWorkloadIdentity")
}

fn helm_repo(
    name: &str,
    url: &str,
    creds: Creds,
    oci: bool,
    plain_http: bool,
    template: bool,
    unsupported: Option<&'static str>,
) -> Option<HelmRepo> {
    // Argo CD stores an `enableOCI` registry without a scheme; with one it parses as OCI.
    let url = if oci && !url.contains("://") {
        format!("oci://{url}")
    } else {
        url.to_string()
    };
    match Repo::new(&url, creds) {
        Ok(repo) => Some(HelmRepo {
            name: name.to_string(),
            repo,
            oci,
            plain_http,
            template,
            unsupported,
        }),
        Err(e) => {
            tracing::debug!(error = %e, "a Helm repository of the request is left out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(repos: Vec<Repository>, creds: Vec<RepoCreds>) -> ManifestRequest {
        ManifestRequest {
            repos,
            helm_repo_creds: creds,
            ..Default::default()
        }
    }

    fn cred(url: &str) -> RepoCreds {
        RepoCreds {
            url: Some(url.into()),
            username: Some("test".into()),
            password: Some("test".into()),
            ..Default::default()
        }
    }

    /// Upstream's TestGetHelmRepos_OCIHelmDependenciesWithHelmRepo and
    /// TestGetHelmRepos_OCIDependenciesWithHelmRepo: an `enableOCI` template without scheme
    /// and a type `oci` one are the same OCI template.
    #[test]
    fn oci_templates_with_and_without_scheme() {
        let enable = RepoCreds {
            enable_oci: Some(true),
            ..cred("example.com")
        };
        let typed = RepoCreds {
            r#type: Some("oci".into()),
            ..cred("oci://example.com")
        };
        for m in [enable, typed] {
            let got = parse(&request(vec![], vec![m]));
            assert_eq!(got.len(), 1);
            let r = &got[0];
            assert_eq!(r.repo.url(), "oci://example.com");
            assert!(r.oci && r.template);
            assert_eq!(r.name, "");
            assert_eq!(
                (
                    r.repo.creds.username.as_str(),
                    r.repo.creds.password.as_str()
                ),
                ("test", "test")
            );
        }
    }

    /// Upstream's TestGetHelmRepos_OCIHelmDependenciesWithRepo and
    /// TestGetHelmRepos_OCIDependenciesWithRepo.
    #[test]
    fn oci_repositories_with_and_without_scheme() {
        let enable = Repository {
            repo: Some("example.com".into()),
            enable_oci: Some(true),
            username: Some("test".into()),
            ..Default::default()
        };
        let typed = Repository {
            repo: Some("oci://example.com".into()),
            r#type: Some("oci".into()),
            username: Some("test".into()),
            ..Default::default()
        };
        for m in [enable, typed] {
            let r = &parse(&request(vec![m], vec![]))[0];
            assert_eq!(r.repo.url(), "oci://example.com");
            assert!(r.oci && !r.template);
            assert_eq!(r.repo.creds.username, "test");
        }
    }

    /// Upstream's TestGetHelmRepo_NamedRepos: a named repository keeps its name, URL,
    /// credentials and `insecure`.
    #[test]
    fn named_repositories() {
        let m = Repository {
            name: Some("custom-repo".into()),
            repo: Some("https://example.com".into()),
            r#type: Some("helm".into()),
            username: Some("test".into()),
            password: Some("pw".into()),
            insecure: Some(true),
            tls_client_cert_data: Some("CERT".into()),
            tls_client_cert_key: Some("KEY".into()),
            ..Default::default()
        };
        let r = &parse(&request(vec![m], vec![]))[0];
        assert_eq!(r.name, "custom-repo");
        assert_eq!(r.repo.url(), "https://example.com");
        assert!(!r.oci && !r.template && !r.plain_http);
        let c = &r.repo.creds;
        assert_eq!(
            (c.username.as_str(), c.password.as_str(), c.insecure),
            ("test", "pw", true)
        );
        assert_eq!(
            (
                c.tls_client_cert_data.as_str(),
                c.tls_client_cert_key.as_str()
            ),
            ("CERT", "KEY")
        );
    }

    /// Upstream's TestGetHelmRepos_InsecureOCIForceHttpPropagatedFromRepo and
    /// ...FromRepoCreds.
    #[test]
    fn insecure_oci_force_http_is_plain_http() {
        let repo = Repository {
            repo: Some("oci://example.com".into()),
            r#type: Some("oci".into()),
            insecure_oci_force_http: Some(true),
            ..Default::default()
        };
        let creds = RepoCreds {
            r#type: Some("oci".into()),
            insecure_oci_force_http: Some(true),
            ..cred("oci://example.com")
        };
        let got = parse(&request(vec![repo], vec![creds]));
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|r| r.plain_http && r.oci));
    }

    /// A template does not carry `insecure` (upstream copies only what RepoCreds has), and a
    /// helm one stays an index.
    #[test]
    fn helm_templates() {
        let r = &parse(&request(vec![], vec![cred("https://charts.example.com")]))[0];
        assert_eq!(r.repo.url(), "https://charts.example.com");
        assert!(r.template && !r.oci && !r.repo.creds.insecure);
    }

    /// Azure workload identity is marked, so that a dependency on it is refused by name.
    #[test]
    fn azure_workload_identity_is_marked() {
        let repo = Repository {
            repo: Some("oci://example.azurecr.io".into()),
            r#type: Some("oci".into()),
            use_azure_workload_identity: Some(true),
            ..Default::default()
        };
        let creds = RepoCreds {
            use_azure_workload_identity: Some(true),
            ..cred("https://charts.example.com")
        };
        let got = parse(&request(
            vec![repo],
            vec![creds, cred("https://x.example.com")],
        ));
        let marks: Vec<_> = got.iter().map(|r| r.unsupported).collect();
        assert_eq!(
            marks,
            [
                Some("useAzureWorkloadIdentity"),
                Some("useAzureWorkloadIdentity"),
                None
            ]
        );
    }

    #[test]
    fn unparsable_urls_are_left_out() {
        let bad = Repository {
            repo: Some("-oops".into()),
            ..Default::default()
        };
        let got = parse(&request(
            vec![bad],
            vec![cred(""), cred("https://ok.example.com")],
        ));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].repo.url(), "https://ok.example.com");
    }
}

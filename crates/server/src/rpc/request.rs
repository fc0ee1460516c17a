//! Reading the repository and source out of requests, refusing what must never reach git or a
//! tool.

use repo_proto::v1alpha1::{ApplicationSource, Repository};
use tonic::Status;

/// The repository a request is about: URL from the `Repository` message (else the source's
/// `repoURL`) and its credentials.
pub fn repo(message: Option<&Repository>, fallback_url: &str) -> Result<repo_git::Repo, Status> {
    let m = message.cloned().unwrap_or_default();
    let url = m
        .repo
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| fallback_url.to_string());
    if url.is_empty() {
        return Err(Status::invalid_argument(
            "the request names no repository URL (repo.repo)",
        ));
    }
    Ok(repo_git::Repo {
        url,
        creds: repo_git::Creds {
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
    })
}

/// A revision or path starting with `-` could pass for an option; refuse it up front.
pub fn argument<'a>(what: &str, value: &'a str) -> Result<&'a str, Status> {
    if value.starts_with('-') {
        return Err(Status::invalid_argument(format!(
            "{what} {value:?} must not start with '-'"
        )));
    }
    Ok(value)
}

/// The source a request carries, or an error naming the field.
pub fn source<'a>(
    source: Option<&'a ApplicationSource>,
    field: &str,
) -> Result<&'a ApplicationSource, Status> {
    let source = source.ok_or_else(|| Status::invalid_argument(format!("{field} is missing")))?;
    argument("path", source.path())?;
    Ok(source)
}

/// The revision to use: the request's, else the source's `targetRevision`, else HEAD.
pub fn revision<'a>(requested: &'a str, source: &'a ApplicationSource) -> Result<&'a str, Status> {
    let revision = if requested.is_empty() {
        source.target_revision()
    } else {
        requested
    };
    argument(
        "revision",
        if revision.is_empty() {
            "HEAD"
        } else {
            revision
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_option_like_values_and_missing_urls() {
        assert!(argument("revision", "--upload-pack=x").is_err());
        assert!(argument("path", "-C/tmp").is_err());
        assert_eq!(argument("revision", "main").unwrap(), "main");
        assert!(repo(None, "").is_err());
        let src = ApplicationSource {
            path: Some("--exec".into()),
            ..Default::default()
        };
        assert!(source(Some(&src), "applicationSource").is_err());
        assert!(source(None, "applicationSource").is_err());
    }

    #[test]
    fn revision_falls_back_to_the_source_then_head() {
        let src = ApplicationSource {
            target_revision: Some("v1".into()),
            ..Default::default()
        };
        assert_eq!(revision("", &src).unwrap(), "v1");
        assert_eq!(revision("main", &src).unwrap(), "main");
        assert_eq!(revision("", &ApplicationSource::default()).unwrap(), "HEAD");
    }

    #[test]
    fn credentials_come_from_the_message() {
        let m = Repository {
            repo: Some("https://git.example/a.git".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        let r = repo(Some(&m), "ignored").unwrap();
        assert_eq!(r.url, "https://git.example/a.git");
        assert_eq!(r.creds.password, "pw");
        assert_eq!(repo(None, "https://x/y").unwrap().url, "https://x/y");
    }
}

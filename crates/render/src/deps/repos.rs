//! Which of the request's Helm repositories a chart's dependencies use, and with which
//! credentials: upstream's `getHelmRepos`, matched against the dependencies' `repository`.

use std::sync::Arc;

use repo_source::Creds;

use super::HelmRepo;

/// A repository `helm dependency build` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Needed {
    /// Its name in `repositories.yaml`: what `@name` and `alias:name` refer to.
    pub name: String,
    /// Without `oci://`: the repository's URL, or the registry and path of an OCI one.
    pub url: String,
    pub creds: Arc<Creds>,
    pub oci: bool,
    pub plain_http: bool,
    /// See [`HelmRepo::unsupported`].
    pub unsupported: Option<&'static str>,
}

/// A dependency's `repository` as upstream reads it: a name (`@name`, `alias:name`) or an
/// `https://` or `oci://` URL; anything else (`file://`, `http://`) is left to helm as is.
#[derive(Debug, PartialEq, Eq)]
struct Dep {
    name: String,
    /// Empty for a name.
    url: String,
    oci: bool,
}

fn dependency(repository: &str) -> Option<Dep> {
    if let Some(name) = repository
        .strip_prefix('@')
        .or_else(|| repository.strip_prefix("alias:"))
    {
        return Some(Dep {
            name: name.to_string(),
            url: String::new(),
            oci: false,
        });
    }
    let (scheme, _) = repository.split_once("://")?;
    let oci = scheme.eq_ignore_ascii_case("oci");
    if !oci && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    Some(Dep {
        // Upstream's name for a repository it adds for a URL.
        name: repository.replace('/', "-"),
        url: bare(repository).to_string(),
        oci,
    })
}

/// A URL without its `oci://`: how upstream compares OCI locations.
fn bare(url: &str) -> &str {
    url.get(..6)
        .filter(|s| s.eq_ignore_ascii_case("oci://"))
        .map_or(url, |_| &url[6..])
}

/// The repositories the dependencies in `repositories` (their `repository` fields) need, in
/// dependency order and once each; `known` are the request's repositories and credential
/// templates. A name no repository has is left out: helm then says which one is missing.
pub(super) fn needed<'a>(
    repositories: impl IntoIterator<Item = &'a str>,
    known: &[HelmRepo],
) -> Vec<Needed> {
    let repos: Vec<&HelmRepo> = known.iter().filter(|r| !r.template).collect();
    let templates: Vec<&HelmRepo> = known.iter().filter(|r| r.template).collect();
    // The last repository of a URL or name wins, as in upstream's maps.
    let by_url = |url: &str| {
        repos
            .iter()
            .rev()
            .find(|r| bare(r.repo.url()) == url)
            .copied()
    };
    let by_name = |name: &str| repos.iter().rev().find(|r| r.name == name).copied();
    let mut out: Vec<Needed> = Vec::new();
    for dep in repositories.into_iter().filter_map(dependency) {
        let found =
            by_url(&dep.url).or_else(|| by_name(&dep.name).filter(|_| !dep.name.is_empty()));
        let needed = match found {
            Some(r) => Needed {
                name: if r.name.is_empty() {
                    dep.name.clone()
                } else {
                    r.name.clone()
                },
                url: bare(r.repo.url()).to_string(),
                creds: r.repo.creds.clone(),
                oci: r.oci,
                plain_http: r.plain_http,
                unsupported: r.unsupported,
            },
            None if dep.url.is_empty() => continue,
            None => unlisted(&dep, &templates, &repos),
        };
        if !out.iter().any(|n| n.name == needed.name) {
            out.push(needed);
        }
    }
    out
}

/// A dependency URL no repository has: the first credential template that prefixes it, else
/// for OCI the first OCI repository on the same path (upstream #14636, #12436), else none.
fn unlisted(dep: &Dep, templates: &[&HelmRepo], repos: &[&HelmRepo]) -> Needed {
    let mut needed = Needed {
        name: dep.name.clone(),
        url: dep.url.clone(),
        creds: Arc::new(Creds::default()),
        oci: dep.oci,
        plain_http: false,
        unsupported: None,
    };
    if let Some(t) = templates
        .iter()
        .find(|t| dep.url.starts_with(bare(t.repo.url())))
    {
        needed.creds = t.repo.creds.clone();
        needed.oci = t.oci;
        needed.plain_http = t.plain_http;
        needed.unsupported = t.unsupported;
    } else if dep.oci {
        let near = |r: &&&HelmRepo| {
            let url = bare(r.repo.url());
            r.oci && (dep.url.starts_with(url) || url.starts_with(&dep.url))
        };
        if let Some(r) = repos.iter().find(near) {
            // Only the username and password, as upstream.
            needed.creds = Arc::new(Creds {
                username: r.repo.creds.username.clone(),
                password: r.repo.creds.password.clone(),
                ..Creds::default()
            });
            needed.plain_http = r.plain_http;
        }
    }
    needed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str, url: &str, oci: bool, template: bool) -> HelmRepo {
        HelmRepo {
            name: name.into(),
            repo: repo_source::Repo::new(
                url,
                Creds {
                    username: format!("user-of-{url}"),
                    password: "pw".into(),
                    ..Creds::default()
                },
            )
            .unwrap(),
            oci,
            plain_http: false,
            template,
            unsupported: None,
        }
    }

    const OCI_DEP: &str = "oci://example.com/myrepo";

    #[test]
    fn dependencies_are_read_as_upstream() {
        assert_eq!(
            dependency("@custom").unwrap(),
            Dep {
                name: "custom".into(),
                url: String::new(),
                oci: false
            }
        );
        assert_eq!(dependency("alias:custom").unwrap().name, "custom");
        assert_eq!(
            dependency("https://charts.example.com/stable").unwrap(),
            Dep {
                name: "https:--charts.example.com-stable".into(),
                url: "https://charts.example.com/stable".into(),
                oci: false
            }
        );
        assert_eq!(
            dependency(OCI_DEP).unwrap(),
            Dep {
                name: "oci:--example.com-myrepo".into(),
                url: "example.com/myrepo".into(),
                oci: true
            }
        );
        for other in ["http://plain.example.com", "file://../lib", "stable", ""] {
            assert_eq!(dependency(other), None, "{other}");
        }
    }

    /// Upstream's TestGetHelmRepos_OCIHelmDependenciesWithHelmRepo and
    /// TestGetHelmRepos_OCIDependenciesWithHelmRepo: a template prefixing the dependency
    /// (`enableOCI` with `example.com` and type `oci` with `oci://example.com` both reach
    /// here as `oci://example.com`, see the server's `helm_repos`).
    #[test]
    fn an_oci_dependency_takes_a_template_that_prefixes_it() {
        let got = needed([OCI_DEP], &[repo("", "oci://example.com", true, true)]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].creds.username, "user-of-oci://example.com");
        assert!(got[0].oci);
        assert_eq!(got[0].url, "example.com/myrepo");
    }

    /// Upstream's TestGetHelmRepos_OCIHelmDependenciesWithRepo and
    /// TestGetHelmRepos_OCIDependenciesWithRepo: no template, an OCI repository on the way.
    #[test]
    fn an_oci_dependency_takes_an_oci_repository_on_its_path() {
        let got = needed([OCI_DEP], &[repo("", "oci://example.com", true, false)]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].creds.username, "user-of-oci://example.com");
        assert_eq!(got[0].creds.password, "pw");
        assert!(got[0].oci);
        assert_eq!(got[0].url, "example.com/myrepo");
        // A longer repository path than the dependency's also counts, a different one not.
        let longer = needed(
            [OCI_DEP],
            &[repo("", "oci://example.com/myrepo/x", true, false)],
        );
        assert_eq!(
            longer[0].creds.username,
            "user-of-oci://example.com/myrepo/x"
        );
        let other = needed(
            [OCI_DEP],
            &[repo("", "oci://other.example.com", true, false)],
        );
        assert_eq!(other[0].creds.username, "");
        // A repository that is not OCI is no candidate.
        let helm = needed([OCI_DEP], &[repo("x", "https://example.com", false, false)]);
        assert_eq!(helm[0].creds.username, "");
    }

    /// Upstream's TestGetHelmRepo_NamedRepos and TestGetHelmRepo_NamedReposAlias.
    #[test]
    fn names_resolve_to_the_named_repository() {
        let known = [repo("custom-repo", "https://example.com", false, false)];
        for dep in ["@custom-repo", "alias:custom-repo"] {
            let got = needed([dep], &known);
            assert_eq!(got.len(), 1, "{dep}");
            assert_eq!(got[0].name, "custom-repo");
            assert_eq!(got[0].url, "https://example.com");
            assert_eq!(got[0].creds.username, "user-of-https://example.com");
        }
        assert_eq!(needed(["@unknown"], &known), vec![]);
    }

    /// The repository of a URL wins over templates; the last of the same URL wins.
    #[test]
    fn a_repository_of_the_url_wins() {
        let url = "https://charts.example.com/stable";
        let known = [
            repo("", "https://charts.example.com", false, true),
            repo("first", url, false, false),
            repo("second", url, false, false),
        ];
        let got = needed([url, url], &known);
        assert_eq!(got.len(), 1, "one entry per repository");
        assert_eq!(got[0].name, "second");
        assert_eq!(got[0].url, url);
    }

    /// Upstream's getRepoCredential: the first template whose URL prefixes the dependency's.
    #[test]
    fn templates_match_by_prefix_first_wins() {
        let known = [
            repo("", "https://other.example.com", false, true),
            repo("", "https://charts.example.com", false, true),
            repo("", "https://charts.example.com/stable", false, true),
        ];
        let got = needed(["https://charts.example.com/stable"], &known);
        assert_eq!(got[0].creds.username, "user-of-https://charts.example.com");
        assert_eq!(got[0].name, "https:--charts.example.com-stable");
        assert!(!got[0].oci);
        // Without a template, the repository is still named, without credentials.
        let bare = needed(["https://public.example.com/charts"], &known);
        assert_eq!(bare[0].creds.username, "");
        assert_eq!(bare[0].url, "https://public.example.com/charts");
    }

    /// A repository or template upstream would use with Azure workload identity stays marked,
    /// so that the build is refused; an OCI repository lent for its password is not.
    #[test]
    fn unsupported_credentials_follow_the_repository() {
        let mut named = repo("az", "https://charts.example.com", false, false);
        named.unsupported = Some("useAzureWorkloadIdentity");
        let mut template = repo("", "https://t.example.com", false, true);
        template.unsupported = named.unsupported;
        let known = [named, template];
        let got = needed(
            [
                "@az",
                "https://t.example.com/x",
                "https://other.example.com",
            ],
            &known,
        );
        let marks: Vec<_> = got.iter().map(|n| n.unsupported).collect();
        assert_eq!(marks, [known[0].unsupported, known[0].unsupported, None]);
        let mut near = repo("", "oci://example.com", true, false);
        near.unsupported = known[0].unsupported;
        assert_eq!(needed([OCI_DEP], &[near])[0].unsupported, None);
    }

    /// Upstream's TestGetHelmRepos_InsecureOCIForceHttpPropagatedFromRepo(Creds).
    #[test]
    fn plain_http_comes_with_the_credentials() {
        for template in [false, true] {
            let mut r = repo("", "oci://example.com", true, template);
            r.plain_http = true;
            assert!(
                needed([OCI_DEP], &[r])[0].plain_http,
                "template: {template}"
            );
        }
    }
}

//! `helm dependency build` for charts that declare dependencies but ship no `charts/`, with the
//! request's Helm repositories and credentials in a private Helm configuration ([`home`]),
//! chosen as upstream does ([`repos`]). Builds are cached in the scratch area by the chart's
//! content and the credentials they were made with, so a chart is built once per content
//! rather than once per render (upstream #8698), and never served to a request without the
//! credentials that fetched it.

mod home;
mod repos;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::exec::Scrub;
use crate::job::Job;
use crate::root::{confine, relative};
use crate::sandbox::unguessable;
use crate::walk::tree;
use crate::{yaml, Error};

use repos::Needed;

/// A Helm repository a chart's dependencies may come from: one of the request's `repos`, or
/// of its `helmRepoCreds` (a credential template). Which ones a chart uses is decided against
/// its dependencies as upstream's `getHelmRepos` does. Credentials stay in `repo.creds`.
#[derive(Clone, Debug)]
pub struct HelmRepo {
    /// The repository's name in Argo CD (`@name` / `alias:name` in `Chart.yaml`); empty for
    /// a template.
    pub name: String,
    /// An OCI registry's URL has the `oci://` scheme, even when Argo CD stores it without.
    pub repo: repo_source::Repo,
    /// An OCI registry rather than an index (`enableOCI`, type `oci`).
    pub oci: bool,
    /// `insecureOCIForceHttp`: `--plain-http` for the registry.
    pub plain_http: bool,
    /// A credential template (`helmRepoCreds`): used for the dependency URLs it prefixes that
    /// no repository has.
    pub template: bool,
    /// A credential upstream would use for this repository that the build cannot (Azure):
    /// its field, so that a dependency on the repository is refused rather than fetched
    /// without it.
    pub unsupported: Option<&'static str>,
}

/// Makes sure the mirror's chart has its `charts/` directory when it declares dependencies.
pub(crate) async fn ensure(
    job: &Job<'_>,
    helm: &Path,
    env: &[(String, String)],
) -> Result<(), Error> {
    let chart = job.app_dir();
    if chart.join("charts").exists() {
        return Ok(());
    }
    let Some(plan) = plan(job)? else {
        return Ok(());
    };
    let pass = job
        .input
        .source
        .helm
        .as_ref()
        .is_some_and(|h| h.pass_credentials());
    let key = {
        let (chart, locals, repos) = (chart.clone(), plan.locals.clone(), plan.repos.clone());
        blocking("hashing the chart", move || {
            key(&chart, &locals, &repos, pass)
        })
        .await?
    };
    let cache = job.input.tools.scratch.join("helm-deps").join(&key);
    if cache.join("charts").is_dir() {
        let (cache, chart) = (cache.clone(), chart.clone());
        return blocking("restoring cached chart dependencies", move || {
            restore(&cache, &chart)
        })
        .await;
    }
    let config = env
        .iter()
        .find(|(k, _)| k == "HELM_CONFIG_HOME")
        .map(|(_, v)| PathBuf::from(v))
        .expect("helm runs with its own HELM_CONFIG_HOME");
    {
        let repos = plan.repos.clone();
        blocking("writing the helm repositories", move || {
            home::write(&config, &repos, pass)
        })
        .await?;
    }
    let mut args = vec!["dependency".to_string(), "build".to_string()];
    // helm has no per-registry switch: one plain-HTTP registry makes them all so (upstream).
    if plan.repos.iter().any(|r| r.plain_http) {
        args.push("--plain-http".into());
    }
    let mut scrub = job.scrub.clone();
    for secret in plan.repos.iter().flat_map(|r| r.creds.secrets()) {
        scrub.add(Path::new(&secret), "******");
    }
    let run = job.run("helm", helm, args, &chart, env.to_vec());
    let done = run.finish(job.input.tools, &[]).await?;
    if !done.status.success() {
        return Err(failure(done.status, &done.stdout, &done.stderr, &scrub));
    }
    // The cache is an optimisation: failing to fill it must not fail the render.
    let saved = blocking("caching helm chart dependencies", move || {
        save(&chart, &cache)
    })
    .await;
    if let Err(e) = saved {
        tracing::warn!(error = %e, "could not cache helm chart dependencies");
    }
    Ok(())
}

/// What building a chart's dependencies takes.
struct Plan {
    /// Local (`file://`) dependency directories.
    locals: Vec<PathBuf>,
    /// The repositories the other dependencies come from, with their credentials.
    repos: Vec<Needed>,
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, Error> {
    crate::usage::blocking(work)
        .await
        .map_err(|e| Error::io(what, io::Error::other(e)))?
        .map_err(|e| Error::io(what, e))
}

/// Why `helm dependency build` failed: the repositories it could not update (helm tells on
/// stdout, then fails on stderr with a misleading "no cached repository"), and its error;
/// secrets and private paths scrubbed; the fix named when credentials are the likely cause.
fn failure(status: ExitStatus, stdout: &[u8], stderr: &[u8], scrub: &Scrub) -> Error {
    let stdout = String::from_utf8_lossy(stdout);
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    let mut reasons: Vec<String> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let repo = l.strip_prefix("...Unable to get an update from ")?;
            let detail = lines.get(i + 1).copied().unwrap_or("");
            Some(format!("could not update {repo} {detail}"))
        })
        .collect();
    let stderr = String::from_utf8_lossy(stderr);
    if reasons.is_empty() || !stderr.contains("no cached repository") {
        reasons.extend(
            stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    // Killed, or silent: the status is all there is to tell.
    if reasons.is_empty() {
        reasons.push(status.to_string());
    }
    let mut message = format!("dependency build: {}", reasons.join("; ").trim());
    let denied = [
        "401",
        "403",
        "no repository definition",
        "authorization failed",
    ];
    if denied.iter().any(|d| message.contains(d)) {
        message.push_str(
            "; give Argo CD the dependency's repository (named as its @alias) or credentials \
             whose URL prefixes the dependency's, permitted in the app's project",
        );
    }
    Error::Tool {
        tool: "helm",
        message: scrub.apply(&message),
    }
}

/// Whether rendering the chart at `app` (relative to `root`) runs `helm dependency build`,
/// which writes into the chart: it declares dependencies and ships no `charts/`.
pub(crate) fn needed(root: &Path, app: &Path) -> Result<bool, Error> {
    let chart = root.join(app);
    Ok(!chart.join("charts").exists() && !declared(&chart, root)?.is_empty())
}

/// The dependencies `Chart.yaml` and `requirements.yaml` declare; errors name files relative
/// to `base`.
fn declared(chart: &Path, base: &Path) -> Result<Vec<Value>, Error> {
    let mut deps = Vec::new();
    for name in ["Chart.yaml", "requirements.yaml"] {
        let file = chart.join(name);
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        let shown = relative(base, &file);
        let doc = yaml::parse(&text).map_err(|m| Error::parse(&shown, m))?;
        if let Some(Value::Array(list)) = doc.get("dependencies") {
            deps.extend(list.iter().cloned());
        }
    }
    Ok(deps)
}

/// `None` when the chart declares no dependencies; else what building them takes.
fn plan(job: &Job<'_>) -> Result<Option<Plan>, Error> {
    let deps = declared(&job.app_dir(), &job.work)?;
    if deps.is_empty() {
        return Ok(None);
    }
    let mut locals = Vec::new();
    let mut remote = Vec::new();
    for dep in &deps {
        let Some(repo) = dep.get("repository").and_then(Value::as_str) else {
            continue;
        };
        match repo.strip_prefix("file://") {
            Some(path) => {
                let rel = job.app.join(path);
                locals.push(confine(&job.root, &rel.to_string_lossy())?);
            }
            None => remote.push(repo),
        }
    }
    let repos = repos::needed(remote, job.input.helm_repos);
    if let Some(r) = repos.iter().find(|r| r.unsupported.is_some()) {
        return Err(Error::Unsupported {
            what: format!(
                "`{}` of the Helm repository {} (a chart dependency's)",
                r.unsupported.unwrap_or_default(),
                r.url
            ),
        });
    }
    Ok(Some(Plan { locals, repos }))
}

/// The cache key of a build: the chart's content (its lock included) and its local
/// dependencies', and who the build was made as. A build is reused only with the same
/// repositories and credentials: made with one tenant's credentials, it is never served to a
/// request without them.
fn key(chart: &Path, locals: &[PathBuf], repos: &[Needed], pass: bool) -> io::Result<String> {
    let mut h = Sha256::new();
    h.update(digest(chart, locals)?);
    h.update(identity(repos, pass));
    Ok(hex::encode(h.finalize()))
}

/// The repositories a build uses, their credentials included only through a hash keyed by a
/// secret of this process, so that the cache's names (which other renders' tools may list
/// where Landlock is missing) give no way to test a guessed password.
fn identity(repos: &[Needed], pass: bool) -> Vec<u8> {
    static SALT: OnceLock<String> = OnceLock::new();
    let mut public = Sha256::new();
    let mut secret = Sha256::new();
    secret.update(SALT.get_or_init(unguessable));
    let mut secrets = false;
    public.update([u8::from(pass)]);
    for r in repos {
        for part in [r.name.as_str(), &r.url] {
            public.update(part.as_bytes());
            public.update([0]);
        }
        public.update([
            u8::from(r.oci),
            u8::from(r.plain_http),
            u8::from(r.creds.insecure),
        ]);
        let c = &r.creds;
        for part in [
            &c.username,
            &c.password,
            &c.tls_client_cert_data,
            &c.tls_client_cert_key,
        ] {
            secrets |= !part.is_empty();
            secret.update(part.as_bytes());
            secret.update([0]);
        }
    }
    let mut out = public.finalize().to_vec();
    // Without credentials the key stays the same across restarts.
    if secrets {
        out.extend(secret.finalize());
    }
    out
}

/// Digest of every file (path and content) of the chart and its local dependencies.
fn digest(chart: &Path, locals: &[PathBuf]) -> io::Result<String> {
    let mut h = Sha256::new();
    for dir in std::iter::once(chart).chain(locals.iter().map(PathBuf::as_path)) {
        for entry in tree(dir) {
            let entry = entry.map_err(io::Error::other)?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
            h.update(rel.as_os_str().as_encoded_bytes());
            h.update([0]);
            h.update(fs::read(entry.path())?);
            h.update([0]);
        }
        h.update(b"\x01");
    }
    Ok(hex::encode(h.finalize()))
}

/// Copies the built `charts/` (and a generated `Chart.lock`) into the cache.
fn save(chart: &Path, cache: &Path) -> io::Result<()> {
    let parent = cache.parent().expect("cache entries have a parent");
    fs::create_dir_all(parent)?;
    let tmp = tempfile::tempdir_in(parent)?;
    copy_tree(&chart.join("charts"), &tmp.path().join("charts"))?;
    let lock = chart.join("Chart.lock");
    if lock.is_file() {
        fs::copy(&lock, tmp.path().join("Chart.lock"))?;
    }
    // Publish atomically; if a concurrent render got there first, keep its copy.
    let built = tmp.keep();
    if fs::rename(&built, cache).is_err() {
        fs::remove_dir_all(&built)?;
    }
    Ok(())
}

fn restore(cache: &Path, chart: &Path) -> io::Result<()> {
    copy_tree(&cache.join("charts"), &chart.join("charts"))?;
    let lock = cache.join("Chart.lock");
    if lock.is_file() && !chart.join("Chart.lock").exists() {
        fs::copy(&lock, chart.join("Chart.lock"))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in tree(from) {
        let entry = entry.map_err(io::Error::other)?;
        let dest = to.join(entry.path().strip_prefix(from).expect("below from"));
        if entry.file_type().is_dir() {
            fs::create_dir_all(&dest)?;
        } else if entry.file_type().is_file() {
            fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use repo_source::Creds;
    use std::os::unix::process::ExitStatusExt;

    fn exit(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    /// A build killed without a word still says how it ended.
    #[test]
    fn a_silent_failure_gives_the_status() {
        let Error::Tool { message, .. } =
            failure(ExitStatus::from_raw(9), b"", b"", &Scrub::default())
        else {
            panic!()
        };
        assert_eq!(message, "dependency build: signal: 9 (SIGKILL)");
        let Error::Tool { message, .. } = failure(exit(1), b"", b"Error: x\n", &Scrub::default())
        else {
            panic!()
        };
        assert_eq!(message, "dependency build: Error: x");
    }

    fn repo(password: &str) -> Needed {
        Needed {
            name: "priv".into(),
            url: "https://charts.example.com".into(),
            creds: Arc::new(Creds {
                username: "alice".into(),
                password: password.into(),
                ..Creds::default()
            }),
            oci: false,
            plain_http: false,
            unsupported: None,
        }
    }

    #[test]
    fn the_key_follows_the_lock_and_the_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let chart = dir.path();
        fs::write(chart.join("Chart.yaml"), "name: app\n").unwrap();
        let key = |repos: &[Needed]| key(chart, &[], repos, false).unwrap();
        let anonymous = key(&[]);
        let with = key(&[repo("s3cret")]);
        assert_eq!(anonymous, key(&[]));
        assert_eq!(with, key(&[repo("s3cret")]));
        assert_ne!(with, anonymous);
        assert_ne!(
            with,
            key(&[repo("other")]),
            "another password, another build"
        );
        assert_ne!(
            key(&[]),
            key(&[Needed {
                creds: Arc::default(),
                ..repo("")
            }])
        );
        assert_ne!(
            key(&[]),
            key_with_pass(chart),
            "passCredentials changes what is sent"
        );
        fs::write(chart.join("Chart.lock"), "digest: sha256:1\n").unwrap();
        assert_ne!(key(&[]), anonymous, "the lock is part of the key");
    }

    fn key_with_pass(chart: &Path) -> String {
        key(chart, &[], &[], true).unwrap()
    }

    /// The key's credential part is keyed by a process secret: the same credentials hashed
    /// without it do not give it.
    #[test]
    fn credentials_are_not_hashed_plainly() {
        let id = identity(&[repo("s3cret")], false);
        let mut plain = Sha256::new();
        for part in ["alice", "s3cret", "", ""] {
            plain.update(part.as_bytes());
            plain.update([0]);
        }
        let plain = plain.finalize();
        assert_eq!(id.len(), 64);
        assert_ne!(&id[32..], plain.as_slice());
        assert_eq!(
            identity(&[], false).len(),
            32,
            "nothing secret, nothing keyed"
        );
    }

    #[test]
    fn failures_say_which_repository_and_why_without_secrets() {
        let mut scrub = Scrub::default();
        scrub.add(Path::new("s3cret"), "******");
        let stdout = b"Hang tight while we grab the latest from your chart repositories...\n\
            ...Unable to get an update from the \"priv\" chart repository (https://charts.example.com):\n\
            \tfailed to fetch https://charts.example.com/index.yaml : 401 Unauthorized\n\
            Update Complete.\n";
        let stderr = b"Error: no cached repository for priv found. (try 'helm repo update'): open /x/s3cret-index.yaml\n";
        let Error::Tool { tool, message } = failure(exit(1), stdout, stderr, &scrub) else {
            panic!()
        };
        assert_eq!(tool, "helm");
        assert!(
            message.starts_with(
                "dependency build: could not update the \"priv\" chart repository \
                 (https://charts.example.com): failed to fetch https://charts.example.com/index.yaml : 401 Unauthorized; give Argo CD"
            ),
            "{message}"
        );
        assert!(!message.contains("s3cret"), "{message}");
        let Error::Tool { message, .. } = failure(
            exit(1),
            b"",
            b"Error: no repository definition for @priv. Please add them via 'helm repo add'\n",
            &scrub,
        ) else {
            panic!()
        };
        assert!(
            message.contains("no repository definition for @priv"),
            "{message}"
        );
        assert!(message.contains("named as its @alias"), "{message}");
        let Error::Tool { message, .. } =
            failure(exit(1), b"", b"Error: chart not found\n", &scrub)
        else {
            panic!()
        };
        assert_eq!(message, "dependency build: Error: chart not found");
    }
}

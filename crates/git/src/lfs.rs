//! Git LFS (upstream's `enableLfs`): the objects a snapshot's pointer files name replace the
//! pointers while the snapshot is still in scratch, so a failure publishes nothing.
//!
//! `git lfs fetch` runs in an empty bare repository of the build's scratch that borrows the
//! mirror's objects (alternates). Its HEAD is unborn and it has no work tree or index, so
//! git-lfs finds no `.lfsconfig` to read: objects come from git-lfs's default endpoint for the
//! repository's URL (`<url>.git/info/lfs`), with the repository's credentials through the
//! askpass helper, as every fetch. A `.lfsconfig` naming another endpoint is refused rather
//! than ignored: honouring it (as upstream does) would hand the credentials to whatever host
//! the repository's content names, and ignoring it would fail later with a misleading
//! "not found" or authentication error from the default endpoint.
//!
//! Bounds: the pointers' sizes must fit in the cache's disk budget before anything is
//! downloaded, git-lfs runs within the runner's timeout (its process group is killed on
//! expiry), and every object is checked against its pointer (SHA-256 and size) before it
//! takes the pointer's place.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::askpass;
use crate::auth::Auth;
use crate::run::{Call, Failure, Git};
use crate::{classify, Error};

/// git-lfs takes only blobs smaller than this for pointers.
const POINTER_LIMIT: u64 = 1024;
/// The pointer format's version line.
const VERSION: &str = "version https://git-lfs.github.com/spec/v1";
/// Names the `scheme://host[:port]` the credential helper answers for.
const ORIGIN: &str = "REPO_GIT_LFS_ORIGIN";

/// Larger `.lfsconfig` files are not read (git-lfs never reads it here anyway).
const LFSCONFIG_LIMIT: u64 = 64 << 10;

/// What fetching a snapshot's LFS objects needs.
pub(crate) struct Objects<'a> {
    /// The repository's credentials.
    pub(crate) auth: &'a Auth,
    /// Bytes the objects of one snapshot may occupy (the cache's disk budget).
    pub(crate) budget: u64,
}

/// A pointer file of the checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pointer {
    /// Relative to the checkout's root.
    path: String,
    /// Lowercase hex SHA-256 of the content.
    oid: String,
    size: u64,
}

impl Objects<'_> {
    /// Replaces the pointer files of commit `sha`, checked out in `tree`, by their objects.
    /// `work` is the build's scratch directory.
    pub(crate) async fn fill(
        &self,
        git: &Git,
        url: &str,
        mirror: &Path,
        sha: &str,
        tree: &Path,
        work: &Path,
    ) -> Result<(), Error> {
        let io = |what: &str, e: io::Error| {
            Error::internal(url, format!("commit {sha}: LFS {what}: {e}"))
        };
        let candidates = candidates(git, url, mirror, sha).await?;
        let root = tree.to_path_buf();
        let pointers = tokio::task::spawn_blocking(move || read_pointers(&root, candidates))
            .await
            .map_err(|e| Error::internal(url, format!("LFS scan: {e}")))?
            .map_err(|e| io("scan", e))?;
        if pointers.is_empty() {
            return Ok(());
        }
        let total = pointers
            .iter()
            .fold(0u64, |sum, p| sum.saturating_add(p.size));
        if total > self.budget {
            return Err(Error::invalid(
                url,
                format!(
                    "commit {sha}: its LFS objects total {total} bytes, over the git cache's \
                     disk budget of {} bytes (raise --repo-cache-size-mb)",
                    self.budget
                ),
            ));
        }
        refuse_other_endpoint(git, url, tree).await?;
        let repo = work.join("lfs.git");
        git.run(Call::new().args(["init", "--bare", "-q"]).arg(&repo))
            .await
            .map_err(|f| classify::local(url, "init", f))?;
        let mut alternates = mirror.join("objects").into_os_string();
        alternates.push("\n");
        tokio::fs::write(
            repo.join("objects/info/alternates"),
            alternates.into_encoded_bytes(),
        )
        .await
        .map_err(|e| io("alternates", e))?;
        git.run(
            Call::new()
                .args(["-c", &format!("remote.origin.url={url}")])
                .args(["-c", &format!("credential.helper={}", helper())])
                // A few quick retries, not git-lfs's 8 growing to 10 s each: the timeout
                // bounds the whole fetch.
                .args([
                    "-c",
                    "lfs.transfer.maxretries=3",
                    "-c",
                    "lfs.transfer.maxretrydelay=1",
                ])
                .git_dir(&repo)
                .args(["lfs", "fetch", "origin", sha])
                .auth(self.auth)
                // No prompt through askpass: git-lfs would repeat a refused one forever, and
                // it would answer any host.
                .env("GIT_ASKPASS", "")
                .env(ORIGIN, origin(url)),
        )
        .await
        .map_err(|f| failed(url, sha, f))?;
        let root = tree.to_path_buf();
        // git-lfs's default storage, inside that repository: scratch, gone with the build.
        let objects = repo.join("lfs/objects");
        tokio::task::spawn_blocking(move || place(&root, &objects, &pointers))
            .await
            .map_err(|e| Error::internal(url, format!("LFS checkout: {e}")))?
            .map_err(|refused| match refused {
                Refused::Io(e) => io("checkout", e),
                Refused::Missing(p) => Error::internal(
                    url,
                    format!("commit {sha}: LFS object of {} was not fetched", p.path),
                ),
                Refused::Mismatch(p) => Error::Unavailable {
                    url: url.to_string(),
                    detail: format!(
                        "commit {sha}: the LFS server sent content for {} that does not match \
                         its pointer (sha256:{}, {} bytes)",
                        p.path, p.oid, p.size
                    ),
                },
            })
    }
}

/// Regular files of commit `sha` small enough to be pointers, with their sizes.
async fn candidates(git: &Git, url: &str, mirror: &Path, sha: &str) -> Result<Vec<String>, Error> {
    let out = git
        .run(Call::new().git_dir(mirror).args([
            "ls-tree",
            "-r",
            "-z",
            "-l",
            "--full-tree",
            "--end-of-options",
            sha,
        ]))
        .await
        .map_err(|f| classify::local(url, "ls-tree", f))?;
    Ok(out
        .split(|b| *b == 0)
        .filter_map(|record| {
            let record = std::str::from_utf8(record).ok()?;
            let (meta, path) = record.split_once('\t')?;
            let mut meta = meta.split_whitespace();
            let (mode, kind, _, size) = (meta.next()?, meta.next()?, meta.next()?, meta.next()?);
            let regular = matches!(mode, "100644" | "100755") && kind == "blob";
            (regular && size.parse::<u64>().ok()? < POINTER_LIMIT).then(|| path.to_string())
        })
        .collect())
}

/// The candidates that hold a pointer, as checked out in `tree`.
fn read_pointers(tree: &Path, candidates: Vec<String>) -> io::Result<Vec<Pointer>> {
    let mut pointers = Vec::new();
    for path in candidates {
        let file = tree.join(&path);
        if !std::fs::symlink_metadata(&file)?.is_file() {
            continue;
        }
        let mut text = Vec::new();
        std::fs::File::open(&file)?
            .take(POINTER_LIMIT)
            .read_to_end(&mut text)?;
        if let Some((oid, size)) = parse(&text) {
            pointers.push(Pointer { path, oid, size });
        }
    }
    Ok(pointers)
}

/// The oid and size of a pointer file (git-lfs's spec v1), or `None` for any other content.
fn parse(text: &[u8]) -> Option<(String, u64)> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('\n')?;
    let mut lines = text.split('\n');
    if lines.next()? != VERSION {
        return None;
    }
    let (mut oid, mut size) = (None, None);
    for line in lines {
        let (key, value) = line.split_once(' ')?;
        match key {
            "oid" => {
                let hex = value.strip_prefix("sha256:")?;
                let valid = hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                oid = Some(valid.then(|| hex.to_string())?);
            }
            "size" if value.bytes().all(|b| b.is_ascii_digit()) => size = value.parse().ok(),
            key if key.starts_with("ext-") => {}
            _ => return None,
        }
    }
    Some((oid?, size?))
}

/// Fails when the checkout's `.lfsconfig` names an LFS endpoint other than git-lfs's default
/// for `url`.
async fn refuse_other_endpoint(git: &Git, url: &str, tree: &Path) -> Result<(), Error> {
    let file = tree.join(".lfsconfig");
    let readable = tokio::fs::symlink_metadata(&file)
        .await
        .is_ok_and(|m| m.is_file() && m.len() <= LFSCONFIG_LIMIT);
    if !readable {
        return Ok(());
    }
    // `--file` does not follow include directives.
    let found = git
        .run(
            Call::new()
                .arg("config")
                .arg("--file")
                .arg(&file)
                .args(["--get-regexp", r"^(lfs\.url|remote\..*\.lfsurl)$"]),
        )
        .await;
    // Nothing set, or not valid config: either way git-lfs never reads it here.
    let Ok(found) = found else {
        return Ok(());
    };
    let default = endpoint(url);
    let found = String::from_utf8_lossy(&found);
    for (key, value) in found.lines().filter_map(|l| l.split_once(' ')) {
        if Some(value.trim_end_matches('/')) != default.as_deref() {
            return Err(Error::invalid(
                url,
                format!(
                    ".lfsconfig sets {key} to another LFS endpoint; LFS objects are fetched \
                     only from the repository's own endpoint, with its credentials: remove {key} \
                     from .lfsconfig or turn enableLfs off"
                ),
            ));
        }
    }
    Ok(())
}

/// git-lfs's credential helper: the username and password of the askpass helper's file, only
/// for the repository's own origin, and only until git-lfs rejects them (erased, they cannot
/// be asked for again: Debian's git-lfs 3.3 would resubmit refused credentials forever).
fn helper() -> String {
    let file = format!("\"${}\"", askpass::CREDENTIALS);
    format!(
        "!f() {{ [ \"$1\" = erase ] && {{ rm -f {file}; exit 0; }}; [ \"$1\" = get ] || exit 0; \
         while IFS= read -r line && [ -n \"$line\" ]; do case \"$line\" in \
         protocol=*) protocol=${{line#protocol=}};; host=*) host=${{line#host=}};; esac; done; \
         [ \"$protocol://$host\" = \"${ORIGIN}\" ] || exit 0; \
         {{ IFS= read -r user; IFS= read -r password; }} < {file} || exit 0; \
         printf 'username=%s\\npassword=%s\\n' \"$user\" \"$password\"; }}; f"
    )
}

/// `scheme://host[:port]` of a URL without userinfo.
fn origin(url: &str) -> &str {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url;
    };
    &url[..scheme.len() + 3 + rest.find('/').unwrap_or(rest.len())]
}

/// git-lfs's default endpoint for an http(s) remote.
fn endpoint(url: &str) -> Option<String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return None;
    }
    let url = url.trim_end_matches('/');
    Some(match url.ends_with(".git") {
        true => format!("{url}/info/lfs"),
        false => format!("{url}.git/info/lfs"),
    })
}

/// A failed `git lfs fetch`, classified from git-lfs's messages (git's own patterns would
/// call a missing object a missing repository).
fn failed(url: &str, sha: &str, failure: Failure) -> Error {
    let Failure::Exit(stderr) = failure else {
        return classify::local(url, "lfs fetch", failure);
    };
    let lower = stderr.to_ascii_lowercase();
    let asked = lower
        .split("git credentials for ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(origin);
    if let Some(other) = asked.filter(|asked| *asked != origin(&url.to_ascii_lowercase())) {
        let detail = format!(
            "LFS objects of commit {sha}: the LFS server sent downloads to {other}, which asked \
             for credentials; the repository's go only to its own origin"
        );
        return Error::Unauthenticated {
            url: url.to_string(),
            detail,
        };
    }
    let url = url.to_string();
    if REFUSED.iter().any(|m| lower.contains(m)) {
        // git-lfs's own words here quote the credential helper, not the server.
        let detail = format!(
            "LFS objects of commit {sha}: the LFS endpoint refused the repository's \
             credentials (enableLfs needs them to read the LFS objects too)"
        );
        return Error::Unauthenticated { url, detail };
    }
    let detail = format!("LFS objects of commit {sha}: {}", classify::detail(&stderr));
    Error::Unavailable { url, detail }
}

/// How git-lfs reports credentials refused or missing.
const REFUSED: &[&str] = &[
    "authorization error",
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
];

enum Refused {
    Io(io::Error),
    Missing(Pointer),
    Mismatch(Pointer),
}

impl From<io::Error> for Refused {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Moves each fetched object over its pointer file, once its content matches the pointer;
/// a path sharing an object with an earlier one gets a copy.
fn place(tree: &Path, objects: &Path, pointers: &[Pointer]) -> Result<(), Refused> {
    let mut placed: HashMap<&str, PathBuf> = HashMap::new();
    for pointer in pointers {
        let target = tree.join(&pointer.path);
        let mode = std::fs::symlink_metadata(&target)?.permissions().mode();
        match placed.get(pointer.oid.as_str()) {
            Some(first) => {
                std::fs::copy(first, &target)?;
            }
            None => {
                let oid = &pointer.oid;
                let object = objects.join(&oid[..2]).join(&oid[2..4]).join(oid);
                let file = match std::fs::File::open(&object) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Err(Refused::Missing(pointer.clone()))
                    }
                    opened => opened?,
                };
                if !matches(file, pointer)? {
                    return Err(Refused::Mismatch(pointer.clone()));
                }
                std::fs::rename(&object, &target)?;
                placed.insert(oid, target.clone());
            }
        }
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o777))?;
    }
    Ok(())
}

/// Whether the content has the pointer's SHA-256 and size.
fn matches(file: std::fs::File, pointer: &Pointer) -> io::Result<bool> {
    let mut hasher = Sha256::new();
    // One byte more than the pointer says, to notice a longer file without reading it all.
    let read = io::copy(
        &mut file.take(pointer.size.saturating_add(1)),
        &mut HashWriter(&mut hasher),
    )?;
    Ok(read == pointer.size && hex::encode(hasher.finalize()) == pointer.oid)
}

struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

    #[test]
    fn parses_pointers_only() {
        let pointer = format!("{VERSION}\noid sha256:{OID}\nsize 12345\n");
        assert_eq!(parse(pointer.as_bytes()), Some((OID.to_string(), 12345)));
        let ext = format!("{VERSION}\next-0-foo sha256:{OID}\noid sha256:{OID}\nsize 1\n");
        assert_eq!(parse(ext.as_bytes()), Some((OID.to_string(), 1)));
        for other in [
            format!("{VERSION}\noid sha256:{OID}\nsize 12345"),
            format!("{VERSION}\noid sha256:{}\nsize 1\n", OID.to_uppercase()),
            format!("{VERSION}\noid sha256:{}\nsize 1\n", &OID[1..]),
            format!("{VERSION}\noid sha256:{OID}\nsize -1\n"),
            format!("{VERSION}\noid sha256:{OID}\n"),
            format!("{VERSION}\noid sha256:{OID}\nsize 1\nother x\n"),
            format!("version 2\noid sha256:{OID}\nsize 1\n"),
            "kind: ConfigMap\n".to_string(),
        ] {
            assert_eq!(parse(other.as_bytes()), None, "{other:?}");
        }
    }

    #[test]
    fn default_endpoint_is_git_lfs_s() {
        assert_eq!(
            endpoint("https://h/org/r").as_deref(),
            Some("https://h/org/r.git/info/lfs")
        );
        assert_eq!(
            endpoint("http://h:8080/r.git/").as_deref(),
            Some("http://h:8080/r.git/info/lfs")
        );
        assert_eq!(endpoint("ssh://h/r"), None);
    }

    #[test]
    fn objects_must_match_their_pointer() {
        let dir = tempfile::tempdir().unwrap();
        let content = b"hello, large file\n";
        let oid = hex::encode(Sha256::digest(content));
        let file = dir.path().join("o");
        std::fs::write(&file, content).unwrap();
        let open = || std::fs::File::open(&file).unwrap();
        let pointer = |oid: &str, size: usize| Pointer {
            path: "p".into(),
            oid: oid.into(),
            size: size as u64,
        };
        assert!(matches(open(), &pointer(&oid, content.len())).unwrap());
        assert!(!matches(open(), &pointer(OID, content.len())).unwrap());
        assert!(!matches(open(), &pointer(&oid, content.len() - 1)).unwrap());
        assert!(!matches(open(), &pointer(&oid, content.len() + 1)).unwrap());
    }
}

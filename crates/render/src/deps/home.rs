//! The private Helm configuration of one dependency build: `repositories.yaml` with the
//! repositories and their credentials, as `helm repo add` writes it, and the registry
//! `config.json` with the OCI registries' logins, as `helm registry login` writes it. Secrets
//! reach helm through these files only (never argv or environment); each is 0600, in the
//! request's own directory, and goes with it.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use serde_json::{json, Map, Value};

use super::repos::Needed;

/// Writes the configuration for `needed` into `config` (`HELM_CONFIG_HOME`).
pub(super) fn write(config: &Path, needed: &[Needed], pass_credentials: bool) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(config)?;
    let mut entries = Vec::new();
    let mut auths = Map::new();
    for (i, repo) in needed.iter().enumerate() {
        if repo.oci {
            let c = &repo.creds;
            // Upstream logs in only with both.
            if c.username.is_empty() || c.password.is_empty() {
                continue;
            }
            let host = repo.url.split('/').next().unwrap_or_default();
            // helm's registry client (oras-go) reads these fields besides docker's `auth`.
            auths
                .entry(host.to_string())
                .or_insert_with(|| json!({ "username": c.username, "password": c.password }));
        } else if !repo.name.contains('/') {
            // helm names its cache files after the repository: a `/` would lead elsewhere.
            entries.push(entry(config, i, repo, pass_credentials)?);
        }
    }
    if !entries.is_empty() {
        let file = json!({
            "apiVersion": "",
            "generated": "0001-01-01T00:00:00Z",
            "repositories": entries,
        });
        private(&config.join("repositories.yaml"), &file.to_string())?;
    }
    if !auths.is_empty() {
        let registry = config.join("registry");
        DirBuilder::new().mode(0o700).create(&registry)?;
        let file = json!({ "auths": auths });
        private(&registry.join("config.json"), &file.to_string())?;
    }
    Ok(())
}

/// One `repositories.yaml` entry (JSON is YAML); a client certificate goes to files beside it.
fn entry(config: &Path, i: usize, repo: &Needed, pass_credentials: bool) -> io::Result<Value> {
    let c = &repo.creds;
    let mut e = json!({
        "name": repo.name,
        "url": repo.url,
        "username": c.username,
        "password": c.password,
        "insecure_skip_tls_verify": c.insecure,
        "pass_credentials_all": pass_credentials,
    });
    if !c.tls_client_cert_data.is_empty() && !c.tls_client_cert_key.is_empty() {
        for (field, ext, pem) in [
            ("certFile", "crt", &c.tls_client_cert_data),
            ("keyFile", "key", &c.tls_client_cert_key),
        ] {
            let path = config.join(format!("client-{i}.{ext}"));
            private(&path, pem)?;
            e[field] = Value::String(path.to_string_lossy().into_owned());
        }
    }
    Ok(e)
}

/// A new file only its owner can read.
fn private(path: &Path, content: &str) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    use repo_source::Creds;

    fn needed(name: &str, url: &str, oci: bool, creds: Creds) -> Needed {
        Needed {
            name: name.into(),
            url: url.into(),
            creds: Arc::new(creds),
            oci,
            plain_http: false,
            unsupported: None,
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn repositories_and_logins_go_to_private_files() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        let creds = || Creds {
            username: "alice".into(),
            password: "s3cret".into(),
            insecure: true,
            tls_client_cert_data: "CERT".into(),
            tls_client_cert_key: "KEY".into(),
            ..Creds::default()
        };
        let repos = [
            needed("priv", "https://charts.example.com", false, creds()),
            needed("../x/y", "https://evil.example.com", false, creds()),
            needed("reg", "registry.example.com:5000/charts", true, creds()),
            needed("anon", "anon.example.com/charts", true, Creds::default()),
        ];
        write(&config, &repos, true).unwrap();

        let file = config.join("repositories.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let list = doc["repositories"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{text}");
        let e = &list[0];
        assert_eq!(
            (&e["name"], &e["url"], &e["username"], &e["password"]),
            (
                &json!("priv"),
                &json!("https://charts.example.com"),
                &json!("alice"),
                &json!("s3cret")
            )
        );
        assert_eq!(e["insecure_skip_tls_verify"], json!(true));
        assert_eq!(e["pass_credentials_all"], json!(true));
        let key = Path::new(e["keyFile"].as_str().unwrap());
        assert_eq!(std::fs::read_to_string(key).unwrap(), "KEY");

        let registry = config.join("registry/config.json");
        let auths: Value =
            serde_json::from_str(&std::fs::read_to_string(&registry).unwrap()).unwrap();
        assert_eq!(
            auths,
            json!({"auths": {"registry.example.com:5000": {"username": "alice", "password": "s3cret"}}})
        );
        for path in [&file, &registry, key] {
            assert_eq!(mode(path), 0o600, "{}", path.display());
        }
        assert_eq!(mode(&config), 0o700);
    }

    #[test]
    fn nothing_is_written_without_repositories() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        write(&config, &[], false).unwrap();
        assert_eq!(std::fs::read_dir(&config).unwrap().count(), 0);
    }
}

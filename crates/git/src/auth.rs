//! Credential material for one network command, in 0600 files of a private scratch directory
//! removed when the `Auth` is dropped: the username and password the askpass helper answers
//! with, a config file with the bearer header and the proxy, keys, certificates and known
//! hosts. Git's environment and config pairs only name those files, so no secret is in the
//! environment of git or of anything it starts (`/proc/<pid>/environ`).

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tempfile::TempDir;

use crate::proxy::{self, Chosen};
use crate::trust::{Bundle, Trust};
use crate::{askpass, Error};
use repo_source::{Creds, Proxies, Remote, Transport};

/// Upstream's username when only a password (a token) is given.
pub(crate) const TOKEN_USER: &str = "x-access-token";

/// What a network command is set up with besides the repository's own credentials.
pub(crate) struct Net {
    /// Extra CAs per host (`argocd-tls-certs-cm`).
    pub(crate) trust: Trust,
    /// `argocd-ssh-known-hosts-cm`'s file: ssh reads it on every connection, so an update of
    /// the ConfigMap applies without a restart.
    pub(crate) known_hosts: PathBuf,
    /// The pod's proxies.
    pub(crate) proxies: Proxies,
}

pub(crate) struct Auth {
    files: Option<TempDir>,
    pub(crate) env: Vec<(&'static str, String)>,
    pub(crate) config: Vec<(String, String)>,
    /// Everything to mask in output.
    pub(crate) secrets: Vec<String>,
    /// The CA bundle given to git, kept until the command is done.
    bundle: Option<Arc<Bundle>>,
    /// Where the host's CA would be read from, for the hint of a TLS failure.
    ca_file: Option<(String, PathBuf)>,
    /// The proxy git goes through, without credentials, and where it came from.
    proxy: Option<(String, &'static str)>,
}

impl Auth {
    /// Blocking: it writes the files (and may rebuild a CA bundle).
    pub(crate) fn new(
        remote: &Remote,
        creds: &Creds,
        scratch: &Path,
        net: &Net,
    ) -> Result<Self, Error> {
        let mut auth = Self {
            files: None,
            env: Vec::new(),
            config: Vec::new(),
            secrets: creds.secrets(),
            bundle: None,
            ca_file: None,
            proxy: None,
        };
        let io = |e: io::Error| Error::internal(&remote.url, format!("credential files: {e}"));
        match remote.transport {
            Transport::Http | Transport::Https => auth.http(remote, creds, scratch, net)?,
            // Upstream tunnels ssh through a SOCKS5 `proxy`; git here does not, and connecting
            // directly instead would bypass what the operator set.
            Transport::Ssh if !creds.proxy.is_empty() => {
                return Err(Error::invalid(
                    &remote.url,
                    "proxy is not supported for git over ssh: use the repository's https URL, \
                     or remove proxy",
                ))
            }
            Transport::Ssh => auth.ssh(creds, scratch, &net.known_hosts).map_err(io)?,
            Transport::Git | Transport::File | Transport::Oci => {}
        }
        Ok(auth)
    }

    /// `err` with what helps fixing it: for a certificate git does not trust, where the CA
    /// goes; for a failure at the proxy, which proxy it was.
    pub(crate) fn explain(&self, err: Error) -> Error {
        let Error::Unavailable { url, mut detail } = err else {
            return err;
        };
        let lower = detail.to_ascii_lowercase();
        let tls = lower.contains("certificate")
            && ["verif", "trust", "issuer", "self-signed", "self signed"]
                .iter()
                .any(|p| lower.contains(p));
        if let (true, Some((host, file))) = (tls, &self.ca_file) {
            let added = match &self.bundle {
                Some(b) => format!(
                    " (read from {}: the CA there does not verify it)",
                    b.source.display()
                ),
                None => format!(" (none at {})", file.display()),
            };
            detail.push_str(&format!(
                "; if the server's certificate is from a private CA, add that CA to argocd-tls-certs-cm under the key {host}{added}, or set `insecure` on the repository"
            ));
        } else if let Some((shown, from)) = &self.proxy {
            // With a proxy chosen, git connects only to the proxy.
            let connect = lower.contains("failed to connect") || lower.contains("couldn't connect");
            if lower.contains("proxy") || lower.contains("tunnel") || connect {
                detail.push_str(&format!(
                    "; through proxy {shown} ({from}): check it, or list the host in noProxy"
                ));
            }
        }
        Error::Unavailable { url, detail }
    }

    fn http(
        &mut self,
        remote: &Remote,
        creds: &Creds,
        scratch: &Path,
        net: &Net,
    ) -> Result<(), Error> {
        let io = |e: io::Error| Error::internal(&remote.url, format!("credential files: {e}"));
        let (mut user, mut password) = (creds.username.clone(), creds.password.clone());
        if user.is_empty() && password.is_empty() {
            if let Some((u, p)) = &remote.userinfo {
                (user, password) = (u.clone(), p.clone());
                self.secrets
                    .push(if p.is_empty() { u.clone() } else { p.clone() });
            }
        }
        if user.is_empty() && !password.is_empty() {
            user = TOKEN_USER.into();
        }
        if !user.is_empty() || !password.is_empty() {
            // One a line, as the helper reads them; a line break cannot be answered to git.
            if user.contains('\n') || password.contains('\n') {
                return Err(Error::invalid(
                    &remote.url,
                    "a username or password contains a line break",
                ));
            }
            let file = self
                .file(scratch, "credentials", &format!("{user}\n{password}\n"))
                .map_err(io)?;
            self.env.push((askpass::CREDENTIALS, display(&file)));
        }
        // Secret values go to a private config file git includes, never to config pairs
        // (those travel in git's environment).
        let mut private = String::new();
        if creds.force_http_basic_auth && !password.is_empty() {
            // As upstream: only with a password, and instead of a bearer token.
            let basic = STANDARD.encode(format!("{user}:{password}"));
            self.secrets.push(basic.clone());
            let header = format!("Authorization: Basic {basic}");
            private.push_str(&format!("\textraHeader = {}\n", config_value(&header)));
        } else if !creds.bearer_token.is_empty() {
            let header = format!("Authorization: Bearer {}", creds.bearer_token);
            private.push_str(&format!("\textraHeader = {}\n", config_value(&header)));
        }
        let chosen = proxy::choose(remote, creds, &net.proxies)
            .map_err(|reason| Error::invalid(&remote.url, reason))?;
        if let Some(chosen) = chosen {
            self.proxied(&chosen, &mut private);
        }
        if !private.is_empty() {
            let file = self
                .file(scratch, "config", &format!("[http]\n{private}"))
                .map_err(io)?;
            self.config.push(("include.path".into(), display(&file)));
        }
        if remote.transport == Transport::Https {
            if creds.insecure {
                self.config.push(("http.sslVerify".into(), "false".into()));
            } else if let Some(host) = proxy::host(remote) {
                self.bundle = net
                    .trust
                    .bundle(&host)
                    .map_err(|reason| Error::invalid(&remote.url, reason))?;
                if let Some(bundle) = &self.bundle {
                    self.config
                        .push(("http.sslCAInfo".into(), display(&bundle.path)));
                }
                self.ca_file = Some((host.clone(), net.trust.file(&host)));
            }
            if !creds.tls_client_cert_data.is_empty() && !creds.tls_client_cert_key.is_empty() {
                let cert = self
                    .file(scratch, "client.crt", &creds.tls_client_cert_data)
                    .map_err(io)?;
                let key = self
                    .file(scratch, "client.key", &creds.tls_client_cert_key)
                    .map_err(io)?;
                self.config.push(("http.sslCert".into(), display(&cert)));
                self.config.push(("http.sslKey".into(), display(&key)));
            }
        }
        Ok(())
    }

    /// Sends git through `chosen`; its credentials, if any, are masked in output.
    fn proxied(&mut self, chosen: &Chosen, private: &mut String) {
        if let Some(userinfo) = chosen.userinfo() {
            self.secrets.push(userinfo.to_string());
            if let Some((_, password)) = userinfo.split_once(':').filter(|(_, p)| !p.is_empty()) {
                self.secrets.push(password.to_string());
            }
        }
        private.push_str(&format!("\tproxy = {}\n", config_value(&chosen.url)));
        self.proxy = Some((repo_source::display(&chosen.url), chosen.from));
    }

    fn ssh(&mut self, creds: &Creds, scratch: &Path, known_hosts: &Path) -> io::Result<()> {
        // No user or system ssh config, no agent, no prompts: only what the repository carries.
        let mut command = String::from(
            "ssh -F /dev/null -o BatchMode=yes -o LogLevel=ERROR -o IdentitiesOnly=yes -o IdentityAgent=none",
        );
        if !creds.ssh_private_key.is_empty() {
            let mut key = creds.ssh_private_key.clone();
            // OpenSSH refuses a key file without a final newline.
            if !key.ends_with('\n') {
                key.push('\n');
            }
            let path = self.file(scratch, "id", &key)?;
            command.push_str(&format!(" -i {}", quote(&display(&path))));
        }
        if creds.insecure_ignore_host_key {
            command.push_str(" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null");
        } else {
            let file = if !creds.known_hosts.is_empty() {
                self.file(scratch, "known_hosts", &creds.known_hosts)?
            } else if known_hosts.as_os_str().is_empty() {
                PathBuf::from("/dev/null")
            } else {
                known_hosts.to_path_buf()
            };
            command.push_str(&format!(
                " -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
                quote(&display(&file))
            ));
        }
        self.env.push(("GIT_SSH_COMMAND", command));
        Ok(())
    }

    /// Writes a 0600 file in this command's private directory.
    fn file(&mut self, scratch: &Path, name: &str, contents: &str) -> io::Result<PathBuf> {
        let dir = match &self.files {
            Some(dir) => dir.path().to_path_buf(),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("auth-")
                    .tempdir_in(scratch)?;
                let path = dir.path().to_path_buf();
                self.files = Some(dir);
                path
            }
        };
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(contents.as_bytes())?;
        Ok(path)
    }
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A value for a git config file: quoted, with `\` and `"` escaped.
fn config_value(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Single-quotes for the shell git runs `GIT_SSH_COMMAND` with.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
impl Net {
    /// No CA files, no known hosts, no pod proxies; bundles go to `scratch`.
    pub(crate) fn bare(scratch: &Path) -> Self {
        Self {
            trust: Trust::new(scratch.join("no-tls"), scratch),
            known_hosts: PathBuf::new(),
            proxies: Proxies::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn remote(url: &str) -> Remote {
        Remote::parse(url).unwrap()
    }

    #[test]
    fn http_credentials_go_to_private_files_only() {
        let scratch = tempfile::tempdir().unwrap();
        let creds = Creds {
            password: "pw".into(),
            bearer_token: "tok".into(),
            insecure: true,
            tls_client_cert_data: "CERT".into(),
            tls_client_cert_key: "KEY".into(),
            ..Creds::default()
        };
        let auth = Auth::new(
            &remote("https://h/r"),
            &creds,
            scratch.path(),
            &Net::bare(scratch.path()),
        )
        .unwrap();
        let (name, file) = &auth.env[0];
        assert_eq!((auth.env.len(), *name), (1, askpass::CREDENTIALS));
        let read = |path: &str| std::fs::read_to_string(path).unwrap();
        assert_eq!(read(file), format!("{TOKEN_USER}\npw\n"));
        let config: Vec<&str> = auth.config.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            config,
            [
                "include.path",
                "http.sslVerify",
                "http.sslCert",
                "http.sslKey"
            ]
        );
        assert_eq!(
            read(&auth.config[0].1),
            "[http]\n\textraHeader = \"Authorization: Bearer tok\"\n"
        );
        let key = Path::new(&auth.config[3].1);
        assert_eq!(std::fs::read_to_string(key).unwrap(), "KEY");
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir = key.parent().unwrap().to_path_buf();
        drop(auth);
        assert!(!dir.exists(), "credential files outlive the command");
    }

    #[test]
    fn url_userinfo_is_used_when_no_credentials() {
        let scratch = tempfile::tempdir().unwrap();
        let auth = Auth::new(
            &remote("https://bob:pa%20ss@h/r"),
            &Creds::default(),
            scratch.path(),
            &Net::bare(scratch.path()),
        )
        .unwrap();
        let file = std::fs::read_to_string(&auth.env[0].1).unwrap();
        assert_eq!(file, "bob\npa ss\n");
        assert!(auth.secrets.contains(&"pa ss".to_string()));
    }

    #[test]
    fn ssh_checks_host_keys_unless_told_not_to() {
        let scratch = tempfile::tempdir().unwrap();
        let creds = Creds {
            ssh_private_key: "KEY".into(),
            known_hosts: "host ssh-ed25519 AAAA".into(),
            ..Creds::default()
        };
        let auth = Auth::new(
            &remote("git@h:r"),
            &creds,
            scratch.path(),
            &Net::bare(scratch.path()),
        )
        .unwrap();
        let (name, command) = &auth.env[0];
        assert_eq!(*name, "GIT_SSH_COMMAND");
        assert!(command.contains("StrictHostKeyChecking=yes"), "{command}");
        assert!(command.contains("known_hosts'"), "{command}");
        assert!(command.contains("-i '"), "{command}");
        assert!(!command.contains("KEY"), "{command}");

        let creds = Creds {
            insecure_ignore_host_key: true,
            ..Creds::default()
        };
        let auth = Auth::new(
            &remote("ssh://h/r"),
            &creds,
            scratch.path(),
            &Net::bare(scratch.path()),
        )
        .unwrap();
        assert!(auth.env[0].1.contains("StrictHostKeyChecking=no"));
        assert!(!auth.env[0].1.contains("-i "));
    }

    #[test]
    fn a_proxy_for_ssh_is_refused_not_bypassed() {
        let scratch = tempfile::tempdir().unwrap();
        let creds = Creds {
            proxy: "socks5://p:1080".into(),
            ..Creds::default()
        };
        let err = Auth::new(
            &remote("git@h:r"),
            &creds,
            scratch.path(),
            &Net::bare(scratch.path()),
        )
        .err()
        .unwrap();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
        assert!(err.to_string().contains("remove proxy"), "{err}");
    }

    #[test]
    fn proxy_goes_to_the_private_file_and_its_password_is_masked() {
        let scratch = tempfile::tempdir().unwrap();
        let mut net = Net::bare(scratch.path());
        net.proxies.https = "http://pod:pod-secret@pod-proxy:3128".into();
        let auth = Auth::new(
            &remote("https://h/r"),
            &Creds::default(),
            scratch.path(),
            &net,
        )
        .unwrap();
        let (key, file) = &auth.config[0];
        assert_eq!((auth.config.len(), key.as_str()), (1, "include.path"));
        assert_eq!(
            std::fs::read_to_string(file).unwrap(),
            "[http]\n\tproxy = \"http://pod:pod-secret@pod-proxy:3128\"\n"
        );
        assert!(auth.secrets.contains(&"pod-secret".to_string()));
        let shown = auth.explain(Error::Unavailable {
            url: "https://h/r".into(),
            detail: "CONNECT tunnel failed, response 403".into(),
        });
        let shown = shown.to_string();
        assert!(
            shown.contains("through proxy http://pod-proxy:3128 (HTTPS_PROXY)"),
            "{shown}"
        );
        assert!(!shown.contains("pod-secret"), "{shown}");

        // The repository's noProxy does not cover the pod's proxy; the pod's NO_PROXY does.
        net.proxies.no = "h".into();
        let auth = Auth::new(
            &remote("https://h/r"),
            &Creds::default(),
            scratch.path(),
            &net,
        )
        .unwrap();
        assert!(auth.config.is_empty());
    }

    #[test]
    fn a_host_ca_file_becomes_the_bundle_git_verifies_with() {
        let scratch = tempfile::tempdir().unwrap();
        let net = Net::bare(scratch.path());
        let tls = scratch.path().join("no-tls");
        std::fs::create_dir(&tls).unwrap();
        let auth = Auth::new(
            &remote("https://h:8443/r"),
            &Creds::default(),
            scratch.path(),
            &net,
        )
        .unwrap();
        assert!(auth.config.is_empty());
        let shown = auth
            .explain(Error::Unavailable {
                url: "https://h:8443/r".into(),
                detail: "server verification failed: certificate signer not trusted".into(),
            })
            .to_string();
        assert!(
            shown.contains("argocd-tls-certs-cm under the key h (none at"),
            "{shown}"
        );
        std::fs::write(tls.join("h"), "garbage").unwrap();
        let err = Auth::new(
            &remote("https://h/r"),
            &Creds::default(),
            scratch.path(),
            &net,
        )
        .err()
        .unwrap();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    }

    #[test]
    fn forced_basic_auth_is_a_header_in_the_private_file() {
        let scratch = tempfile::tempdir().unwrap();
        let creds = Creds {
            username: "alice".into(),
            password: "pw".into(),
            bearer_token: "tok".into(),
            force_http_basic_auth: true,
            ..Creds::default()
        };
        let net = Net::bare(scratch.path());
        let auth = Auth::new(&remote("https://h/r"), &creds, scratch.path(), &net).unwrap();
        let config = std::fs::read_to_string(&auth.config[0].1).unwrap();
        assert_eq!(
            config,
            "[http]\n\textraHeader = \"Authorization: Basic YWxpY2U6cHc=\"\n"
        );
        assert!(auth.secrets.contains(&"YWxpY2U6cHc=".to_string()));
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}

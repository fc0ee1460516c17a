//! Credential material for one network command, in 0600 files of a private scratch directory
//! removed when the `Auth` is dropped: the username and password the askpass helper answers
//! with, a config file with the bearer header, keys, certificates and known hosts. Git's
//! environment and config pairs only name those files, so no secret is in the environment of
//! git or of anything it starts (`/proc/<pid>/environ`).

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::askpass;
use repo_source::{Creds, Remote, Transport};

/// Upstream's username when only a password (a token) is given.
const TOKEN_USER: &str = "x-access-token";

pub(crate) struct Auth {
    files: Option<TempDir>,
    pub(crate) env: Vec<(&'static str, String)>,
    pub(crate) config: Vec<(String, String)>,
    /// Everything to mask in output.
    pub(crate) secrets: Vec<String>,
}

impl Auth {
    /// `known_hosts` is the `$SSH_KNOWN_HOSTS` file, used when the credentials carry none.
    pub(crate) fn new(
        remote: &Remote,
        creds: &Creds,
        scratch: &Path,
        known_hosts: Option<&Path>,
    ) -> io::Result<Self> {
        let mut auth = Self {
            files: None,
            env: Vec::new(),
            config: Vec::new(),
            secrets: creds.secrets(),
        };
        match remote.transport {
            Transport::Http | Transport::Https => auth.http(remote, creds, scratch)?,
            Transport::Ssh => auth.ssh(creds, scratch, known_hosts)?,
            Transport::Git | Transport::File | Transport::Oci => {}
        }
        Ok(auth)
    }

    fn http(&mut self, remote: &Remote, creds: &Creds, scratch: &Path) -> io::Result<()> {
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
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a username or password contains a line break",
                ));
            }
            let file = self.file(scratch, "credentials", &format!("{user}\n{password}\n"))?;
            self.env.push((askpass::CREDENTIALS, display(&file)));
        }
        if !creds.bearer_token.is_empty() {
            let header = format!("Authorization: Bearer {}", creds.bearer_token);
            let config = format!("[http]\n\textraHeader = {}\n", config_value(&header));
            let file = self.file(scratch, "config", &config)?;
            self.config.push(("include.path".into(), display(&file)));
        }
        if remote.transport == Transport::Https {
            if creds.insecure {
                self.config.push(("http.sslVerify".into(), "false".into()));
            }
            if !creds.tls_client_cert_data.is_empty() && !creds.tls_client_cert_key.is_empty() {
                let cert = self.file(scratch, "client.crt", &creds.tls_client_cert_data)?;
                let key = self.file(scratch, "client.key", &creds.tls_client_cert_key)?;
                self.config.push(("http.sslCert".into(), display(&cert)));
                self.config.push(("http.sslKey".into(), display(&key)));
            }
        }
        Ok(())
    }

    fn ssh(&mut self, creds: &Creds, scratch: &Path, known_hosts: Option<&Path>) -> io::Result<()> {
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
            } else {
                known_hosts.map_or_else(|| PathBuf::from("/dev/null"), Path::to_path_buf)
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
        let auth = Auth::new(&remote("https://h/r"), &creds, scratch.path(), None).unwrap();
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
            None,
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
        let auth = Auth::new(&remote("git@h:r"), &creds, scratch.path(), None).unwrap();
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
        let auth = Auth::new(&remote("ssh://h/r"), &creds, scratch.path(), None).unwrap();
        assert!(auth.env[0].1.contains("StrictHostKeyChecking=no"));
        assert!(!auth.env[0].1.contains("-i "));
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}

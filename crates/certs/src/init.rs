//! `repoctl certs init`: a CA, the repo-server's serving certificate, client identities and the
//! Secret manifests that carry them, written all or nothing.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::string::Ia5String;
use rcgen::{ExtendedKeyUsagePurpose, SanType};

use crate::authority::{Authority, Leaf, Pair};
use crate::files::{self, Output};
use crate::layout::{self, CA_CN, CLIENT_CN, COMPONENTS, SERVER_CN};
use crate::secret::{self, Secret};
use crate::{names, Error, KeyType};

/// Arguments of `repoctl certs init`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
#[command(after_help = "\
Files: ca.crt and ca.key (CN=argocd-repo-server-ca, CA:TRUE, keyCertSign and cRLSign);
tls.crt and tls.key (CN=argocd-repo-server, serverAuth, DNS argocd-repo-server,
argocd-repo-server.<ns>.svc, argocd-repo-server.<ns>.svc.cluster.local, localhost, IP 127.0.0.1);
client.crt and client.key (CN=argocd-repo-server-client, clientAuth, CA:FALSE), shared by every
component; secrets.yaml (Secrets argocd-repo-server-mtls and argocd-repo-server-tls).

With --per-component, instead of client.crt, client.key and secrets.yaml: <component>/client.crt
and <component>/client.key for argocd-server, argocd-application-controller,
argocd-applicationset-controller and argocd-notifications-controller (CN = component, URI SAN
spiffe://cluster.local/ns/<ns>/sa/<component>), and both per-component Secret layouts:
secrets-per-component-keys.yaml (one Secret with <short>-client.crt/.key keys) and
secrets-per-secret.yaml (one Secret argocd-repo-server-mtls-<short> per component).

Keys and manifests are written with mode 0600.")]
pub struct Init {
    /// Directory to write into; created if missing.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Namespace Argo CD runs in: used in the server's DNS names, the SPIFFE IDs and the Secrets.
    #[arg(long, value_name = "NS", default_value = "argocd")]
    pub namespace: String,
    /// One more name for the serving certificate (repeatable); an IP address becomes an IP SAN.
    #[arg(long = "dns-name", value_name = "NAME")]
    pub dns_names: Vec<String>,
    /// Issue one client certificate per component instead of one shared by all.
    #[arg(long)]
    pub per_component: bool,
    /// Key algorithm of every key written.
    #[arg(long, value_enum, value_name = "TYPE", default_value_t)]
    pub key_type: KeyType,
    /// Validity of the server and client certificates in days; the CA gets at least 3650.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 365,
        value_parser = clap::value_parser!(u32).range(1..=36500)
    )]
    pub days: u32,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
}

impl Init {
    /// Defaults for writing into `out`, as the command line has them.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self {
            out: out.into(),
            namespace: "argocd".into(),
            dns_names: Vec::new(),
            per_component: false,
            key_type: KeyType::default(),
            days: 365,
            force: false,
        }
    }
}

fn dns(name: String) -> Result<SanType, Error> {
    Ia5String::try_from(name.as_str())
        .map(SanType::DnsName)
        .map_err(|_| Error::Name(name))
}

fn server_sans(args: &Init) -> Result<Vec<SanType>, Error> {
    let mut sans = layout::server_names(&args.namespace)
        .into_iter()
        .map(dns)
        .collect::<Result<Vec<_>, _>>()?;
    sans.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    for name in &args.dns_names {
        let san = names::san(name)?;
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    Ok(sans)
}

fn cert(path: PathBuf, pem: &str) -> Output {
    Output {
        path,
        contents: pem.to_string(),
        private: false,
    }
}

fn private(path: PathBuf, contents: String) -> Output {
    Output {
        path,
        contents,
        private: true,
    }
}

fn pair(dir: &Path, name: &str, pair: &Pair) -> [Output; 2] {
    [
        cert(dir.join(format!("{name}.crt")), &pair.cert),
        private(dir.join(format!("{name}.key")), pair.key.clone()),
    ]
}

const SHARED_HEADER: &str = "\
Secrets for the repo-server mTLS link with one client identity shared by every component.
Made by `repoctl certs init`; apply with `kubectl apply -f secrets.yaml`.
Contains private keys: keep it out of version control.";

const KEYS_HEADER: &str = "\
Per-component identities, option A: one Secret with a <short>-client.crt/.key pair per
component. Each component's argocd-repo-server-mtls volume must project its own pair to
client.crt and client.key with `items`. Apply this file or secrets-per-secret.yaml, not both.
Contains private keys: keep it out of version control.";

const SECRETS_HEADER: &str = "\
Per-component identities, option B: one Secret argocd-repo-server-mtls-<short> per component
with client.crt, client.key and server-ca.crt; point each component's argocd-repo-server-mtls
volume at its own Secret. The repo-server keeps argocd-repo-server-mtls for client-ca.crt.
Apply this file or secrets-per-component-keys.yaml, not both.
Contains private keys: keep it out of version control.";

/// Issues everything and writes it under `args.out`, all or nothing. Returns the files written.
pub fn init(args: &Init) -> Result<Vec<PathBuf>, Error> {
    names::namespace(&args.namespace)?;
    let ns = args.namespace.as_str();
    let out = args.out.as_path();

    let authority = Authority::new(CA_CN, args.key_type, args.days)?;
    let server = authority.issue(&Leaf {
        cn: SERVER_CN.into(),
        sans: server_sans(args)?,
        eku: ExtendedKeyUsagePurpose::ServerAuth,
    })?;
    let ca = authority.pair.cert.as_str();
    let mut outputs = Vec::new();
    outputs.extend(pair(out, "ca", &authority.pair));
    outputs.extend(pair(out, "tls", &server));

    if args.per_component {
        let mut clients = Vec::new();
        for c in COMPONENTS {
            let uri = Ia5String::try_from(c.spiffe(ns)).map_err(|_| Error::Namespace(ns.into()))?;
            let client = authority.issue(&Leaf {
                cn: c.name.into(),
                sans: vec![SanType::URI(uri)],
                eku: ExtendedKeyUsagePurpose::ClientAuth,
            })?;
            outputs.extend(pair(&out.join(c.name), "client", &client));
            clients.push((c, client));
        }
        let keys = layout::per_component_keys(ca, &server, &clients);
        let secrets = layout::per_secret(ca, &server, &clients);
        outputs.push(manifest(
            out,
            "secrets-per-component-keys.yaml",
            KEYS_HEADER,
            ns,
            &keys,
        ));
        outputs.push(manifest(
            out,
            "secrets-per-secret.yaml",
            SECRETS_HEADER,
            ns,
            &secrets,
        ));
    } else {
        let client = authority.issue(&Leaf {
            cn: CLIENT_CN.into(),
            sans: Vec::new(),
            eku: ExtendedKeyUsagePurpose::ClientAuth,
        })?;
        outputs.extend(pair(out, "client", &client));
        let secrets = layout::shared(ca, &server, &client);
        outputs.push(manifest(out, "secrets.yaml", SHARED_HEADER, ns, &secrets));
    }

    files::write_all(&outputs, args.force)?;
    Ok(outputs.into_iter().map(|o| o.path).collect())
}

fn manifest(out: &Path, name: &str, header: &str, ns: &str, secrets: &[Secret]) -> Output {
    private(out.join(name), secret::manifest(header, ns, secrets))
}

/// What to do with the files, for the operator.
pub fn next_steps(args: &Init) -> String {
    let file = |name: &str| args.out.join(name).display().to_string();
    let ns = &args.namespace;
    let mut lines =
        if args.per_component {
            vec![
            "Apply ONE of the two layouts:".to_string(),
            format!("  option A: kubectl apply -f {}", file("secrets-per-component-keys.yaml")),
            "    and in each component's argocd-repo-server-mtls volume, project".into(),
            "    <short>-client.crt and <short>-client.key to client.crt and client.key (items)"
                .into(),
            format!("  option B: kubectl apply -f {}", file("secrets-per-secret.yaml")),
            "    and point each component's argocd-repo-server-mtls volume at".into(),
            "    the Secret argocd-repo-server-mtls-<short>".into(),
        ]
        } else {
            vec![
                "Apply the Secrets:".to_string(),
                format!("  kubectl apply -f {}", file("secrets.yaml")),
            ]
        };
    lines.extend([
        "Restart the repo-server and its clients:".to_string(),
        format!("  kubectl -n {ns} rollout restart deployment argocd-repo-server argocd-server \\"),
        "      argocd-applicationset-controller argocd-notifications-controller".into(),
        format!("  kubectl -n {ns} rollout restart statefulset argocd-application-controller"),
        format!(
            "Keep {} offline: no Secret needs it, and it can mint identities.",
            file("ca.key")
        ),
    ]);
    lines.iter().map(|l| format!("{l}\n")).collect()
}

//! Settings of Helm repository and OCI registry access: upstream's flags, variables, defaults
//! and units (`cmd/argocd-repo-server`, `util/helm`, `util/oci`, `util/cert`, and Go's
//! `httpproxy.FromEnvironment` for the pod's proxies).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use repo_env::Env;

use super::*;

/// Upstream's `DefaultPathTLSConfig`: where `argocd-tls-certs-cm` is mounted.
pub const DEFAULT_TLS_DATA_PATH: &str = "/app/config/tls";

/// Upstream's default `--oci-layer-media-types`.
pub const DEFAULT_OCI_MEDIA_TYPES: [&str; 3] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
];

/// Upstream's 1G default of the index and extraction caps (a Kubernetes quantity: 10^9).
const DEFAULT_MAX_BYTES: u64 = 1_000_000_000;

/// How charts and OCI artifacts are fetched, cached and unpacked.
#[derive(Clone, PartialEq, Eq)]
pub struct Fetch {
    /// `--helm-registry-max-index-size`: the largest `index.yaml` read.
    pub max_index_bytes: u64,
    /// `--helm-manifest-max-extracted-size`: bytes of a Helm chart (repository or OCI) once
    /// unpacked; `None` with `--disable-helm-manifest-max-extracted-size`.
    pub helm_max_extracted_bytes: Option<u64>,
    /// `--oci-manifest-max-extracted-size`: bytes of a native OCI source once unpacked; `None`
    /// with `--disable-oci-manifest-max-extracted-size`.
    pub oci_max_extracted_bytes: Option<u64>,
    /// `--oci-layer-media-types`: the layer media types a native OCI source may hold.
    pub oci_media_types: Vec<String>,
    /// How long a Helm index (and an OCI tag list) is reused: upstream stores both with
    /// `--revision-cache-expiration` (`ARGOCD_HELM_INDEX_CACHE_DURATION` is unread since 2.1).
    pub index_ttl: Duration,
    /// `ARGOCD_TLS_DATA_PATH`: `<dir>/<host>` is a PEM bundle of extra CAs for that server.
    pub tls_data_path: PathBuf,
    /// The pod's `HTTPS_PROXY`/`https_proxy`: for https servers without their own proxy.
    pub https_proxy: Option<String>,
    /// The pod's `HTTP_PROXY`/`http_proxy`: for plain http servers without their own proxy.
    pub http_proxy: Option<String>,
    /// The pod's `NO_PROXY`/`no_proxy`: hosts reached directly.
    pub no_proxy: Option<String>,
    /// `ARGOCD_HELM_USER_AGENT`: `User-Agent` of index and Helm OCI requests; `None` means
    /// the fetcher's own `argocd-repo-server/<version>`.
    pub user_agent: Option<String>,
}

impl Fetch {
    /// The pod's proxies, as git, the fetcher and the tools take them (empty when unset).
    pub fn proxies(&self) -> repo_source::Proxies {
        let value = |v: &Option<String>| v.clone().unwrap_or_default();
        repo_source::Proxies {
            https: value(&self.https_proxy),
            http: value(&self.http_proxy),
            no: value(&self.no_proxy),
        }
    }
}

impl Default for Fetch {
    fn default() -> Self {
        Self {
            max_index_bytes: DEFAULT_MAX_BYTES,
            helm_max_extracted_bytes: Some(DEFAULT_MAX_BYTES),
            oci_max_extracted_bytes: Some(DEFAULT_MAX_BYTES),
            oci_media_types: DEFAULT_OCI_MEDIA_TYPES.map(String::from).to_vec(),
            index_ttl: Expiry::default().revision,
            tls_data_path: PathBuf::from(DEFAULT_TLS_DATA_PATH),
            https_proxy: None,
            http_proxy: None,
            no_proxy: None,
            user_agent: None,
        }
    }
}

/// A proxy URL may carry a password: only whether each proxy is set is shown.
impl fmt::Debug for Fetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |p: &Option<String>| p.as_ref().map(|_| "<set>");
        f.debug_struct("Fetch")
            .field("max_index_bytes", &self.max_index_bytes)
            .field("helm_max_extracted_bytes", &self.helm_max_extracted_bytes)
            .field("oci_max_extracted_bytes", &self.oci_max_extracted_bytes)
            .field("oci_media_types", &self.oci_media_types)
            .field("index_ttl", &self.index_ttl)
            .field("tls_data_path", &self.tls_data_path)
            .field("https_proxy", &set(&self.https_proxy))
            .field("http_proxy", &set(&self.http_proxy))
            .field("no_proxy", &self.no_proxy)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl Fetch {
    /// `index_ttl` is the resolved `--revision-cache-expiration`.
    pub(super) fn resolve(
        flags: &mut Flags,
        env: &dyn Env,
        index_ttl: Duration,
    ) -> Result<Self, ConfigError> {
        // Upstream parses each cap even when it is disabled: a bad value still stops the start.
        let helm = size(
            HELM_MAX_EXTRACTED_SIZE,
            flags.helm_manifest_max_extracted_size.take(),
            env,
            DEFAULT_MAX_BYTES,
        )?;
        let oci = size(
            OCI_MAX_EXTRACTED_SIZE,
            flags.oci_manifest_max_extracted_size.take(),
            env,
            DEFAULT_MAX_BYTES,
        )?;
        let disable_helm = repo_env::boolean(
            flags.disable_helm_manifest_max_extracted_size,
            env,
            ENV_DISABLE_HELM_MAX_EXTRACTED_SIZE,
            false,
        );
        let disable_oci = repo_env::boolean(
            flags.disable_oci_manifest_max_extracted_size,
            env,
            ENV_DISABLE_OCI_MAX_EXTRACTED_SIZE,
            false,
        );
        let oci_media_types = match flags.oci_layer_media_types.take() {
            Some(types) => list(types.iter().map(String::as_str)),
            None => match env.get(ENV_OCI_LAYER_MEDIA_TYPES) {
                Some(types) => list(types.split(',')),
                None => Fetch::default().oci_media_types,
            },
        };
        let user_agent = env.get(ENV_HELM_USER_AGENT);
        if let Some(agent) = user_agent.as_deref() {
            // Refused here rather than on every request to a Helm repository.
            if !agent.chars().all(|c| c == '\t' || (' '..='~').contains(&c)) {
                return Err(ConfigError::Header(
                    env_only(ENV_HELM_USER_AGENT),
                    agent.to_string(),
                ));
            }
        }
        Ok(Self {
            max_index_bytes: size(
                HELM_MAX_INDEX_SIZE,
                flags.helm_registry_max_index_size.take(),
                env,
                DEFAULT_MAX_BYTES,
            )?,
            helm_max_extracted_bytes: (!disable_helm).then_some(helm),
            oci_max_extracted_bytes: (!disable_oci).then_some(oci),
            oci_media_types,
            index_ttl,
            tls_data_path: PathBuf::from(repo_env::string(
                None,
                env,
                ENV_TLS_DATA_PATH,
                DEFAULT_TLS_DATA_PATH,
            )),
            https_proxy: proxy(env, "HTTPS_PROXY", "https_proxy"),
            http_proxy: proxy(env, "HTTP_PROXY", "http_proxy"),
            no_proxy: proxy(env, "NO_PROXY", "no_proxy"),
            user_agent,
        })
    }
}

/// A comma-separated list as upstream's `StringsFromEnv` reads it (items trimmed); empty items
/// are dropped, so `--oci-layer-media-types=` allows no layer type, as pflag's empty slice.
fn list<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    items
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Go's `httpproxy.FromEnvironment`: the upper-case name, else the lower-case one; empty is
/// unset.
fn proxy(env: &dyn Env, upper: &str, lower: &str) -> Option<String> {
    env.get(upper).or_else(|| env.get(lower))
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_env::Map;

    fn resolve(flags: Flags, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::resolve(flags, &Map::new(env.iter().copied()))
    }

    fn fetch(flags: Flags, env: &[(&str, &str)]) -> Result<Fetch, ConfigError> {
        resolve(flags, env).map(|c| c.engine.fetch)
    }

    #[test]
    fn upstream_defaults() {
        let f = fetch(Flags::default(), &[]).unwrap();
        assert_eq!(f, Fetch::default());
        assert_eq!(f.max_index_bytes, 1_000_000_000);
        assert_eq!(f.helm_max_extracted_bytes, Some(1_000_000_000));
        assert_eq!(f.oci_max_extracted_bytes, Some(1_000_000_000));
        assert_eq!(
            f.oci_media_types,
            [
                "application/vnd.oci.image.layer.v1.tar",
                "application/vnd.oci.image.layer.v1.tar+gzip",
                "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            ]
        );
        assert_eq!(f.index_ttl, Duration::from_secs(180));
        assert_eq!(f.tls_data_path, PathBuf::from("/app/config/tls"));
        assert_eq!(
            (f.https_proxy, f.http_proxy, f.no_proxy),
            (None, None, None)
        );
        assert_eq!(f.user_agent, None);
    }

    #[test]
    fn environment_as_upstream_reads_it() {
        let env = [
            (ENV_HELM_MAX_INDEX_SIZE, "10Mi"),
            (ENV_HELM_MAX_EXTRACTED_SIZE, "2G"),
            (ENV_OCI_MAX_EXTRACTED_SIZE, "500M"),
            (
                ENV_OCI_LAYER_MEDIA_TYPES,
                " application/x-a , application/x-b,",
            ),
            (ENV_TLS_DATA_PATH, "/etc/tls"),
            (ENV_HELM_USER_AGENT, "acme-argo/1.0 (ops@example.com)"),
            (ENV_REVISION_CACHE_EXPIRATION, "10m"),
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("http_proxy", "http://plain:3128"),
            ("NO_PROXY", ".svc,10.0.0.0/8"),
        ];
        let f = fetch(Flags::default(), &env).unwrap();
        assert_eq!(
            f,
            Fetch {
                max_index_bytes: 10 << 20,
                helm_max_extracted_bytes: Some(2_000_000_000),
                oci_max_extracted_bytes: Some(500_000_000),
                oci_media_types: vec!["application/x-a".into(), "application/x-b".into()],
                index_ttl: Duration::from_secs(600),
                tls_data_path: PathBuf::from("/etc/tls"),
                https_proxy: Some("http://proxy:3128".into()),
                http_proxy: Some("http://plain:3128".into()),
                no_proxy: Some(".svc,10.0.0.0/8".into()),
                user_agent: Some("acme-argo/1.0 (ops@example.com)".into()),
            }
        );
    }

    #[test]
    fn proxies_prefer_upper_case_and_empty_is_unset() {
        let env = [
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:1"),
            ("HTTP_PROXY", ""),
            ("http_proxy", "http://lower:2"),
            ("no_proxy", "example.com"),
        ];
        let f = fetch(Flags::default(), &env).unwrap();
        assert_eq!(f.https_proxy.as_deref(), Some("http://upper:1"));
        assert_eq!(f.http_proxy.as_deref(), Some("http://lower:2"));
        assert_eq!(f.no_proxy.as_deref(), Some("example.com"));
        // Empty variables mean the defaults, as upstream's StringFromEnv.
        let env = [(ENV_TLS_DATA_PATH, ""), (ENV_OCI_LAYER_MEDIA_TYPES, "")];
        assert_eq!(fetch(Flags::default(), &env).unwrap(), Fetch::default());
    }

    #[test]
    fn flags_beat_environment() {
        let flags = Flags {
            helm_registry_max_index_size: Some("1Ki".into()),
            helm_manifest_max_extracted_size: Some("2k".into()),
            oci_manifest_max_extracted_size: Some("3k".into()),
            disable_helm_manifest_max_extracted_size: Some(false),
            disable_oci_manifest_max_extracted_size: Some(false),
            oci_layer_media_types: Some(vec!["application/x-a".into(), "application/x-b".into()]),
            ..Flags::default()
        };
        let env = [
            (ENV_HELM_MAX_INDEX_SIZE, "1M"),
            (ENV_HELM_MAX_EXTRACTED_SIZE, "1M"),
            (ENV_OCI_MAX_EXTRACTED_SIZE, "1M"),
            (ENV_DISABLE_HELM_MAX_EXTRACTED_SIZE, "true"),
            (ENV_DISABLE_OCI_MAX_EXTRACTED_SIZE, "true"),
            (ENV_OCI_LAYER_MEDIA_TYPES, "application/x-c"),
        ];
        let f = fetch(flags, &env).unwrap();
        assert_eq!(
            (
                f.max_index_bytes,
                f.helm_max_extracted_bytes,
                f.oci_max_extracted_bytes
            ),
            (1024, Some(2000), Some(3000))
        );
        assert_eq!(f.oci_media_types, ["application/x-a", "application/x-b"]);
    }

    #[test]
    fn disable_flags_lift_the_caps() {
        let env = [
            (ENV_DISABLE_HELM_MAX_EXTRACTED_SIZE, "true"),
            (ENV_DISABLE_OCI_MAX_EXTRACTED_SIZE, "TRUE"),
        ];
        let f = fetch(Flags::default(), &env).unwrap();
        assert_eq!(
            (f.helm_max_extracted_bytes, f.oci_max_extracted_bytes),
            (None, None)
        );
        let flags = Flags {
            disable_helm_manifest_max_extracted_size: Some(true),
            ..Flags::default()
        };
        let f = fetch(flags, &[]).unwrap();
        assert_eq!(
            (f.helm_max_extracted_bytes, f.oci_max_extracted_bytes),
            (None, Some(1_000_000_000))
        );
        // Upstream's ParseBoolFromEnv keeps the default for a value it cannot read.
        let f = fetch(
            Flags::default(),
            &[(ENV_DISABLE_OCI_MAX_EXTRACTED_SIZE, "yes")],
        )
        .unwrap();
        assert_eq!(f.oci_max_extracted_bytes, Some(1_000_000_000));
    }

    #[test]
    fn command_line_syntax() {
        use clap::Parser;
        #[derive(Parser)]
        struct Args {
            #[command(flatten)]
            flags: Flags,
        }
        let args = Args::try_parse_from([
            "argocd-repo-server",
            "--disable-helm-manifest-max-extracted-size",
            "--disable-oci-manifest-max-extracted-size=false",
            "--oci-layer-media-types",
            "application/x-a,application/x-b",
            "--oci-layer-media-types=application/x-c",
            "--helm-registry-max-index-size=5Mi",
        ])
        .unwrap();
        let f = fetch(args.flags, &[(ENV_DISABLE_OCI_MAX_EXTRACTED_SIZE, "true")]).unwrap();
        assert_eq!(f.helm_max_extracted_bytes, None);
        assert_eq!(f.oci_max_extracted_bytes, Some(1_000_000_000));
        assert_eq!(f.max_index_bytes, 5 << 20);
        assert_eq!(
            f.oci_media_types,
            ["application/x-a", "application/x-b", "application/x-c"]
        );
        // An explicitly empty list allows no layer type at all.
        let args =
            Args::try_parse_from(["argocd-repo-server", "--oci-layer-media-types="]).unwrap();
        assert_eq!(
            fetch(args.flags, &[]).unwrap().oci_media_types,
            Vec::<String>::new()
        );
    }

    #[test]
    fn these_settings_no_longer_warn() {
        let flags = Flags {
            disable_helm_manifest_max_extracted_size: Some(true),
            oci_layer_media_types: Some(vec!["application/x-a".into()]),
            ..Flags::default()
        };
        let env = [
            (ENV_HELM_USER_AGENT, "acme"),
            (ENV_TLS_DATA_PATH, "/etc/tls"),
            (ENV_OCI_MAX_EXTRACTED_SIZE, "1G"),
        ];
        assert_eq!(resolve(flags, &env).unwrap().warnings, Vec::<String>::new());
        // Upstream itself stopped reading this one; setting it is named as having no effect.
        let warnings = resolve(
            Flags::default(),
            &[("ARGOCD_HELM_INDEX_CACHE_DURATION", "1h")],
        )
        .unwrap()
        .warnings;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("--revision-cache-expiration"),
            "{warnings:?}"
        );
    }

    #[test]
    fn bad_values_name_the_flag_and_variable() {
        let flags = Flags {
            helm_registry_max_index_size: Some("1GB".into()),
            ..Flags::default()
        };
        assert_eq!(
            fetch(flags, &[]).unwrap_err().to_string(),
            "--helm-registry-max-index-size (ARGOCD_REPO_SERVER_HELM_MANIFEST_MAX_INDEX_SIZE): \"1GB\" is not a size (use e.g. 10M, 1G or 512Mi)"
        );
        for (key, value, named) in [
            (
                ENV_HELM_MAX_EXTRACTED_SIZE,
                "big",
                "--helm-manifest-max-extracted-size",
            ),
            (
                ENV_OCI_MAX_EXTRACTED_SIZE,
                "-1G",
                "--oci-manifest-max-extracted-size",
            ),
            (
                ENV_HELM_MAX_INDEX_SIZE,
                "1 G",
                "--helm-registry-max-index-size",
            ),
            (
                ENV_HELM_USER_AGENT,
                "acme\r\nX-Injected: 1",
                ENV_HELM_USER_AGENT,
            ),
        ] {
            let err = fetch(Flags::default(), &[(key, value)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(named) && err.contains(key),
                "{key}={value}: {err}"
            );
        }
        // A disabled cap is still parsed, as upstream parses it before looking at the switch.
        let env = [
            (ENV_DISABLE_HELM_MAX_EXTRACTED_SIZE, "true"),
            (ENV_HELM_MAX_EXTRACTED_SIZE, "lots"),
        ];
        let err = fetch(Flags::default(), &env).unwrap_err().to_string();
        assert!(err.contains("--helm-manifest-max-extracted-size"), "{err}");
    }

    #[test]
    fn proxy_passwords_stay_out_of_debug_output() {
        let env = [
            ("HTTPS_PROXY", "http://user:s3cret@proxy:3128"),
            ("http_proxy", "http://user:s3cret@proxy:3128"),
        ];
        let c = resolve(Flags::default(), &env).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("https_proxy: Some(\"<set>\")"), "{shown}");
    }
}

//! The command-line flags of `argocd-repo-server`: upstream's names and syntax.

use super::upstream::Unimplemented;

/// Command-line flags of `argocd-repo-server`. Unset flags fall back to their environment
/// variable (when non-empty), then to upstream's default.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Flags {
    /// Listen on given port for incoming connections [default: 8081]
    #[arg(long)]
    pub port: Option<u16>,
    /// Start metrics server on given port [default: 8084]
    #[arg(long)]
    pub metrics_port: Option<u16>,
    /// Listen on given address for incoming connections [env: ARGOCD_REPO_SERVER_LISTEN_ADDRESS] [default: 0.0.0.0]
    #[arg(long)]
    pub address: Option<String>,
    /// Listen on given address for metrics [env: ARGOCD_REPO_SERVER_METRICS_LISTEN_ADDRESS] [default: 0.0.0.0]
    #[arg(long)]
    pub metrics_address: Option<String>,
    /// Disable TLS for the repo-server gRPC endpoint [env: ARGOCD_REPO_SERVER_DISABLE_TLS]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub disable_tls: Option<bool>,
    /// CA bundle for client certificates; mTLS is required when the file exists [env: ARGOCD_REPO_SERVER_CLIENT_CA_PATH] [default: /app/config/reposerver/mtls/client-ca.crt]
    #[arg(long)]
    pub client_ca_path: Option<String>,
    /// PEM CRLs of the client CAs; revoked client certificates are refused; absent file = no revocation checking [env: ARGOCD_REPO_SERVER_CLIENT_CRL_PATH] [default: /app/config/reposerver/mtls/client-crl.pem]
    #[arg(long)]
    pub client_crl_path: Option<String>,
    /// The minimum TLS version to accept [env: ARGOCD_TLS_MIN_VERSION] [default: 1.2]
    #[arg(long)]
    pub tlsminversion: Option<String>,
    /// The maximum TLS version to accept [env: ARGOCD_TLS_MAX_VERSION] [default: 1.3]
    #[arg(long)]
    pub tlsmaxversion: Option<String>,
    /// Colon-separated TLS 1.2 cipher suites, or `list` [env: ARGOCD_TLS_CIPHERS] [default: TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]
    #[arg(long)]
    pub tlsciphers: Option<String>,
    /// Close client connections after this long (GOAWAY, then the grace period), so rotated-out or revoked clients cannot keep an old connection; 0 disables [env: ARGOCD_REPO_SERVER_MAX_CONNECTION_AGE] [default: 30m]
    #[arg(long, value_name = "DURATION")]
    pub max_connection_age: Option<String>,
    /// Time in-flight calls get to finish once a connection reached its maximum age [env: ARGOCD_REPO_SERVER_MAX_CONNECTION_AGE_GRACE] [default: 30s]
    #[arg(long, value_name = "DURATION")]
    pub max_connection_age_grace: Option<String>,
    /// YAML allow-list of which client identity may call which RPC, reloaded live; unset = every authenticated client may call everything [env: ARGOCD_REPO_SERVER_AUTHORIZATION_POLICY_PATH]
    #[arg(long, value_name = "PATH")]
    pub authorization_policy: Option<String>,
    /// require (upstream): clients must present a certificate when mTLS is on; permissive: clients without one are served and counted, for migrations [env: ARGOCD_REPO_SERVER_CLIENT_AUTH_MODE] [default: require]
    #[arg(long, value_name = "MODE")]
    pub client_auth_mode: Option<String>,
    /// Limit on concurrent manifest generations; 0 = unlimited [env: ARGOCD_REPO_SERVER_PARALLELISM_LIMIT] [default: 0]
    #[arg(long)]
    pub parallelismlimit: Option<usize>,
    /// Directory of the git repository cache [env: ARGOCD_REPO_SERVER_REPO_CACHE_DIR] [default: /tmp/argocd-repo-server]
    #[arg(long, value_name = "DIR")]
    pub repo_cache_dir: Option<String>,
    /// Disk budget of the git cache in MiB; unused snapshots are evicted beyond it [env: ARGOCD_REPO_SERVER_REPO_CACHE_SIZE_MB] [default: 10240]
    #[arg(long, value_name = "MIB")]
    pub repo_cache_size_mb: Option<u64>,
    /// Memory budget of the manifest cache in MiB [env: ARGOCD_REPO_SERVER_MANIFEST_CACHE_SIZE_MB] [default: 256]
    #[arg(long, value_name = "MIB")]
    pub manifest_cache_size_mb: Option<usize>,
    /// Allow file:// repositories (tests and local development only) [env: ARGOCD_REPO_SERVER_ALLOW_FILE_REPOS]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub allow_file_repos: Option<bool>,
    /// Max combined size of manifest files in a directory-type Application (a Kubernetes quantity: 10M = 10,000,000 bytes, 1Gi = 2^30) [env: ARGOCD_REPO_SERVER_MAX_COMBINED_DIRECTORY_MANIFESTS_SIZE] [default: 10M]
    #[arg(long, value_name = "SIZE")]
    pub max_combined_directory_manifests_size: Option<String>,
    /// Maximum size of streamed manifest archives [env: ARGOCD_REPO_SERVER_STREAMED_MANIFEST_MAX_TAR_SIZE] [default: 100M]
    #[arg(long, value_name = "SIZE")]
    pub streamed_manifest_max_tar_size: Option<String>,
    /// Maximum size of streamed manifest archives when extracted [env: ARGOCD_REPO_SERVER_STREAMED_MANIFEST_MAX_EXTRACTED_SIZE] [default: 1G]
    #[arg(long, value_name = "SIZE")]
    pub streamed_manifest_max_extracted_size: Option<String>,
    /// Maximum size of a Helm chart (from a Helm repository or an OCI registry) when extracted [env: ARGOCD_REPO_SERVER_HELM_MANIFEST_MAX_EXTRACTED_SIZE] [default: 1G]
    #[arg(long, value_name = "SIZE")]
    pub helm_manifest_max_extracted_size: Option<String>,
    /// Extract Helm charts without a size cap (not recommended) [env: ARGOCD_REPO_SERVER_DISABLE_HELM_MANIFEST_MAX_EXTRACTED_SIZE]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub disable_helm_manifest_max_extracted_size: Option<bool>,
    /// Maximum size of a Helm repository's index.yaml [env: ARGOCD_REPO_SERVER_HELM_MANIFEST_MAX_INDEX_SIZE] [default: 1G]
    #[arg(long, value_name = "SIZE")]
    pub helm_registry_max_index_size: Option<String>,
    /// Maximum size of a native OCI source's layers when extracted [env: ARGOCD_REPO_SERVER_OCI_MANIFEST_MAX_EXTRACTED_SIZE] [default: 1G]
    #[arg(long, value_name = "SIZE")]
    pub oci_manifest_max_extracted_size: Option<String>,
    /// Extract native OCI sources without a size cap (not recommended) [env: ARGOCD_REPO_SERVER_DISABLE_OCI_MANIFEST_MAX_EXTRACTED_SIZE]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub disable_oci_manifest_max_extracted_size: Option<bool>,
    /// Comma-separated layer media types a native OCI source may contain; repeatable [env: ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES] [default: application/vnd.oci.image.layer.v1.tar,application/vnd.oci.image.layer.v1.tar+gzip,application/vnd.cncf.helm.chart.content.v1.tar+gzip]
    #[arg(long, value_delimiter = ',', value_name = "TYPES")]
    pub oci_layer_media_types: Option<Vec<String>>,
    /// Allow out-of-bounds symlinks in repositories (not recommended) [env: ARGOCD_REPO_SERVER_ALLOW_OUT_OF_BOUNDS_SYMLINKS]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub allow_oob_symlinks: Option<bool>,
    /// Include hidden directories from Git [env: ARGOCD_REPO_SERVER_INCLUDE_HIDDEN_DIRECTORIES]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub include_hidden_directories: Option<bool>,
    /// Cache expiration for repo state, incl. app lists, app details, manifest generation, revision meta-data [env: ARGOCD_REPO_CACHE_EXPIRATION] [default: 24h]
    #[arg(long, value_name = "DURATION")]
    pub repo_cache_expiration: Option<String>,
    /// Cache expiration for cached revision (the refs of a repository) [env: ARGOCD_RECONCILIATION_TIMEOUT] [default: 3m]
    #[arg(long, value_name = "DURATION")]
    pub revision_cache_expiration: Option<String>,
    /// Cache expiration default [env: ARGOCD_DEFAULT_CACHE_EXPIRATION] [default: 24h]
    #[arg(long, value_name = "DURATION")]
    pub default_cache_expiration: Option<String>,
    /// Cache expiration for revision locks: how long a replica waits for another one generating the same manifests or listing the same refs (with Redis) before doing it itself; 0 disables the locks [env: ARGOCD_REVISION_CACHE_LOCK_TIMEOUT] [default: 10s]
    #[arg(long, value_name = "DURATION")]
    pub revision_cache_lock_timeout: Option<String>,
    /// Redis server hostname and port (e.g. argocd-redis:6379); unset (and no --sentinel) = argocd-redis:6379 inside Kubernetes, caches in-process outside it [env: REDIS_SERVER]
    #[arg(long, value_name = "HOST:PORT")]
    pub redis: Option<String>,
    /// Redis database [env: REDISDB] [default: 0]
    #[arg(long, value_name = "N")]
    pub redisdb: Option<u32>,
    /// Redis sentinel hostname and port (e.g. argocd-redis-ha-announce-0:26379); repeatable or comma-separated; wins over --redis [env: REDIS_SENTINEL_HOSTS]
    #[arg(long, value_delimiter = ',', value_name = "HOST:PORT")]
    pub sentinel: Option<Vec<String>>,
    /// Redis sentinel master group name [env: REDIS_SENTINEL_MASTER] [default: master]
    #[arg(long, value_name = "NAME")]
    pub sentinelmaster: Option<String>,
    /// Use TLS when connecting to Redis
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub redis_use_tls: Option<bool>,
    /// Path to Redis client certificate (e.g. /etc/certs/redis/client.crt)
    #[arg(long, value_name = "PATH")]
    pub redis_client_certificate: Option<String>,
    /// Path to Redis client key (e.g. /etc/certs/redis/client.key)
    #[arg(long, value_name = "PATH")]
    pub redis_client_key: Option<String>,
    /// Skip Redis server certificate validation (not recommended)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub redis_insecure_skip_tls_verify: Option<bool>,
    /// Path to Redis server CA certificate (e.g. /etc/certs/redis/ca.crt); unset = the system's trusted CAs
    #[arg(long, value_name = "PATH")]
    pub redis_ca_certificate: Option<String>,
    /// Compression of values sent to Redis: gzip or none [env: REDIS_COMPRESSION] [default: gzip]
    #[arg(long, value_name = "ALGORITHM")]
    pub redis_compress: Option<String>,
    /// Log format: json or text [env: ARGOCD_REPO_SERVER_LOGFORMAT] [default: json]
    #[arg(long)]
    pub logformat: Option<String>,
    /// Log level: debug, info, warn or error (also trace; fatal and panic mean error) [env: ARGOCD_REPO_SERVER_LOGLEVEL] [default: info]
    #[arg(long)]
    pub loglevel: Option<String>,
    /// OpenTelemetry tracing (`--otlp-*`).
    #[command(flatten)]
    pub otlp: super::otlp::OtlpFlags,
    /// Config management plugins (`--plugin-*`).
    #[command(flatten)]
    pub plugins: super::plugins::PluginFlags,
    /// Upstream's flags that this server accepts without implementing them.
    #[command(flatten)]
    pub unimplemented: Unimplemented,
}

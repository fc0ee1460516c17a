//! The fred client: connects and reconnects in the background with backoff, fails commands at
//! once while disconnected, and bounds every command by the operation timeout.

use std::time::Duration;

use fred::prelude::{Builder, Client, Config, ReconnectPolicy, ServerConfig};
use fred::types::config::{ReconnectError, TcpConfig, TlsConnector, UnresponsiveConfig};

use crate::{tls, Error, Server, Settings};

/// Commands waiting for the connection beyond this fail with `Cause::Backlog`.
const QUEUE: usize = 4096;
/// Backoff between connection attempts, in milliseconds: doubling from 1 ms to 5 s, plus up to
/// 10 ms of jitter. fred counts as connected until its first attempt after a drop, and commands
/// sent meanwhile wait (up to the operation timeout); a short first delay keeps that window
/// short (the gate covers it too). From the first attempt on, fred fails commands at once.
const BACKOFF_MIN_MS: u32 = 1;
const BACKOFF_MAX_MS: u32 = 5_000;
const JITTER_MS: u32 = 10;

pub(crate) fn client(settings: &Settings) -> Result<Client, Error> {
    let server = match &settings.server {
        Server::Single { host, port } => ServerConfig::new_centralized(host.clone(), *port),
        Server::Sentinel { master, hosts } => {
            if hosts.is_empty() {
                return Err(Error::Config("--sentinel: no sentinel given".into()));
            }
            ServerConfig::Sentinel {
                hosts: hosts
                    .iter()
                    .map(|(host, port)| fred::types::config::Server::new(host.clone(), *port))
                    .collect(),
                service_name: master.clone(),
                username: settings.sentinel_username.clone(),
                password: settings
                    .sentinel_password
                    .as_ref()
                    .map(|p| p.expose().to_string()),
            }
        }
    };
    let database = u8::try_from(settings.db)
        .map_err(|_| Error::Config(format!("--redisdb {}: at most 255", settings.db)))?;
    let tls = settings.tls.as_ref().map(tls::config).transpose()?;
    let config = Config {
        // The first connection is made in the background like every reconnection.
        fail_fast: false,
        username: settings.username.clone(),
        password: settings.password.as_ref().map(|p| p.expose().to_string()),
        server,
        database: (database != 0).then_some(database),
        tls: tls.map(|c| TlsConnector::from(c).into()),
        ..Config::default()
    };
    let timeout = settings.timeout;
    // Connecting includes TLS and AUTH; a short operation timeout must not make it impossible.
    let connect = timeout.max(Duration::from_secs(2));
    let mut policy = ReconnectPolicy::new_exponential(0, BACKOFF_MIN_MS, BACKOFF_MAX_MS, 2);
    policy.set_jitter(JITTER_MS);
    let mut builder = Builder::from_config(config);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = connect;
            c.internal_command_timeout = connect;
            // A command is written once: a retry after reconnecting would outlive its caller.
            c.max_command_attempts = 1;
            c.max_command_buffer_len = QUEUE;
            // A server that stops answering (paused, partitioned) is dropped and reconnected.
            c.unresponsive = UnresponsiveConfig {
                max_timeout: Some(connect),
                interval: Duration::from_millis(250),
            };
            c.tcp = TcpConfig {
                nodelay: Some(true),
                ..TcpConfig::default()
            };
            // A failed-over master answers READONLY until the client follows the new one.
            c.reconnect_errors = vec![ReconnectError::ReadOnly, ReconnectError::Loading];
        })
        .with_performance_config(|p| p.default_command_timeout = timeout)
        .set_policy(policy);
    builder
        .build()
        .map_err(|e| Error::Config(e.details().to_string()))
}

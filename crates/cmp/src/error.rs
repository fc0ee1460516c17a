//! Why sending, receiving or calling a plugin failed. Messages name the fault and, where there is
//! one, the fix; they never carry absolute scratch paths or symlink targets.

use std::path::PathBuf;
use std::time::Duration;

/// A plugin protocol failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory to send, or the app's in a received tree, is missing or leads outside.
    #[error("{0}")]
    Repo(repo_render::Error),

    /// A `--plugin-tar-exclude` glob that does not parse.
    #[error("--plugin-tar-exclude pattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },

    /// A symlink in the sent tree whose target leaves it (by its text, absolute included).
    #[error("{path}: symlink leads outside the files sent to the plugin; remove it or make it relative and inside")]
    LinkEscapes { path: String },

    /// Everything under the sent root was excluded, or it holds no regular file.
    #[error("no files to send to the plugin under {root:?}; check the app path and --plugin-tar-exclude")]
    NoFiles { root: String },

    /// The stream did not start with the metadata message.
    #[error("plugin stream: the first message must be the metadata, before any file chunk")]
    NoMetadata,

    /// A second metadata message among the file chunks.
    #[error("plugin stream: metadata sent twice; send it once, first")]
    MetadataTwice,

    /// A message holding neither metadata nor a chunk (upstream: "stream request file is nil").
    #[error("plugin stream: a message with neither metadata nor a file chunk")]
    EmptyMessage,

    /// The archive, declared or received, or its unpacked content exceeds a cap.
    #[error("plugin stream: {what} exceeds the limit of {limit} {unit}")]
    TooLarge {
        what: &'static str,
        limit: u64,
        unit: &'static str,
    },

    /// The bytes received differ in number from the metadata's `size`.
    #[error("plugin stream: received {got} bytes where the metadata declared {declared}")]
    Size { declared: i64, got: u64 },

    /// The bytes received do not hash to the metadata's `checksum`.
    #[error("plugin stream: checksum mismatch; the archive was altered or cut in transit")]
    Checksum,

    /// The archive is malformed or holds an entry or link leaving its directory.
    #[error("plugin stream: {0}")]
    Archive(repo_render::Error),

    /// The transport failed while receiving.
    #[error("plugin stream: {}", .0.message())]
    Stream(tonic::Status),

    /// A plugin name that cannot be a socket file name in the plugins directory.
    #[error("plugin name {name:?} is not a socket name; use the sidecar's `<name>` or `<name>-<version>`")]
    BadName { name: String },

    /// No socket for the plugin in the plugins directory.
    #[error("plugin socket {} not found; check that the plugin's sidecar runs and shares the plugins directory (ARGOCD_PLUGINSOCKFILEPATH)", .path.display())]
    NoSocket { path: PathBuf },

    /// The socket exists but the connection failed.
    #[error("plugin {plugin}: cannot connect: {detail}; check that its sidecar is running")]
    Connect { plugin: String, detail: String },

    /// The plugin did not answer in time.
    #[error("plugin {plugin}: {call} did not answer within {after:?}")]
    Deadline {
        plugin: String,
        call: &'static str,
        after: Duration,
    },

    /// The plugin answered with an error; `message` is its text, capped.
    #[error("plugin {plugin}: {call}: {message}")]
    Plugin {
        plugin: String,
        call: &'static str,
        code: tonic::Code,
        message: String,
    },

    /// No plugin takes the app: the named one, or none of those in the plugins directory;
    /// `last` is the last failure met while asking them.
    #[error("{}", no_plugin(.name.as_deref(), .last.as_deref()))]
    NoPlugin {
        name: Option<String>,
        last: Option<Box<Error>>,
    },

    /// Local I/O on the scratch area or the plugins directory failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The sidecar could not be reached or did not answer in time, as opposed to answering
    /// with an error (upstream reads a failing discovery command as "not mine").
    pub fn unreachable(&self) -> bool {
        match self {
            Self::NoSocket { .. } | Self::Connect { .. } | Self::Deadline { .. } => true,
            Self::Plugin { code, .. } => *code == tonic::Code::Unavailable,
            _ => false,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

fn no_plugin(name: Option<&str>, last: Option<&Error>) -> String {
    let mut text = match name {
        Some(name) => format!(
            "could not find cmp-server plugin with name {name:?} supporting the given repository"
        ),
        None => "could not find plugin supporting the given repository".to_string(),
    };
    if let Some(last) = last {
        text = format!("{text}: {last}");
    }
    text
}

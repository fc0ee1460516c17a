//! What the renderer sends the Jsonnet evaluator child on its stdin, and what the child answers
//! on its stdout (see `evaluator`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One `.jsonnet` file to evaluate, with everything already substituted and confined.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    /// Canonical repository root; imports may not leave it.
    pub(crate) root: PathBuf,
    /// Canonical app directory, searched first for imports.
    pub(crate) app: PathBuf,
    /// Canonical path of the file, inside `root`.
    pub(crate) file: PathBuf,
    /// Canonical library directories, in the order the request lists them.
    pub(crate) libs: Vec<PathBuf>,
    pub(crate) ext_vars: Vec<Var>,
    pub(crate) tlas: Vec<Var>,
    /// Address space the child may use, in bytes; zero leaves it unlimited.
    pub(crate) memory: u64,
    /// CPU seconds after which the kernel stops the child, should the parent be gone.
    pub(crate) cpu_seconds: u64,
}

/// An ext var or TLA, `$VAR`s substituted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Var {
    pub(crate) name: String,
    pub(crate) value: String,
    /// Jsonnet code rather than a string.
    pub(crate) code: bool,
}

/// The child's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reply {
    /// The evaluated, manifested value.
    Value(Value),
    /// The evaluation failed; the message names files relative to the root.
    Failed(String),
    /// An import resolved outside the root; the import as written.
    Outside(String),
}

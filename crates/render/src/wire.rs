//! What the renderer sends the Jsonnet evaluator child on its stdin, and what the child answers
//! on its stdout (see `evaluator`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One `.jsonnet` file to evaluate, with everything already substituted and confined.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    /// Canonical repository root; imports may not leave it.
    pub root: PathBuf,
    /// Canonical app directory, searched first for imports.
    pub app: PathBuf,
    /// Canonical path of the file, inside `root`.
    pub file: PathBuf,
    /// Canonical library directories, in the order the request lists them.
    pub libs: Vec<PathBuf>,
    pub ext_vars: Vec<Var>,
    pub tlas: Vec<Var>,
    /// Address space the child may use, in bytes.
    pub memory: u64,
    /// CPU seconds after which the kernel stops the child, should the parent be gone.
    pub cpu_seconds: u64,
}

/// An ext var or TLA, `$VAR`s substituted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Var {
    pub name: String,
    pub value: String,
    /// Jsonnet code rather than a string.
    pub code: bool,
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

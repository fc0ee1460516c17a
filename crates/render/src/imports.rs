//! Jsonnet import resolution confined to the repository.
//!
//! Search order is go-jsonnet's `FileImporter`: the importing file's directory, then the
//! library paths last to first (upstream passes `[app dir, libs...]`). A candidate that exists
//! but resolves outside the root stops the search with `ImportNotSupported` instead of being
//! read.

use std::fs;
use std::io::ErrorKind as Io;
use std::path::{Path, PathBuf};

use jrsonnet_evaluator::{
    error::ErrorKind, AsPathLike, Error as JsError, ImportResolver, ResolvePathOwned,
    Result as JsResult, SourcePath,
};
use jrsonnet_gcmodule::Acyclic;
use jrsonnet_ir::{SourceFifo, SourceFile};

/// Resolves `import`, `importstr` and `importbin` within `root`.
#[derive(Acyclic)]
pub(crate) struct Imports {
    /// Canonical repository root.
    root: PathBuf,
    /// Canonical app directory, the base for imports from inline code.
    app: PathBuf,
    /// Canonical library directories, in search order.
    search: Vec<PathBuf>,
}

impl Imports {
    /// `libs` are canonical directories in the order the request lists them.
    pub(crate) fn new(root: PathBuf, app: PathBuf, libs: Vec<PathBuf>) -> Self {
        let mut search = vec![app.clone()];
        search.extend(libs);
        search.reverse();
        Self { root, app, search }
    }

    /// Refusals use `ImportNotSupported` so the renderer can tell them from other failures.
    fn refuse(from: &SourcePath, what: ResolvePathOwned) -> JsError {
        JsError::new(ErrorKind::ImportNotSupported(from.clone(), what))
    }
}

impl ImportResolver for Imports {
    fn resolve_from(&self, from: &SourcePath, path: &dyn AsPathLike) -> JsResult<SourcePath> {
        let path = path.as_path();
        let wanted: &Path = path.as_ref();
        let here = from
            .downcast_ref::<SourceFile>()
            .and_then(|f| f.path().parent())
            .unwrap_or(&self.app);
        for dir in std::iter::once(here).chain(self.search.iter().map(PathBuf::as_path)) {
            match dir.join(wanted).canonicalize() {
                Ok(real) if !real.starts_with(&self.root) => {
                    return Err(Self::refuse(from, path.to_owned()))
                }
                Ok(real) if real.is_file() => return Ok(SourcePath::new(SourceFile::new(real))),
                Ok(_) => continue,
                Err(e) if e.kind() == Io::NotFound => continue,
                Err(e) => return Err(JsError::new(ErrorKind::ImportIo(e.to_string()))),
            }
        }
        Err(JsError::new(ErrorKind::ImportFileNotFound(
            from.clone(),
            path.to_owned(),
        )))
    }

    fn load_file_contents(&self, resolved: &SourcePath) -> JsResult<Vec<u8>> {
        if let Some(fifo) = resolved.downcast_ref::<SourceFifo>() {
            return Ok(fifo.1.to_vec());
        }
        let Some(file) = resolved.downcast_ref::<SourceFile>() else {
            return Err(JsError::new(ErrorKind::ResolvedFileNotFound(
                resolved.clone(),
            )));
        };
        // Paths only come from `resolve_from` or the renderer, both confined; check anyway.
        if !file.path().starts_with(&self.root) {
            return Err(Self::refuse(resolved, ResolvePathOwned::Str(String::new())));
        }
        fs::read(file.path()).map_err(|e| JsError::new(ErrorKind::ImportIo(e.to_string())))
    }
}

//! In-process Jsonnet evaluation of a directory app's `*.jsonnet` files, as upstream's
//! `makeJsonnetVM` + `EvaluateFile`: TLAs and ext vars (string or code) after `$VAR`
//! substitution, `libs` relative to the repository root, output an object or an array.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jrsonnet_evaluator::error::ErrorKind;
use jrsonnet_evaluator::manifest::JsonFormat;
use jrsonnet_evaluator::tla::TlaArg;
use jrsonnet_evaluator::trace::PathResolver;
use jrsonnet_evaluator::{apply_tla, IStr, SourcePath, State};
use jrsonnet_ir::SourceFile;
use repo_proto::v1alpha1::ApplicationSourceJsonnet;
use serde_json::Value;

use crate::confine::{confine, relative};
use crate::env::BuildEnv;
use crate::imports::Imports;
use crate::{yaml, Error};

/// Evaluates `file` (canonical, inside `root`) and returns the values it produced.
pub(crate) fn evaluate(
    root: &Path,
    app: &Path,
    file: &Path,
    spec: &ApplicationSourceJsonnet,
    env: &BuildEnv,
) -> Result<Vec<Value>, Error> {
    let name = relative(root, file);
    let scrub = |e: jrsonnet_evaluator::Error| -> Error {
        if let ErrorKind::ImportNotSupported(_, path) = e.error() {
            return Error::OutOfBounds {
                path: format!("{name}: import {path}"),
            };
        }
        let prefix = format!("{}/", root.display());
        Error::parse(&name, e.to_string().replace(&prefix, "").trim_end())
    };

    let context =
        jrsonnet_stdlib::ContextInitializer::new(PathResolver::Relative(root.to_path_buf()));
    for var in &spec.ext_vars {
        let value = env.subst(var.value());
        if var.code() {
            context.add_ext_code(var.name(), value).map_err(scrub)?;
        } else {
            context.add_ext_str(var.name().into(), value.into());
        }
    }
    // `apply_tla` wants this map; an interned `IStr` hashes by identity, which never changes.
    #[allow(clippy::mutable_key_type)]
    let tlas: HashMap<IStr, TlaArg> = spec
        .tlas
        .iter()
        .map(|t| {
            let value = env.subst(t.value());
            let arg = if t.code() {
                TlaArg::InlineCode(value)
            } else {
                TlaArg::String(value.into())
            };
            (t.name().into(), arg)
        })
        .collect();

    let mut builder = State::builder();
    builder
        .import_resolver(Imports::new(
            root.to_path_buf(),
            app.to_path_buf(),
            libs(root, &spec.libs)?,
        ))
        .context_initializer(context);
    let state = builder.build();
    let _entered = state.enter();
    let out = state
        .import_resolved(SourcePath::new(SourceFile::new(file.to_path_buf())))
        .and_then(|v| apply_tla(&tlas, v))
        .and_then(|v| v.manifest(JsonFormat::minify()))
        .map_err(scrub)?;
    let value: Value = serde_json::from_str(&out).map_err(|e| Error::parse(&name, e))?;
    match yaml::normalize(value) {
        Value::Array(items) => Ok(items),
        obj @ Value::Object(_) => Ok(vec![obj]),
        _ => Err(Error::parse(
            &name,
            "must evaluate to an object or an array",
        )),
    }
}

/// Library directories, relative to the repository root (a leading `/` means the same);
/// missing ones are skipped as go-jsonnet would find nothing there.
fn libs(root: &Path, libs: &[String]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::with_capacity(libs.len());
    for lib in libs {
        match confine(root, lib.trim_start_matches('/')) {
            Ok(dir) => out.push(dir),
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

//! Directory apps: plain YAML/JSON files and Jsonnet, read straight from the snapshot with
//! upstream's `findManifests` rules (walk order, filters, skip marker, size cap, symlinks).

use std::path::{Path, PathBuf};

use globset::GlobMatcher;
use repo_proto::v1alpha1::ApplicationSourceDirectory;
use serde_json::Value;

use crate::env::BuildEnv;
use crate::jsonnet::Jsonnet;
use crate::manifest::{object, Object};
use crate::root::relative;
use crate::walk::walk;
use crate::{glob, yaml, Error, Root, Tools};

const SKIP_MARKER: &str = "+argocd:skip-file-rendering";
const EXTENSIONS: [&str; 4] = [".yaml", ".yml", ".json", ".jsonnet"];

/// What to read from the app directory.
pub(crate) struct Directory<'a> {
    pub root: &'a Root,
    /// Canonical app directory.
    pub app: &'a Path,
    pub spec: &'a ApplicationSourceDirectory,
    pub env: &'a BuildEnv,
    /// Whether Jsonnet is enabled (`enabledSourceTypes["Directory"]`, i.e. `jsonnet.enable`).
    pub jsonnet: bool,
    pub max_bytes: u64,
}

/// A directory read, in walk order.
pub(crate) struct Files {
    parts: Vec<Part>,
    /// Set once a Jsonnet file is found.
    jsonnet: Option<Jsonnet>,
}

enum Part {
    Objects(Vec<Object>),
    Jsonnet { file: PathBuf, name: String },
    Failed(Error),
}

impl Files {
    /// Every object the directory yields, in walk order, Jsonnet evaluated in child processes.
    pub(crate) async fn objects(self, tools: &Tools) -> Result<Vec<Object>, Error> {
        let mut objects = Vec::new();
        for part in self.parts {
            match part {
                Part::Objects(some) => objects.extend(some),
                Part::Jsonnet { file, name } => {
                    let jsonnet = self.jsonnet.as_ref().expect("set with the part");
                    for value in jsonnet.evaluate(&file, &name, tools).await? {
                        if !value.is_null() {
                            objects.push(object(value).map_err(|m| Error::parse(&name, m))?);
                        }
                    }
                }
                Part::Failed(e) => return Err(e),
            }
        }
        Ok(objects)
    }
}

/// A file that passed the filters.
struct Candidate {
    /// Canonical path of the file (the link target for symlinks).
    real: PathBuf,
    /// Path relative to the repository root, for messages.
    name: String,
    kind: Format,
    /// The file's text (decoded from UTF-16 when it starts with that byte order mark).
    text: String,
}

#[derive(PartialEq)]
enum Format {
    Jsonnet,
    Json,
    Yaml,
}

impl Directory<'_> {
    /// Reads the directory (blocking): plain files are parsed, Jsonnet files are left for
    /// [`Files::objects`]. Reading stops at the first failure, which is reported after the
    /// Jsonnet files before it, as upstream's walk order has it.
    pub(crate) fn files(&self) -> Files {
        let mut files = Files {
            parts: Vec::new(),
            jsonnet: None,
        };
        if let Err(e) = self.read(&mut files) {
            files.parts.push(Part::Failed(e));
        }
        files
    }

    fn read(&self, files: &mut Files) -> Result<(), Error> {
        for file in self.candidates()? {
            let objects = match file.kind {
                Format::Jsonnet => {
                    if files.jsonnet.is_none() {
                        let default = Default::default();
                        let spec = self.spec.jsonnet.as_ref().unwrap_or(&default);
                        files.jsonnet =
                            Some(Jsonnet::new(self.root.path(), self.app, spec, self.env)?);
                    }
                    files.parts.push(Part::Jsonnet {
                        file: file.real,
                        name: file.name,
                    });
                    continue;
                }
                Format::Json => json(&file)?.into_iter().collect(),
                Format::Yaml => yaml_file(&file)?,
            };
            files.parts.push(Part::Objects(objects));
        }
        Ok(())
    }

    fn candidates(&self) -> Result<Vec<Candidate>, Error> {
        let exclude = matcher(self.spec.exclude(), "exclude")?;
        let include = matcher(self.spec.include(), "include")?;
        let filter_ext = !self.spec.disable_extension_filter();
        let depth = if self.spec.recurse() { usize::MAX } else { 1 };
        let mut total = 0u64;
        let mut out = Vec::new();
        for entry in walk(self.app, depth, |_| true) {
            let entry = entry?;
            let ty = entry.file_type();
            if ty.is_dir() {
                continue;
            }
            let file_name = entry.file_name().to_string_lossy();
            if filter_ext && !EXTENSIONS.iter().any(|x| file_name.ends_with(x)) {
                continue;
            }
            let name = self.root.relative(entry.path());
            let real = if ty.is_symlink() {
                match self.root.follow(entry.path()) {
                    Ok(real) => real,
                    // A dangling link is skipped, as upstream does.
                    Err(Error::NotFound { .. }) => continue,
                    Err(e) => return Err(e),
                }
            } else {
                entry.path().to_path_buf()
            };
            let meta = real
                .metadata()
                .map_err(|e| Error::io(format!("reading {name}"), e))?;
            if !meta.is_file() {
                continue;
            }
            let in_app = relative(self.app, entry.path());
            if exclude.as_ref().is_some_and(|g| g.is_match(&in_app))
                || include.as_ref().is_some_and(|g| !g.is_match(&in_app))
            {
                continue;
            }
            let kind = if file_name.ends_with(".jsonnet") {
                Format::Jsonnet
            } else if file_name.ends_with(".json") {
                Format::Json
            } else {
                Format::Yaml
            };
            if kind == Format::Jsonnet && !self.jsonnet {
                continue;
            }
            // Jsonnet output is bounded by the evaluator, not by this cap (as upstream). The
            // size comes from metadata, so an oversized file is refused before it is read (even
            // one that carries the skip marker).
            let capped = kind != Format::Jsonnet && self.max_bytes != 0;
            if capped && total.saturating_add(meta.len()) > self.max_bytes {
                return Err(Error::TooLarge {
                    what: format!(
                        "the combined size of the manifests in {}",
                        self.root.relative(self.app)
                    ),
                    limit: self.max_bytes,
                });
            }
            let bytes =
                std::fs::read(&real).map_err(|e| Error::io(format!("reading {name}"), e))?;
            let text = decode(bytes);
            if text.contains(SKIP_MARKER) {
                continue;
            }
            if kind != Format::Jsonnet {
                total += meta.len();
            }
            out.push(Candidate {
                real,
                name,
                kind,
                text,
            });
        }
        Ok(out)
    }
}

/// Upstream's `util/glob.Match` (gobwas/glob without separators), see [`glob::loose`].
fn matcher(pattern: &str, field: &str) -> Result<Option<GlobMatcher>, Error> {
    if pattern.is_empty() {
        return Ok(None);
    }
    glob::loose(pattern).map(Some).map_err(|e| match e {
        Error::InvalidArgument(m) => Error::InvalidArgument(format!("directory.{field}: {m}")),
        e => e,
    })
}

/// A manifest's text as upstream reads it (`utfutil.UTF8`): a UTF-16 byte order mark selects
/// that encoding, a UTF-8 one is dropped, anything else is UTF-8.
fn decode(bytes: Vec<u8>) -> String {
    let utf16 = |big: bool| {
        let units = bytes[2..].chunks(2).map(|p| match (p, big) {
            ([a, b], true) => u16::from_be_bytes([*a, *b]),
            ([a, b], false) => u16::from_le_bytes([*a, *b]),
            _ => 0xfffd,
        });
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    };
    match bytes.as_slice() {
        [0xff, 0xfe, ..] => utf16(false),
        [0xfe, 0xff, ..] => utf16(true),
        [0xef, 0xbb, 0xbf, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        _ => String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// A `.json` file holds exactly one value. Objects without a kind are skipped.
fn json(file: &Candidate) -> Result<Option<Object>, Error> {
    let mut values = serde_json::Deserializer::from_str(&file.text).into_iter::<Value>();
    let value = match values.next() {
        Some(v) => v.map_err(|e| Error::parse(&file.name, e))?,
        None => return Ok(None),
    };
    if values.next().is_some() {
        return Err(Error::parse(
            &file.name,
            "holds several JSON values; a JSON file must hold one object",
        ));
    }
    match yaml::normalize(value) {
        Value::Null => Ok(None),
        value @ Value::Object(_) => Ok(object(value).ok()),
        _ => Err(Error::parse(
            &file.name,
            "a JSON manifest must be an object",
        )),
    }
}

/// YAML documents up to the first one that is not a Kubernetes object. Such a document fails
/// the file if objects preceded it or if the file looks like a manifest; otherwise the file is
/// taken for unrelated YAML and ignored, as upstream does.
fn yaml_file(file: &Candidate) -> Result<Vec<Object>, Error> {
    let text = &file.text;
    let mut out = Vec::new();
    for doc in yaml::documents(text) {
        match doc.and_then(|v| object(v).map_err(str::to_string)) {
            Ok(obj) => out.push(obj),
            Err(message) => {
                let looks_like_manifest = ["apiVersion:", "kind:", "metadata:"]
                    .iter()
                    .all(|k| text.contains(k));
                if out.is_empty() && !looks_like_manifest {
                    return Ok(vec![]);
                }
                return Err(Error::parse(&file.name, message));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_as_utfutil() {
        let text = "kind: A\n";
        let le: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xfe, 0xff]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(decode(le), text);
        assert_eq!(decode(be), text);
        assert_eq!(decode(b"\xef\xbb\xbfkind: A\n".to_vec()), text);
        assert_eq!(decode(text.as_bytes().to_vec()), text);
        assert_eq!(decode(vec![0xff, 0xfe, b'a']), "\u{fffd}", "odd byte");
        assert_eq!(decode(b"a\xff".to_vec()), "a\u{fffd}");
    }
}

//! Integration tests of `repo-render` against throwaway repositories and the real tools.
//! Tests needing helm or kustomize skip (with a note) when the tool is missing, except under
//! `CI=true`, where they fail; `scripts/install-tools` provides both in `.tools/bin`.

mod common;
mod detect;
mod directory;
mod helm;
mod isolation;
mod jsonnet;
mod kustomize;
mod limits;
mod security;
mod unpack_props;

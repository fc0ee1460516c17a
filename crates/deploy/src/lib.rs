//! Tests of the deployment artefacts: `deploy/` (kustomize bases, the Argo CD overlay, the
//! layout components, cert-manager) and the `Dockerfile`. They live in `tests/deploy`; this
//! library is empty on purpose.
#![forbid(unsafe_code)]

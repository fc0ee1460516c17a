#!/bin/sh
# Helm's post-renderer: the chart's manifests on stdin, the app's kustomization (which lists
# all.yaml) applied to them on stdout. Helm runs it in the app directory, the sidecar's own
# per-request copy.
set -eu
cat > all.yaml
exec kustomize build .

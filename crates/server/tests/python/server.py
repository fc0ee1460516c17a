"""A config management plugin sidecar in Python grpcio, built only from upstream's
plugin.proto (stubs generated at test time): an implementation of the sidecar side we did not
write, for our repo-server to talk to.

Usage: server.py STUBS_DIR SOCKET_PATH

The plugin: discovery takes an app directory holding `py.plugin`; GenerateManifest answers a
ConfigMap `py-report` (JSON) saying what arrived, then the app's *.yaml files as one YAML
text; an app holding `fail` is refused with INVALID_ARGUMENT; parameters announce the app's
files.
"""
import json
import os
import shutil
import sys
from concurrent import futures

import grpc

import stubs
import unpack

pb, pb_grpc = stubs.load(sys.argv[1])
from reposerver.repository import repository_pb2  # noqa: E402  (generated above)


class App:
    """One call's received app, removed on exit."""

    def __init__(self, requests, context):
        try:
            self.meta, self.chunks, data = unpack.receive(requests)
            self.root, self.entries = unpack.unpack(data)
        except (unpack.Refused, OSError, ValueError) as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "python plugin: %s" % e)
        self.dir = os.path.normpath(os.path.join(self.root, self.meta.appRelPath))
        if not unpack.inside(self.root, self.dir) or not os.path.isdir(self.dir):
            self.close()
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "python plugin: bad appRelPath")

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def files(self):
        return sorted(f for f in os.listdir(self.dir) if os.path.isfile(os.path.join(self.dir, f)))

    def env(self):
        return {e.name: e.value for e in self.meta.env}


class Plugin(pb_grpc.ConfigManagementPluginServiceServicer):
    def CheckPluginConfiguration(self, request, context):
        return pb.CheckPluginConfigurationResponse(isDiscoveryConfigured=True, provideGitCreds=False)

    def MatchRepository(self, requests, context):
        with App(requests, context) as app:
            found = "py.plugin" in app.files()
            return pb.RepositoryResponse(isSupported=found, isDiscoveryEnabled=True)

    def GetParametersAnnouncement(self, requests, context):
        with App(requests, context) as app:
            return pb.ParametersAnnouncementResponse(parameterAnnouncements=[
                repository_pb2.ParameterAnnouncement(
                    name="files", title="Files", collectionType="array", array=app.files()),
                repository_pb2.ParameterAnnouncement(
                    name="foo", required=True, string=app.env().get("ARGOCD_ENV_FOO", "")),
            ])

    def GenerateManifest(self, requests, context):
        with App(requests, context) as app:
            if "fail" in app.files():
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "python plugin refuses %s" % app.meta.appRelPath)
            report = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "py-report"},
                "data": {
                    "appName": app.meta.appName,
                    "appRelPath": app.meta.appRelPath,
                    "entries": "\n".join(app.entries),
                    "env": json.dumps(app.env(), sort_keys=True),
                    "chunks": str(len(app.chunks)),
                    "largestChunk": str(max(app.chunks, default=0)),
                    "checksum": app.meta.checksum,
                },
            }
            texts = []
            for name in app.files():
                if name.endswith(".yaml"):
                    with open(os.path.join(app.dir, name), encoding="utf-8") as f:
                        texts.append(f.read())
            manifests = [json.dumps(report)]
            if texts:
                manifests.append("---\n".join(texts))
            return pb.ManifestResponse(manifests=manifests)


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_ConfigManagementPluginServiceServicer_to_server(Plugin(), server)
    if server.add_insecure_port("unix:" + os.path.abspath(sys.argv[2])) == 0:
        sys.exit("cannot listen on " + sys.argv[2])
    server.start()
    print("serving", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()

"""A config management plugin client in Python grpcio, built only from upstream's
plugin.proto (stubs generated at test time): the repo-server side as upstream's Go sender
(util/cmp/stream.go, util/io/files/tar.go) writes it, for our argocd-cmp-server to answer.

Usage: client.py STUBS_DIR SOCKET_PATH CALL ROOT APP_PATH [--chunk N] [--env NAME=VALUE]...
       [--craft escape:NAME | --craft link:NAME | --craft checksum]
CALL is check, match, params or generate. Prints the answer as JSON: {"ok": {...}} or
{"code": "INVALID_ARGUMENT", "details": "..."}.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

import grpc
from google.protobuf import empty_pb2, json_format

import stubs


def walk(root, path=None):
    """Go's filepath.Walk: the root itself first, then each directory's names in lexical
    order, depth first."""
    path = path or root
    yield path
    if os.path.isdir(path) and not os.path.islink(path):
        for name in sorted(os.listdir(path)):
            yield from walk(root, os.path.join(path, name))


def tgz(root):
    """The tar.gz of `root` as upstream's files.Tgz writes it: a '.' entry first, then every
    directory, regular file and symlink (links as links) with its own mode."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for path in walk(root):
                rel = os.path.relpath(path, root)
                info = tar.gettarinfo(path, arcname=rel)
                if info.isfile():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                elif info.isdir() or info.issym():
                    tar.addfile(info)
    return raw.getvalue()


def crafted(how, name):
    """A tar.gz with a '.' entry, one file, and then, for `escape`, a file whose name climbs
    out with '../'; for `link`, a link to '../..' and a file written through it."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            dot = tarfile.TarInfo(".")
            dot.type, dot.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(dot)
            files = ["ok.yaml"]
            if how == "escape":
                files.append("../" + name)
            else:
                link = tarfile.TarInfo("up")
                link.type, link.linkname = tarfile.SYMTYPE, "../.."
                tar.addfile(link)
                files.append("up/" + name)
            for entry in files:
                body = b"kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: x\n"
                info = tarfile.TarInfo(entry)
                info.size, info.mode = len(body), 0o644
                tar.addfile(info, io.BytesIO(body))
    return raw.getvalue()


def requests(pb, data, app_name, app_rel_path, env, chunk, checksum):
    yield pb.AppStreamRequest(metadata=pb.ManifestRequestMetadata(
        appName=app_name, appRelPath=app_rel_path, checksum=checksum, size=len(data),
        env=[pb.EnvEntry(name=k, value=v) for k, v in env]))
    for start in range(0, len(data), chunk):
        yield pb.AppStreamRequest(file=pb.File(chunk=data[start:start + chunk]))


def main():
    args = argparse.ArgumentParser()
    for name in ("stubs", "socket", "call", "root", "app"):
        args.add_argument(name)
    args.add_argument("--chunk", type=int, default=1024)
    args.add_argument("--env", action="append", default=[])
    args.add_argument("--craft")
    a = args.parse_args()
    pb, pb_grpc = stubs.load(a.stubs)
    root = os.path.abspath(a.root)
    app = os.path.join(root, a.app)
    if a.craft and a.craft != "checksum":
        how, name = a.craft.split(":", 1)
        data = crafted(how, name)
    else:
        data = tgz(root)
    checksum = hashlib.sha256(data).hexdigest()
    if a.craft == "checksum":
        checksum = hashlib.sha256(data + b"x").hexdigest()
    env = [tuple(e.split("=", 1)) for e in a.env]
    stream = requests(pb, data, os.path.basename(app), os.path.relpath(app, root), env,
                      a.chunk, checksum)
    with grpc.insecure_channel("unix:" + os.path.abspath(a.socket)) as channel:
        stub = pb_grpc.ConfigManagementPluginServiceStub(channel)
        call = {
            "check": lambda: stub.CheckPluginConfiguration(empty_pb2.Empty(), timeout=60),
            "match": lambda: stub.MatchRepository(stream, timeout=60),
            "params": lambda: stub.GetParametersAnnouncement(stream, timeout=60),
            "generate": lambda: stub.GenerateManifest(stream, timeout=60),
        }[a.call]
        try:
            answer = call()
        except grpc.RpcError as e:
            print(json.dumps({"code": e.code().name, "details": e.details()}))
            return
    print(json.dumps({"ok": json_format.MessageToDict(
        answer, preserving_proto_field_name=True, including_default_value_fields=True)}))


if __name__ == "__main__":
    sys.exit(main())

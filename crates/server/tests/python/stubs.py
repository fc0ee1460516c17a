"""Generates Python gRPC stubs for upstream's cmpserver/plugin/plugin.proto and every file it
imports (well-known types excepted: grpc_tools carries them) with grpc_tools' protoc.

Usage: stubs.py PROTO_ROOT OUT_DIR; then put OUT_DIR first on sys.path (see load()).
"""
import os
import re
import sys

IMPORT = re.compile(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.M)
PLUGIN = "cmpserver/plugin/plugin.proto"


def closure(root, first):
    """`first` and the files it imports, transitively, relative to `root`."""
    seen, todo = [], [first]
    while todo:
        name = todo.pop()
        if name in seen or name.startswith("google/protobuf/"):
            continue
        seen.append(name)
        with open(os.path.join(root, name), encoding="utf-8") as f:
            todo.extend(IMPORT.findall(f.read()))
    return seen


def generate(root, out):
    import grpc_tools
    from grpc_tools import protoc

    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = ["protoc", "-I" + root, "-I" + well_known,
            "--python_out=" + out, "--grpc_python_out=" + out] + closure(root, PLUGIN)
    if protoc.main(args) != 0:
        sys.exit("grpc_tools.protoc failed on " + " ".join(args[5:]))


def load(out):
    """The generated plugin modules (plugin_pb2, plugin_pb2_grpc)."""
    sys.path.insert(0, out)
    from cmpserver.plugin import plugin_pb2, plugin_pb2_grpc
    return plugin_pb2, plugin_pb2_grpc


if __name__ == "__main__":
    generate(sys.argv[1], sys.argv[2])

#!/usr/bin/env python3
"""Benchmark peer: grpcio (gRPC C-core + BoringSSL) serving grpc.health.v1.Health/Check.

Only the `grpcio` package is needed: the RPC is registered through a generic
handler with identity (bytes) serializers, and the reply is the pre-encoded
HealthCheckResponse{status: SERVING} (field 1, varint 1 -> b"\\x08\\x01").

Usage:
  server.py --listen 127.0.0.1:PORT --cert server.pem --key server-key.pem --ca ca.pem
  server.py --listen 127.0.0.1:PORT --plaintext        # h2c, no TLS (e.g. behind nghttpx)

Prints "ready" on stdout once the server is listening.
"""

import argparse
import signal
import sys
import threading
from concurrent import futures

import grpc

SERVING = b"\x08\x01"


def check(request, context):
    # request is the raw HealthCheckRequest bytes; the service name is ignored.
    return SERVING


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", default="127.0.0.1:50051")
    p.add_argument("--cert", help="server certificate chain (PEM)")
    p.add_argument("--key", help="server private key (PEM)")
    p.add_argument("--ca", help="CA bundle for verifying client certificates (PEM)")
    p.add_argument("--plaintext", action="store_true",
                   help="serve h2c without TLS (cert/key/ca not needed)")
    p.add_argument("--workers", type=int, default=4, help="handler thread pool size")
    args = p.parse_args()

    if not args.plaintext and not (args.cert and args.key and args.ca):
        p.error("--cert, --key and --ca are required unless --plaintext is given")

    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {"Check": grpc.unary_unary_rpc_method_handler(check)},
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.workers),
        handlers=[handler],
        # C-core sets SO_REUSEPORT by default, which would let us "bind" a port
        # another process already listens on; fail loudly instead.
        options=[("grpc.so_reuseport", 0)],
    )

    try:
        if args.plaintext:
            port = server.add_insecure_port(args.listen)
        else:
            creds = grpc.ssl_server_credentials(
                [(read(args.key), read(args.cert))],
                root_certificates=read(args.ca),
                require_client_auth=True,
            )
            port = server.add_secure_port(args.listen, creds)
    except RuntimeError as e:
        sys.exit(f"cannot listen on {args.listen}: {e}")
    if port == 0:
        sys.exit(f"cannot listen on {args.listen}")

    server.start()

    stopped = threading.Event()

    def on_signal(signum, frame):
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    print("ready", flush=True)

    while not stopped.wait(3600):
        pass
    server.stop(grace=0).wait()


if __name__ == "__main__":
    main()

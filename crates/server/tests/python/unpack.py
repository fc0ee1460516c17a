"""Upstream's CMP stream, received as upstream's cmpserver/plugin does it, written from
plugin.proto and util/cmp/stream.go only: metadata first, then the tar.gz in File chunks,
checked against the metadata's size and SHA-256, unpacked confined into a fresh directory.
"""
import hashlib
import io
import os
import tarfile
import tempfile


class Refused(Exception):
    """The stream or archive is not acceptable; the text says why."""


def inside(root, path):
    root = os.path.realpath(root)
    return path == root or path.startswith(root + os.sep)


def receive(requests):
    """(metadata, chunk sizes, archive bytes) of an AppStreamRequest iterator."""
    requests = iter(requests)
    first = next(requests, None)
    if first is None or first.WhichOneof("request") != "metadata":
        raise Refused("the first message is not the metadata")
    meta, data, chunks = first.metadata, io.BytesIO(), []
    for message in requests:
        if message.WhichOneof("request") != "file":
            raise Refused("a message after the metadata is not a file chunk")
        data.write(message.file.chunk)
        chunks.append(len(message.file.chunk))
    data = data.getvalue()
    if len(data) != meta.size:
        raise Refused("received %d bytes, the metadata says %d" % (len(data), meta.size))
    if hashlib.sha256(data).hexdigest() != meta.checksum:
        raise Refused("checksum mismatch")
    return meta, chunks, data


def unpack(data):
    """Unpacks the tar.gz into a fresh directory: (directory, entries as 'kind name')."""
    dest = os.path.realpath(tempfile.mkdtemp(prefix="py-cmp-"))
    entries = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            target = os.path.normpath(os.path.join(dest, member.name))
            if not inside(dest, target):
                raise Refused("entry %r leaves the directory" % member.name)
            if member.isdir():
                os.makedirs(target, exist_ok=True)
                entries.append("d " + member.name)
            elif member.issym():
                link = os.path.normpath(os.path.join(os.path.dirname(target), member.linkname))
                if os.path.isabs(member.linkname) or not inside(dest, link):
                    raise Refused("link %r leaves the directory" % member.name)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.symlink(member.linkname, target)
                entries.append("l %s -> %s" % (member.name, member.linkname))
            elif member.isfile():
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as out:
                    out.write(tar.extractfile(member).read())
                entries.append("f %s %o" % (member.name, member.mode & 0o777))
            else:
                raise Refused("entry %r is neither file, directory nor link" % member.name)
    return dest, entries

"""Digests as the OCI image spec writes them (sha256:HEX), of bytes and of files."""

from pathlib import Path

from ..errors import TinydockerError


def sha256_hex(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    if algorithm != "sha256" or len(hex_part) != 64 or any(c not in "0123456789abcdef" for c in hex_part):
        raise TinydockerError(f"unsupported or malformed digest {digest!r}")
    return hex_part


def digest_of(data: bytes) -> str:
    import hashlib  # only what changes the store digests: kept off run's path

    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()

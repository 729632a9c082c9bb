"""What a COPY or ADD copies: its sources resolved (the context, another stage or image,
heredocs, an ADD's archive or URL), the destination, the checksum its cache key takes
from the files' content, and the copy itself (copying.py)."""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
import json
import os

from ..errors import TinydockerError
from . import copying
from .words import expand, expand_words


@dataclass
class Plan:
    created_by: str
    checksum: str
    apply: object      # apply(enter): copy into the tree enter() enters


def plan(builder, state, ins, all_stages, index: int) -> Plan:
    from .build import BuildError

    flags = dict(ins.flags)
    unsupported = [f for f in ("parents", "exclude", "keep-git-dir") if f in flags]
    if unsupported:
        raise BuildError(f"{ins.keyword} --{unsupported[0]} (line {ins.line}) is BuildKit's (its labs syntax), "
                         "which tinydocker's builder is not")
    lookup, escape = builder._lookup(state), builder.escape
    if ins.json:
        words = [expand(w, lookup, escape) for w in ins.args]
    else:
        words = expand_words(ins.args[0], lookup, escape)
    docs = {d.name: d for d in ins.heredocs}
    if len(words) < 2:
        raise BuildError(f"{ins.keyword} requires at least two arguments, but only one was provided. "
                         f"Destination could not be determined (line {ins.line})")
    sources, dest = words[:-1], words[-1]
    sources = [s[2:].lstrip("-").strip("'\"") if s.startswith("<<") else s for s in sources]
    workdir = state.config.get("WorkingDir") or "/"
    if not dest.startswith("/"):
        trailing = dest.endswith("/") or dest in (".", "./")
        dest = os.path.normpath(os.path.join(workdir, dest))
        dest = dest.rstrip("/") + "/" if trailing else dest
    chown = expand(flags["chown"], lookup, escape) if flags.get("chown") else None
    chmod_text = expand(flags["chmod"], lookup, escape) if flags.get("chmod") else None
    chmod = _mode(chmod_text, ins) if chmod_text else None
    header = {"dest": dest, "chown": chown, "chmod": chmod}
    # as they apply (ARGs substituted): part of the history, and so of the cache key
    text = " ".join(f"--{k}={v}" for k, v in (("chown", chown), ("chmod", chmod_text)) if v)
    keyword = ins.keyword
    if flags.get("from"):
        return _from_image(builder, state, ins, sources, header, text, all_stages, index)
    items, digests = [], []
    for source in sources:
        if source in docs:
            items.append(_heredoc(builder, docs[source], lookup, escape))
            digests.append(hashlib.sha256(items[-1][3].encode()).hexdigest())
        elif keyword == "ADD" and source.startswith(("http://", "https://")):
            path = _download(builder, source, flags.get("checksum"))
            items.append(("file", os.path.basename(source.split("?")[0].rstrip("/")) or "download", path, None))
            digests.append(_file_sum(path))
        else:
            try:
                found = builder.context.sources(source, keyword)
            except TinydockerError as e:
                raise BuildError(str(e)) from None
            for rel in found:  # each where it is in the context, and the name it is copied as
                path = builder.context.root if rel == "." else os.path.join(builder.context.root, rel)
                if keyword == "ADD" and os.path.isfile(path) and _archive_kind(path) is not None:
                    items.append(("archive", rel.name, path, None))
                    digests.append(_file_sum(path))
                else:
                    items.append(("context", rel.name, path, rel))
            digests.append(builder.context.checksum(found))
    if len(items) > 1 and not dest.endswith("/"):
        raise BuildError(f"When using {keyword} with more than one source file, the destination must be a "
                         f"directory and end with a / (line {ins.line})")
    checksum = "sha256:" + hashlib.sha256("\n".join(digests).encode()).hexdigest()
    kind = "dir" if any(os.path.isdir(i[2]) for i in items) else "file"
    created_by = f"/bin/sh -c #(nop) {keyword} {text + ' ' if text else ''}{kind}:{checksum[7:]} in {dest} "

    def produce(out):
        import contextlib
        import tarfile

        header["items"] = [{"name": name, "dir": what == "archive" or os.path.isdir(path)}
                           for what, name, path, _ in items]
        beneath = copying.opener_beneath(builder.context.root)
        with contextlib.ExitStack() as opened:
            sent = []
            for i, (what, name, path, rel) in enumerate(items):
                if what == "archive":  # unpacked at DEST, in the image: its links are the image's
                    stream = opened.enter_context(_opened(path, _archive_kind(path)))
                    sent.append((i, opened.enter_context(tarfile.open(fileobj=stream, mode="r|"))))
                elif what == "context":
                    sent.append((i, _entries(builder, path, rel), False, beneath))
                else:  # the build's own file: a heredoc's, a download
                    sent.append((i, copying.walk_tree(path), False, copying.open_plain))
            try:
                copying.send(out, header, sent)
            except (tarfile.TarError, EOFError, OSError) as e:
                if isinstance(e, BrokenPipeError):
                    raise
                raise BuildError(f"{keyword}: cannot read the archive: {e}") from None

    return Plan(created_by, checksum, lambda enter: copying.copy(enter, produce))


def _entries(builder, path: str, rel):
    """(name below the item, host path, lstat) of a context source and what is under it."""
    for below, st in builder.context.walk(rel):  # rel itself first, its links already followed
        if below == rel:
            yield "", path, st
        else:
            name = below if rel == "." else below[len(rel) + 1:]
            yield name, os.path.join(builder.context.root, below), st


def _from_image(builder, state, ins, sources, header, text, all_stages, index) -> Plan:
    from .build import BuildError

    ref = expand(dict(ins.flags)["from"], builder._lookup(state), builder.escape)
    other = builder._stage_named(all_stages, ref, before=index)
    if other is not None:
        image = builder.built[other.index].image
    else:
        try:
            image = builder.image_for(ref, builder.options.pull)
        except TinydockerError as e:
            raise BuildError(f"{ins.keyword} --from={ref}: {e}") from None
    if image is None:
        raise BuildError(f"{ins.keyword} --from={ref}: that stage has no files (FROM scratch)")
    lower = [os.path.basename(str(d)) for d in builder.store.layer_dirs(image)]
    mountpoint = os.path.join(str(builder.work), f"from{builder.step}")
    os.makedirs(mountpoint, exist_ok=True)
    checksum = "sha256:" + hashlib.sha256(json.dumps([image.id, sources]).encode()).hexdigest()
    created_by = (f"/bin/sh -c #(nop) {ins.keyword} {text + ' ' if text else ''}--from={ref} "
                  f"{' '.join(sources)} in {header['dest']} ")

    def produce(out):
        found = copying.image_sources(sources)
        if len(found) > 1 and not header["dest"].endswith("/"):
            raise copying.CopyError(f"When using {ins.keyword} with more than one source file, the destination "
                                    "must be a directory and end with a /")
        # a source that is a link is copied as what it leads to (in the image: the chroot),
        # under its own name, as docker does; links below a directory stay links
        header["items"] = [{"name": os.path.basename(p) or "/", "dir": os.path.isdir(p)} for p in found]
        copying.send(out, header, [(i, copying.walk_tree(os.path.realpath(p)), True, copying.open_plain)
                                   for i, p in enumerate(found)])

    enter_source = copying.source_enter(str(builder.store.layers), lower, mountpoint)
    return Plan(created_by, checksum, lambda enter: copying.copy(enter, produce, enter_source))


def _heredoc(builder, doc, lookup, escape):
    content = expand(doc.content, lookup, escape) if doc.expand else doc.content
    path = os.path.join(str(builder.work), f"heredoc{builder.step}-{os.urandom(4).hex()}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    os.chmod(path, 0o644)
    return ("heredoc", doc.name, path, content)


def _mode(text: str, ins) -> int:
    from .build import BuildError

    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise BuildError(f"{ins.keyword} --chmod={text}: an octal mode such as 755 is needed (line {ins.line})")
    return mode


def _file_sum(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# -- ADD's archives and URLs ----------------------------------------------------------------

def _archive_kind(path: str) -> str | None:
    """"tar", "gzip", "bzip2", "xz" or "zstd" for a (compressed) tar archive, else None:
    ADD unpacks archives by their content, not their name, as docker does."""
    with open(path, "rb") as f:
        head = f.read(512)
    kinds = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
    for magic, kind in kinds.items():
        if head.startswith(magic):
            try:
                with _opened(path, kind) as stream:
                    inner = stream.read(512)
            except Exception:  # noqa: BLE001 - not what its magic said: an ordinary file
                return None
            return kind if inner[257:262] == b"ustar" else None
    return "tar" if head[257:262] == b"ustar" else None


def _opened(path: str, kind: str):
    if kind == "bzip2":
        import bz2

        return bz2.open(path, "rb")
    if kind == "xz":
        import lzma

        return lzma.open(path, "rb")
    from ..image import layer

    raw = open(path, "rb")
    return layer.decompressing(raw, layer.sniff(raw.peek(6)[:6])) if kind != "tar" else raw


def _download(builder, url: str, checksum: str | None) -> str:
    """ADD URL: fetched into the build's private directory, 0600 as docker leaves it, with
    its Last-Modified time; --checksum=sha256:HEX checked."""
    import urllib.error
    import urllib.request
    from email.utils import parsedate_to_datetime

    from .build import BuildError

    path = os.path.join(str(builder.work), f"download{builder.step}-{os.urandom(4).hex()}")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := response.read(1 << 16):
                    digest.update(chunk)
                    out.write(chunk)
            modified = response.headers.get("Last-Modified")
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        raise BuildError(f"ADD {url}: cannot fetch it: {reason}") from None
    if checksum and checksum != "sha256:" + digest.hexdigest():
        raise BuildError(f"ADD {url}: the content's digest sha256:{digest.hexdigest()} is not --checksum={checksum}")
    if modified:
        try:
            when = parsedate_to_datetime(modified).timestamp()
            os.utime(path, (when, when))
        except (TypeError, ValueError):
            pass
    return path

"""A build's context on real files: a directory, or a tar (made by `tar` and by tarfile,
plain and compressed) or a lone Dockerfile on stdin; finding the Dockerfile and its ignore
file; COPY's sources; the cache checksum. buildah, building the same context, says what a
real builder copies."""

import io
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import fixtures
from tinydocker.builder.context import ContextError, open_context


def _tree(root: Path, files: dict) -> Path:
    """Files from {relative path: content}; a value ("link", TARGET) is a symlink."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            path.symlink_to(content[1])
        else:
            path.write_text(content)
    return root


def _one_line_error(call, *match):
    with pytest.raises(ContextError) as raised:
        call()
    message = str(raised.value)
    assert raised.value.code == 1 and "\n" not in message, message
    for part in match:
        assert part in message, message
    return message


# -- finding the Dockerfile and the ignore file ----------------------------------------------

@pytest.mark.parametrize("present, chosen", [
    (["Dockerfile"], "Dockerfile"),
    (["dockerfile"], "dockerfile"),
    (["Containerfile"], "Containerfile"),
    (["Containerfile", "Dockerfile"], "Dockerfile"),  # docker's own name first
])
def test_the_dockerfile_is_found_in_the_context_root(tmp_path, present, chosen):
    root = _tree(tmp_path / "ctx", {name: f"FROM {name}\n" for name in present})
    with open_context(str(root), None, str(tmp_path)) as context:
        assert context.dockerfile == f"FROM {chosen}\n".encode() and context.dockerfile_name == chosen
        assert context.root == str(root)
        assert not context.ignore.ignored("x")


def test_dash_f_is_relative_to_the_current_directory_and_brings_its_own_ignore_file(tmp_path, monkeypatch):
    root = _tree(tmp_path / "ctx", {
        "Dockerfile": "FROM root\n", ".dockerignore": "a\n", "sub/Containerfile": "FROM sub\n",
        "sub/Containerfile.dockerignore": "b\n", "elsewhere.df": "FROM elsewhere\n"})
    monkeypatch.chdir(root / "sub")
    with open_context(str(root), "Containerfile", str(tmp_path)) as context:
        assert context.dockerfile == b"FROM sub\n" and context.dockerfile_name == "Containerfile"
        assert context.ignore.ignored("b") and not context.ignore.ignored("a")
    outside = _tree(tmp_path / "out", {"My.df": "FROM out\n"})
    monkeypatch.chdir(outside)
    with open_context(str(root), "My.df", str(tmp_path)) as context:
        assert context.dockerfile == b"FROM out\n"
        assert context.ignore.ignored("a")  # no My.df.dockerignore: the context's own


def test_dockerignore_before_containerignore(tmp_path):
    root = _tree(tmp_path / "ctx", {"Containerfile": "FROM x\n", ".containerignore": "c\n"})
    with open_context(str(root), None, str(tmp_path)) as context:
        assert context.ignore.ignored("c")
    (root / ".dockerignore").write_text("d\n")
    with open_context(str(root), None, str(tmp_path)) as context:
        assert context.ignore.ignored("d") and not context.ignore.ignored("c")


def test_the_dockerfile_from_stdin_with_a_directory_context(tmp_path):
    root = _tree(tmp_path / "ctx", {"Dockerfile": "FROM disk\n", "f": "x"})
    with open_context(str(root), "-", str(tmp_path), stdin=io.BytesIO(b"FROM stdin\n")) as context:
        assert context.dockerfile == b"FROM stdin\n"
        assert context.sources("f") == ["f"]


def test_unusable_contexts_and_dockerfiles_are_one_line_each(tmp_path):
    root = _tree(tmp_path / "ctx", {"file": "x", "Dockerfile": "FROM x\n", "sub/a": "a"})
    scratch = str(tmp_path)
    _one_line_error(lambda: open_context(str(tmp_path / "missing"), None, scratch), "missing", "not found")
    _one_line_error(lambda: open_context(str(root / "file"), None, scratch), "must be a directory")
    _one_line_error(lambda: open_context(str(root / "sub"), None, scratch), "no Dockerfile or Containerfile",
                    str(root / "sub"))
    _one_line_error(lambda: open_context(str(root), str(root / "nope"), scratch), "nope",
                    "No such file or directory")
    _one_line_error(lambda: open_context("-", "-", scratch, stdin=io.BytesIO(b"")), "stdin", "both")
    (root / ".dockerignore").write_text("[\n")
    _one_line_error(lambda: open_context(str(root), None, scratch), ".dockerignore", "'['")


# -- COPY's sources ----------------------------------------------------------------------------

def test_sources_by_name_and_by_wildcard_sorted_without_ignored_ones(tmp_path):
    root = _tree(tmp_path / "ctx", {
        "Dockerfile": "FROM x\n", ".dockerignore": "*.tmp\nsecret\n",
        "b.txt": "b", "a.txt": "a", "c.tmp": "c", "d/e.txt": "e", "d/f/g.txt": "g", "secret/k": "k",
        "[x]": "literal brackets"})
    with open_context(str(root), None, str(tmp_path)) as context:
        assert context.sources("*.txt") == ["a.txt", "b.txt"]
        assert context.sources("/a.txt") == ["a.txt"] and context.sources("./d/../a.txt") == ["a.txt"]
        assert context.sources("*/*.txt") == ["d/e.txt"]  # a wildcard never spans a slash
        assert context.sources("?/f") == ["d/f"] and context.sources("d/f/g.tx[st]") == ["d/f/g.txt"]
        assert context.sources("[[]x]") == ["[x]"]
        (root / "d.e").mkdir()
        (root / "d.e/e.txt").write_text("later")
        assert context.sources("*/e.txt") == ["d/e.txt", "d.e/e.txt"]  # as a walk meets them: d's entries first
        assert context.sources(".") == ["."] and context.sources("/") == ["."]
        assert [s.name for s in context.sources("*.txt")] == ["a.txt", "b.txt"]
        for gone in ("c.tmp", "*.tmp", "secret", "secret/k", "nothing", "nothing*"):
            _one_line_error(lambda: context.sources(gone), "COPY failed: file not found in build context or "
                            f"excluded by .dockerignore: stat {gone}: file does not exist")
        _one_line_error(lambda: context.sources("../x", "ADD"),
                        "ADD failed: forbidden path outside the build context: ../x")
        _one_line_error(lambda: context.sources("a/../../x"), "forbidden path outside the build context")
        _one_line_error(lambda: context.sources("a["), "syntax error in pattern")


def test_a_named_or_matched_symlink_is_followed_inside_the_context_one_below_is_kept(tmp_path):
    root = _tree(tmp_path / "ctx", {
        "Dockerfile": "FROM x\n", "real/file": "content", "real/sub/x": "x", "real/rel": ("link", "file"),
        "link": ("link", "real/file"), "dirlink": ("link", "real"), "abslink": ("link", "/real/file"),
        "out": ("link", "../../../etc/passwd"), "loop": ("link", "loop")})
    with open_context(str(root), None, str(tmp_path)) as context:
        for pattern, real, name in [("link", "real/file", "link"), ("abslink", "real/file", "abslink"),
                                    ("dirlink", "real", "dirlink"), ("dirlink/file", "real/file", "file"),
                                    ("lin?", "real/file", "link"), ("dirlin*/sub", "real/sub", "sub")]:
            [source] = context.sources(pattern)
            assert (source, source.name) == (real, name), pattern
        # `..` stops at the context's root: /etc/passwd there does not exist
        _one_line_error(lambda: context.sources("out"), "stat out: file does not exist")
        _one_line_error(lambda: context.sources("loop"), "loop")
        walked = {path: st for path, st in context.walk("real")}
        assert list(walked) == ["real", "real/file", "real/rel", "real/sub", "real/sub/x"]
        assert os.path.islink(root / "real/rel") and walked["real/rel"].st_mode & 0o170000 == 0o120000
        _one_line_error(lambda: list(context.walk("dirlink/file")), "not a path in the build context")


def test_ignored_symlinks_and_targets_are_not_sources(tmp_path):
    root = _tree(tmp_path / "ctx", {"Dockerfile": "FROM x\n", "real/file": "f", "link": ("link", "real/file"),
                                    "dirlink": ("link", "real"), ".dockerignore": "link\n"})
    with open_context(str(root), None, str(tmp_path)) as context:
        _one_line_error(lambda: context.sources("link"), "stat link")
        assert context.sources("dirlink/file") == ["real/file"]
    (root / ".dockerignore").write_text("real/file\n")
    with open_context(str(root), None, str(tmp_path)) as context:
        _one_line_error(lambda: context.sources("link"), "stat link")  # where it leads is excluded
    (root / ".dockerignore").write_text("dirlink\n")
    with open_context(str(root), None, str(tmp_path)) as context:
        _one_line_error(lambda: context.sources("dirlink/file"), "stat dirlink/file")


def test_walk_is_sorted_parents_first_and_skips_what_is_ignored(tmp_path):
    root = _tree(tmp_path / "ctx", {
        "Dockerfile": "FROM x\n", ".dockerignore": "build\n!build/keep\n**/*.o\nDockerfile\n",
        "b/2": "", "b/1": "", "a": "", "build/keep": "", "build/drop": "", "build/x/keep": "", "c/z.o": ""})
    with open_context(str(root), None, str(tmp_path)) as context:
        assert [path for path, _ in context.walk(".")] == [
            ".", ".dockerignore", "a", "b", "b/1", "b/2", "build/keep", "c"]
        assert [path for path, _ in context.walk("b")] == ["b", "b/1", "b/2"]


# -- the checksum --------------------------------------------------------------------------------

def _checksum_tree(root: Path) -> Path:
    _tree(root, {"Dockerfile": "FROM x\n", ".dockerignore": "d/ignored\n", "d/a": "alpha", "d/s/b": "beta",
                 "d/l": ("link", "a"), "d/ignored": "whatever", "f": "file"})
    os.chmod(root / "d/a", 0o4755)
    os.chown(root / "d/s/b", 1000, 1001)
    os.setxattr(root / "d/a", "user.note", b"one")
    return root


def _sum(root: Path, *patterns: str, scratch: Path) -> str:
    with open_context(str(root), None, str(scratch)) as context:
        return context.checksum([s for p in patterns for s in context.sources(p)])


def test_the_checksum_is_the_same_for_the_same_tree_and_ignores_times(tmp_path):
    one = _checksum_tree(tmp_path / "one")
    two = _checksum_tree(tmp_path / "two")
    first = _sum(one, "d", "f", scratch=tmp_path)
    assert first.startswith("sha256:") and len(first) == 71
    for path in (two / "d/a", two / "d", two / "d/s/b"):
        os.utime(path, (1, 1))
    os.utime(two / "d/l", (2, 2), follow_symlinks=False)
    assert _sum(two, "d", "f", scratch=tmp_path) == first
    (two / "d/ignored").write_text("changed, but ignored")
    assert _sum(two, "d", "f", scratch=tmp_path) == first
    os.chmod(two / "d", 0o700)  # a directory source's entries are copied, not itself (buildah: 0755)
    assert _sum(two, "d", "f", scratch=tmp_path) == first
    assert _sum(one, "f", "d", scratch=tmp_path) != first  # the order of sources is the order of copies


@pytest.mark.parametrize("change", ["content", "mode", "sticky", "owner", "group", "link", "xattr", "new file",
                                    "name", "type"])
def test_the_checksum_changes_with_what_copy_copies(tmp_path, change):
    root = _checksum_tree(tmp_path / "ctx")
    before = _sum(root, "d", "f", scratch=tmp_path)
    if change == "content":
        (root / "d/s/b").write_text("betb")
    elif change == "mode":
        os.chmod(root / "d/a", 0o755)
    elif change == "sticky":
        os.chmod(root / "d/s", 0o1755)
    elif change == "owner":
        os.chown(root / "d/s/b", 1002, 1001)
    elif change == "group":
        os.chown(root / "d/s/b", 1000, 1002)
    elif change == "link":
        (root / "d/l").unlink()
        (root / "d/l").symlink_to("s/b")
    elif change == "xattr":
        os.setxattr(root / "d/a", "user.note", b"two")
    elif change == "new file":
        (root / "d/s/c").write_text("")
    elif change == "name":
        (root / "d/s/b").rename(root / "d/s/c")
    elif change == "type":
        (root / "d/s/b").unlink()
        (root / "d/s/b").mkdir()
    assert _sum(root, "d", "f", scratch=tmp_path) != before


# -- contexts on stdin ------------------------------------------------------------------------------

def _tar_with_the_tar_command(root: Path, compress: str, out: Path) -> bytes:
    flags = {"": [], "gzip": ["-z"], "bzip2": ["-j"], "xz": ["-J"], "zstd": ["--zstd"]}[compress]
    subprocess.run(["tar", "-c", *flags, "-f", str(out), "-C", str(root), "."], check=True)
    return out.read_bytes()


@pytest.mark.parametrize("compress", ["", "gzip", "bzip2", "xz", "zstd"])
def test_a_tar_on_stdin_is_unpacked_privately_and_removed_on_close(tmp_path, compress):
    source = _tree(tmp_path / "src", {"Dockerfile": "FROM tar\n", ".dockerignore": "skip\n", "skip": "s",
                                      "dir/file": "data", "dir/link": ("link", "file"), "abs": ("link", "/dir/file")})
    os.chown(source / "dir/file", 123, 456)
    os.chmod(source / "dir/file", 0o4751)  # after chown, which drops setuid
    os.link(source / "dir/file", source / "hard")
    data = _tar_with_the_tar_command(source, compress, tmp_path / "context.tar")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with open_context("-", None, str(scratch), stdin=io.BytesIO(data)) as context:
        root = Path(context.root)
        assert root.parent == scratch and context.dockerfile == b"FROM tar\n"
        assert context.dockerfile_name == "Dockerfile"
        st = (root / "dir/file").lstat()
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o4751, 123, 456)
        assert (root / "hard").stat().st_ino == st.st_ino
        assert os.readlink(root / "dir/link") == "file" and os.readlink(root / "abs") == "/dir/file"
        assert context.sources("abs") == ["dir/file"]
        _one_line_error(lambda: context.sources("skip"), "stat skip")
        assert _sum(source, "dir", scratch=tmp_path) == context.checksum(context.sources("dir"))
    assert list(scratch.iterdir()) == []


def test_a_tar_from_tarfile_with_dash_f_inside_it(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in [("build/Containerfile", b"FROM inside\n"), ("build/Containerfile.dockerignore", b"x\n"),
                              ("x", b"hidden"), ("y", b"kept")]:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        null = tarfile.TarInfo("dev/null")
        null.type, null.devmajor, null.devminor, null.mode = tarfile.CHRTYPE, 1, 3, 0o666
        fifo = tarfile.TarInfo("dev/fifo")
        fifo.type, fifo.mode = tarfile.FIFOTYPE, 0o640
        xattr = tarfile.TarInfo("noted")
        xattr.pax_headers = {"SCHILY.xattr.user.note": "kept"}
        for info in (null, fifo, xattr):
            tar.addfile(info)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with open_context("-", "build/Containerfile", str(scratch), stdin=io.BytesIO(buffer.getvalue())) as context:
        assert context.dockerfile == b"FROM inside\n" and context.dockerfile_name == "build/Containerfile"
        assert context.ignore.ignored("x") and context.sources("y") == ["y"]
        assert (Path(context.root) / "build").stat().st_mode & 0o777 == 0o755  # made, as docker makes it
        walked = dict(context.walk("dev"))
        assert stat.S_ISCHR(walked["dev/null"].st_mode) and walked["dev/null"].st_rdev == os.makedev(1, 3)
        assert stat.S_ISFIFO(walked["dev/fifo"].st_mode) and stat.S_IMODE(walked["dev/fifo"].st_mode) == 0o640
        assert os.getxattr(Path(context.root) / "noted", "user.note") == b"kept"
    _one_line_error(lambda: open_context("-", "nope", str(scratch), stdin=io.BytesIO(buffer.getvalue())),
                    "cannot read Dockerfile nope")
    assert list(scratch.iterdir()) == []


def test_a_lone_dockerfile_on_stdin_has_an_empty_context(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with open_context("-", None, str(scratch), stdin=io.BytesIO(b"FROM alone\nRUN true\n")) as context:
        assert context.dockerfile == b"FROM alone\nRUN true\n" and context.dockerfile_name == "Dockerfile"
        assert os.listdir(context.root) == []
        _one_line_error(lambda: context.sources("*"), "file not found")
    assert list(scratch.iterdir()) == []


def _member(name, kind=tarfile.REGTYPE, content=b"", linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, linkname, len(content)
    return info, io.BytesIO(content)


@pytest.mark.parametrize("members, said", [
    ([("../evil", tarfile.REGTYPE, b"x", "")], "'../evil' would land outside the context"),
    ([("a/../../evil", tarfile.REGTYPE, b"x", "")], "would land outside the context"),
    ([("/evil", tarfile.REGTYPE, b"x", "")], "'/evil' has an absolute name"),
    ([("abs", tarfile.SYMTYPE, b"", "{outside}"), ("abs/evil", tarfile.REGTYPE, b"x", "")],
     "'abs/evil' would go through 'abs', which is not a directory"),
    ([("up", tarfile.SYMTYPE, b"", "../.."), ("up/evil", tarfile.REGTYPE, b"x", "")],
     "'up' is a symlink to '../..', outside the context"),
    ([("hard", tarfile.LNKTYPE, b"", "../../etc/passwd")], "'hard' is a hard link to '../../etc/passwd'"),
    ([("hard", tarfile.LNKTYPE, b"", "/etc/passwd")], "hard link to '/etc/passwd'"),
    ([("hard", tarfile.LNKTYPE, b"", "missing")], "which is not a file the tar holds"),
])
def test_a_hostile_tar_is_refused_and_leaves_nothing(tmp_path, members, said):
    outside = tmp_path / "outside"
    outside.mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(*_member("Dockerfile", content=b"FROM x\n"))
        for name, kind, content, linkname in members:
            tar.addfile(*_member(name, kind, content, linkname.format(outside=outside)))
    scratch = tmp_path / "deep" / "scratch"
    scratch.mkdir(parents=True)
    _one_line_error(lambda: open_context("-", None, str(scratch), stdin=io.BytesIO(buffer.getvalue())),
                    "unable to unpack the build context from stdin", said)
    assert list(scratch.iterdir()) == [] and list(outside.iterdir()) == []
    assert not (tmp_path / "deep" / "evil").exists() and not (tmp_path / "evil").exists()


def test_a_corrupt_or_truncated_tar_is_one_line(tmp_path):
    source = _tree(tmp_path / "src", {"Dockerfile": "FROM x\n", "big": "y" * 100_000})
    data = _tar_with_the_tar_command(source, "gzip", tmp_path / "c.tgz")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for bad in (data[: len(data) // 2], data[:2] + b"\0" * 600):
        _one_line_error(lambda: open_context("-", None, str(scratch), stdin=io.BytesIO(bad)),
                        "unable to unpack the build context from stdin")
    assert list(scratch.iterdir()) == []


# -- what buildah, a real builder, copies ----------------------------------------------------------

def _buildah_copy(tmp_path: Path, root: Path) -> dict[str, str]:
    """What `buildah bud` puts in an image FROM scratch with the context's Dockerfile:
    {path: type} (d, f or l)."""
    storage = fixtures._storage(tmp_path, "context")
    try:
        storage("bud", "--quiet", "--signature-policy", storage.policy, "-t", "peer", str(root))
        container = storage("from", "--quiet", "--pull-never", "--signature-policy", storage.policy, "peer")
        mounted = Path(storage("mount", container))
        try:
            tree = {str(p.relative_to(mounted)): "l" if p.is_symlink() else "d" if p.is_dir() else "f"
                    for p in mounted.rglob("*")}
        finally:
            storage("umount", container)
    finally:
        storage.close()
    return tree


def _our_copy(context, copies: list[tuple[str, str]]) -> dict[str, str]:
    """The same COPY lines (each into a directory), as the sources and walk say."""
    tree = {}
    for pattern, dest in copies:
        tree[dest] = "d"
        for source in context.sources(pattern):
            top = source.rstrip("/")
            for path, st in context.walk(source):
                kind = "l" if os.path.islink(os.path.join(context.root, path)) else \
                    "d" if os.path.isdir(os.path.join(context.root, path)) else "f"
                if path == top:
                    if kind == "d":
                        continue  # a directory's entries are copied, not itself
                    tree[f"{dest}/{source.name}"] = "f" if kind == "l" else kind
                    continue
                below = path if top == "." else path[len(top) + 1:]
                for i, part in enumerate(Path(below).parts[:-1]):  # parents an exclusion left out
                    tree.setdefault(f"{dest}/{'/'.join(Path(below).parts[:i + 1])}", "d")
                tree[f"{dest}/{below}"] = kind
    return tree


def test_buildah_copies_what_the_context_selects(tmp_path):
    copies = [(".", "all"), ("*.txt", "txt"), ("link", "one"), ("dirlink", "dir"), ("d*/*.c", "c"),
              ("/sub/../a.txt", "root")]
    root = _tree(tmp_path / "ctx", {
        "Dockerfile": "FROM scratch\n" + "".join(f"COPY {p} /{d}/\n" for p, d in copies),
        ".dockerignore": "# build outputs\n*.o\n**/*.tmp\nsecret*\nlogs\n!logs/keep\ntemp?\n",
        "a.txt": "a", "b.txt": "b", "x.o": "o", "deep/y.tmp": "t", "deep/z.c": "c", "deep/w.c": "w",
        "secret.key": "k", "logs/1": "1", "logs/keep": "keep", "tempa": "", "temp": "", "sub/s": "s",
        "real/r": "r", "real/in": ("link", "r"), "link": ("link", "real/r"), "dirlink": ("link", "/real")})
    with open_context(str(root), None, str(tmp_path)) as context:
        ours = _our_copy(context, copies)
    assert ours == _buildah_copy(tmp_path, root)
    assert "all/logs/keep" in ours and "all/logs/1" not in ours and "all/Dockerfile" in ours


def test_stdin_as_a_pipe_from_tar(tmp_path):
    """The process's own stdin (stdin=None), fed by `tar` through a pipe in pieces."""
    source = _tree(tmp_path / "src", {"Dockerfile": "FROM pipe\n", "big": "z" * 300_000, "d/e": "e"})
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    program = ("import sys; from tinydocker.builder.context import open_context\n"
               "with open_context('-', None, sys.argv[1]) as c:\n"
               "    print(c.dockerfile.decode().strip(), c.sources('*'), c.checksum(c.sources('.')))\n")
    tar = subprocess.Popen(["tar", "-C", str(source), "-cz", "."], stdout=subprocess.PIPE)
    out = subprocess.run([sys.executable, "-c", program, str(scratch)], stdin=tar.stdout, capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parents[2], check=True).stdout
    tar.stdout.close()
    assert tar.wait() == 0
    assert out.split(" ", 2)[:2] == ["FROM", "pipe"]
    assert "['Dockerfile', 'big', 'd']" in out and _sum(source, ".", scratch=tmp_path) in out
    assert list(scratch.iterdir()) == []

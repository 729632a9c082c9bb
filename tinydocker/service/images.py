"""The service's /images endpoints, /build and /auth, each a call of tinydocker's API.

Pulls, pushes and builds answer as dockerd does: a chunked stream of JSON messages
({"status", "id"} for a pull or push, {"stream"} for a build's lines, {"aux"} for what the
client keeps, {"errorDetail", "error"} for a failure once the stream has begun). A failure
before anything was said is an ordinary HTTP error, as dockerd's.

A build runs in a child process (this module run as a program): the RUN steps' own output
goes to the process's fds 1 and 2, so the child's are a pipe this process relays into the
stream; the child calls the same api.build the CLI calls.
"""

from __future__ import annotations

import base64
import io
import json
import os
import queue
import re
import threading
from datetime import datetime

from .. import api
from ..errors import NoSuchImage, TinydockerError
from .server import HTTPError

_CHUNK = 1 << 16


def _message(value: dict) -> bytes:
    return json.dumps(value).encode() + b"\r\n"


def _error(text: str) -> bytes:
    return _message({"errorDetail": {"message": text}, "error": text})


def _unix(stamp: str | datetime | None) -> int:
    """An RFC 3339 moment (or a datetime) as Unix seconds; 0 when unknown."""
    if isinstance(stamp, datetime):
        return int(stamp.timestamp())
    if not stamp:
        return 0
    text = re.sub(r"(?<=\d\d:\d\d:\d\d)\.\d+", "", stamp).replace("Z", "+00:00")
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError:
        return 0


def _no_such_image(name: str):
    return HTTPError(404, f"No such image: {name}")


# -- listing, inspecting ------------------------------------------------------------------

def list_images(req) -> None:
    filters = [f"{key}={value}" for key, values in req.filters().items() for value in values]
    rows = api.images(filters=filters, all=req.flag("all"), root=req.root)
    old = req.version < (1, 44)  # until 1.44 a nameless image shows docker's <none> placeholders
    # one entry per image, with the names the filters kept (dockerd's reference= narrows RepoTags)
    by_id: dict[str, list[dict]] = {}
    for row in rows:
        by_id.setdefault(row["id"], []).append(row)
    answer = []
    for image_id, mine in by_id.items():
        row = mine[0]
        tags = [f"{r['repository']}:{r['tag']}" for r in mine if r["repository"]]
        digests = api.inspect_image(image_id, root=req.root)["RepoDigests"]
        answer.append({
            "Id": image_id, "ParentId": "",
            "RepoTags": tags or (["<none>:<none>"] if old else []),
            "RepoDigests": digests or (["<none>@<none>"] if old and not tags else []),
            "Created": _unix(row["created"]), "Size": row["size"], "SharedSize": -1,
            **({"VirtualSize": row["size"]} if old else {}),
            "Labels": row["labels"] or {}, "Containers": -1,
        })
    req.send_json(answer)


def inspect_image(req, name: str) -> None:
    try:
        doc = api.inspect_image(name, root=req.root)
    except NoSuchImage:
        raise _no_such_image(name) from None
    # what dockerd's document has and tinydocker's has not: docker's templates may ask
    for key, value in (("Parent", ""), ("Comment", ""), ("Container", ""), ("DockerVersion", ""),
                       ("ContainerConfig", {})):
        doc.setdefault(key, value)
    if req.version < (1, 44):
        doc.setdefault("VirtualSize", doc.get("Size", 0))
    req.send_json(doc)


def history(req, name: str) -> None:
    try:
        steps = api.history(name, root=req.root)
        doc = api.inspect_image(name, root=req.root)
    except NoSuchImage:
        raise _no_such_image(name) from None
    answer = []
    for i, step in enumerate(steps):
        # docker names only the top step (the image itself): the others are not images here
        answer.append({"Id": doc["Id"] if i == 0 else "<missing>", "Created": _unix(step["created"]),
                       "CreatedBy": step["created_by"], "Tags": doc["RepoTags"] if i == 0 else None,
                       "Size": step["size"], "Comment": step["comment"]})
    req.send_json(answer)


# -- naming, removing ---------------------------------------------------------------------

def tag(req, name: str) -> None:
    repo = req.arg("repo")
    if not repo:
        raise HTTPError(400, "repository name must have at least one component")
    target = f"{repo}:{req.arg('tag')}" if req.arg("tag") else repo
    try:
        api.tag(name, target, root=req.root)
    except NoSuchImage:
        raise _no_such_image(name) from None
    req.send(201)


def remove(req, name: str) -> None:
    try:
        done = api.remove_image(name, force=req.flag("force"), root=req.root)
    except NoSuchImage:
        raise _no_such_image(name) from None
    req.send_json([{what: which} for what, which in done])


def prune(req) -> None:
    filters = req.filters()
    unknown = set(filters) - {"dangling"}
    if unknown:
        raise HTTPError(400, f"invalid filter '{sorted(unknown)[0]}'")
    dangling = [v.lower() for v in filters.get("dangling", ["true"])]
    if any(v not in ("true", "false", "1", "0") for v in dangling):
        raise HTTPError(400, f"invalid filter 'dangling={dangling[0]}'")
    done = api.prune_images(all=dangling[-1] in ("false", "0"), root=req.root)
    req.send_json({"ImagesDeleted": [{"Deleted": i} for i in done["images"]] or None,
                   "SpaceReclaimed": done["reclaimed"]})


def search(req) -> None:
    raise HTTPError(501, "search is not supported by tinydocker: it keeps no index of registries "
                         "(look the image up on its registry's site)")


# -- pull, push, auth ---------------------------------------------------------------------

def _registry_auth(req) -> tuple[str, str] | None:
    """docker's X-Registry-Auth: base64url JSON {"username", "password", ...}; None if absent
    or empty (then the credentials stored by `tinydocker login` serve)."""
    header = (req.headers.get("X-Registry-Auth") or "").strip()
    if not header:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, TypeError):
        raise HTTPError(400, "invalid X-Registry-Auth header: not base64 JSON") from None
    if not isinstance(doc, dict) or not doc.get("username"):
        return None
    return str(doc["username"]), str(doc.get("password") or "")


class _Lines:
    """A text stream (the `out` the API writes docker's lines to) that hands each line to a
    queue, and the end of the work as ("done", value) or ("failed", error)."""

    def __init__(self):
        self.queue: queue.Queue = queue.Queue()
        self._part = ""

    def write(self, text: str) -> int:
        self._part += text
        *lines, self._part = self._part.split("\n")
        for line in lines:
            self.queue.put(("line", line))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


_LAYER_LINE = re.compile(r"^([0-9a-f]{12}): (.*)$")
_PULLING = re.compile(r"^(\S+): (Pulling from .*)$")


def _progress(line: str) -> dict:
    """One of the API's pull or push lines as docker's progress message."""
    match = _LAYER_LINE.match(line) or _PULLING.match(line)
    if match:
        return {"status": match.group(2), "id": match.group(1)}
    return {"status": line}


def _streamed(req, work, finish=None, cancel: threading.Event | None = None) -> None:
    """Run work(out) in a thread and answer with its lines as docker's progress stream; a
    failure before the first line is the request's HTTP error, after it the stream's last
    message. finish(value) gives the messages that close a success. A client that goes
    away sets `cancel` (which work is to heed), as dockerd cancels a pull whose client left."""
    lines = _Lines()

    def run():
        try:
            lines.queue.put(("done", work(lines)))
        except TinydockerError as e:
            lines.queue.put(("failed", e))
        except Exception as e:  # noqa: BLE001 - said in the stream as a bug, as the server says it
            lines.queue.put(("failed", TinydockerError(f"unexpected error (a bug in tinydocker, please report it): "
                                                       f"{type(e).__name__}: {e}")))

    threading.Thread(target=run, daemon=True).start()
    first = lines.queue.get()
    if first[0] == "failed":
        raise first[1]

    def messages():
        item = first
        while True:
            kind, value = item
            if kind == "line":
                yield _message(_progress(value))
            elif kind == "done":
                for extra in (finish(value) if finish else []):
                    yield _message(extra)
                return
            else:
                yield _error(str(value))
                return
            while True:
                try:
                    item = lines.queue.get(timeout=0.2)
                    break
                except queue.Empty:
                    if cancel is not None and req.client_gone():
                        cancel.set()
                        return

    req.stream(messages())


def create(req) -> None:
    """POST /images/create: fromImage (a pull) or fromSrc (an import of the body)."""
    if req.arg("fromSrc") is not None:
        _import(req)
        return
    image = req.arg("fromImage")
    if not image:
        raise HTTPError(400, "fromImage or fromSrc is required")
    ref, tag_or_digest = image, req.arg("tag") or ""
    if tag_or_digest:
        ref = f"{image}@{tag_or_digest}" if tag_or_digest.startswith("sha256:") else f"{image}:{tag_or_digest}"
    auth = _registry_auth(req)
    platform = req.arg("platform") or None

    cancel = threading.Event()

    def work(out):
        return api.pull(ref, platform=platform, quiet=False, out=out, auth=auth, root=req.root, cancel=cancel)

    try:
        _streamed(req, work, cancel=cancel)
    except TinydockerError as e:
        # the registry has no such manifest: dockerd's 404 and its words
        said = "Error response from registry: "
        if str(e).startswith(said + "manifest for "):
            raise HTTPError(404, str(e)[len(said):]) from None
        raise


def push(req, name: str) -> None:
    ref = f"{name}:{req.arg('tag')}" if req.arg("tag") else name
    auth = _registry_auth(req)
    try:
        api.inspect_image(ref, root=req.root)
    except NoSuchImage:
        raise HTTPError(404, f"An image does not exist locally with the tag: {name}") from None

    def work(out):
        return api.push(ref, quiet=False, out=out, auth=auth, root=req.root)

    def finish(digest):
        # the digest as docker's client keeps it (what push --quiet prints)
        from ..image.reference import parse

        return [{"progressDetail": {}, "aux": {"Tag": parse(ref).tag, "Digest": digest}}]

    _streamed(req, work, finish)


def auth(req) -> None:
    """POST /auth: the credentials checked as `tinydocker login` checks them, not kept (docker's
    client keeps them in its own config)."""
    body = req.json(required=True)
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object")
    server = str(body.get("serveraddress") or "docker.io")  # dockerd's default: the hub
    username, password = str(body.get("username") or ""), str(body.get("password") or "")
    try:
        api.login(server, username, password, keep=False, root=req.root)
    except TinydockerError as e:
        if "unauthorized" in str(e):
            raise HTTPError(401, str(e)) from None
        raise
    req.send_json({"Status": "Login Succeeded", "IdentityToken": ""})


# -- archives -----------------------------------------------------------------------------

class _Body(io.RawIOBase):
    """The request's body as a binary file, read as it arrives: an import or a load stages
    it in the image store itself, never in a temporary directory of its own."""

    def __init__(self, req):
        self._chunks = req.body_chunks()
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._left:
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def drain(self) -> None:
        """The rest of the body, unread: what a failure left behind must not be taken for the
        connection's next request."""
        try:
            while next(self._chunks, b""):
                pass
        except HTTPError:
            pass


def _import(req) -> None:
    source = req.arg("fromSrc")
    if source != "-":
        raise HTTPError(501, f"importing from a URL ({source}) is not supported by tinydocker: "
                             "download it, then import the file")
    repo = req.arg("repo") or None
    name = f"{repo}:{req.arg('tag')}" if repo and req.arg("tag") else repo
    changes = _changes(req.query.get("changes", []))
    body = _Body(req)
    try:
        image_id = api.import_image(io.BufferedReader(body, _CHUNK), name, changes=changes or None,
                                    root=req.root)
    finally:
        body.drain()
    req.stream(iter([_message({"status": image_id})]))


def _changes(items: list[str]) -> dict:
    """docker import's --change instructions as the config fields import_image sets."""
    config: dict = {}
    for item in items:
        keyword, _, rest = item.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword in ("CMD", "ENTRYPOINT"):
            try:
                value = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
            except ValueError:
                raise HTTPError(400, f"invalid change {item!r}: not a JSON array") from None
            config["Cmd" if keyword == "CMD" else "Entrypoint"] = value
        elif keyword == "ENV":
            key, eq, value = rest.partition("=")
            if not eq:
                key, _, value = rest.partition(" ")
            config.setdefault("Env", []).append(f"{key}={value.strip()}")
        elif keyword in ("WORKDIR", "USER"):
            config["WorkingDir" if keyword == "WORKDIR" else "User"] = rest
        elif keyword == "LABEL":
            key, _, value = rest.partition("=")
            config.setdefault("Labels", {})[key] = value.strip('"')
        elif keyword == "EXPOSE":
            for port in rest.split():
                config.setdefault("ExposedPorts", {})[port if "/" in port else f"{port}/tcp"] = {}
        else:
            raise HTTPError(400, f"{keyword} is not a valid change command")
    if "Env" in config:
        from ..spec import DEFAULT_ENV

        config["Env"] = list(DEFAULT_ENV) + config["Env"]
    return config


def get(req, name: str | None = None) -> None:
    """GET /images/{name}/get and /images/get?names=: the images as one docker archive."""
    names = [name] if name is not None else [n for value in req.query.get("names", []) for n in value.split(",") if n]
    if not names:
        raise HTTPError(400, "no image named (?names=)")
    for ref in names:  # an unknown image is said before the archive begins
        try:
            api.inspect_image(ref, root=req.root)
        except NoSuchImage as e:
            raise HTTPError(404, str(e)) from None
    # the archive is written into a pipe by a thread, and read from it into the answer
    read_end, write_end = os.pipe()
    failed = []

    def write():
        try:
            with open(write_end, "wb") as out:
                api.save(names, out, root=req.root)
        except BrokenPipeError:
            pass  # the client went away
        except Exception as e:  # noqa: BLE001 - the answer is cut short, which the client sees
            failed.append(e)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()

    def chunks():
        with open(read_end, "rb") as archive:
            while data := archive.read1(_CHUNK):
                yield data
        writer.join()
        if failed:
            raise failed[0]  # halfway through the answer: the connection is closed unfinished

    req.stream(chunks(), "application/x-tar")


def load(req) -> None:
    body = _Body(req)
    try:
        loaded = api.load(io.BufferedReader(body, _CHUNK), root=req.root)
    finally:
        body.drain()
    lines = []
    for image in loaded:
        for name in image["names"] or [None]:
            from ..image.reference import familiar_name

            text = f"Loaded image: {familiar_name(name)}" if name else f"Loaded image ID: {image['id']}"
            lines.append(_message({"stream": text + "\n"}))
    req.stream(iter(lines))


# -- build --------------------------------------------------------------------------------

def _build_options(req) -> dict:
    def mapping(name: str) -> dict:
        value = req.json_object(name, f"invalid {name}: not a JSON object")
        # a build arg docker's client sends as null (--build-arg K, K unset) is not passed
        return {str(k): str(v) for k, v in value.items() if v is not None}

    if req.arg("remote"):
        raise HTTPError(501, "a remote build context is not supported by tinydocker: send the context as a tar")
    network = req.arg("networkmode") or "bridge"
    return {
        "tags": [t for t in req.query.get("t", []) if t],
        "file": req.arg("dockerfile") or None,
        "build_args": mapping("buildargs"),
        "labels": mapping("labels"),
        "target": req.arg("target") or None,
        "no_cache": req.flag("nocache"),
        "pull": "always" if req.flag("pull") else "missing",
        "quiet": req.flag("q"),
        "network": "bridge" if network == "default" else network,
        "platform": req.arg("platform") or None,
    }


def build(req) -> None:
    """POST /build: the body is the context (a tar, maybe compressed). The build runs in a
    child process whose fds 1 and 2 are one pipe, relayed as {"stream"} messages; the end
    comes back on a pipe of its own: {"aux": {"ID"}}, or the error."""
    import subprocess
    import sys

    options = _build_options(req)
    end_r, end_w = os.pipe()
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", __name__, json.dumps(options), str(req.root.root), str(end_w)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=[end_w],
            start_new_session=True)
    finally:
        os.close(end_w)
    body = _Body(req)

    def feed():
        """The context, as it arrives, to the child's stdin (api.build's "-")."""
        try:
            while data := body.read(_CHUNK):
                child.stdin.write(data)
        except (BrokenPipeError, HTTPError):
            pass  # the child stopped reading (it failed), or the client sent less than it said
        finally:
            try:
                child.stdin.close()
            except BrokenPipeError:
                pass
            body.drain()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    end_file = open(end_r, "rb")

    def stop():
        if child.poll() is None:  # the client went away: the build goes too
            import signal

            child.send_signal(signal.SIGTERM)
        child.wait()
        feeder.join()
        child.stdout.close()
        end_file.close()

    def ending() -> dict:
        result = end_file.read()
        child.wait()
        try:
            return json.loads(result)
        except ValueError:
            return {"error": f"the build ended without an answer (exit status {child.returncode})"}

    output = child.stdout.fileno()  # read as it comes, unbuffered: poll() below says when
    try:
        first = os.read(output, _CHUNK)
    except BaseException:
        stop()
        raise
    if not first:  # failed before it said anything (a bad Dockerfile, a bad option): dockerd's HTTP error
        end = ending()
        stop()
        if "error" in end:
            raise TinydockerError(end["error"])

    def messages():
        import codecs

        text = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character split between reads
        held = ""  # a line not ended yet
        last = []  # from "Successfully built ID" on: they follow the {"aux"}, as in dockerd's stream
        try:
            data = first
            while data:
                # a message a line, as dockerd's: docker-py finds the image's id in a message
                # that is "Successfully built ID" alone
                *lines, held = (held + text.decode(data)).split("\n")
                for line in lines:
                    if last or line.startswith("Successfully built "):
                        last.append(line + "\n")
                    else:
                        yield _message({"stream": line + "\n"})
                data = _next_output(req, output, feeder)
                if data is None:
                    return  # the client went away: stop() ends the build
            if held:
                last.append(held)
            end = ending()
            if "id" in end:
                yield _message({"aux": {"ID": end["id"]}})
            for line in last:
                yield _message({"stream": line})
            if "id" not in end:
                # dockerd's code: a RUN step's exit status, which docker's client exits with
                yield _message({"errorDetail": {"code": end.get("code", 1), "message": end["error"]},
                                "error": end["error"]})
        finally:
            stop()

    if first:
        req.stream(messages())
    else:
        req.stream(iter([_message({"aux": {"ID": end["id"]}})]))


def _next_output(req, output: int, feeder: threading.Thread) -> bytes | None:
    """The build's next output (b"" at its end), or None when the client has gone: a RUN
    step may say nothing for long, and only a write would notice the connection closed."""
    import select
    import socket

    conn = req.handler.connection
    poller = select.poll()
    poller.register(output, select.POLLIN)
    watching, gave_up = False, False
    while True:
        if not watching and not gave_up and not feeder.is_alive():
            # once the body is read, the connection has nothing more to say but its end
            poller.register(conn.fileno(), select.POLLIN)
            watching = True
        for fd, _ in poller.poll(None if watching or gave_up else 500):
            if fd == output:
                return os.read(output, _CHUNK)
            try:
                if not conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                    return None
            except BlockingIOError:
                continue
            except OSError:
                return None
            poller.unregister(conn.fileno())  # bytes of a next request, not an end: watch no more
            watching, gave_up = False, True


def build_prune(req) -> None:
    done = api.prune_builder(all=req.flag("all"), root=req.root)
    req.send_json({"CachesDeleted": done["images"] or None, "SpaceReclaimed": done["reclaimed"]})


def _build_child(options_json: str, root: str, end_fd: str) -> int:
    """The build's own process: the context on stdin, its lines and its RUN steps' output on
    stdout, its end (the image's id, or the error) as JSON on `end_fd`."""
    import sys

    options = json.loads(options_json)
    with open(int(end_fd), "w") as end:
        try:
            image_id = api.build("-", out=sys.stdout, root=root, **options)
        except TinydockerError as e:
            sys.stdout.flush()
            # dockerd's classic builder gives a failed RUN step's status as the error's code
            failed = re.search(r"returned a non-zero code: (\d+)$", str(e))
            end.write(json.dumps({"error": str(e), "code": int(failed.group(1)) if failed else 1}))
            return 1
        except KeyboardInterrupt:
            end.write(json.dumps({"error": "the build was interrupted"}))
            return 1
        sys.stdout.flush()
        end.write(json.dumps({"id": image_id}))
    return 0


ROUTES = [
    ("GET", r"/images/json", list_images),
    ("POST", r"/images/create", create),
    ("POST", r"/images/load", load),
    ("POST", r"/images/prune", prune),
    ("GET", r"/images/search", search),
    ("GET", r"/images/get", get),
    ("GET", r"/images/(?P<name>.+)/json", inspect_image),
    ("GET", r"/images/(?P<name>.+)/history", history),
    ("POST", r"/images/(?P<name>.+)/tag", tag),
    ("POST", r"/images/(?P<name>.+)/push", push),
    ("GET", r"/images/(?P<name>.+)/get", get),
    ("DELETE", r"/images/(?P<name>.+)", remove),
    ("POST", r"/build", build),
    ("POST", r"/build/prune", build_prune),
    ("POST", r"/auth", auth),
]


if __name__ == "__main__":
    import signal
    import sys

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a client gone: the build's own cleanup runs
    sys.exit(_build_child(*sys.argv[1:]))

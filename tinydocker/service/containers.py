"""The service's /containers endpoints, each a call of tinydocker's API."""

from __future__ import annotations

import json
import struct

from .. import api
from ..errors import NoSuchContainer, TinydockerError
from .server import HTTPError
from .translate import container_row, create_options, filters_for_ps, generated_name


def _record(req, ref: str):
    """The container, or docker's 404 "No such container: REF"."""
    from ..state.store import Store
    from ..state import root as paths

    store = Store(paths.resolve(req.root))
    try:
        return store.observe(store.lookup(ref))
    except NoSuchContainer:
        raise HTTPError(404, f"No such container: {ref}") from None


def list_containers(req) -> None:
    records = api.ps(all=req.flag("all"), filters=filters_for_ps(req.filters()), last=req.number("limit", -1) or -1,
                     root=req.root)
    docs, _ = api.inspect_all([r.id for r in records], root=req.root) if records else ([], [])
    by_id = {d["Id"]: d for d in docs}
    req.send_json([container_row(r, by_id.get(r.id, {})) for r in records])


def inspect(req, ref: str) -> None:
    docs, missing = api.inspect_all([ref], root=req.root)
    if missing:
        raise HTTPError(404, f"No such container: {ref}")
    req.send_json(docs[0])


def create(req) -> None:
    body = req.json(required=True)
    more = _more_endpoints(body)
    command, options = create_options(body)
    name = (req.arg("name") or "").lstrip("/")
    generated = not name
    for attempt in range(10):
        if generated:
            name = generated_name({r.name for r in api.ps(all=True, root=req.root)})
        try:
            container_id = api.create(name, command, root=req.root, **options)
            break
        except TinydockerError as e:
            if "Unable to find image" in str(e) or "No such image" in str(e):
                raise HTTPError(404, f"No such image: {options['image']}") from None
            if "is already in use" in str(e):
                if generated and attempt < 9:
                    continue  # a name of our choosing, taken by a create beside this one: another
                raise HTTPError(409, str(e)) from None
            raise
    try:
        for network, endpoint in more.items():
            ip = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None
            api.connect_network(network, container_id, ip=ip, aliases=endpoint.get("Aliases") or [], root=req.root)
    except TinydockerError:
        api.remove(container_id, force=True, root=req.root)  # a create is whole or nothing
        raise
    req.send_json({"Id": container_id, "Warnings": []}, status=201)


def _more_endpoints(body) -> dict:
    """API 1.44's several networks at create: all but the network mode's (or the first)
    taken out of the body, to be joined once the container exists, as connect joins them."""
    endpoints = ((body.get("NetworkingConfig") or {}) if isinstance(body, dict) else {}).get("EndpointsConfig")
    if not isinstance(endpoints, dict) or len(endpoints) < 2:
        return {}
    mode = (body.get("HostConfig") or {}).get("NetworkMode") if isinstance(body.get("HostConfig"), dict) else None
    first = mode if mode in endpoints else next(iter(endpoints))
    more = {name: e for name, e in endpoints.items() if name != first}
    if not all(isinstance(e, dict) for e in more.values()):
        raise HTTPError(400, "an endpoint config must be an object")
    body["NetworkingConfig"]["EndpointsConfig"] = {first: endpoints[first]}
    return more


def start(req, ref: str) -> None:
    from ..state.record import RUNNING

    record = _record(req, ref)
    if record.status == RUNNING:
        req.send(304)
        return
    try:
        api.start(record.id, root=req.root)
    except TinydockerError:
        if record.spec.get("remove"):
            # AutoRemove: a container that could not start goes too, as dockerd removes it
            # (docker run --rm waits for its removal)
            try:
                api.remove(record.id, force=True, root=req.root)
            except TinydockerError:
                pass
        raise


def stop(req, ref: str) -> None:
    from ..state.record import RUNNING

    record = _record(req, ref)
    if record.status != RUNNING:
        req.send(304)
        return
    api.stop(record.id, timeout=req.number("t"), root=req.root)


def restart(req, ref: str) -> None:
    record = _record(req, ref)
    api.restart(record.id, timeout=req.number("t"), root=req.root)


def kill(req, ref: str) -> None:
    """dockerd's kill with SIGKILL returns once the container has stopped (10 s at most):
    a client's next inspect sees it exited, with its exit code."""
    import time

    from ..state.record import RUNNING

    record = _record(req, ref)
    signal = req.arg("signal") or "KILL"
    api.kill(record.id, signal=signal, root=req.root)
    if signal.upper().removeprefix("SIG") not in ("KILL", "9"):
        return
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        try:
            if _record(req, record.id).status != RUNNING:
                return
        except HTTPError:
            return  # removed meanwhile (auto-remove)
        time.sleep(0.02)


def wait(req, ref: str) -> None:
    """docker's conditions: not-running (now, if it is not), next-exit (the end of a run
    after this request: docker run asks before it starts the container), removed."""
    import time
    from datetime import datetime, timezone

    from ..state.record import RUNNING
    from ..state.store import Store
    from ..state import root as paths

    condition = req.arg("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise HTTPError(400, f"invalid condition: {condition!r}")
    record = _record(req, ref)
    store = Store(paths.resolve(req.root))
    asked = datetime.now(timezone.utc)

    def answer():
        code, seen = record.exit_code or 0, False
        while True:
            current = store.located(record.name, record.id)
            if current is None:  # removed (--rm, auto_remove): its last end is what there is to say
                if not seen:  # it ended and went between two looks: the journal's die says how
                    code = _last_exit_code(req, record, code)
                break
            current = store.observe(current)
            ended = current.status != RUNNING and not current.starting
            if ended and (condition == "not-running" or (current.finished and current.finished >= asked)):
                code, seen = current.exit_code or 0, True
                if condition != "removed":
                    break
            if req.client_gone():
                return  # nobody to tell
            time.sleep(0.05)
        yield json.dumps({"StatusCode": code, "Error": None}).encode() + b"\n"

    # the headers at once, the answer when it comes: docker's client starts the container
    # only once its wait is acknowledged, so that no end can slip between the two
    req.stream(answer())


def _last_exit_code(req, record, default: int) -> int:
    """The exit code of the container's last end, from the events journal's die (a removed
    container has no record left to say it)."""
    since = (record.started or record.created).timestamp()
    code = default
    for event in api.events(since=f"{since:.9f}", filters=[f"container={record.id}", "event=die"], follow=False,
                            root=req.root):
        code = int(event["Actor"]["Attributes"].get("exitCode") or 0)
    return code


def remove(req, ref: str) -> None:
    record = _record(req, ref)
    api.remove(record.id, force=req.flag("force"), volumes=req.flag("v"), root=req.root)


def pause(req, ref: str) -> None:
    api.pause(_record(req, ref).id, root=req.root)


def unpause(req, ref: str) -> None:
    api.unpause(_record(req, ref).id, root=req.root)


def rename(req, ref: str) -> None:
    name = req.arg("name")
    if not name:
        raise HTTPError(400, "a new name is required (?name=)")
    api.rename(_record(req, ref).id, name, root=req.root)


def top(req, ref: str) -> None:
    args = (req.arg("ps_args") or "").split()
    titles, rows = api.top(_record(req, ref).id, args, root=req.root)
    req.send_json({"Titles": titles, "Processes": rows})


def logs(req, ref: str) -> None:
    """The log as docker's multiplexed frames (a stream number and a length before each
    piece), or as it is for a container with a terminal."""
    record = _record(req, ref)
    want = {"stdout": req.flag("stdout"), "stderr": req.flag("stderr")}
    if not any(want.values()):
        raise HTTPError(400, "Bad parameters: you must choose at least one stream")
    tail = req.arg("tail")
    pieces = api.logs(record.id, follow=req.flag("follow"), tail=None if tail in (None, "", "all") else int(tail),
                      timestamps=req.flag("timestamps"), since=_moment(req.arg("since")),
                      until=_moment(req.arg("until")), root=req.root, stop=req.client_gone)
    tty = bool(record.spec.get("tty"))

    def frames():
        for stream, data in pieces:
            if not want.get(stream):
                continue
            yield data if tty else frame(stream, data)

    req.stream(frames(), "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream")


def attach(req, ref: str) -> None:
    """The hijacked connection: the container's output from now on (multiplexed unless it
    has a terminal), and with stdin=1 what the client sends, to a container made with -i.
    docker run attaches before it starts the container: the log is opened (made, if need
    be: its writer appends) before the start, so that even a --rm container removed at
    once has its output read to the end; it is followed until the run that began after
    the request has ended."""
    _attach(req, ref, websocket=False)


def attach_ws(req, ref: str) -> None:
    """attach over a WebSocket (a browser's way): the same, each piece of output a frame, never
    multiplexed (the frames keep the pieces apart), the client's frames the input."""
    _attach(req, ref, websocket=True)


def _attach(req, ref: str, websocket: bool) -> None:
    import threading
    import time

    from ..container.logs import read
    from ..state.record import RUNNING
    from ..state.store import Store
    from ..state import root as paths

    record = _record(req, ref)
    store = Store(paths.resolve(req.root))
    want = {"stdout": req.flag("stdout"), "stderr": req.flag("stderr")}
    tty = bool(record.spec.get("tty"))
    asked = time.time_ns()
    replay = req.flag("logs")
    keys = b""
    if tty and req.flag("stdin"):  # docker's detach keys, read on a terminal only (as docker attach's)
        from ..container.attach import detach_sequence

        try:
            keys = detach_sequence(req.arg("detachKeys") or "ctrl-p,ctrl-q")
        except TinydockerError as e:
            raise HTTPError(400, str(e)) from None
    detached = threading.Event()
    log = _opened_log(store, record)
    if websocket:
        sock, raw = req.websocket(), True
    else:
        sock, raw = req.hijack("application/vnd.docker.raw-stream" if tty else
                               "application/vnd.docker.multiplexed-stream"), tty
    ended = threading.Event()

    def state():
        """"running" (or about to), "ended" (a run since the request), or "gone"."""
        current = store.located(record.name, record.id)
        if current is None:
            return "gone", None
        current = store.observe(current)
        if current.status != RUNNING and current.finished and current.finished.timestamp() * 1e9 >= asked:
            return "ended", current
        return "running", current

    def started():
        """The record once its container runs (or has run) past the request; None if it went."""
        while True:
            now, current = state()
            if now == "gone" or (current is not None and (current.status == RUNNING or now == "ended")):
                return current
            time.sleep(0.02)

    if req.flag("stdin") and record.spec.get("interactive"):
        threading.Thread(target=_pass_input, args=(sock, store, started, ended, keys, detached),
                         daemon=True).start()
    # stream=0 (docker-py's attach() unless stream=True; docker's CLI always streams): the
    # log so far if logs=1, and the end at once, as dockerd
    follow = req.flag("stream")
    try:
        if log is None or not (follow or replay):
            return
        for stream, data in read(store, record, follow=follow, since=None if replay else asked, opened=log,
                                 running=lambda: not detached.is_set() and state()[0] == "running", pieces=tty,
                                 stop=req.client_gone):
            if want.get(stream):
                sock.sendall(data if raw else frame(stream, data))
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        ended.set()
        try:
            sock.shutdown(2)
        except OSError:
            pass


def _opened_log(store, record):
    """The container's log, open for reading (made empty if it is not there yet); None if
    the container keeps none (--log-driver none) or is gone."""
    import os

    if record.spec.get("log_driver") == "none":
        return None
    path = store.log_path(record.name)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640))
        return open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb")
    except OSError:
        return None


def _pass_input(sock, store, started, ended, keys: bytes = b"", detached=None) -> None:
    """The client's bytes to the container's input (a copy of it from the data root's monitor),
    until the detach `keys`: then the attach ends (`detached` set, the connection shut) and the
    container goes on, as dockerd detaches."""
    from ..container.attach import _input_of, scan_input
    from ..container.stdio import write_all

    current = started()
    target = _input_of(store, current) if current is not None else None
    if target is None:
        return
    import os

    matched = 0
    try:
        while not ended.is_set():
            data = sock.recv(65536)
            if not data:
                break  # the client's input ended (docker's CloseWrite)
            data, matched, gone = scan_input(data, keys, matched)
            write_all(target, data)
            if gone:
                detached.set()
                sock.shutdown(2)
                return
    except OSError:
        pass
    finally:
        os.close(target)
    if current.spec.get("stdin_once") and not current.spec.get("tty"):
        from ..container.monitor_client import ask

        try:
            ask(store.root, {"op": "close_input", "id": current.id}, start=False)
        except TinydockerError:
            pass  # its monitor is gone, and the input with it


def _moment(value: str | None) -> str | None:
    return None if value in (None, "", "0") else value


def frame(stream: str, data: bytes) -> bytes:
    """docker's 8-byte header: the stream (1 stdout, 2 stderr), three zeros, the length."""
    return struct.pack(">BxxxL", 1 if stream == "stdout" else 2, len(data)) + data


def prune(req) -> None:
    done = api.prune_containers(root=req.root)
    req.send_json({"ContainersDeleted": done["containers"], "SpaceReclaimed": done["reclaimed"]})


ROUTES = [
    ("GET", r"/containers/json", list_containers),
    ("POST", r"/containers/create", create),
    ("POST", r"/containers/prune", prune),
    ("GET", r"/containers/(?P<ref>[^/]+)/json", inspect),
    ("POST", r"/containers/(?P<ref>[^/]+)/start", start),
    ("POST", r"/containers/(?P<ref>[^/]+)/stop", stop),
    ("POST", r"/containers/(?P<ref>[^/]+)/restart", restart),
    ("POST", r"/containers/(?P<ref>[^/]+)/kill", kill),
    ("POST", r"/containers/(?P<ref>[^/]+)/wait", wait),
    ("POST", r"/containers/(?P<ref>[^/]+)/pause", pause),
    ("POST", r"/containers/(?P<ref>[^/]+)/unpause", unpause),
    ("POST", r"/containers/(?P<ref>[^/]+)/rename", rename),
    ("GET", r"/containers/(?P<ref>[^/]+)/top", top),
    ("GET", r"/containers/(?P<ref>[^/]+)/logs", logs),
    ("POST", r"/containers/(?P<ref>[^/]+)/attach", attach),
    ("GET", r"/containers/(?P<ref>[^/]+)/attach/ws", attach_ws),
    ("DELETE", r"/containers/(?P<ref>[^/]+)", remove),
]


# -- a running container's terminal, its resources, its files as a whole -------------------

def resize(req, ref: str) -> None:
    """The window size of the container's terminal (docker run -t's client sends its own)."""
    api.resize(_record(req, ref).id, req.number("h", 0), req.number("w", 0), root=req.root)
    req.send(200, b"", "text/plain; charset=utf-8")


def stats(req, ref: str) -> None:
    """docker's stats document: one (stream=false, or one-shot: no earlier reading) or one a
    second until the client goes; CPU time now and a moment before, memory, pids, networks."""
    record = _record(req, ref)
    one_shot = req.flag("one-shot")

    def document() -> bytes:
        row = api.stats([record.id], interval=0.0 if one_shot else 1.0, root=req.root)[0]
        return json.dumps(stats_document(record, row, one_shot)).encode() + b"\n"

    if not req.flag("stream", True):
        req.send(200, document())
        return

    def documents():
        from ..state.record import RUNNING

        while True:
            yield document()  # each reading takes its second
            try:
                if _record(req, record.id).status != RUNNING:
                    return
            except HTTPError:
                return  # removed meanwhile

    req.stream(documents())


def stats_document(record, row: dict, one_shot: bool) -> dict:
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    zero = "0001-01-01T00:00:00Z"

    def cpu(total, system):
        return {"cpu_usage": {"total_usage": total or 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "system_cpu_usage": system or 0, "online_cpus": row["online_cpus"] if total is not None else 0,
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}

    running = row["running"]
    before = None if one_shot or not running else now - timedelta(seconds=1)
    return {
        "read": now.isoformat().replace("+00:00", "Z") if running else zero,
        "preread": before.isoformat().replace("+00:00", "Z") if before else zero,
        "pids_stats": {"current": row["pids"]} if row["pids"] is not None else {},
        "blkio_stats": {},
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu(row["cpu_ns"], row["system_ns"]) if running else cpu(None, None),
        "precpu_stats": cpu(row["precpu_ns"], row["presystem_ns"]) if before else cpu(None, None),
        "memory_stats": {"usage": row["memory"], "limit": row["memory_limit"], "stats": {}}
        if row["memory"] is not None else {},
        "name": "/" + record.name,
        "id": record.id,
        "networks": row.get("networks") or {},
    }


def changes(req, ref: str) -> None:
    kinds = {"C": 0, "A": 1, "D": 2}  # docker's ChangeModify, ChangeAdd, ChangeDelete
    req.send_json([{"Path": path, "Kind": kinds[kind]} for kind, path in api.diff(_record(req, ref).id,
                                                                                  root=req.root)])


def export(req, ref: str) -> None:
    """The container's whole file tree as a tar, streamed as the export writes it."""
    import os
    import threading

    record = _record(req, ref)
    r, w = os.pipe()

    def write():
        try:
            api.export(record.id, w, root=req.root)
        except TinydockerError:
            pass  # the tar breaks off: after the headers, that is all a client can be told
        finally:
            os.close(w)

    def chunks():
        with os.fdopen(r, "rb") as source:
            while data := source.read1(1 << 16):
                yield data

    threading.Thread(target=write, daemon=True).start()
    req.stream(chunks(), "application/x-tar")


def update(req, ref: str) -> None:
    """docker update's body: the resources given (Go's zero values are "not given"), and a
    restart policy with a name."""
    from .translate import _typed

    body = req.json(required=True)
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object")
    options = {}
    for key, option in (("Memory", "memory"), ("MemorySwap", "memory_swap"), ("CpuShares", "cpu_shares"),
                        ("MemoryReservation", "memory_reservation"), ("PidsLimit", "pids_limit")):
        value = _typed(body, key, int)
        if value:
            options[option] = value
    if "pids_limit" in options and options["pids_limit"] < 0:
        options["pids_limit"] = -1
    nano = _typed(body, "NanoCpus", int)
    if nano:
        options["cpus"] = nano / 1e9
    for key, option in (("CpusetCpus", "cpuset_cpus"), ("CpusetMems", "cpuset_mems")):
        if _typed(body, key, str):
            options[option] = body[key]
    policy = _typed(body, "RestartPolicy", dict, {}) or {}
    if policy.get("Name"):
        count = policy.get("MaximumRetryCount") or 0
        options["restart"] = f"on-failure:{count}" if policy["Name"] == "on-failure" and count else policy["Name"]
    record = _record(req, ref)
    if options:
        api.update(record.id, root=req.root, **options)
    req.send_json({"Warnings": []})


ROUTES += [
    ("POST", r"/containers/(?P<ref>[^/]+)/resize", resize),
    ("GET", r"/containers/(?P<ref>[^/]+)/stats", stats),
    ("GET", r"/containers/(?P<ref>[^/]+)/changes", changes),
    ("GET", r"/containers/(?P<ref>[^/]+)/export", export),
    ("POST", r"/containers/(?P<ref>[^/]+)/update", update),
]


def commit(req) -> None:
    """POST /commit: an image of the container's changes (docker commit, docker-py's
    Container.commit); dockerd's 201 and the new image's id. --change's instructions and a
    config in the body are refused: the API's commit keeps the container's own settings."""
    ref = req.arg("container")
    if not ref:
        raise HTTPError(400, "a container is required (?container=)")
    if any(req.query.get("changes") or []):
        raise HTTPError(400, "commit --change is not supported by tinydocker")
    if req.json():
        raise HTTPError(400, "commit with a container config is not supported by tinydocker")
    repo, tag = req.arg("repo") or "", req.arg("tag") or ""
    repository = f"{repo}:{tag}" if repo and tag else repo or None
    image_id = api.commit(_record(req, ref).id, repository, message=req.arg("comment") or "",
                          author=req.arg("author") or "", root=req.root)
    req.send_json({"Id": image_id}, status=201)


ROUTES += [("POST", r"/commit", commit)]

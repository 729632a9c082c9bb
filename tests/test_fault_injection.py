"""Random lifecycle commands mixed with SIGKILLs at random moments; after every step the
truth still holds, and at the end nothing is left.

Each sequence is seeded and reproducible: the seed and the step are in every failure.

    TINYDOCKER_FAULT_SEEDS=7,8,9 TINYDOCKER_FAULT_STEPS=300 .venv/bin/python -m pytest -q tests/test_fault_injection.py
    TINYDOCKER_FAULT_SEEDS=random:10 ...      ten fresh random seeds (printed)

By default (CI) three fixed seeds of 40 steps. The operations: run (its own exit code,
127, 126), run -d (with a published port or not), run --rm, run -d --rm, start, start -a, stop, kill, rm, rm -f, exec,
wait, logs, inspect, pause, unpause, build (of a small context: a COPY, two RUNs, an ENV),
`builder prune -f`, and docker's CLI through `system service` (run -d, run --rm, rm -f, stop); the
faults: SIGKILL of the CLI part-way through one of them (a build at any moment of its run), of
docker's CLI part-way through a request (its client gone), of the service itself in the middle
of a request (then started anew), of a data root's monitor, and of a container's PID 1 (each
verified by pid and start time before it is killed). After every step: no traceback or raw exception on
stderr, every stderr line is tinydocker's own one-line error, the exit code is docker's
for what was asked, and `ps -a` is truthful against /proc (paused: against the freezer). A killed
build's RUN container may show in `ps -a`, and its processes live on, only until the next command
that sweeps: a build that completes, or `builder prune` (builder.sweep); after one, no build-*
container, no process of a killed build, no .tmp-* directory of a dead process in the image store,
no host mount under the data root. A completed build's image runs and holds what its RUNs wrote.
At the end, after `rm -f` of every name, `system prune` and `builder prune -a -f`: no record,
directory, host mount, cgroup, process, address, published port, or layer no image names left
(conftest checks the network devices). The same sequence runs as a throwaway ordinary user
(issue 23: its containers on slirp4netns's default network or on its own network, whose
holder is SIGKILLed too; no pause without a delegated cgroup, no build or service), ending
with no process of the user's left once its network is removed.
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
import tomllib

import pytest

from conftest import container_cgroups, host_mounts_under, wait_for
from tinydocker import cgroups
from tinydocker.network import firewall
from tinydocker.state import stack

from rootless_fixtures import tun_for_everyone, user, user_python  # noqa: F401 - the fixtures

pytestmark = pytest.mark.slow

# not hex: a name that is also a prefix of some container's id would reach that container
NAMES = ("t0", "t1", "t2", "t3")
LONG = ["sleep", "3600"]  # detached containers that run until the test ends them (a seed in the VM takes ~10 min)
RAW_ERROR = re.compile(r"Traceback|\[Errno|\b[A-Z]\w*(Error|Exception): ")
BUILD_TAGS = ("b0", "b1")
# what the build's RUNs leave in /file; the first sleeps so that a kill can find it running
DOCKERFILE = """\
FROM busybox
COPY data.txt /data.txt
RUN echo built > /file && sleep 0.3
ENV STAGE=two
RUN cat /data.txt >> /file
"""
DATA = "from the context\n"
FILE = "built\n" + DATA


USER_NETWORK = "un"  # the ordinary user's own network


def _seeds() -> list[int]:
    text = os.environ.get("TINYDOCKER_FAULT_SEEDS", "1,2,3")
    if text.startswith("random:"):
        return [random.SystemRandom().randrange(1 << 32) for _ in range(int(text.split(":")[1]))]
    return [int(s) for s in text.split(",") if s.strip()]


WHERE = cgroups.layout()
STEPS = int(os.environ.get("TINYDOCKER_FAULT_STEPS", "40"))


def _stat_ticks(pid: int) -> int | None:
    """Start time of a live, non-zombie process (field 22 of /proc/PID/stat), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] == b"Z" else int(fields[19])


def _is(pid, ticks) -> bool:
    return bool(pid) and ticks is not None and _stat_ticks(pid) == ticks


class Run:
    """One seeded sequence against one data root, with what it knows of each name."""

    def __init__(self, td, seed: int, context=None, tmp=None, rootless: bool = False):
        self.td, self.seed = td, seed
        # an ordinary user's sequence: no cgroup of its own to pause (this host delegates none)
        self.rootless = rootless
        self.tmp = tmp                               # where the Engine API service's incarnations live
        self.service = None
        self.services = 0
        self.context = context                       # the build's context directory
        self.killed_builds = []                      # (container ids, pids) of builds not yet swept
        self.built = 0                               # builds that completed
        self.rng = random.Random(seed)
        self.step = 0
        self.state = {n: "absent" for n in NAMES}    # as `ps -a` last showed it (checked)
        self.code = {n: None for n in NAMES}         # the exit code of a command that ends by itself
        self.ids = set()
        self.history = []                            # (step, what was done, its exit code)

    def fail(self, what: str):
        recent = "\n".join(f"  step {s}: {args} -> {code}" for s, args, code in self.history[-40:])
        recent += f"\n  as ps last showed them: {self.state}"
        pytest.fail(f"seed {self.seed} step {self.step}: {what}\nthe steps before:\n{recent}", pytrace=False)

    # -- running commands --------------------------------------------------------------------

    def cli(self, *args, expect=None, timeout=60):
        try:
            res = self.td(*args, timeout=timeout)
        except Exception as e:  # noqa: BLE001 - a hung command is a failure of this seed
            self.fail(f"{' '.join(args)}: {e}")
        if args[0] != "ps":
            self.history.append((self.step, " ".join(args), res.returncode))
        self.check_stderr(args, res.stderr.decode(errors="replace"))
        if expect is not None and res.returncode not in expect:
            self.fail(f"{' '.join(args)} exited {res.returncode}, expected one of {sorted(expect)}: "
                      f"{res.stderr.decode(errors='replace').strip()}")
        return res

    def check_stderr(self, args, err: str):
        for line in err.splitlines():
            if RAW_ERROR.search(line) or not line.startswith("tinydocker: "):
                self.fail(f"{' '.join(args)} printed {line!r}")

    def killed_midway(self, name: str, *args):
        """The CLI SIGKILLed after a random 0-300 ms: whatever it had done must still add up."""
        if args[0] == "run" and self.state[name] == "absent":
            self.code[name] = None if args[-1] == LONG[-1] else 0  # what it may have created
        p = self.td.popen(*args)
        time.sleep(self.rng.uniform(0, 0.3))
        p.kill()
        _, err = p.communicate(timeout=60)
        self.history.append((self.step, " ".join(args) + " (SIGKILLed)", p.returncode))
        self.check_stderr(args, err.decode(errors="replace"))

    # -- the truth -----------------------------------------------------------------------------

    def record(self, name: str) -> dict | None:
        try:
            with open(self.td.containers / name / "record.toml", "rb") as f:
                return tomllib.load(f)
        except (FileNotFoundError, NotADirectoryError, tomllib.TOMLDecodeError):
            return None

    def settle(self, deadline: float = 15):
        """Wait until nothing is in flight: no container being started by a live monitor, no
        record still 'running' whose container has ended while its monitor lives (the
        monitor is about to record the end), and no command that ends by itself still running."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            busy = False
            for name in NAMES:
                rec = self.record(name)
                if rec is None:
                    continue
                monitor = _is(rec.get("monitor_pid"), rec.get("monitor_ticks"))
                alive = _is(rec.get("pid"), rec.get("start_ticks"))
                if monitor and (rec["status"] == "created" or (rec["status"] == "running" and not alive)):
                    busy = True
                if rec["status"] == "running" and alive and self.code[name] is not None and \
                        (self.rootless or not cgroups.open_cgroup(rec["id"], WHERE).frozen()):  # paused: no end
                    busy = True
            if not busy:
                return
            time.sleep(0.05)
        self.fail("a start or an end was still in flight after 15 s")

    def observe(self, again: int = 3):
        """`ps -a` against /proc, then the model takes what it shows."""
        res = self.cli("ps", "-a", "--no-trunc", "--format", "json", expect={0})
        rows = [json.loads(line) for line in res.stdout.decode().splitlines()]
        shown = {}
        for row in rows:
            name = row["Names"]
            self.ids.add(row["ID"])
            if name.startswith("build-"):
                if not self.killed_builds:
                    self.fail(f"ps shows {name}, a build's container, with no killed build left to sweep")
            else:
                shown[name] = row["State"]
            rec = self.record(name)
            if rec is None:
                continue  # removed since ps looked
            alive = _is(rec.get("pid"), rec.get("start_ticks"))
            if row["State"] in ("running", "paused") and not alive:
                self.fail(f"ps shows {name} {row['State']}, but its PID 1 {rec.get('pid')} is gone")
            if row["State"] == "paused" and not cgroups.open_cgroup(rec["id"], WHERE).frozen():
                self.fail(f"ps shows {name} paused, but its cgroup is not frozen")
            if row["State"] == "created" and rec["status"] == "running" and alive and again:
                # started between ps and this read: by a launcher whose `run -d` was killed after
                # asking, which no settle() can see coming (the record names the dead CLI until
                # the launcher takes it): ps again
                time.sleep(0.1)
                return self.observe(again - 1)
            if row["State"] not in ("running", "paused") and alive:
                self.fail(f"ps shows {name} {row['State']}, but its PID 1 {rec.get('pid')} is alive")
        for name in NAMES:
            self.state[name] = shown.get(name, "absent")
        self.history.append((self.step, "ps: " + " ".join(f"{n}={shown[n]}" for n in sorted(shown)), 0))
        unknown = set(shown) - set(NAMES)
        if unknown:
            self.fail(f"ps shows containers nobody made: {unknown}")

    # -- the operations ------------------------------------------------------------------------

    def op(self):
        pick = self.rng.random()
        if pick < 0.15 and self.context is None:
            return self.cli("ps", expect={0})
        if pick < 0.12:
            return self.build()
        if pick < 0.15:
            self.cli("builder", "prune", "-f", expect={0})
            return self.swept()
        if pick < 0.25 and self.tmp is not None and shutil.which("docker"):
            return self.through_service(self.rng.choice(NAMES))
        name = self.rng.choice(NAMES)
        state = self.state[name]
        present = state != "absent"
        running = state in ("running", "paused")
        in_use = {125} if present else None
        r = self.rng.random()
        if r < 0.12:
            code = self.rng.randrange(0, 4)
            self.cli("run", name, "sh", "-c", f"exit {code}", expect=in_use or {code})
            if not present:
                self.code[name] = code
        elif r < 0.16:
            missing, code = self.rng.choice([("nosuchcmd", 127), ("/dev/null", 126)])
            self.cli("run", name, missing, expect=in_use or {code})
            if not present:
                self.code[name] = code
        elif r < 0.22:
            code = self.rng.randrange(0, 4)
            self.cli("run", "--rm", name, "sh", "-c", f"exit {code}", expect=in_use or {code})
        elif r < 0.34:
            ports = self.rng.choice([[], ["-p", "80"]])  # a published port: a claim (root) or a tool (rootless) to give back
            if self.rootless:  # the user's own network: in its holder's namespace (network/usernet.py)
                ports += self.rng.choice([[], ["--network", USER_NETWORK]])
            self.cli("run", "-d", *ports, name, *LONG, expect=in_use or {0})
            if not present:
                self.code[name] = None
        elif r < 0.40:
            code = self.rng.randrange(0, 4)
            flags = self.rng.choice([["-d"], ["-d", "--rm"]])
            self.cli("run", *flags, name, "sh", "-c", f"exit {code}", expect=in_use or {0})
            if not present:
                self.code[name] = code
        elif r < 0.48:
            # a command that cannot be executed fails its start as it failed its run: 126 or 127
            code = self.code[name] if self.code[name] in (126, 127) else 0
            self.cli("start", name, expect={code} if present and not running else {0} if running else {1})
        elif r < 0.52:
            if present and not running and self.code[name] is not None:
                self.cli("start", "-a", name, expect={self.code[name]})
            else:
                self.cli("ps", expect={0})
        elif r < 0.58:
            self.cli("stop", "-t", self.rng.choice(["0", "1"]), name, expect={0} if present else {1})
        elif r < 0.62:
            self.cli("kill", name, expect={0} if running else {1})
        elif r < 0.66:
            self.cli("rm", name, expect={1} if running or not present else {0})
        elif r < 0.72:
            res = self.cli("rm", "-f", name, expect={0})  # a missing one is said and forgiven, as docker's CLI
            if (b"No such container" in res.stderr) == present:
                self.fail(f"rm -f {name}: the model has it {'present' if present else 'absent'}, "
                          f"and it said {res.stderr!r}")
        elif r < 0.75:
            code = self.rng.choice([0, 5])
            self.cli("exec", name, "sh", "-c", f"exit {code}", expect={code} if state == "running" else {1})
        elif r < 0.77 and self.rootless:
            self.kill_holder()
        elif r < 0.77:
            verb = self.rng.choice(["pause", "unpause"])
            self.cli(verb, name, expect={0} if state == ("running" if verb == "pause" else "paused") else {1})
        elif r < 0.79:
            if running:
                self.cli("ps", expect={0})  # wait would block on a long-running container
            else:
                res = self.cli("wait", name, expect={0} if present else {1})
                if present and state == "exited" and not res.stdout.strip().lstrip(b"-").isdigit():
                    self.fail(f"wait {name} printed {res.stdout!r}")
        elif r < 0.81:
            self.cli("logs", name, expect={0} if present else {1})
        elif r < 0.83:
            self.cli("inspect", name, expect={0} if present else {1})
        elif r < 0.91:
            args = self.rng.choice([
                ["run", "-d", name, *LONG], ["run", name, "sh", "-c", "sleep 0.2"], ["run", "--rm", name, "true"],
                ["run", "-d", "-p", "80", name, *LONG],
                ["rm", "-f", name], ["start", name], ["stop", "-t", "0", name], ["restart", "-t", "0", name],
                ["exec", name, "true"], ["pause", name], ["unpause", name]])
            if self.rootless and args[0] in ("pause", "unpause"):
                args = ["run", "-d", "--network", USER_NETWORK, "-p", "80", name, *LONG]
            self.killed_midway(name, *args)
        elif r < 0.96:
            self.kill_recorded(name, "monitor_pid", "monitor_ticks")
        else:
            self.kill_recorded(name, "pid", "start_ticks")

    def kill_holder(self):
        """SIGKILL the holder of the user's networks, if one runs: its containers there lose
        their network (not their truth), the next start on it makes it anew."""
        try:
            pid, ticks, _boot = (self.td.root / "state" / "usernet").read_text().split()
        except (OSError, ValueError):
            return self.cli("ps", expect={0})
        if _is(int(pid), int(ticks)):
            self.history.append((self.step, "SIGKILL the user networks' holder", None))
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill_recorded(self, name: str, pid_key: str, ticks_key: str):
        rec = self.record(name)
        if rec and _is(rec.get(pid_key), rec.get(ticks_key)):
            self.history.append((self.step, f"SIGKILL {name}'s {pid_key}", None))
            try:
                os.kill(rec[pid_key], signal.SIGKILL)
            except ProcessLookupError:
                pass

    # -- docker's CLI through the Engine API service ---------------------------------------------

    def serving(self):
        """The service, started (anew, after a kill) on a socket of its own incarnation."""
        from service_fixtures import Service

        if self.service is None or self.service.proc.poll() is not None:
            self.services += 1
            where = self.tmp / f"service{self.services}"
            where.mkdir()
            self.service = Service(self.td, where)
            wait_for(self.service.ready, timeout=30, what="the service to answer")
        return self.service

    def through_service(self, name: str):
        state = self.state[name]
        present = state != "absent"
        code = self.rng.randrange(0, 4)
        args, expect = self.rng.choice([
            (["run", "-d", "--name", name, "--network", "none", "busybox", *LONG], {125} if present else {0}),
            (["run", "--rm", "--name", name, "--network", "none", "busybox", "sh", "-c", f"exit {code}"],
             {125} if present else {code}),
            (["rm", "-f", name], {0}),  # docker's CLI (28) forgives --force a missing container
            (["stop", "-t", "0", name], {0} if present else {1}),
        ])
        service = self.serving()
        fault = self.rng.random()
        if args[0] == "run" and not present:
            self.code[name] = None if args[-1] == LONG[-1] else code  # what it may have created
        if fault < 0.6:
            try:
                res = service.docker(*args, timeout=60)
            except Exception as e:  # noqa: BLE001 - a hung request is a failure of this seed
                self.fail(f"docker {' '.join(args)}: {e}")
            self.history.append((self.step, "docker " + " ".join(args), res.returncode))
            err = res.stderr.decode(errors="replace")
            if RAW_ERROR.search(err) or "unexpected error" in err:
                self.fail(f"docker {' '.join(args)} printed {err.strip()!r}")
            if res.returncode not in expect:
                self.fail(f"docker {' '.join(args)} exited {res.returncode}, expected one of {sorted(expect)}: "
                          f"{err.strip()}")
            return

        env = {**self.td.env, "DOCKER_HOST": f"unix://{service.sock}", "DOCKER_CONFIG": str(service.config)}
        p = subprocess.Popen(["docker", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(self.rng.uniform(0, 0.4))
        if fault < 0.8:  # the client gone part-way through its requests
            p.kill()
            what = "docker SIGKILLed"
        else:  # the service killed under the request: the client hears of it, the next one starts anew
            service.proc.kill()
            service.proc.wait()
            what = "the service SIGKILLed"
        p.wait(timeout=60)
        self.history.append((self.step, f"docker {' '.join(args)} ({what})", p.returncode))

    def stop_serving(self):
        """The last service stopped as a user stops it."""
        if self.service is not None:
            self.service.stop()

    def check_service_logs(self):
        """What every incarnation of the service said: never a traceback or a raw error."""
        for n in range(1, self.services + 1):
            log = self.tmp / f"service{n}" / "stderr"
            said = log.read_text(errors="replace") if log.exists() else ""
            if RAW_ERROR.search(said):
                self.fail(f"the service (incarnation {n}) printed {said.strip()!r}")

    # -- builds -------------------------------------------------------------------------------

    def build(self):
        """A build of the context, to its end or SIGKILLed at a random moment of its run."""
        killed = self.rng.random() < 0.5
        args = ["build", "--network", "bridge" if self.rng.random() < 0.25 else "none"]
        # mostly uncached when killed: a cached build is over before most moments a kill picks
        if self.rng.random() < (0.7 if killed else 0.3):
            args.append("--no-cache")
        tag = self.rng.choice(BUILD_TAGS) if self.rng.random() < 0.5 else None
        if tag:
            args += ["-t", tag]
        args.append(str(self.context))
        if killed:
            return self.killed_build(args)
        res = self.cli(*args, expect={0}, timeout=120)
        self.swept()  # its start swept what killed builds left
        built = re.search(r"^Successfully built ([0-9a-f]{12})$", res.stdout.decode(), re.M)
        if built is None:
            self.fail(f"{' '.join(args)} printed no 'Successfully built': {res.stdout.decode()[-300:]!r}")
        image = tag or built.group(1)
        ran = self.cli("run", "--rm", "--network", "none", "--image", image, "x", "cat", "/file", expect={0})
        if ran.stdout.decode() != FILE:
            self.fail(f"the image {image} built holds {ran.stdout.decode()!r} in /file, not {FILE!r}")

    def killed_build(self, args):
        """SIGKILLed at a random moment of an uncached build's second or so: only its RUN's
        container may be left (for the next sweep), and nothing of it outside that container runs."""
        p = self.td.popen(*args)
        time.sleep(self.rng.uniform(0, 1.2))
        p.kill()
        _, err = p.communicate(timeout=60)
        self.history.append((self.step, " ".join(args) + " (SIGKILLed)", p.returncode))
        self.check_stderr(args, err.decode(errors="replace"))
        ids, pids = set(), set()
        for rec_file in self.td.containers.glob("build-*/record.toml"):
            try:
                rec = tomllib.loads(rec_file.read_text())
            except (OSError, tomllib.TOMLDecodeError):
                continue
            ids.add(rec["id"])
            if rec.get("pid"):
                pids.add((rec["pid"], rec.get("start_ticks")))
        self.ids |= ids
        self.killed_builds.append((ids, pids))
        # a process the build forked (its cmdline still the build's, naming the context)
        # may be on its way out; one that stays must be its RUN's container
        all_ids = {cid for known, _ in self.killed_builds for cid in known}

        def stray():
            return [p for p in self.build_processes() if not any(c in p[2] for c in all_ids)]
        try:
            wait_for(lambda: not stray(), timeout=15, what="a killed build's processes to end")
        except AssertionError:
            self.fail(f"a killed build's processes outside its RUN's container live on: {stray()}")

    def build_processes(self) -> list[tuple[int, bytes, str]]:
        """Processes whose command line names the build's context (the build's own, and its
        forks that have not exec'd) or whose cgroup is a container a killed build left."""
        context = str(self.context).encode()
        found = []
        ids = {cid for known, _ in self.killed_builds for cid in known}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
                with open(f"/proc/{pid}/cgroup") as f:
                    cgroup = f.read()
            except OSError:
                continue
            if _stat_ticks(int(pid)) is not None and (context in cmdline or any(c in cgroup for c in ids)):
                found.append((int(pid), cmdline.replace(b"\0", b" ")[:200], cgroup.strip()))
        return found

    def swept(self):
        """After a command that sweeps (a completed build, `builder prune`): nothing of a
        killed build is left, neither its RUN's container, nor a process, a cgroup, a
        private directory of the image store, a half-published layer or a mount."""
        left = sorted(p.name for p in self.td.containers.glob("build-*"))
        if left:
            self.fail(f"a killed build's containers are left after the sweep: {left}")
        living = self.build_processes()
        if living:
            self.fail(f"a killed build's processes live on after the sweep: {living}")
        ids = {cid for known, _ in self.killed_builds for cid in known}
        groups = {c for c in container_cgroups() if c.rsplit("/", 1)[-1] in ids}
        if groups:
            self.fail(f"a killed build's cgroups are left after the sweep: {sorted(groups)}")
        images = self.td.root / "images"
        dead = []
        for entry in (os.listdir(images) if images.exists() else []):
            if entry.startswith(".tmp-"):
                pid, ticks = entry.split("-")[1:3]
                if not (pid.isdigit() and ticks.isdigit() and _is(int(pid), int(ticks))):
                    dead.append(entry)
        if dead:
            self.fail(f"directories of dead processes left in the image store after the sweep: {dead}")
        half = set(self.unnamed_layers()) - {os.path.basename(p) for p in stack.linked_layers(self.td.containers)}
        if half:
            self.fail(f"layers no image names and no container stands on, after the sweep: {sorted(half)}")
        if host_mounts_under(self.td.root):
            self.fail(f"host mounts left after the sweep: {host_mounts_under(self.td.root)}")
        self.killed_builds = []

    def unnamed_layers(self) -> list[str]:
        images = self.td.root / "images"
        with open(images / "index.toml", "rb") as f:
            index = tomllib.load(f)
        named = {d.split(":", 1)[1] for image in index["images"].values() for d in image["layers"]}
        layers = images / "layers"
        return sorted(set(os.listdir(layers)) - named) if layers.exists() else []

    def play(self):
        """STEPS operations, each followed by the checks. A failed sequence still ends its
        containers (the seed's failure is enough), a killed build's and the service."""
        try:
            for self.step in range(1, STEPS + 1):
                self.op()
                self.settle()
                self.observe()
        except BaseException:
            if self.service is not None:
                self.service.stop()
            for name in NAMES:
                self.td("rm", "-f", name)
            if self.context is not None:
                self.td("builder", "prune", "-f")
            raise

    # -- the end -------------------------------------------------------------------------------

    def finish(self):
        self.stop_serving()
        self.finish_cleanly()
        self.check_service_logs()

    def finish_cleanly(self):
        for name in NAMES:
            self.cli("rm", "-f", name, expect={0})
        self.cli("system", "prune", "-f", expect={0})
        self.cli("builder", "prune", "-a", "-f", expect={0})
        if self.context is not None:
            self.swept()
            unnamed = self.unnamed_layers()
            if unnamed:
                self.fail(f"layers no image names left after `builder prune -a`: {unnamed}")
        containers = self.td.containers
        left = os.listdir(containers) if containers.exists() else []
        if left:
            self.fail(f"left in state/containers: {left}")
        if host_mounts_under(self.td.root):
            self.fail(f"host mounts left: {host_mounts_under(self.td.root)}")
        ours = {c for c in container_cgroups() - set(self.td.cgroups_before) if c.rsplit("/", 1)[-1] in self.ids}
        if ours:
            self.fail(f"cgroups left: {sorted(ours)}")
        claims = [c for c in firewall.claimed() if c[2] in self.ids]
        if claims:
            self.fail(f"published ports left in nftables: {claims}")
        networks = self.td.root / "state" / "networks.toml"
        held = {name: net["allocations"] for name, net in tomllib.loads(networks.read_text())["networks"].items()
                if net["allocations"]} if networks.exists() else {}
        if held:
            self.fail(f"addresses still held: {held}")
        root = str(self.td.root).encode()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cgroup") as f:
                    cgroup = f.read()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if any(cid in cgroup for cid in self.ids) or root in cmdline:
                command = cmdline.replace(b"\0", b" ")[:200]
                self.fail(f"process {pid} left: {command!r} in {cgroup.strip()}")


@pytest.mark.parametrize("seed", _seeds())
def test_random_lifecycle_with_sigkills_keeps_the_truth(td, tmp_path, seed):
    print(f"fault injection: seed {seed}, {STEPS} steps (TINYDOCKER_FAULT_SEEDS={seed} replays it)")
    td.out("image", "build")
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "data.txt").write_text(DATA)
    run = Run(td, seed, context, tmp_path)
    run.play()
    run.finish()


class UserTD:
    """What Run drives, as an ordinary user (tests/rootless_fixtures.py) in its own data root."""

    def __init__(self, user):
        self.user = user
        self.root = user.home / ".local/share/tinydocker"
        self.cgroups_before = container_cgroups()

    def __call__(self, *args, timeout=60):
        return self.user.td(*args, timeout=timeout)

    def popen(self, *args) -> subprocess.Popen:
        return self.user.popen("-m", "tinydocker", *args)

    @property
    def containers(self):
        return self.root / "state" / "containers"


@pytest.mark.parametrize("seed", _seeds())
def test_an_ordinary_user_s_random_lifecycle_with_sigkills_keeps_the_truth(user, tun_for_everyone, seed):  # noqa: F811
    """The sequence as an ordinary user (issue 23): its data root under its home, its
    containers in user namespaces on slirp4netns's default network, no cgroup of their own
    (none is delegated on this host)."""
    print(f"fault injection rootless: seed {seed}, {STEPS} steps (TINYDOCKER_FAULT_SEEDS={seed} replays it)")
    td = UserTD(user)
    assert td("image", "build").returncode == 0
    assert td("network", "create", USER_NETWORK).returncode == 0
    run = Run(td, seed, rootless=True)
    run.play()
    run.finish_cleanly()
    run.cli("network", "rm", USER_NETWORK, expect={0})  # the holder goes with it

    def left() -> list:
        described = (_described(pid) for pid in user.processes())
        return [d for d in described if d and b"container.monitor" not in d]  # (b"": gone meanwhile)

    try:  # the data root's monitor leaves once idle; whatever is ending gets a moment
        wait_for(lambda: not left(), timeout=10, what="the user's processes to end")
    except AssertionError:
        run.fail(f"the user's processes left: {left()}")


def _described(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ")[:100]
        with open(f"/proc/{pid}/stat", "rb") as f:
            state, ppid = f.read().rsplit(b")", 1)[1].split()[:2]
    except OSError:
        return b""
    return b"%d (%s, parent %s): %s" % (pid, state, ppid, cmdline)


# -- the OCI runtime's verbs -----------------------------------------------------------------------

RUNTIME_IDS = ("r0", "r1", "r2")


class RuntimeRun:
    """One seeded sequence of tinydocker-runtime's verbs against its own --root, as an engine
    calls them (create, start, kill, delete, state), each possibly SIGKILLed part-way; after
    every step `state` is truthful against /proc, and at the end `delete --force` leaves nothing
    (state directory, cgroup, process, mount)."""

    def __init__(self, tmp, seed: int):
        import sys

        from tinydocker.runtime import template

        self.tmp, self.seed = tmp, seed
        self.rng = random.Random(seed)
        self.root = tmp / "state"
        self.cmd = [sys.executable, "-m", "tinydocker.runtime", "--root", str(self.root)]
        self.step, self.history, self.pids = 0, [], set()
        self.bundle = tmp / "bundle"
        rootfs = self.bundle / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        (rootfs / "bin" / "busybox").write_bytes(open("/bin/busybox", "rb").read())
        (rootfs / "bin" / "busybox").chmod(0o755)
        for applet in ("sh", "sleep", "true"):
            (rootfs / "bin" / applet).symlink_to("busybox")
        for d in ("proc", "sys", "dev", "tmp"):
            (rootfs / d).mkdir()
        doc = template.default()
        doc["process"]["terminal"] = False
        doc["process"]["args"] = ["sleep", "600"]
        doc["linux"]["cgroupsPath"] = "/tinydocker-faults/{id}"
        self.doc = doc

    def fail(self, what: str):
        recent = "\n".join(f"  step {s}: {args} -> {code}" for s, args, code in self.history[-30:])
        pytest.fail(f"runtime seed {self.seed} step {self.step}: {what}\nthe steps before:\n{recent}", pytrace=False)

    def _args(self, verb: str, cid: str) -> list[str]:
        if verb == "create":
            doc = json.loads(json.dumps(self.doc).replace("{id}", cid))
            (self.bundle / "config.json").write_text(json.dumps(doc))
            return ["create", "--bundle", str(self.bundle), cid]
        return {"start": ["start", cid], "kill": ["kill", cid, self.rng.choice(["KILL", "TERM"])],
                "delete": ["delete", cid], "force": ["delete", "--force", cid]}[verb]

    def call(self, args, killed: bool = False):
        import subprocess

        # stdio in files: the init keeps create's, and a pipe would stay open as long as it lives
        with open(self.tmp / "err", "w+") as err:
            p = subprocess.Popen(self.cmd + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            if killed:
                time.sleep(self.rng.uniform(0, 0.3))
                p.kill()
            p.wait(timeout=60)
            err.seek(0)
            said = err.read()
        self.history.append((self.step, " ".join(args) + (" (SIGKILLed)" if killed else ""), p.returncode))
        for line in said.splitlines():
            if RAW_ERROR.search(line) or not line.startswith("tinydocker-runtime: "):
                self.fail(f"{' '.join(args)} printed {line!r}")
        return p.returncode

    def observe(self):
        """`state` of every id against /proc: a pid said alive is, a stopped one is not."""
        import subprocess

        for cid in RUNTIME_IDS:
            done = subprocess.run(self.cmd + ["state", cid], capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                if "does not exist" not in done.stderr:
                    self.fail(f"state {cid}: {done.stderr.strip()}")
                continue
            state = json.loads(done.stdout)
            pid = state.get("pid") or 0
            if pid:
                self.pids.add(pid)
            alive = pid and _stat_ticks(pid) is not None
            if state["status"] in ("created", "running") and not alive:
                self.fail(f"state says {cid} {state['status']}, but its pid {pid} is gone")
            if state["status"] == "stopped" and alive:
                self.fail(f"state says {cid} stopped, but its pid {pid} is alive")

    def op(self):
        cid = self.rng.choice(RUNTIME_IDS)
        verb = self.rng.choice(["create", "create", "start", "kill", "delete", "force"])
        self.call(self._args(verb, cid), killed=self.rng.random() < 0.3)

    def finish(self):
        for cid in RUNTIME_IDS:
            code = self.call(["delete", "--force", cid])
            if code not in (0, 1):
                self.fail(f"delete --force {cid} exited {code}")
        left = os.listdir(self.root) if self.root.exists() else []
        if left:
            self.fail(f"left in the runtime's --root: {left}")
        if host_mounts_under(self.tmp):
            self.fail(f"host mounts left: {host_mounts_under(self.tmp)}")
        for hierarchy in os.listdir("/sys/fs/cgroup"):
            for cid in RUNTIME_IDS:
                if os.path.exists(f"/sys/fs/cgroup/{hierarchy}/tinydocker-faults/{cid}"):
                    self.fail(f"cgroup left: {hierarchy}/tinydocker-faults/{cid}")
        # an init whose create was killed dies with it (PR_SET_PDEATHSIG); the others by delete --force
        wait_until = time.monotonic() + 10
        while time.monotonic() < wait_until and any(_stat_ticks(p) is not None for p in self.pids):
            time.sleep(0.05)
        for pid in self.pids:
            if _stat_ticks(pid) is not None:
                self.fail(f"process {pid} left")


@pytest.mark.parametrize("seed", _seeds())
def test_the_runtimes_verbs_with_sigkills_keep_the_truth(tmp_path, seed):
    print(f"runtime fault injection: seed {seed}, {STEPS} steps")
    run = RuntimeRun(tmp_path, seed)
    try:
        for run.step in range(1, STEPS + 1):
            run.op()
            run.observe()
    finally:
        for cid in RUNTIME_IDS:
            run.call(["delete", "--force", cid])
    run.finish()
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        try:
            os.rmdir(f"/sys/fs/cgroup/{hierarchy}/tinydocker-faults")
        except OSError:
            pass  # not made in this hierarchy

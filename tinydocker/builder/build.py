"""The builder: a Dockerfile's stages, one step at a time, as docker's classic builder.

Every instruction after FROM makes an image: its parent's config changed (ENV, CMD,
LABEL...), and for an instruction that changes files (RUN, COPY, ADD, WORKDIR) one more
layer. A RUN runs in a container over the stack so far, and its upper directory becomes
the layer by commit's promotion (hard links, no copy); COPY, ADD and WORKDIR write into an
upper directory of their own over the stack (copying.py). Each step's image is kept, as
an intermediate image, under the step's cache key (cache.py): a later build with the
same parent, instruction, ARG values and copied files takes it instead of running again.

A build killed at any moment leaves: its private directory in the image store (swept by
the store's next change, as a killed pull's is), and perhaps a RUN's container, labelled
with the build's process; sweep() removes those whose build is gone, at the next build
and at every prune.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import shutil
import sys

from ..errors import TinydockerError
from ..image.store import ImageStore, private_name
from ..linux import proc
from ..state.root import DataRoot
from . import cache
from .dockerfile import Instruction, Stage, parse, stages
from .words import arg_decl, expand, expand_words, key_values

OWNER_LABEL = "tinydocker.build.owner"  # on a RUN's container: the build's "PID:TICKS"
DEFAULT_SHELL = ["/bin/sh", "-c"]
# usable in RUN without an ARG, and never part of the cache key (docker's list)
PROXY_ARGS = {n for base in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
              for n in (base, base.lower())}


class BuildError(TinydockerError):
    """The build failed (docker build's exit status 1)."""

    code = 1


@dataclass
class Options:
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: str = "missing"
    labels: dict[str, str] = field(default_factory=dict)
    network: str = "bridge"
    quiet: bool = False
    platform: str | None = None


@dataclass
class _State:
    """A stage as built so far: its image (None: scratch, nothing yet) and config."""
    image: object | None
    config: dict
    args: dict[str, str | None] = field(default_factory=dict)
    cmd_set: bool = False
    author: str = ""


def platform_args() -> dict[str, str]:
    from ..image.oci import host_platform

    host = host_platform()
    platform = f"{host['os']}/{host['architecture']}"
    return {"TARGETPLATFORM": platform, "TARGETOS": host["os"], "TARGETARCH": host["architecture"],
            "TARGETVARIANT": "", "BUILDPLATFORM": platform, "BUILDOS": host["os"],
            "BUILDARCH": host["architecture"], "BUILDVARIANT": ""}


class Builder:
    """One build: build() runs it and returns the image's id. `image_for(ref, pull)` gives
    a FROM's image by the pull policy (pulling as run does); `say` prints a line of
    docker's output (nothing with quiet)."""

    def __init__(self, root: DataRoot, context, options: Options, image_for, out=None):
        self.root = root
        self.context = context
        self.options = options
        self.image_for = image_for
        self.out = out or sys.stdout
        self.store = ImageStore(root)
        self.cache = cache.Cache(self.store)
        self.used_args: set[str] = set()
        self.built: dict[int, object] = {}   # stage index -> its final _State
        self.step = 0
        self.total = 0
        self.work: Path | None = None

    # -- output ---------------------------------------------------------------------------

    def say(self, line: str) -> None:
        if not self.options.quiet:
            print(line, file=self.out, flush=True)

    def _short(self, image) -> str:
        return image.hex[:12] if image is not None else ""

    # -- the whole build ------------------------------------------------------------------

    def build(self) -> str:
        from ..image.oci import host_platform

        if self.options.platform:
            host = host_platform()
            if self.options.platform not in (f"{host['os']}/{host['architecture']}", host["os"]):
                raise BuildError(f"platform {self.options.platform} cannot be built on this "
                                 f"{host['os']}/{host['architecture']} machine")
        dockerfile = parse(self.context.dockerfile)
        if dockerfile.syntax:
            self.say(f"[Note] the syntax directive ({dockerfile.syntax}) is ignored: tinydocker's "
                     "builder reads the Dockerfile itself")
        for warning in dockerfile.warnings:
            self.say(f"[Warning] {warning}")
        self.escape = dockerfile.escape
        global_args, all_stages = stages(dockerfile)
        self.globals = self._global_args(global_args)
        target = self._target(all_stages)
        wanted = self._needed(all_stages, target)
        # docker's classic builder counts (and prints) each ARG before the first FROM as a step
        self.total = len(global_args) + sum(1 + len(s.instructions) for s in all_stages if s.index in wanted)
        for instruction in global_args:
            self.step += 1
            self.say(f"Step {self.step}/{self.total} : {instruction.text}")
        sweep(self.root)
        self.work = self.store.dir / private_name("build")
        self.work.mkdir(parents=True)
        try:
            for stage in all_stages:
                if stage.index in wanted:
                    self.built[stage.index] = self._stage(stage, all_stages)
            final = self.built[target.index]
            if self.options.labels:
                labels = {**(final.config.get("Labels") or {}), **self.options.labels}
                text = "LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in self.options.labels.items())
                self._commit_config(final, {**final.config, "Labels": labels}, text, show=False)
            if final.image is None:
                raise BuildError("the build made no image: a FROM scratch stage needs an instruction after it")
            image = self._finish(final.image)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        unused = sorted(set(self.options.build_args) - self.used_args - set(PROXY_ARGS) - set(platform_args()))
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        self.say(f"Successfully built {image.hex[:12]}")
        from ..image.reference import familiar_name

        for tag in self.options.tags:
            self.say(f"Successfully tagged {familiar_name(tag)}")
        return image.id

    def _global_args(self, instructions: list[Instruction]) -> dict[str, str | None]:
        values: dict[str, str | None] = dict(platform_args())
        for instruction in instructions:
            for name, default in arg_decl(instruction.args[0], values.get, self.escape):
                if name in self.options.build_args:
                    self.used_args.add(name)
                    values[name] = self.options.build_args[name]
                else:
                    values[name] = default
        return values

    def _target(self, all_stages: tuple[Stage, ...]) -> Stage:
        if not self.options.target:
            return all_stages[-1]
        for stage in all_stages:
            if stage.name == self.options.target.lower():
                return stage
        raise BuildError(f"failed to reach build target {self.options.target} in Dockerfile")

    def _needed(self, all_stages: tuple[Stage, ...], target: Stage) -> set[int]:
        """The stages the target needs: itself, its FROM's and its COPY --from's, recursively."""
        wanted, pending = set(), [target]
        while pending:
            stage = pending.pop()
            if stage.index in wanted:
                continue
            wanted.add(stage.index)
            refs = [expand(stage.base, self.globals.get, self.escape)]
            # --from=$ARG: the stage's ARGs are known only as it runs; their values then are
            # the build-args' or the global defaults', which is what is looked up here
            refs += [expand(dict(i.flags).get("from") or "", self._arg_value, self.escape)
                     for i in stage.instructions if i.keyword in ("COPY", "ADD")]
            for ref in refs:
                other = self._stage_named(all_stages, ref, before=stage.index)
                if other is not None:
                    pending.append(other)
        return wanted

    def _arg_value(self, name: str) -> str | None:
        return self.options.build_args.get(name, self.globals.get(name))

    @staticmethod
    def _stage_named(all_stages, ref: str, before: int) -> Stage | None:
        if not ref:
            return None
        for stage in all_stages[:before]:
            if stage.name == ref.lower() or (ref.isdigit() and int(ref) == stage.index):
                return stage
        return None

    def _finish(self, image):
        """The build's image: no longer an intermediate, and tagged."""
        from ..image import reference

        names = [str(reference.parse(t)) for t in self.options.tags]
        with self.store.change() as index:
            kept = index.images.get(image.id)
            if kept is None:
                raise BuildError(f"the built image {image.hex[:12]} was removed before the build ended")
            kept.intermediate = False
            for name in names:
                index.untag(name)
                kept.names.append(name)
        return kept

    # -- one stage ------------------------------------------------------------------------

    def _stage(self, stage: Stage, all_stages) -> _State:
        self.step += 1
        self.say(f"Step {self.step}/{self.total} : {stage.source.text}")
        state = self._from(stage, all_stages)
        self.say(f" ---> {self._short(state.image)}" if state.image is not None else " ---> (scratch)")
        triggers = list((state.config.get("OnBuild") or []))
        if triggers:
            self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
            state.config = {k: v for k, v in state.config.items() if k != "OnBuild"}
            for text in triggers:
                trigger = parse(text.encode()).instructions[0]
                self._step(state, trigger, all_stages, stage.index)
        for instruction in stage.instructions:
            self.step += 1
            self.say(f"Step {self.step}/{self.total} : {instruction.text}")
            self._step(state, instruction, all_stages, stage.index)
        return state

    def _step(self, state: _State, instruction: Instruction, all_stages, index: int) -> None:
        """One instruction; any failure of it is the build's (exit 1), saying which."""
        try:
            self._instruction(state, instruction, all_stages, index)
        except BuildError:
            raise
        except TinydockerError as e:
            raise BuildError(f"{instruction.text.splitlines()[0]} (line {instruction.line}): {e}") from None

    def _from(self, stage: Stage, all_stages) -> _State:
        ref = expand(stage.base, self.globals.get, self.escape)
        if stage.platform:
            platform = expand(stage.platform, self.globals.get, self.escape)
            if platform != self.globals["TARGETPLATFORM"]:
                raise BuildError(f"FROM --platform={platform}: only {self.globals['TARGETPLATFORM']} can be built here")
        if not ref:
            raise BuildError(f"FROM on line {stage.source.line} names no image")
        earlier = self._stage_named(all_stages, ref, before=stage.index)
        if earlier is not None:
            done = self.built[earlier.index]
            return _State(image=done.image, config=dict(done.config), author=done.author)
        if ref.lower() == "scratch":
            return _State(image=None, config={})
        try:
            image = self.image_for(ref, self.options.pull)
        except TinydockerError as e:
            raise BuildError(f"FROM {ref}: {e}") from None
        config = self.store.config(image)
        return _State(image=image, config=dict(config.get("config") or {}), author=config.get("author", ""))

    # -- one instruction ------------------------------------------------------------------

    def _lookup(self, state: _State):
        env = dict(e.split("=", 1) for e in state.config.get("Env") or [] if "=" in e)

        def lookup(name: str) -> str | None:
            if name in env:
                return env[name]
            return state.args.get(name)
        return lookup

    def _instruction(self, state: _State, ins: Instruction, all_stages, index: int) -> None:
        keyword = ins.keyword
        lookup = self._lookup(state)
        config = dict(state.config)
        if keyword == "ARG":
            for name, default in arg_decl(ins.args[0], lookup, self.escape):
                if name in self.options.build_args:
                    self.used_args.add(name)
                    state.args[name] = self.options.build_args[name]
                elif default is None and name in self.globals:
                    state.args[name] = self.globals[name]
                else:
                    state.args[name] = default
            # an ARG changes no config: docker's classic builder still makes a step of it
            self._commit_config(state, config, f"ARG {ins.args[0]}")
            return
        if keyword == "RUN":
            self._run(state, ins)
            return
        if keyword in ("COPY", "ADD"):
            self._copy(state, ins, all_stages, index)
            return
        if keyword == "WORKDIR":
            path = expand(ins.args[0].strip(), lookup, self.escape)
            path = os.path.normpath(os.path.join(config.get("WorkingDir") or "/", path))
            config["WorkingDir"] = path
            self._files(state, config, f"WORKDIR {path}", ("workdir", path))
            return
        text = self._configure(state, config, ins, lookup)
        self._commit_config(state, config, text)

    def _configure(self, state: _State, config: dict, ins: Instruction, lookup) -> str:
        """Apply a config-only instruction to `config`; the history's text for it."""
        keyword, escape = ins.keyword, self.escape
        rest = ins.args[0] if ins.args and not ins.json else ""
        if keyword == "ENV":
            pairs = key_values(rest, lookup, escape, keyword="ENV")
            env = [e for e in config.get("Env") or []]
            for name, value in pairs:
                env = [e for e in env if e.split("=", 1)[0] != name] + [f"{name}={value}"]
            config["Env"] = env
            return "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
        if keyword == "LABEL":
            pairs = key_values(rest, lookup, escape, keyword="LABEL")
            config["Labels"] = {**(config.get("Labels") or {}), **dict(pairs)}
            return "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)
        if keyword == "MAINTAINER":
            state.author = rest.strip()
            return f"MAINTAINER {state.author}"
        if keyword in ("CMD", "ENTRYPOINT"):
            argv = list(ins.args) if ins.json else self._shell(config) + [rest]
            key = "Cmd" if keyword == "CMD" else "Entrypoint"
            config[key] = argv
            if keyword == "CMD":
                state.cmd_set = True
            elif not state.cmd_set:
                config["Cmd"] = None  # as docker: an inherited CMD does not outlive a new ENTRYPOINT
            return f"{keyword} {json.dumps(argv)}"
        if keyword == "SHELL":
            if not ins.json:
                raise BuildError(f"SHELL requires the arguments to be in JSON form (line {ins.line})")
            config["Shell"] = list(ins.args)
            return f"SHELL {json.dumps(list(ins.args))}"
        if keyword == "USER":
            config["User"] = expand(rest.strip(), lookup, escape)
            return f"USER {config['User']}"
        if keyword == "EXPOSE":
            ports = dict(config.get("ExposedPorts") or {})
            # a variable's value is split into words here, as docker's builders split it
            # (EXPOSE $PORTS with "80 443"); one that expands to nothing exposes nothing
            for word in (part for word in expand_words(rest, lookup, escape) for part in word.split()):
                for port in _ports(word):
                    ports[port] = {}
            config["ExposedPorts"] = ports
            return "EXPOSE " + " ".join(sorted(ports))
        if keyword == "VOLUME":
            paths = list(ins.args) if ins.json else expand_words(rest, lookup, escape)
            paths = [expand(p, lookup, escape) for p in paths] if ins.json else paths
            if not paths or any(not p for p in paths):
                raise BuildError(f"VOLUME specified can not be an empty string (line {ins.line})")
            config["Volumes"] = {**(config.get("Volumes") or {}), **{p: {} for p in paths}}
            return f"VOLUME {json.dumps(paths)}"
        if keyword == "STOPSIGNAL":
            from ..container.signals import parse_signal

            signal = expand(rest.strip(), lookup, escape)
            parse_signal(signal)
            config["StopSignal"] = signal
            return f"STOPSIGNAL {signal}"
        if keyword == "HEALTHCHECK":
            config["Healthcheck"] = _healthcheck(ins, self._shell(config))
            return f"HEALTHCHECK {json.dumps(config['Healthcheck'], sort_keys=True)}"
        if keyword == "ONBUILD":
            # a trigger's heredocs go with it, for the child's build to parse again
            trigger = ins.args[0] + "".join(f"\n{doc.content}{doc.name}" for doc in ins.heredocs)
            config["OnBuild"] = list(config.get("OnBuild") or []) + [trigger]
            return f"ONBUILD {trigger}"
        raise BuildError(f"unknown instruction {keyword} (line {ins.line})")

    @staticmethod
    def _shell(config: dict) -> list[str]:
        return list(config.get("Shell") or DEFAULT_SHELL)

    # -- steps that make an image ---------------------------------------------------------

    def _cached(self, state: _State, key: str):
        if self.options.no_cache:
            return None
        image = self.cache.lookup(key)
        if image is not None:
            self.say(" ---> Using cache")
            self.say(f" ---> {image.hex[:12]}")
        return image

    def _adopt(self, state: _State, image) -> None:
        state.image = image
        config = self.store.config(image)
        state.config = dict(config.get("config") or {})

    def _commit_config(self, state: _State, config: dict, text: str, show: bool = True) -> None:
        """A step that changes only the config: a new image over the same layers."""
        created_by = f"/bin/sh -c #(nop) {text}"
        key = cache.key(state.image, created_by, author=state.author)
        hit = self._cached(state, key) if show else self.cache.lookup(key) if not self.options.no_cache else None
        if hit is None:
            hit = self._publish(state, None, config, created_by, key)
            if show:
                self.say(f" ---> {hit.hex[:12]}")
        self._adopt(state, hit)

    def _publish(self, state: _State, upper: Path | None, config: dict, created_by: str, key: str):
        from ..image.commit import commit

        return commit(self.store, upper, state.image, {}, None, author=state.author, created_by=created_by,
                      link=(lambda layer_dir, image_id: None) if upper is not None else None,
                      config=config, cache_key=key, intermediate=True)

    def _run(self, state: _State, ins: Instruction) -> None:
        from . import run as running

        config = state.config
        script = None if ins.json else _with_heredocs(ins)
        argv = list(ins.args) if ins.json else self._shell(config) + [script]
        run_argv, stdin = argv, None
        if script is not None and _is_script(ins) and script.startswith("#!"):
            # a heredoc that names its interpreter runs with it (docker's reference), read
            # from its input
            run_argv, stdin = script[2:].splitlines()[0].split() + ["/dev/stdin"], script.encode()
        flags = dict(ins.flags)
        network = flags.get("network") or self.options.network
        if network == "default":
            network = "bridge"
        if network not in ("bridge", "none", "host"):
            raise BuildError(f"RUN --network={network}: only default, bridge, none and host are supported")
        if network == "host" and self.options.network != "host":
            # the host's network is the user's to give (BuildKit asks for --allow network.host)
            raise BuildError(f"RUN --network=host (line {ins.line}) needs the build's own --network host")
        if "mount" in flags or "security" in flags:
            raise BuildError(f"RUN --{'mount' if 'mount' in flags else 'security'} (line {ins.line}) needs "
                             "BuildKit, which tinydocker's builder is not")
        env_names = {e.split("=", 1)[0] for e in config.get("Env") or []}
        args = {k: v for k, v in state.args.items() if v is not None and k not in env_names}
        for name in self.options.build_args:
            if name in PROXY_ARGS and name not in args and name not in env_names:
                args[name] = self.options.build_args[name]
        keyed = sorted((k, v) for k, v in args.items() if k not in PROXY_ARGS)
        prefix = f"|{len(keyed)} " + " ".join(f"{k}={v}" for k, v in keyed) + " " if keyed else ""
        created_by = prefix + " ".join(argv)
        key = cache.key(state.image, created_by, network=network, author=state.author)
        hit = self._cached(state, key)
        if hit is None:
            hit = running.run_step(self, state, run_argv, [f"{k}={v}" for k, v in sorted(args.items())], network,
                                   created_by, key, script=stdin)
        self._adopt(state, hit)

    def _copy(self, state: _State, ins: Instruction, all_stages, index: int) -> None:
        from . import sources

        plan = sources.plan(self, state, ins, all_stages, index)
        key = cache.key(state.image, plan.created_by, content=plan.checksum, author=state.author)
        hit = self._cached(state, key)
        if hit is None:
            hit = self._files_step(state, dict(state.config), plan.created_by, key, plan.apply)
            self.say(f" ---> {hit.hex[:12]}")
        self._adopt(state, hit)

    def _files(self, state: _State, config: dict, text: str, what) -> None:
        from . import copying

        created_by = f"/bin/sh -c #(nop) {text}"
        key = cache.key(state.image, created_by, author=state.author)
        hit = self._cached(state, key)
        if hit is None:
            path, user = what[1], config.get("User") or ""

            def apply(enter):
                from ..container.copy import Child

                Child(enter, lambda: copying.workdir(path, user)).finish()
            hit = self._files_step(state, config, created_by, key, apply)
            self.say(f" ---> {hit.hex[:12]}")
        self._adopt(state, hit)

    def _files_step(self, state: _State, config: dict, created_by: str, key: str, apply):
        """An upper directory of the step's own over the stack, changed by apply(enter), then
        published as the step's layer (none if nothing changed)."""
        from . import copying

        step = Path(self.work) / f"step{self.step}"
        for part in ("upper", "work", "merged", "empty"):
            (step / part).mkdir(parents=True, exist_ok=True)
        os.chmod(step / "upper", self._root_mode(state))
        lower = self._lower(state)
        enter = copying.overlay_enter(str(self.store.layers), lower, str(step / "upper"), str(step / "work"),
                                      str(step / "merged"))
        apply(enter)
        upper = step / "upper"
        image = self._publish(state, upper if _changed(upper) else None, config, created_by, key)
        shutil.rmtree(step, ignore_errors=True)
        return image

    def _root_mode(self, state: _State) -> int:
        lower = self._lower(state)
        if not lower:
            return 0o755
        return os.stat(self.store.layers / lower[0]).st_mode & 0o7777

    def _lower(self, state: _State) -> list[str]:
        """The stack's layer directories, top first, as names in the store's layers."""
        if state.image is None:
            return []
        return [os.path.basename(str(d)) for d in self.store.layer_dirs(state.image)]


def _changed(upper: Path) -> bool:
    try:
        return bool(os.listdir(upper))
    except FileNotFoundError:
        return False


def _with_heredocs(ins: Instruction) -> str:
    """A shell-form RUN's script: its line, then each heredoc's body and delimiter, which
    the shell reads as the here-documents they are. A RUN that is nothing but one
    heredoc runs its body as the script."""
    text = ins.args[0]
    if not ins.heredocs:
        return text
    if _is_script(ins):
        return ins.heredocs[0].content
    script = text
    for doc in ins.heredocs:
        script += "\n" + doc.content + doc.name
    return script + "\n"


def _is_script(ins: Instruction) -> bool:
    """A RUN that is nothing but one heredoc: its body is the script."""
    words = ins.args[0].split()
    return (len(ins.heredocs) == 1 and len(words) == 1
            and words[0].lstrip("<-").strip("'\"") == ins.heredocs[0].name)


def _ports(word: str) -> list[str]:
    port, _, proto = word.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise BuildError(f"EXPOSE {word}: invalid protocol {proto}")
    first, _, last = port.partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        raise BuildError(f"EXPOSE {word}: invalid port")
    return [f"{p}/{proto}" for p in range(int(first), int(last or first) + 1)]


def _healthcheck(ins: Instruction, shell: list[str]) -> dict:
    """HEALTHCHECK NONE, or [--interval=D --timeout=D --start-period=D --start-interval=D
    --retries=N] CMD ...: the config's Healthcheck (durations in nanoseconds)."""
    if ins.args[0].upper() == "NONE":
        return {"Test": ["NONE"]}
    check: dict = {}
    for name, value in ins.flags:
        field_name = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
                      "start-interval": "StartInterval", "retries": "Retries"}[name]
        if name == "retries":
            if not (value or "").isdigit():
                raise BuildError(f"HEALTHCHECK --retries={value}: not a number (line {ins.line})")
            check[field_name] = int(value)
        else:
            check[field_name] = _duration(value or "", name, ins.line)
    command = list(ins.args[1:])
    check["Test"] = ["CMD"] + command if ins.json else ["CMD-SHELL", command[0]]
    return check


def _duration(text: str, name: str, line: int) -> int:
    """A Go duration ("30s", "1m30s", "500ms") in nanoseconds."""
    import re

    units = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise BuildError(f"HEALTHCHECK --{name}={text}: not a duration such as 30s (line {line})")
    return int(sum(float(n) * units[u] for n, u in parts))


def sweep(root: DataRoot) -> None:
    """Remove the RUN containers of builds that were killed (their owner's process gone)."""
    from ..container.removal import discard
    from ..container import signals
    from ..state.store import Store

    store = Store(root)
    try:
        store.sweep()  # a RUN's container whose build was killed between its directory and its record
        records = store.all()
    except FileNotFoundError:
        return
    for record in records:
        owner = (record.spec.get("labels") or {}).get(OWNER_LABEL)
        if not owner:
            continue
        pid, _, ticks = owner.partition(":")
        if proc.is_alive(int(pid), int(ticks)):
            continue
        try:
            held, alive = store.hold_for_removal(store.observe(record), force=True)
            if alive:
                signals.kill(held)
            discard(store, held)
        except TinydockerError:
            continue  # removed meanwhile, or still going: the next sweep

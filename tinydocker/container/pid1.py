"""`run --init`: a small init as the container's PID 1, as docker's docker-init (tini) is.

A command run as PID 1 gets no default signal actions (the kernel shields a namespace's
init: SIGTERM without a handler does nothing, so `stop` has to wait for its SIGKILL), and
the orphans reparented to it stay zombies unless it waits for them. With --init, the
container's init process (init.py) stays PID 1 once the container is set up and confined
as its command is, and:

  - forks the command into a process group of its own (the terminal's foreground one
    with -t, so Ctrl-C reaches the command once, not PID 1 too);
  - passes the signals a container is sent (stop's, kill's, a terminal's) on to it;
  - waits for every child, the orphans included, until the command ends;
  - then ends with the command's status: its exit code, or 128+N for signal N.

It is not dumpable, so that the container's processes cannot reach the host's interpreter
through its /proc/1/exe or its memory. Everything it needs is imported before pivot_root.
"""

import os
import signal
import termios

from ..linux import syscalls as sc

# passed on to the command: what stop, kill and a terminal send (not SIGCHLD, ours to wait)
PASSED_ON = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH, signal.SIGCONT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGALRM)


def name_self(argv: list[str]) -> None:
    """Show as `tinydocker-init -- CMD…` in the container's ps, as docker's shows docker-init,
    rather than as the host's tinydocker command line (which would tell the container the
    host's paths): the new words are written over the old ones in our own memory, cut to
    their room and padded with NULs (PR_SET_MM would need CAP_SYS_RESOURCE)."""
    try:
        sc.retitle(b"tinydocker-init", [w.encode() for w in ["tinydocker-init", "--"] + argv])
    except (OSError, IndexError, ValueError):
        pass  # cosmetic: the command runs all the same


def run(tty: bool, start_command) -> None:
    """Fork start_command() (which execs the command, or reports why not and exits) and be
    its init; never returns."""
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    # a signal sent while we fork waits (blocked) and is passed on once the child is known
    signal.pthread_sigmask(signal.SIG_BLOCK, PASSED_ON)
    child = os.fork()
    if child == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, PASSED_ON)
        os.setpgid(0, 0)
        if tty:
            _take_terminal()
        start_command()  # never returns
    try:
        os.setpgid(child, child)  # also here: whichever of the two runs first, it is done before a signal
    except OSError:
        pass  # the child did it, or has already exec'd / ended
    # what the container's set-up left open (the report socket among them) is the command's
    # to close on exec: the parent started it the moment the last holder closes it
    os.closerange(3, _open_max())
    for sig in PASSED_ON:
        signal.signal(sig, lambda number, _frame: _pass_on(child, number))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, PASSED_ON)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)  # cannot happen while the command runs; nothing left to wait for
        if pid == child:
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _pass_on(child: int, number: int) -> None:
    try:
        os.kill(child, number)
    except ProcessLookupError:
        pass  # ended: its status is on its way


def _take_terminal() -> None:
    """The command's process group becomes the terminal's foreground group (as a shell's
    job control does), ignoring the SIGTTOU a background group gets for asking."""
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(0, os.getpgrp())
    except (OSError, termios.error):
        pass
    finally:
        signal.signal(signal.SIGTTOU, old)


def _open_max() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (OSError, ValueError):
        return 1024

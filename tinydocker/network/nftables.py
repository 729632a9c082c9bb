"""nftables through its own library, libnftables (ctypes), one transaction per call.

The commands are nft's own text: a call's lines are applied by the kernel all together or
not at all, which is what adding or removing a container's rules needs. No `nft` process
is spawned; the library is loaded on first use (only containers with a network need it).
"""

import ctypes
import os
import socket
import threading

from ..errors import TinydockerError

_lib = None
_ctx = None
# one context, one thread at a time: libnftables' context is not thread-safe (a script's
# threads starting containers at once met "nf_tables kernel ABI is broken" and an exit)
_using = threading.Lock()
_NETLINK_NETFILTER = 12


def _context():
    global _lib, _ctx
    if _ctx is None:
        # libnftables calls exit(3) when it cannot open its netlink socket: on a kernel
        # without nfnetlink it would end the calling process without a word
        try:
            socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER).close()
        except OSError as e:
            raise TinydockerError(f"nftables is not available in this kernel ({e.strerror}): "
                                  "tinydocker's networks need nf_tables (modprobe nf_tables)") from None
        try:
            _lib = ctypes.CDLL("libnftables.so.1")
        except OSError:
            raise TinydockerError("nftables' library (libnftables.so.1) is missing: apt-get install nftables") from None
        _lib.nft_ctx_new.restype = ctypes.c_void_p
        _lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        _lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error", "nft_ctx_get_output_buffer",
                     "nft_ctx_get_error_buffer"):
            getattr(_lib, name).argtypes = [ctypes.c_void_p]
        _lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        _lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        ctx = _lib.nft_ctx_new(0)
        _lib.nft_ctx_buffer_output(ctx)
        _lib.nft_ctx_buffer_error(ctx)
        _ctx = ctx
    return _ctx


def _forget_after_fork() -> None:
    # the context holds a netlink socket: a forked child (a detached start's launcher)
    # makes its own rather than share the parent's, whose replies it could take, and
    # whose descriptor linux/fds.py points at /dev/null in such a child anyway; and the
    # lock, which another thread may have held at the fork, is the child's own again
    global _ctx, _using
    _ctx = None
    _using = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


class NftError(TinydockerError):
    pass


_OUTPUT_JSON = 1 << 4  # NFT_CTX_OUTPUT_JSON


def run(commands: str, as_json: bool = False) -> str:
    """Apply nft commands as one transaction; their output (for list commands), as nft's
    JSON with as_json."""
    with _using:
        ctx = _context()
        _lib.nft_ctx_output_set_flags(ctx, _OUTPUT_JSON if as_json else 0)
        code = _lib.nft_run_cmd_from_buffer(ctx, commands.encode())
        out = (_lib.nft_ctx_get_output_buffer(ctx) or b"").decode()
        err = (_lib.nft_ctx_get_error_buffer(ctx) or b"").decode()
    if code != 0:
        first = next((line for line in err.splitlines() if line.startswith("Error:")), err.strip() or "failed")
        raise NftError(f"nftables: {first}")
    return out

"""Container handles for scripts (run(..., detach=True) gives one) and the asyncio API."""

import asyncio

import pytest

import tinydocker
import tinydocker.aio


def _ps_names(root) -> list[str]:
    return [r.name for r in tinydocker.ps(all=True, root=root)]


def test_a_handle_streams_output_in_order_waits_execs_copies_and_goes_with_with(td, tmp_path):
    root = str(td.root)
    with tinydocker.run("h1", ["sh", "-c", "echo 1; sleep 0.2; echo 2 >&2; sleep 0.2; echo 3; exit 4"],
                        network="none", detach=True, root=root) as c:
        assert isinstance(c, str) and c == c.id and len(c) == 64  # still the id, as before
        assert list(c.stream()) == [("stdout", b"1\n"), ("stderr", b"2\n"), ("stdout", b"3\n")]
        assert c.wait() == 4 and c.status == "exited"
        assert c.output() == (b"1\n3\n", b"2\n")
    assert _ps_names(root) == []  # the block's end took it

    c = tinydocker.run("h2", ["sleep", "600"], network="none", detach=True, root=root)
    with pytest.raises(tinydocker.WaitTimeout):
        c.wait(timeout=0.3)
    done = c.exec(["sh", "-c", "echo in; exit 3"])
    assert (done.exit_code, done.stdout) == (3, b"in\n")
    (tmp_path / "f").write_text("host\n")
    c.copy_in(str(tmp_path / "f"), "/f")
    c.copy_out("/f", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "host\n"
    assert c.wait(timeout=0.3, kill=True) == 137  # it really times out, and kill ends it
    c.remove()
    assert _ps_names(root) == []


def test_the_asyncio_api_runs_many_at_once(td):
    root = str(td.root)

    async def main():
        jobs = await asyncio.gather(*(tinydocker.aio.run(f"a{i}", ["sh", "-c", f"echo {i}; exit {i % 3}"],
                                                          network="none", detach=True, root=root)
                                      for i in range(12)))
        codes = await asyncio.gather(*(job.wait(timeout=120, kill=True) for job in jobs))
        outputs = [await job.output() for job in jobs]
        async with jobs[0] as first:
            pieces = [piece async for piece in first.stream()]
        for job in jobs[1:]:
            await job.remove()
        return codes, outputs, pieces

    codes, outputs, pieces = asyncio.run(main())
    assert codes == [i % 3 for i in range(12)]
    assert outputs == [(f"{i}\n".encode(), b"") for i in range(12)]
    assert pieces == [("stdout", b"0\n")]
    assert _ps_names(root) == []

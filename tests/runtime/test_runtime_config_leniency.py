"""What runc accepts of a config.json and tinydocker-runtime once refused (found by the OCI
runtime-tools validation suite), each decided against runc 1.1.5's behaviour and the
runtime-spec: memory.kernel is accepted with a warning, a `mode=` on a bind mount is accepted
and ignored with a warning, a config without `process` is created and refused at start, and
a container without a mount namespace is still refused.
"""

import json

from test_runtime_lifecycle import one_line, rt  # noqa: F401 - rt: the fixture


def test_kernel_memory_is_created_with_a_warning_in_the_log(rt, tmp_path):
    bundle = rt.bundle("b", ["true"])
    rt.edit(bundle, lambda d: d["linux"].update(resources={"memory": {"limit": 64 << 20, "kernel": 32 << 20,
                                                                      "kernelTCP": 0}}))
    cid = rt.new_id()
    log = tmp_path / "log.json"
    done = rt.create(bundle, cid, "--pid-file", tmp_path / "pid")  # stderr: the text log
    assert done.returncode == 0
    assert one_line(done.stderr) == ("tinydocker-runtime: warning: config.json: linux.resources.memory.kernel is "
                                     "deprecated and ignored")
    assert rt("delete", "--force", cid).returncode == 0
    done = rt("--log", log, "--log-format", "json", "run", "--bundle", bundle, rt.new_id())
    assert (done.returncode, done.stderr) == (0, "")
    [line] = [json.loads(text) for text in log.read_text().splitlines()]
    assert (line["level"], line["msg"]) == ("warning", "config.json: linux.resources.memory.kernel is deprecated "
                                                       "and ignored")

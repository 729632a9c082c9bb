"""System call numbers by machine, checked against the kernel's own headers (Debian's
linux-libc-dev: x86_64's table, and asm-generic's, which aarch64 uses), and any other
machine refused at start in one line."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tinydocker.linux import machine, syscalls

HEADERS = {"x86_64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "aarch64": "/usr/include/asm-generic/unistd.h"}
REPO = Path(__file__).resolve().parents[2]


def _numbers(header: str) -> dict[str, int]:
    try:
        text = Path(header).read_text()
    except FileNotFoundError:
        pytest.fail(f"{header} not found: `apt-get install linux-libc-dev`", pytrace=False)
    return {name: int(number) for name, number in re.findall(r"#define __NR_(\w+)\s+(\d+)\b", text)}


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_each_machine_calls_what_its_kernel_numbers_say(name):
    table = {**machine._BY_MACHINE[name], **machine._EVERYWHERE}
    kernel = _numbers(HEADERS[name])
    assert table == {name: kernel[name] for name in table}
    # every call tinydocker makes by number is in the table
    source = Path(syscalls.__file__).read_text()
    assert set(re.findall(r'NUMBERS\["(\w+)"\]', source)) == set(table)


def test_this_machine_uses_its_own_numbers():
    assert machine.NUMBERS["pivot_root"] == machine._BY_MACHINE[machine.MACHINE]["pivot_root"]


def test_another_machine_is_refused_in_one_line():
    # linux32 makes uname say i686: no table for it, so no call goes out by a wrong number
    res = subprocess.run(["linux32", sys.executable, "-m", "tinydocker", "ps"], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert res.returncode == 125
    assert res.stderr == "tinydocker: tinydocker runs on x86_64 and aarch64 machines; this one is i686\n"
    probe = "from tinydocker.linux import machine as s; print(sorted(set(s.NUMBERS.values()) - set(s._EVERYWHERE.values())))"
    res = subprocess.run(["linux32", sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert res.stdout == "[-1]\n", res.stderr

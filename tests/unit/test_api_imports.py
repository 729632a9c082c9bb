"""tinydocker.api imports each function's module at its first use (api._HOME says where)."""

import importlib
import importlib.util
import subprocess
from pathlib import Path
import sys

import pytest

from tinydocker import api

# the checkout (these unit tests run without tests/conftest.py: README, --confcutdir)
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(api._HOME))
def test_each_function_is_found_where_the_table_says(name):
    home = importlib.util.resolve_name(api._HOME[name], "tinydocker.api")
    assert callable(getattr(api, name)) and getattr(api, name) is getattr(importlib.import_module(home), name)
    assert getattr(api, name).__module__ == home


def _fresh(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_a_module_imported_first_does_not_take_the_name_of_its_function():
    # create, events, images, inspect, networks and volumes are modules and functions both
    out = _fresh("import tinydocker.api.create, tinydocker.api.events, tinydocker.api.images, "
                 "tinydocker.api.inspect, tinydocker.api.networks, tinydocker.api.volumes\n"
                 "from tinydocker import api\n"
                 "print(*[type(getattr(api, n)).__name__ for n in "
                 "('create', 'events', 'images', 'inspect', 'networks', 'volumes')])")
    assert out.split() == ["function"] * 6


def test_a_function_imports_its_own_module_and_not_the_others():
    out = _fresh("import sys, tinydocker.api as api; api.ps; "
                 "print(*sorted(m for m in sys.modules if m.startswith('tinydocker.api.')))")
    assert "tinydocker.api.observe" in out.split()
    assert not {"tinydocker.api.create", "tinydocker.api.images", "tinydocker.api.registry"} & set(out.split())


def test_the_package_lists_the_api_and_what_it_lacks_is_an_attribute_error():
    assert set(api.__all__) <= set(dir(api)) and "ps" in dir(importlib.import_module("tinydocker"))
    with pytest.raises(AttributeError):
        api.no_such_function
    import tinydocker

    assert tinydocker.run is api.run and tinydocker.TinydockerError

"""--format's Go templates on the listings and inspect commands, and images --filter."""

import json

import pytest

from tinydocker.cli.template import Template, render_rows
from tinydocker.errors import TinydockerError


def test_the_template_subset_renders_as_go_prints():
    doc = {"Name": "web", "State": {"Status": "running", "Running": True, "Pid": 7},
           "Config": {"Cmd": ["sleep", "600"], "Labels": {"b": "2", "a": "1"}, "Entrypoint": None}}
    cases = {
        "{{.Name}}": "web",
        "{{.State.Status}}/{{.State.Running}}/{{.State.Pid}}": "running/true/7",
        "{{json .Config.Cmd}}": '["sleep","600"]',
        '{{json "a<b>&é"}}': '"a<b>&é"',  # docker's json escapes no HTML and keeps UTF-8
        "{{.Config.Cmd}}": "[sleep 600]",
        "{{.Config.Labels}}": "map[a:1 b:2]",
        "{{.Config.Entrypoint}}": "<nil>",
        '{{index .Config.Labels "b"}}': "2",
        '{{index .Config.Labels "missing"}}': "",  # a map[string]string's zero value
        '{{index .State "missing"}}': "<nil>",
        "{{index .Config.Cmd 1}}": "600",
        '{{join .Config.Cmd ","}}': "sleep,600",
        "{{.Name | upper}}": "WEB",
        "{{upper .Name}}-{{lower .State.Status}}-{{title .Name}}-{{len .Config.Cmd}}": "WEB-running-Web-2",
        "x\\ty": "x\ty",
    }
    for text, expected in cases.items():
        assert Template(text).render(doc) == expected, text
    assert json.loads(Template("{{json .}}").render(doc)) == doc
    # Go's control structures and variables (tests/unit/test_template.py has the rest)
    assert Template("{{if .State.Running}}{{range .Config.Cmd}}{{.}};{{end}}{{end}}").render(doc) == "sleep;600;"
    assert Template("{{$x := .Name}}{{with .State}}{{$x}}:{{.Pid}}{{end}}").render(doc) == "web:7"
    for unsupported in ("{{if .Name}}x", "{{define \"x\"}}{{end}}", "{{nosuchfunc .Name}}", "{{.Name",
                        "{{.Name .State}}"):
        with pytest.raises(TinydockerError):
            Template(unsupported)
    with pytest.raises(TinydockerError, match="can't evaluate field Nope"):
        Template("{{.Nope}}").render(doc)
    table = render_rows("table {{.ID}}\\t{{.Names}}", [{"ID": "abc", "Names": "n1"}, {"ID": "defgh", "Names": "n2"}],
                        {"ID": "CONTAINER ID"})
    assert table.splitlines() == ["CONTAINER ID   NAMES", "abc            n1", "defgh          n2"]


def test_format_on_ps_inspect_images_and_info(td):
    td.out("run", "-d", "-l", "app=web", "-l", "note=a,b", "f1", "sleep", "600")
    td.out("run", "f2", "true")
    out = td.out("ps", "-a", "--format", "{{.Names}}:{{.State}}:{{.Labels}}")
    assert out.splitlines() == ["f2:exited:", "f1:running:app=web,note=a,b"]
    # docker's one method on a row: a label's value, whole even with a comma in it
    out = td.out("ps", "-a", "--format", '{{.Names}}={{.Label "note"}}|{{.Label "app" | upper}}')
    assert out.splitlines() == ["f2=|", "f1=a,b|WEB"]
    assert json.loads(td.out("ps", "--format", "json"))["Labels"] == "app=web,note=a,b"
    res = td("inspect", "-f", '{{.Label "app"}}', "f1")
    assert res.returncode != 0 and b"Label" in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr
    out = td.out("ps", "--format", "table {{.ID}}\\t{{.Names}}\\t{{.Status}}").splitlines()
    assert out[0].split("   ")[:2] == ["CONTAINER ID", "NAMES"] and out[1].split()[1] == "f1"
    assert td.out("inspect", "-f", "{{.State.Status}} {{index .Config.Labels \"app\"}}", "f1", "f2").splitlines() \
        == ["running web", "exited "]
    assert td.out("container", "inspect", "--format", "{{json .Config.Cmd}}", "f1").strip() == '["sleep","600"]'
    assert td.out("images", "--format", "{{.Repository}}:{{.Tag}}").strip() == "busybox:latest"
    assert td.out("image", "inspect", "-f", "{{.Os}}", "busybox").strip() == "linux"
    assert td.out("info", "--format", "{{.cgroup_version}}").strip() in ("v1", "v2", "hybrid")
    assert json.loads(td.out("info", "--format", "json"))["root"] == str(td.root)
    td.out("volume", "create", "v1")
    assert td.out("volume", "ls", "--format", "{{.Name}} {{.Driver}}").strip() == "v1 local"
    assert td.out("volume", "inspect", "-f", "{{.Name}}", "v1").strip() == "v1"
    assert "bridge" in td.out("network", "ls", "--format", "{{.Name}}").split()
    out = td.out("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}")
    assert out.split() == ["f1", "1"]
    # a template tinydocker cannot follow is refused before anything runs, in one line
    for args in (["ps", "--format", "{{if .Names}}x"], ["inspect", "-f", "{{range .}}", "f1"],
                 ["ps", "--format", "{{.NoSuchField}}"], ["images", "--format", "nonsense"]):
        res = td(*args)
        assert res.returncode == 125 and res.stderr.count(b"\n") == 1, (args, res.stderr)
    td.out("rm", "-f", "f1")


def test_go_templates_as_dockers_documentation_writes_them(td):
    import ipaddress

    td.out("run", "-d", "g1", "sleep", "600")
    address = td.out("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "g1").strip()
    subnet = td.out("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "bridge").strip()
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet), (address, subnet)
    assert td.out("exec", "g1", "hostname", "-i").split() == [address]  # the address the container has
    running = "{{if .State.Running}}up{{else}}down{{end}}"
    assert td.out("inspect", "-f", running, "g1").strip() == "up"
    assert td.out("ps", "--format", '{{printf "%-10s" .Names}}|').splitlines() == ["g1        |"]
    assert td.out("images", "--format", '{{if eq .Repository "busybox"}}{{.Tag}}{{end}}').strip() == "latest"
    td.out("stop", "-t", "1", "g1")
    assert td.out("inspect", "-f", running, "g1").strip() == "down"
    # a template that fails as it runs is one line and 125, as one that does not parse
    res = td("inspect", "-f", "{{index .Config.Cmd 9}}", "g1")
    assert res.returncode == 125 and res.stderr.count(b"\n") == 1 and b"index out of range: 9" in res.stderr, res.stderr
    td.out("rm", "g1")


def test_images_filters(td):
    td.out("run", "base", "sh", "-c", "echo x > /f")
    td.out("commit", "base", "mine:v1")
    td.out("commit", "base")  # no name: dangling

    def listed(*flags):
        return [f"{r['Repository']}:{r['Tag']}" for r in map(json.loads, td.out("images", "--format", "json",
                                                                                  *flags).splitlines())]

    assert sorted(listed()) == ["<none>:<none>", "busybox:latest", "mine:v1"]
    assert listed("--filter", "dangling=true") == ["<none>:<none>"]
    assert sorted(listed("--filter", "dangling=false")) == ["busybox:latest", "mine:v1"]
    assert listed("--filter", "reference=mine*") == ["mine:v1"]
    assert listed("--filter", "reference=busybox:lat*") == ["busybox:latest"]
    assert "busybox:latest" not in listed("--filter", "since=busybox")
    assert listed("--filter", "before=mine:v1") == ["busybox:latest"]
    for bad in ("bogus=1", "dangling=maybe", "before=nosuch"):
        res = td("images", "--filter", bad)
        assert res.returncode == 1 and res.stderr.count(b"\n") == 1, (bad, res.stderr)


def test_version_and_system_df(td):
    import platform

    import tinydocker

    doc = json.loads(td.out("version", "--format", "json"))
    assert doc["Version"] == tinydocker.__version__ and doc["KernelVersion"] == platform.release()
    assert td.out("version", "-f", "{{.Os}}/{{.Arch}}").strip() in ("linux/amd64", "linux/arm64")
    assert "Version:" in td.out("version")

    def df():
        return {row["Type"]: row for row in map(json.loads, td.out("system", "df", "--format", "json").splitlines())}

    assert df()["Containers"]["TotalCount"] == 0
    td.out("run", "--network", "none", "-v", "data:/d", "stopped", "sh", "-c",
           "head -c 300000 /dev/zero > /d/f; head -c 200000 /dev/zero > /upper-file")
    td.out("run", "-d", "--network", "none", "running", "sleep", "600")
    td.out("volume", "create", "unused")
    rows = df()
    assert (rows["Images"]["TotalCount"], rows["Images"]["Active"]) == (1, 1)
    assert rows["Images"]["Reclaimable"].startswith("0B")
    assert (rows["Containers"]["TotalCount"], rows["Containers"]["Active"]) == (2, 1)
    assert rows["Containers"]["Size"].startswith("2") and "kB" in rows["Containers"]["Size"]  # ~200 kB upper
    assert (rows["Local Volumes"]["TotalCount"], rows["Local Volumes"]["Active"]) == (2, 1)
    assert rows["Local Volumes"]["Size"].startswith("3") and rows["Local Volumes"]["Reclaimable"].startswith("0B")
    table = td.out("system", "df").splitlines()
    assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"] and len(table) == 4
    td.out("rm", "-f", "-v", "stopped", "running")
    td.out("volume", "rm", "data", "unused")
    rows = df()
    assert rows["Images"]["Active"] == 0 and rows["Images"]["Reclaimable"].endswith("(100%)")

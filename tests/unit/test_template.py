"""The Go template engine of --format on plain data: no root, no containers, a second to run.

Run on its own with  python -m pytest -q --confcutdir=tests/unit tests/unit  (the confcutdir keeps
tests/conftest.py, which wants root for real containers, from being loaded)."""

import pytest

from tinydocker.cli.template import Template, render_rows
from tinydocker.errors import TinydockerError

DOC = {
    "Name": "web",
    "Empty": "",
    "Zero": 0,
    "Nil": None,
    "State": {"Status": "running", "Running": True, "Pid": 7, "ExitCode": 0},
    "Config": {"Cmd": ["sleep", "600"], "Labels": {"b": "2", "a": "1"}, "Entrypoint": None, "Env": []},
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}, "alpha": {"IPAddress": "10.1.0.2"}}},
    "Mounts": [{"Source": "/a", "RW": True}, {"Source": "/b", "RW": False}],
    "Big": 1234567.0,
    "Half": 0.5,
}


def render(text, data=DOC):
    return Template(text).render(data)


def error(text, data=DOC) -> str:
    with pytest.raises(TinydockerError) as caught:
        render(text, data)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message, message
    assert caught.value.code == 125
    return message


@pytest.mark.parametrize("text, expected", [
    # fields, nested, the object; values as Go's fmt prints them
    ("{{.Name}}", "web"),
    ("{{.State.Status}}/{{.State.Running}}/{{.State.Pid}}", "running/true/7"),
    ("{{.Config.Cmd}} {{.Config.Labels}} {{.Config.Entrypoint}}", "[sleep 600] map[a:1 b:2] <nil>"),
    ("{{.Big}} {{.Half}} {{1.0}} {{0.0001}} {{0.00001}} {{100000.0}}", "1.234567e+06 0.5 1 0.0001 1e-05 100000"),
    ("{{with .Config.Labels}}{{.}}{{end}}", "map[a:1 b:2]"),
    # if, else if, else; Go's truth
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if .Empty}}a{{else if .Zero}}b{{else if .Config.Env}}c{{else if .Nil}}d{{else}}e{{end}}", "e"),
    ("{{if .Config.Labels}}a{{end}}{{if .Mounts}}b{{end}}{{if .Half}}c{{end}}{{if .Name}}d{{end}}", "abcd"),
    # range over lists and maps (in key order), with variables, else, break, continue, an int
    ("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", "10.1.0.2 172.17.0.2 "),
    ("{{range $name, $net := .NetworkSettings.Networks}}{{$name}}={{$net.IPAddress}};{{end}}",
     "alpha=10.1.0.2;bridge=172.17.0.2;"),
    ("{{range $i, $m := .Mounts}}{{$i}}:{{$m.Source}}{{if $m.RW}}(rw){{end}} {{end}}", "0:/a(rw) 1:/b "),
    ("{{range $c := .Config.Cmd}}<{{$c}}>{{end}}", "<sleep><600>"),
    ("{{range .Config.Env}}x{{else}}none{{end}}|{{range .Config.Entrypoint}}x{{else}}nil{{end}}", "none|nil"),
    ("{{range .Config.Cmd}}{{if eq . \"sleep\"}}{{continue}}{{end}}{{.}}{{end}}", "600"),
    ("{{range .Config.Cmd}}{{.}}{{break}}{{end}}", "sleep"),
    ("{{range 3}}{{.}}{{end}}", "012"),
    ("{{range .Mounts}}{{$.Name}}{{.Source}}{{end}}", "web/aweb/b"),
    # with
    ("{{with .State}}{{.Status}} {{.Pid}}{{end}}", "running 7"),
    ("{{with .Empty}}x{{else}}empty{{end}}", "empty"),
    ("{{with .Nil}}x{{else with .State}}{{.Pid}}{{end}}", "7"),
    ("{{with $s := .State}}{{$s.Pid}}{{end}}", "7"),
    # variables: declared, assigned (also inside a range), $ the top
    ("{{$x := .Name}}{{$x}}-{{$x = \"new\"}}{{$x}}", "web-new"),
    ("{{$n := 0}}{{range .Mounts}}{{$n = len .Source}}{{end}}{{$n}}", "2"),
    ("{{with .State}}{{$.Name}}:{{.Status}}{{end}}", "web:running"),
    # parentheses, pipelines, chained fields on a result
    ("{{(index .Mounts 1).Source}}", "/b"),
    ("{{index .Config.Cmd 0 | upper | printf \"%s!\"}}", "SLEEP!"),
    ("{{printf \"%s-%d\" (index .Config.Cmd 0) (len (slice .Config.Cmd 1))}}", "sleep-1"),
    ("{{(index .NetworkSettings.Networks \"bridge\").IPAddress}}", "172.17.0.2"),
    # literals (a \n or \t anywhere is a newline or tab first, as docker reads --format, so in a raw string too)
    ("{{\"a\\tb\\\"\\u00e9\\x41\\101\"}}|{{`raw\\n`}}|{{'a'}}|{{0x1F}}|{{0o17}}|{{017}}|{{1_000}}|{{-2}}|{{1e3}}",
     "a\tb\"éAA|raw\n|97|31|15|15|1000|-2|1000"),
    ("{{true}} {{false}} {{print nil}}", "true false <nil>"),
    # comparisons: eq with several arguments, mixed kinds with nil
    ("{{eq .Name \"x\" \"web\"}} {{eq 1 2}} {{ne .Name \"web\"}} {{eq .Nil nil}} {{eq .Nil \"x\"}}",
     "true false false true false"),
    ("{{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1.5 2.5}} {{lt \"A\" \"a\"}}", "true true true false true"),
    ("{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" \"z\"}} {{or 0 \"\"}} {{not 0}} {{not .Name}}", "0 2 z  true false"),
    ("{{if and .State.Running (eq .State.ExitCode 0)}}ok{{end}}", "ok"),
    ("{{if or .Nil .Name}}ok{{end}}{{and .Nil .Nope}}", "ok<nil>"),  # and, or stop at their answer
    # Go's builtins
    ("{{len .Name}} {{len .Config.Cmd}} {{len .Config.Labels}} {{len \"é\"}}", "3 2 2 2"),
    ("{{index .Config.Labels \"b\"}}|{{index .Config.Labels \"missing\"}}|{{index .State \"missing\"}}|{{index .Name 0}}",
     "2||<nil>|119"),
    ("{{slice .Name 1}} {{slice .Name 1 2}} {{slice .Config.Cmd 0 1}} {{slice .Config.Cmd}}", "eb e [sleep] [sleep 600]"),
    ("{{print 1 2 \"a\" \"b\" 3}}|{{println .Name 1}}", "1 2ab3|web 1\n"),
    ("{{html \"<a href='x'>&\\\"\"}} {{js \"it's <b>=\\\\\"}} {{urlquery \"a b&c/é\"}}",
     "&lt;a href=&#39;x&#39;&gt;&amp;&#34; it\\'s \\u003Cb\\u003E\\u003D\\\\ a+b%26c%2F%C3%A9"),
    # docker's functions
    ("{{json .Config.Cmd}} {{json \"a<b>&é\"}} {{json .Nil}}", '["sleep","600"] "a<b>&é" null'),
    ("{{join .Config.Cmd \",\"}} {{split \"a:b:c\" \":\"}} {{len (split \"a:b\" \":\")}}", "sleep,600 [a b c] 2"),
    ("{{upper .Name}} {{lower \"ABC\"}} {{title \"hello wORLD-x_y 1st\"}}", "WEB abc Hello WORLD-X_y 1st"),
    ("[{{pad .Name 1 2}}][{{pad \"\" 1 2}}] {{truncate .Name 2}} {{truncate .Name 10}}", "[ web  ][] we web"),
    # printf: Go's verbs, flags, widths, and its own way to say what is wrong
    ("{{printf \"%s|%5s|%-5s|%.2s|%q|%v|%d|%5d|%-3d|%03d|%+d|%x|%X|%#x|%o|%b|%c|%t|%%\" .Name .Name .Name .Name "
     ".Name .Config.Labels 42 42 42 7 5 255 255 255 8 5 65 true}}",
     "web|  web|web  |we|\"web\"|map[a:1 b:2]|42|   42|42 |007|+5|ff|FF|0xff|10|101|A|true|%"),
    ("{{printf \"%v %v %v %v\" .Config.Cmd .Nil .Half .Big}}", "[sleep 600] <nil> 0.5 1.234567e+06"),
    ("{{printf \"%.2f|%6.1f|%e|%g|%T|%T|%T\" 3.14159 2.0 1000.0 0.1 1 \"s\" .Config.Cmd}}",
     "3.14|   2.0|1.000000e+03|0.1|int|string|[]interface {}"),
    ("{{printf \"%d %s\" 1}}|{{printf \"%d\" 1 2}}|{{printf \"%d\" \"x\"}}|{{printf \"%s\" 3}}|{{printf \"%*d\" 4 1}}",
     "1 %!s(MISSING)|1%!(EXTRA int=2)|%!d(string=x)|%!s(int=3)|   1"),
    ("{{printf \"%q %x % x %5.1q\" .Config.Cmd \"hi\" \"hi\" \"é\"}}", '["sleep" "600"] 6869 68 69   "é"'),
    ("{{.Name | printf \"%-10s\"}}|", "web       |"),
])
def test_renders_as_go(text, expected):
    assert render(text) == expected


@pytest.mark.parametrize("text, expected", [
    # trim markers take every space, tab and newline next to them, as Go's do
    ("a  \n\t{{- .Name}}", "aweb"),
    ("{{.Name -}} \n\t b", "webb"),
    ("a {{- .Name -}} b", "awebb"),
    ("{{range .Config.Cmd -}}\n  {{.}}\n{{- end}}", "sleep600"),
    ("a {{/* a comment */}} b", "a  b"),
    ("a {{- /* a comment */ -}} b", "ab"),
    ("{{- .Name -}}", "web"),
    ("x}}y {{\"}}\"}}", "x}}y }}"),  # }} outside an action is text, inside a string a string
])
def test_trim_markers_and_comments(text, expected):
    assert render(text) == expected


@pytest.mark.parametrize("text, needle", [
    ("{{.Name", "unclosed action"),
    ("{{if .Name}}x", "unexpected EOF"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{else}}", "unexpected {{else}}"),
    ("{{nosuch .Name}}", 'function "nosuch" not defined'),
    ("{{$y}}", 'undefined variable "$y"'),
    ("{{$y = 1}}", "undefined variable"),
    ("{{if .Name}}{{$v := 1}}{{end}}{{$v}}", 'undefined variable "$v"'),  # its scope ends at {{end}}
    ("{{.Name .State}}", "is a field, not a function"),
    ("{{\"x\" | .Name}}", "is a field, not a function"),
    ("{{.Name | \"x\"}}", "non executable command in pipeline stage 2"),
    ("{{.Name |}}", "missing command"),
    ("{{if}}{{end}}", "missing value for if"),
    ("{{break}}", "{{break}} outside {{range}}"),
    ("{{range $a, $b, $c := .X}}{{end}}", "too many declarations"),
    ("{{(.Name}}", "unclosed left paren"),
    ("{{.Name)}}", "unexpected right paren"),
    ("{{define \"x\"}}{{end}}", "not supported"),
    ("{{template \"x\"}}", "not supported"),
    ("{{/* open", "unclosed comment"),
    ("{{1x}}", "bad number syntax"),
    ("a {{-.Name}}", "bad number syntax"),  # no space after the dash: not a trim marker
    ("{{\"abc}}", "unterminated quoted string"),
    ("{{\"\\q\"}}", "invalid syntax"),
    ("{{if 1}}{{else}}{{else}}{{end}}", "expected end"),
    ("{{.A.}}", 'unexpected "." in operand'),
    ("{{.A#}}", "bad character"),
    ("{{#}}", "unrecognized character"),
    ("{{\"x\".Y}}", 'unexpected . after term "\\"x\\""'),
])
def test_parse_errors_are_one_line(text, needle):
    message = error(text)
    assert message.startswith("template parsing error: template: :1: ") and needle in message, message


@pytest.mark.parametrize("text, needle", [
    ("{{.Nope}}", 'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope'),
    ("{{.Name.Nope}}", "can't evaluate field Nope in type string"),
    ("{{.State.Nope}}", "can't evaluate field Nope"),
    ("{{if .A}}x{{else if .Nope}}y{{end}}", "can't evaluate field A"),
    ("{{index .Config.Cmd 5}}", "at <index .Config.Cmd 5>: error calling index: index out of range: 5"),
    ("{{(index .Mounts 0).X}}", 'at <(index .Mounts 0).X>: can\'t evaluate field X'),
    ("{{index .Nil 1}}", "error calling index: index of untyped nil"),
    ("{{index .Name \"x\"}}", "cannot index slice/array with type string"),
    ("{{slice .Name 2 1}}", "error calling slice: invalid slice index: 2 > 1"),
    ("{{slice .Name 0 1 2}}", "cannot 3-index slice a string"),
    ("{{eq 1 1.0}}", "error calling eq: incompatible types for comparison"),
    ("{{eq .Config.Cmd .Config.Cmd}}", "non-comparable type"),
    ("{{lt true false}}", "invalid type for comparison"),
    ("{{eq 1}}", "missing argument for comparison"),
    ("{{upper 3}}", "wrong type for value; expected string; got int"),
    ("{{join .Name \",\"}}", "wrong type for value; expected []string; got string"),
    ("{{upper}}", "wrong number of args for upper: want 1 got 0"),
    ("{{not 1 2}}", "wrong number of args for not: want 1 got 2"),
    ("{{and}}", "wrong number of args for and"),
    ("{{len 3}}", "error calling len: len of type int"),
    ("{{call .Name}}", "error calling call: non-function of type string"),
    ("{{range .Name}}{{end}}", "range can't iterate over web"),
    ("{{range $i, $v := 3}}{{end}}", "can't use 3 to iterate over more than one variable"),
    ("{{nil}}", "nil is not a command"),
    ("{{1 2}}", "can't give argument to non-function 1"),
    ("{{.Label \"app\"}}", "error calling Label"),  # ps's one method, not inspect's
    ("{{truncate .Name -1}}", "error calling truncate"),
    ("x\n{{.Name}}\n  {{.Nope}}", "template: :3:4: executing"),
])
def test_execution_errors_are_one_line(text, needle):
    message = error(text)
    assert message.startswith("template: :") and needle in message, message


def test_a_long_error_context_is_cut_as_go_cuts_it():
    assert '<index .Config.Cmd 50...>' in error("{{index .Config.Cmd 5000000}}")


def test_ps_label_method_and_table_titles():
    from tinydocker.cli.template import LabelText

    rows = [{"ID": "abc", "Names": "n1", "Labels": LabelText({"app": "web", "note": "a,b"})},
            {"ID": "defgh", "Names": "n2", "Labels": LabelText({})}]
    assert render_rows('{{.Names}}={{.Label "note"}}|{{.Label "app" | upper}}', rows).splitlines() == \
        ["n1=a,b|WEB", "n2=|"]
    assert render_rows("{{.Labels}}", rows).split("\n") == ["app=web,note=a,b", ""]
    table = render_rows("table {{.ID}}\\t{{.Names}}", rows, {"ID": "CONTAINER ID"})
    assert table.splitlines() == ["CONTAINER ID   NAMES", "abc            n1", "defgh          n2"]
    # the title row goes through the same template: functions give a title as it is, printf pads it
    table = render_rows('table {{printf "%-6s" .Names}}|\\t{{if .ID}}{{lower .ID}}{{end}}\\t{{.Label "app"}}'
                        '\\t{{json .Labels}}', rows, {"ID": "CONTAINER ID"})
    assert table.splitlines() == ["NAMES |   CONTAINER ID   LABEL   LABELS",
                                  "n1    |   abc            web     \"app=web,note=a,b\"",
                                  "n2    |   defgh                  \"\""]


def test_backslash_t_and_n_are_tab_and_newline_as_docker_reads_them():
    assert render("{{.Name}}\\t{{.Name}}\\n") == "web\tweb\n"
    assert render('{{join .Config.Cmd "\\n"}}') == "sleep\n600"


def test_a_template_parses_once_and_renders_many_rows():
    template = Template("{{range .}}{{.}}{{end}}")
    assert [template.render(v) for v in (["a", "b"], {"k": 1}, None)] == ["ab", "1", ""]

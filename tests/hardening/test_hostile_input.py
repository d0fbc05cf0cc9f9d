"""Hostile files, rule files and option values (issue 14, items 2, 3, 6, 7, 8).

Each test reproduces one failure the issue lists and asserts the one-line error (or bounded
result) that replaces it, within a time bound: a hang shows up as a timeout, not a pass.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from engine import inference, knowledge
from engine.facts import Fact, FactError, Snapshot
from engine.files import read_regular
from engine.inference import run
from engine.knowledge import KnowledgeLoadError, load_files, load_knowledge

LOOP_RULE = """rules:
  - id: test.rt-loop
    title: derives the fact it matches
    checklist: [R1]
    severity: info
    layer: route
    when:
      - fact: rt_loop
        as: a
    then:
      - fact: rt_loop
        fields: {value: "VALUE"}
    explanation: "loop {a.value}"
    advice: "none"
    examples:
      - name: seed
        facts: [{kind: rt_loop, value: a}]
        expect: fires
      - name: none
        facts: []
        expect: silent
"""


def _whynet(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """whynet in a process of its own, as a user runs it (a hang fails the test by timeout)."""
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env}, cwd=Path(__file__).parents[2])


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return lines[0]


# --- item 2: inference is bounded ---------------------------------------------------------------

def test_a_growing_then_cycle_is_found_by_validate(tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").write_text(LOOP_RULE.replace("VALUE", "{a.value}x"))
    res = CliRunner().invoke(main, ["rules", "validate", str(tmp_path)])
    assert res.exit_code == 2
    assert f"{tmp_path / 'loop.yaml'}:11: rule 'test.rt-loop' derives 'rt_loop'" in res.output


def test_a_copying_then_cycle_ends_by_itself(tmp_path: Path) -> None:
    """A derived fact identical to one already derived is not declared again."""
    (tmp_path / "loop.yaml").write_text(LOOP_RULE.replace("VALUE", "{a.value}"))
    kb = load_files([tmp_path / "loop.yaml"])
    result = run(kb, [Fact("rt_loop", "seed", {}, {"value": "a"})])
    assert len(result.derived) == 1
    assert len(result.activations) == 2  # the seed, then its one copy; the copy's copy is dropped


def test_a_runaway_rule_is_stopped_with_one_line_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the cycle to slip past validation, the run's budget ends it; the rest stays."""
    (tmp_path / "loop.yaml").write_text(LOOP_RULE.replace("VALUE", "{a.value}x"))
    monkeypatch.setattr(knowledge, "growing_cycles", lambda rules: [])
    kb = load_files([tmp_path / "loop.yaml"])
    start = time.monotonic()
    result = run(kb, [Fact("rt_loop", "seed", {}, {"value": "a"})])
    assert time.monotonic() - start < 30
    assert len(result.activations) == inference.MAX_ACTIVATIONS_PER_RULE
    assert [e.rule for e in result.errors] == ["test.rt-loop"]
    assert "stopped after" in result.errors[0].message


def _default_routes(n: int) -> list[Fact]:
    """n default routes in one table, each via its own gateway and NIC (a fault: the kernel
    keeps one), as the routes collector records them."""
    return [Fact("route", f"route:{i}", {"command": "ip -j -d route show table all"}, {
        "destination": "default", "gateway": f"10.{i // 250}.{i % 250}.1",
        "interface": f"eth{i}", "metric": i, "table": "main", "protocol": "static",
        "family": 4}) for i in range(n)]


def _engine_work(monkeypatch: pytest.MonkeyPatch, facts: list[Fact]) -> dict[str, Any]:
    """Run the shipped knowledge on ``facts`` and count what experta did: rule activations
    (every one the agenda fires, recorded or past the budget), ``test:`` evaluations and
    field predicates (a pairwise join shows in these as n²)."""
    counts = {"activations": 0, "tests": 0, "predicates": 0}

    def counted(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(inference, "expression_holds",
                        counted("tests", inference.expression_holds))
    monkeypatch.setattr(inference, "field_passes", counted("predicates", inference.field_passes))
    monkeypatch.setattr(inference._Runner, "_within_budget",
                        counted("activations", inference._Runner._within_budget))
    result = run(load_knowledge(include_user=False), facts)
    monkeypatch.undo()
    return {**counts, "result": result}


def test_default_routes_cost_linear_engine_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """300 default routes in one table were 44,850 activations and 90,000 tests (a route
    pair per activation); the group relation makes them one finding, with work linear in n."""
    small = _engine_work(monkeypatch, _default_routes(300))
    big = _engine_work(monkeypatch, _default_routes(3000))
    for work in (small, big):
        acts = work["result"].activations_of("routing.multiple-default-gateways")
        assert len(acts) == 1 and work["activations"] == len(work["result"].activations)
    assert big["activations"] == small["activations"]  # one per rule that fires, whatever n
    for key in ("tests", "predicates"):
        assert big[key] <= 10 * small[key] + 100, (key, small[key], big[key])
    group = big["result"].facts[big["result"].activations_of(
        "routing.multiple-default-gateways")[0].bindings["g"]]
    assert group.fields["count"] == 3000 and len(group.fields["members"]) == 3000


def _neighbours_behind_one_mac(n: int) -> list[Fact]:
    """n neighbours of this host's /16 that all resolve to one MAC (cloned VMs, or a router
    answering ARP for them), as the routes collector records them."""
    facts = [Fact("address", "address:eth0:10.0.0.1", {"command": "ip -j addr show"}, {
        "interface": "eth0", "ip": "10.0.0.1", "prefix": 16, "family": 4, "scope": "global",
        "network": "10.0.0.0/16"})]
    facts += [Fact("neighbor", f"neighbor:{i}", {"command": "ip -j neigh show"}, {
        "ip": f"10.0.{(i + 2) // 250}.{(i + 2) % 250 + 1}", "mac": "52:54:00:12:34:56",
        "interface": "eth0", "state": "REACHABLE", "family": 4}) for i in range(n)]
    return facts


def test_neighbours_behind_one_mac_cost_linear_engine_work(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """300 neighbours behind one MAC were 44,850 related pairs, each joined with the subnet
    that holds both; the group relation makes them one finding, with work linear in n."""
    small = _engine_work(monkeypatch, _neighbours_behind_one_mac(300))
    big = _engine_work(monkeypatch, _neighbours_behind_one_mac(3000))
    for work in (small, big):
        assert len(work["result"].activations_of("link.duplicate-mac-neighbours")) == 1
    assert big["activations"] == small["activations"]
    for key in ("tests", "predicates"):
        assert big[key] <= 10 * small[key] + 100, (key, small[key], big[key])
    assert len(big["result"].relations) <= 3000 + 10  # one own-subnet fact each, one group


def test_why_shows_every_default_route_with_its_source(tmp_path: Path) -> None:
    snap, saved = tmp_path / "snap.json", tmp_path / "report.json"
    Snapshot(_default_routes(300), host="h").save(snap)
    start = time.monotonic()
    res = _whynet("diagnose", "--snapshot", str(snap), "--format", "json", "--save", str(saved),
                  timeout=120, XDG_CACHE_HOME=str(tmp_path))
    assert time.monotonic() - start < 10  # local input: 10 s at most (it was 55 s)
    assert res.returncode == 1, res.stderr
    report = json.loads(res.stdout)
    top = report["findings"][0]
    assert top["rule"] == "routing.multiple-default-gateways"
    assert "Table main has 300 default routes" in top["explanation"]
    assert len(report["justification"]["activations"]) < 20
    why = _whynet("why", "routing.multiple-default-gateways", "--report", str(saved),
                  XDG_CACHE_HOME=str(tmp_path), COLUMNS="300")
    assert why.returncode == 0, why.stderr
    for i in range(300):
        line = next(x for x in why.stdout.splitlines() if f"route:{i} (route)" in x)
        assert "← command: ip -j -d route show table all" in line, line


# --- item 3: YAML is bounded ----------------------------------------------------------------

LAUGHS = """x: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
y: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
z: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
w: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
v: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
u: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
t: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
"""


@pytest.mark.parametrize("where", ["match", "fields", "examples"])
def test_billion_laughs_anywhere_is_one_error(tmp_path: Path, where: str) -> None:
    use = {"match": "    when: [{fact: route, match: {destination: *g}}]\n",
           "fields": "    when: [{fact: route}]\n    then: [{fact: x, fields: {a: *g}}]\n",
           "examples": "    when: [{fact: route}]\n    examples: *g\n"}[where]
    path = tmp_path / "laughs.yaml"
    path.write_text("junk:\n" + "".join("  " + line + "\n" for line in LAUGHS.splitlines())
                    + "rules:\n  - id: a.b\n" + use)
    start = time.monotonic()
    with pytest.raises(KnowledgeLoadError) as err:
        load_files([path])
    assert time.monotonic() - start < 10
    assert f"{path}:" in str(err.value) and "aliases expand to more than" in str(err.value)


@pytest.mark.parametrize("depth", [100, 5000, 100_000])
def test_deep_nesting_is_a_file_line_error(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("rules:\n  - " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(KnowledgeLoadError) as err:
        load_files([path])
    assert str(err.value).startswith(f"{path}:2: YAML error: "), str(err.value)
    assert "nest" in str(err.value) and "\n" not in str(err.value)


def test_a_recursive_alias_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "rec.yaml"
    path.write_text("rules: &r [*r]\n")
    with pytest.raises(KnowledgeLoadError, match="refers to a node containing it"):
        load_files([path])


def test_a_huge_rule_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # 50 MB, sparse
    start = time.monotonic()
    res = CliRunner().invoke(main, ["rules", "validate", str(path)])
    assert time.monotonic() - start < 10
    assert res.exit_code == 2 and f"{path}:1: cannot read: too large" in res.output


# --- item 6 (issue): files that are not files --------------------------------------------------

@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def test_a_fifo_or_a_device_is_never_read(fifo: Path) -> None:
    for path in (fifo, Path("/dev/zero"), fifo.parent):
        with pytest.raises(OSError, match="not a regular file"):
            read_regular(path, 1024)
        with pytest.raises(FactError, match="not a regular file"):
            Snapshot.load(path)


@pytest.mark.parametrize("command", [["diagnose", "--snapshot"], ["why", "x", "--report"],
                                     ["rules", "validate"]])
def test_fifo_and_dev_zero_as_inputs_are_one_line_errors(fifo: Path, command: list[str]) -> None:
    for path in (str(fifo), "/dev/zero"):
        res = _whynet(*command, path, timeout=30, XDG_CACHE_HOME=str(fifo.parent))
        assert res.returncode == 2
        line = _one_error_line(res.stderr)
        assert "not a regular file" in line or "no *.yaml" in line, line


def test_a_fifo_as_hosts_or_nsswitch_file_is_refused_not_waited_on(fifo: Path) -> None:
    """The hosts collector, the probes' hosts lookup and the nsswitch reader open their files
    without blocking: a FIFO is a collection_error or the default, at once."""
    from engine.collectors import hosts
    from engine.collectors.base import CollectContext
    from engine.probes.context import _read_nsswitch_hosts
    from engine.probes.dns import hosts_lookup

    etc = fifo.parent / "etc"
    etc.mkdir()
    os.mkfifo(etc / "hosts")
    start = time.monotonic()
    facts = hosts.collect(CollectContext(etc=etc))
    assert [f.kind for f in facts] == ["collection_error"]
    assert "not a regular file (a FIFO)" in facts[0]["reason"]
    assert hosts_lookup("db.lab", fifo) == []
    assert _read_nsswitch_hosts(fifo) == _read_nsswitch_hosts(fifo.parent / "absent")
    assert time.monotonic() - start < 5


def test_a_fifo_as_ssl_cert_file_does_not_hang_collect(fifo: Path) -> None:
    res = _whynet("collect", timeout=60, SSL_CERT_FILE=str(fifo))
    assert res.returncode == 0, res.stderr
    facts = json.loads(res.stdout)["facts"]
    assert any(f["kind"] == "collection_error" and "not a regular file (a FIFO)" in f["reason"]
               for f in facts)


def test_snapshot_trust_store_paths_are_not_opened_by_live_probes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot from another machine names its trust stores: probes here never open them."""
    from engine import diagnose as diagnosis
    from engine.knowledge import load_knowledge

    seen: list[list[Fact]] = []
    monkeypatch.setattr("engine.probes.probe",
                        lambda targets, facts, **kw: seen.append(list(facts)) or [])
    snap = tmp_path / "snap.json"
    Snapshot([Fact("trust_store", "trust_store:x", {"file": "/etc/shadow"}, {
        "path": "/etc/shadow", "runtime": "system", "store_type": "bundle", "exists": True,
        "readable": True})], host="elsewhere").save(snap)
    diagnosis.diagnose(load_knowledge(), ["https://127.0.0.1:9/"], snapshot=str(snap),
                       timeout=1.0)
    assert seen and not [f for f in seen[0] if f.kind == "trust_store"]


def test_a_report_does_not_choose_which_rule_files_are_loaded(tmp_path: Path) -> None:
    report = {"findings": [], "justification": {"activations": [], "derived": {}},
              "facts": [], "knowledge": {"files": ["/bin/sh", str(tmp_path / "evil.yaml")]}}
    (tmp_path / "evil.yaml").write_text("rules: [{id: evil.rule}]\n")
    (tmp_path / "r.json").write_text(json.dumps(report))
    res = CliRunner().invoke(main, ["why", "evil.rule", "--report", str(tmp_path / "r.json")])
    assert res.exit_code == 2
    assert "unknown rule 'evil.rule'" in res.output and "pass --knowledge DIR" in res.output


# --- item 7 (issue): last.json and outputs are replaced atomically -----------------------------

def test_last_json_is_private_and_whole_after_parallel_runs(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    Snapshot([Fact("env_var", "env_var:NODE_ENV", {"env": "environment"}, {
        "name": "NODE_ENV", "present": True, "category": "environment_marker", "value": "x",
        "redacted": False})], host="h").save(snap)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = [subprocess.Popen([sys.executable, "-m", "cli", "diagnose", "--snapshot", str(snap),
                              "--format", "json"], stdout=subprocess.DEVNULL, env=env,
                             cwd=Path(__file__).parents[2]) for _ in range(10)]
    last = tmp_path / "cache" / "whynet" / "last.json"
    reads = 0
    while any(p.poll() is None for p in runs):
        if last.exists():
            json.loads(last.read_text())  # never empty, never truncated
            reads += 1
    assert all(p.wait(timeout=120) == 0 for p in runs)
    json.loads(last.read_text())
    assert stat.S_IMODE(last.stat().st_mode) == 0o600
    assert not [p for p in last.parent.iterdir() if p.name != "last.json"]  # no temp left


def test_a_failed_write_leaves_the_old_output(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    out.write_text("old report\n")
    bad = tmp_path / "bad.json"
    bad.write_text('{"whynet": "0.1.0", "schema": 1, "facts": [{"kind": "env_var", "id": "e", '
                   '"source": {}, "name": "X", "value": "\\ud800"}]}')
    for fmt in ("json", "text", "html"):
        res = _whynet("diagnose", "--snapshot", str(bad), "--format", fmt, "-o", str(out),
                      XDG_CACHE_HOME=str(tmp_path))
        assert res.returncode == 2
        assert "lone UTF-16 surrogate" in _one_error_line(res.stderr)
        assert out.read_text() == "old report\n"
    res = _whynet("diagnose", "--snapshot", str(bad), "-o", "/nonexistent/x")
    assert res.returncode == 2


@pytest.mark.parametrize("fmt", ["text", "json", "html"])
def test_an_output_in_a_missing_folder_is_one_line(tmp_path: Path, fmt: str) -> None:
    """`-o /nonexistent/x` in text was an internal error; now refused before any work."""
    snap = tmp_path / "snap.json"
    Snapshot(_default_routes(2), host="h").save(snap)
    res = _whynet("diagnose", "--snapshot", str(snap), "--format", fmt, "-o",
                  str(tmp_path / "nonexistent" / "x"), XDG_CACHE_HOME=str(tmp_path))
    assert res.returncode == 2
    assert "does not exist" in _one_error_line(res.stderr)


def test_a_six_kilobyte_token_fact_name_in_a_snapshot_is_bounded(tmp_path: Path) -> None:
    """A snapshot fact named with 6 KB of ``token.`` took 100 s (the redaction pattern)."""
    hostile = "token." * 1000
    snap = tmp_path / "snap.json"
    Snapshot([Fact("env_var", f"env:{hostile}", {"env": hostile}, {
        "name": hostile, "present": True, "category": "proxy", "value": hostile,
        "redacted": False}), *_default_routes(2)], host=hostile).save(snap)
    start = time.monotonic()
    res = _whynet("diagnose", "--snapshot", str(snap), "--format", "json",
                  XDG_CACHE_HOME=str(tmp_path))
    assert time.monotonic() - start < 10  # local input: 10 s at most
    assert res.returncode == 1, res.stderr
    report = json.loads(res.stdout)
    assert report["findings"][0]["rule"] == "routing.multiple-default-gateways"


def _saved_report(tmp_path: Path) -> Path:
    snap, saved = tmp_path / "snap.json", tmp_path / "report.json"
    Snapshot(_default_routes(2), host="h").save(snap)
    res = _whynet("diagnose", "--snapshot", str(snap), "--save", str(saved),
                  XDG_CACHE_HOME=str(tmp_path))
    assert res.returncode == 1, res.stderr
    return saved


@pytest.mark.parametrize("where", ["finding", "fact", "activation", "key"])
@pytest.mark.parametrize("command", ["why", "why-not"])
def test_a_lone_surrogate_in_a_report_is_shown_as_text(tmp_path: Path, command: str,
                                                      where: str) -> None:
    """A report's lone surrogates (hand-made, or from an older whynet and a non-UTF-8
    environment value) are replaced as the collectors replace them: the output is whole."""
    report = json.loads(_saved_report(tmp_path).read_text())
    if where == "finding":
        report["findings"][0]["explanation"] += "\ud800"
        report["justification"]["activations"][0]["explanation"] += " odd\ud800"
    elif where == "fact":
        report["facts"][0]["interface"] = "eth\udc80odd"
    elif where == "activation":
        report["justification"]["activations"][0]["bindings"]["a"] = "route:\udc80odd"
        report["justification"]["activations"][0]["conditions"][0]["fact"] = "route:\udc80odd"
    else:
        report["facts"][0]["\udfff"] = "odd"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(report))  # ensure_ascii: the file holds the escape "\ud800"
    for args in (["--report", str(bad)], []):  # named, and as the last report
        if not args:
            (tmp_path / "whynet").mkdir(exist_ok=True)
            (tmp_path / "whynet" / "last.json").write_text(bad.read_text())
        res = _whynet(command, "routing.multiple-default-gateways", *args,
                      XDG_CACHE_HOME=str(tmp_path), COLUMNS="300")
        assert res.returncode == 0 and res.stderr == "", (res.stdout, res.stderr)
        assert "routing.multiple-default-gateways" in res.stdout
        if command == "why" and where in ("fact", "activation"):
            assert "\\x80odd" in res.stdout  # the byte it stood for, as text


def test_bytes_that_are_not_utf8_on_this_machine_give_reports_that_load_again(
        tmp_path: Path) -> None:
    """An environment value (or a file name) that is not UTF-8 reaches Python as lone
    surrogates; facts hold it as \\xNN text, so the saved report and the snapshot load again."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "NO_PROXY": "a\udcffb",
           "HTTPS_PROXY": "http://pr\udcfe.invalid:3128"}
    benv = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}  # the raw bytes \xff
    saved, snap = tmp_path / "live.json", tmp_path / "snap.json"
    cwd = Path(__file__).parents[2]
    for args in (["diagnose", "--save", str(saved), "-o", str(tmp_path / "out.txt")],
                 ["collect", "-o", str(snap)]):
        res = subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True,
                             env=benv, cwd=cwd, timeout=120, check=False)  # type: ignore[arg-type]
        assert res.returncode in (0, 1), res.stderr
    assert "\\ud" not in saved.read_text() and "\\ud" not in snap.read_text()
    no_proxy = [f for f in json.loads(saved.read_text())["facts"]
                if f["kind"] == "env_var" and f.get("name") == "NO_PROXY"]
    assert no_proxy and no_proxy[0]["value"] == "a\\xffb"
    res = _whynet("why-not", "routing.multiple-default-gateways", "--report", str(saved),
                  XDG_CACHE_HOME=str(tmp_path))
    assert res.returncode == 0, res.stderr
    res = _whynet("diagnose", "--snapshot", str(snap), XDG_CACHE_HOME=str(tmp_path))
    assert res.returncode in (0, 1), res.stderr


# --- item 8 (issue): option values ---------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "0", "-1"])
@pytest.mark.parametrize("command", ["diagnose", "collect"])
def test_timeout_must_be_finite_and_positive(command: str, value: str) -> None:
    res = CliRunner().invoke(main, [command, "--timeout", value])
    assert res.exit_code == 2
    assert "--timeout" in res.output and "above 0" in res.output


# --- item 8 (issue): odd names in collector output ---------------------------------------------

def test_one_odd_interface_name_loses_nothing_else() -> None:
    """Recorded: iproute2 prints a control character in a link name raw inside its JSON."""
    from engine.collectors import links

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "links"

    def text(name: str) -> str:
        return (fixtures / name).read_bytes().decode("utf-8", "replace")

    interfaces = links.parse_links(text("oddname-ip-j-d-link-show.json"))
    addresses = links.parse_addresses(text("oddname-ip-j-addr-show.json"))
    assert {f.get("name") for f in interfaces} == {"lo", "a\x01b", "c\ufffdd"}
    assert {f.get("ip") for f in addresses} == {"127.0.0.1", "::1", "10.9.0.1", "10.9.1.1"}
    assert not [f for f in interfaces + addresses if f.kind == "collection_error"]

"""credentials collector: sources by presence, metadata and precedence; never content."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from engine.collectors import credentials
from engine.collectors.base import CollectContext
from engine.facts import Fact

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not read by the collector\n")
    path.chmod(mode)
    return path


def _facts(env: dict[str, str], home: Path) -> dict[str, Fact]:
    return {f.id: f for f in credentials.collect(CollectContext(env=env, home=home))}


def test_empty_home_and_env(tmp_path: Path) -> None:
    facts = _facts({}, tmp_path)
    assert all(f.kind == "credential_source" for f in facts.values())
    assert not any(f["present"] for f in facts.values())
    assert facts["credential_source:aws:env"]["precedence"] == 1
    assert facts["credential_source:aws:file"]["precedence"] == 2
    assert facts["credential_source:aws:config"]["precedence"] == 3
    assert facts["credential_source:aws:file"]["path"] == str(tmp_path / ".aws/credentials")


def test_files_metadata_and_too_open(tmp_path: Path) -> None:
    _write(tmp_path / ".aws/credentials", 0o644)
    _write(tmp_path / ".pgpass", 0o600)
    facts = _facts({}, tmp_path)
    aws = facts["credential_source:aws:file"]
    assert (aws["present"], aws["readable"], aws["mode"], aws["too_open"]) == \
        (True, True, "0644", True)
    assert aws["owner"] and aws.source == {"file": str(tmp_path / ".aws/credentials")}
    pg = facts["credential_source:postgres:file"]
    assert (pg["mode"], pg["too_open"]) == ("0600", False)


def test_env_outranks_files(tmp_path: Path) -> None:
    _write(tmp_path / ".aws/credentials", 0o600)
    facts = _facts({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "PGPASSWORD": "x"}, tmp_path)
    env = facts["credential_source:aws:env"]
    assert (env["present"], env["variable"], env["path"], env["precedence"]) == \
        (True, "AWS_ACCESS_KEY_ID", None, 1)
    assert env["variables_set"] == ["AWS_ACCESS_KEY_ID"]  # no secret key: half a pair
    assert facts["credential_source:aws:file"]["precedence"] == 2
    assert facts["credential_source:postgres:env"]["present"] is True
    assert facts["credential_source:postgres:file"]["precedence"] == 2


def test_path_variables_replace_defaults(tmp_path: Path) -> None:
    _write(tmp_path / ".kube/config", 0o600)
    other = _write(tmp_path / "elsewhere/kube.yaml", 0o600)
    docker_dir = tmp_path / "dockercfg"
    _write(docker_dir / "config.json", 0o600)
    env = {"KUBECONFIG": f"{other}{os.pathsep}~/missing.yaml", "DOCKER_CONFIG": str(docker_dir)}
    facts = _facts(env, tmp_path)
    first = facts["credential_source:kubernetes:file"]
    assert (first["path"], first["variable"], first["present"], first["precedence"]) == \
        (str(other), "KUBECONFIG", True, 1)
    second = facts["credential_source:kubernetes:file:2"]
    assert (second["path"], second["present"], second["precedence"]) == \
        (str(tmp_path / "missing.yaml"), False, 2)
    default = facts["credential_source:kubernetes:file:default"]
    assert (default["present"], default["shadowed"], default["replaced_by"],
            default["precedence"]) == (True, True, "KUBECONFIG", None)
    docker = facts["credential_source:docker:file"]
    assert (docker["path"], docker["present"]) == (str(docker_dir / "config.json"), True)


def test_github_order(tmp_path: Path) -> None:
    _write(tmp_path / ".config/gh/hosts.yml", 0o600)
    facts = _facts({"GITHUB_TOKEN": "x"}, tmp_path)
    assert facts["credential_source:github:gh_token"]["precedence"] == 1
    assert facts["credential_source:github:github_token"]["present"] is True
    assert facts["credential_source:github:file"]["precedence"] == 3


def test_unreadable_file_for_another_user() -> None:
    """Run as nobody (root reads everything: os.access would always say yes)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the check as another user")
    home = Path(tempfile.mkdtemp(prefix="wnf-cred-"))
    try:
        home.chmod(0o755)
        _write(home / ".netrc", 0o600)
        code = ("import json, pathlib; from engine.collectors.credentials import file_metadata; "
                f"print(json.dumps(file_metadata(pathlib.Path({str(home / '.netrc')!r}))))")
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              sys.executable, "-c", code], check=True, capture_output=True,
                             text=True, cwd=REPO).stdout
        meta = json.loads(out)
        assert (meta["present"], meta["readable"], meta["owner"], meta["mode"]) == \
            (True, False, "root", "0600")
    finally:
        shutil.rmtree(home)


def test_files_are_never_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / ".netrc", 0o600)
    _write(tmp_path / ".aws/credentials", 0o600)

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"credentials collector opened {args[0]!r}")
    monkeypatch.setattr("builtins.open", no_open)
    monkeypatch.setattr(Path, "read_text", no_open)
    monkeypatch.setattr(Path, "read_bytes", no_open)
    facts = _facts({}, tmp_path)
    assert facts["credential_source:netrc:file"]["present"] is True

"""Credential sources command-line tools read, by name, presence and metadata only.

Reads:   ``ctx.env`` (whether variables are set, and the paths that path variables name) and
         ``os.stat``/``os.access`` of the credential files under ``ctx.home``:
         ``~/.aws/credentials``, ``~/.aws/config``, ``~/.netrc``, ``~/.docker/config.json``,
         ``~/.kube/config``, ``~/.pgpass``, ``~/.git-credentials``, ``~/.config/gh/hosts.yml``.
Never:   opens a credential file (not even to list profile names), records a variable's value
         except the paths path-variables name (``KUBECONFIG``, ``DOCKER_CONFIG``, ``NETRC``...).
Redacts: nothing to redact: no content and no secret value is ever read into a fact.

Facts: ``credential_source`` per source and tool, id ``credential_source:<tool>:<key>``
(``credential_source:aws:env``, ``credential_source:aws:file``, ``credential_source:github:gh_token``
...), with ``tool``, ``path`` or ``variable``, ``present``, ``readable`` (``os.access`` R_OK for
the running user), ``mode`` (octal, ``"0600"``), ``owner``, ``too_open`` (group or world
readable) and ``precedence``: the order in which the tool consults its sources, 1 first.

Precedence, per tool (the tools' documented lookup order):

* aws: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (1) outrank the shared credentials file
  (2, ``AWS_SHARED_CREDENTIALS_FILE`` or ``~/.aws/credentials``) and the config file
  (3, ``AWS_CONFIG_FILE`` or ``~/.aws/config``).
* postgres: ``PGPASSWORD`` (1) outranks the password file (2, ``PGPASSFILE`` or ``~/.pgpass``).
* github (gh): ``GH_TOKEN`` (1), ``GITHUB_TOKEN`` (2), then ``hosts.yml`` (3, under
  ``GH_CONFIG_DIR`` or ``~/.config/gh``).
* kubernetes: ``KUBECONFIG`` replaces ``~/.kube/config``; each file it lists is a source in
  order. docker: ``DOCKER_CONFIG`` (a directory) replaces ``~/.docker``. netrc: ``NETRC``
  replaces ``~/.netrc``. git: ``~/.git-credentials`` (the store helper) then ``GIT_ASKPASS``.

When a path variable replaces a default file, the default file is still recorded (id suffix
``:default``) with ``shadowed=True``, ``replaced_by`` the variable and ``precedence`` null: the
tool does not look there. A set secret variable is recorded with ``variables_set`` (the names of
the companion variables that are set, e.g. the AWS key id without its secret) but no value.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.collectors import base
from engine.facts import Fact, make_fact

NAME = "credentials"
KINDS = ("credential_source",)


@dataclass(frozen=True)
class Source:
    """One place a tool looks for credentials, in the tool's order."""

    tool: str
    key: str
    variable: str | None = None  # a variable holding the secret itself, or naming the path
    default: str | None = None  # file relative to home
    path_variable: bool = False  # ``variable`` names a file (or directory) replacing default
    inside: str | None = None  # file inside the directory a path variable names
    companions: tuple[str, ...] = ()  # other variables that belong with ``variable``
    multiple: bool = False  # the path variable is a list separated by os.pathsep


SOURCES: tuple[Source, ...] = (
    Source("aws", "env", "AWS_ACCESS_KEY_ID",
           companions=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")),
    Source("aws", "file", "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", path_variable=True),
    Source("aws", "config", "AWS_CONFIG_FILE", ".aws/config", path_variable=True),
    Source("netrc", "file", "NETRC", ".netrc", path_variable=True),
    Source("docker", "file", "DOCKER_CONFIG", ".docker/config.json", path_variable=True,
           inside="config.json"),
    Source("kubernetes", "file", "KUBECONFIG", ".kube/config", path_variable=True,
           multiple=True),
    Source("postgres", "env", "PGPASSWORD"),
    Source("postgres", "file", "PGPASSFILE", ".pgpass", path_variable=True),
    Source("git", "file", None, ".git-credentials"),
    Source("git", "askpass", "GIT_ASKPASS", path_variable=True),
    Source("github", "gh_token", "GH_TOKEN"),
    Source("github", "github_token", "GITHUB_TOKEN"),
    Source("github", "file", "GH_CONFIG_DIR", ".config/gh/hosts.yml", path_variable=True,
           inside="hosts.yml"),
)


def _expand(path: str, home: Path) -> Path:
    if path == "~" or path.startswith("~/"):
        return home / path[2:]
    return Path(path)


def file_metadata(path: Path) -> dict[str, Any]:
    """present, readable, mode, owner, too_open of ``path``, from stat only (never opened)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {"present": False, "readable": False, "mode": None, "owner": None,
                "too_open": False}
    except OSError:  # a parent directory we may not search: unknown
        return {"present": None, "readable": False, "mode": None, "owner": None,
                "too_open": None}
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    return {
        "present": True, "readable": os.access(path, os.R_OK),
        "mode": f"{stat.S_IMODE(st.st_mode):04o}", "owner": owner,
        "too_open": bool(st.st_mode & (stat.S_IRGRP | stat.S_IROTH)),
    }


def _fact(src: Source, key: str, source: Mapping[str, Any], precedence: int | None,
          **fields: Any) -> Fact:
    values: dict[str, Any] = {
        "tool": src.tool, "path": None, "variable": None, "present": False, "readable": None,
        "mode": None, "owner": None, "too_open": None, "precedence": precedence,
        "shadowed": False, "replaced_by": None, "variables_set": [],
    }
    values.update(fields)
    return make_fact("credential_source", f"credential_source:{src.tool}:{key}", source,
                     **values)


def _variable_fact(src: Source, env: Mapping[str, str], precedence: int) -> Fact:
    name = src.variable or ""
    companions = [v for v in src.companions if env.get(v)]
    return _fact(src, src.key, {"env": name}, precedence, variable=name,
                 present=bool(env.get(name)), variables_set=companions)


def _file_fact(src: Source, key: str, path: Path, precedence: int | None,
               **extra: Any) -> Fact:
    return _fact(src, key, {"file": str(path)}, precedence, path=str(path),
                 **file_metadata(path), **extra)


def _path_source_facts(src: Source, env: Mapping[str, str], home: Path,
                       precedence: int) -> tuple[list[Fact], int]:
    """Facts for a file source whose path a variable may replace; next free precedence."""
    value = env.get(src.variable or "") if src.variable else None
    default = home / src.default if src.default else None
    if not value:
        if default is None:
            return [_fact(src, src.key, {"env": src.variable}, precedence,
                          variable=src.variable, present=False)], precedence + 1
        return [_file_fact(src, src.key, default, precedence)], precedence + 1
    entries = [e for e in value.split(os.pathsep) if e] if src.multiple else [value]
    facts = []
    for i, entry in enumerate(entries, start=1):
        path = _expand(entry, home)
        if src.inside:
            path = path / src.inside
        key = src.key if i == 1 else f"{src.key}:{i}"
        facts.append(_file_fact(src, key, path, precedence, variable=src.variable))
        precedence += 1
    if default is not None:
        facts.append(_file_fact(src, f"{src.key}:default", default, None, shadowed=True,
                                replaced_by=src.variable))
    return facts, precedence


def collect_sources(env: Mapping[str, str], home: Path) -> list[Fact]:
    """Every ``credential_source`` fact for ``env`` and ``home``."""
    facts: list[Fact] = []
    next_precedence: dict[str, int] = {}
    for src in SOURCES:
        precedence = next_precedence.get(src.tool, 1)
        if src.path_variable or src.variable is None:
            new, precedence = _path_source_facts(src, env, home, precedence)
        else:
            new, precedence = [_variable_fact(src, env, precedence)], precedence + 1
        facts.extend(new)
        next_precedence[src.tool] = precedence
    return facts


def collect(ctx: base.CollectContext) -> list[Fact]:
    return collect_sources(ctx.env, Path(ctx.home))

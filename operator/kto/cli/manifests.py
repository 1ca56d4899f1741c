"""Reading a folder of manifests for ``kto plan``: files, folders, a kustomization's ``resources:``, or stdin.

Only what changes what kto would do is read from a kustomization: its ``resources:`` (files and folders, in
order) and ``namespace:``. Patches, generators, name prefixes and the rest are not applied (they are listed
as notes); ``kustomize build DIR | kto plan -f -`` plans the fully rendered output instead.

Each kto object is checked with the same pydantic models kto parses specs with, so an unknown or mistyped
field is reported with the file and the field, before anything is asked of Kubernetes or Kafka.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from kto.api import names
from kto.api.models import KafkaClusterSpec, KafkaTopicSpec, KafkaUserSpec, check_resource_name
from kto.cli.connect import CliError

KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_READ = {"apiVersion", "kind", "resources", "namespace"}
SPEC_MODELS: dict[str, type[BaseModel]] = {names.TOPIC_KIND: KafkaTopicSpec, names.USER_KIND: KafkaUserSpec,
                                           names.CLUSTER_KIND: KafkaClusterSpec}
TOP_LEVEL = {"apiVersion", "kind", "metadata", "spec", "status"}
NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class Manifest:
    """One kto object of the folder, checked."""

    source: str  # the file, and the document's number when the file holds several
    kind: str
    namespace: str
    name: str
    body: dict[str, Any]
    spec: Any  # the parsed spec (KafkaTopicSpec, ...)


@dataclass
class Loaded:
    manifests: list[Manifest]
    notes: list[str]  # what was read but not planned (other kinds, kustomize features not applied)


@dataclass(frozen=True)
class _Source:
    path: str  # a file, or "-" (stdin)
    namespace: str | None  # set by a kustomization's namespace:


def load(paths: list[str], default_namespace: str, stdin: TextIO | None = None) -> Loaded:
    """Every kto object of ``paths``; CliError listing every bad manifest, by file and field."""
    notes: list[str] = []
    errors: list[str] = []
    manifests: list[Manifest] = []
    sources = [s for p in paths for s in expand(p, None, notes)]
    for source in sources:
        for where, doc in documents(source, stdin, errors):
            try:
                found = check(where, doc, source.namespace or (doc.get("metadata") or {}).get("namespace")
                              or default_namespace)
            except CliError as err:
                errors.append(str(err))
                continue
            if found is None:
                notes.append(f"{where}: {doc.get('kind')} {(doc.get('metadata') or {}).get('name', '')} "
                             "is not planned (kto plans KafkaTopics)")
            else:
                manifests.append(found)
    if errors:
        raise CliError("invalid manifests:\n  " + "\n  ".join(errors))
    if not manifests and not sources:
        raise CliError(f"no manifests found in {', '.join(paths)} (*.yaml, *.yml, *.json, or a kustomization.yaml)")
    return Loaded(manifests, notes)


def expand(path: str, namespace: str | None, notes: list[str], seen: frozenset[str] = frozenset()) -> list[_Source]:
    """The files ``path`` stands for, in order, with the namespace a kustomization sets."""
    if path == "-":
        return [_Source("-", namespace)]
    p = Path(path)
    if not p.exists():
        raise CliError(f"{path}: no such file or folder")
    if p.is_file():
        return [_Source(str(p), namespace)]
    kustomization = next((p / k for k in KUSTOMIZATIONS if (p / k).is_file()), None)
    if kustomization is None:
        return [_Source(str(f), namespace) for f in sorted(p.iterdir())
                if f.is_file() and f.suffix in (".yaml", ".yml", ".json")]
    if str(kustomization.resolve()) in seen:
        raise CliError(f"{kustomization}: the kustomizations include each other")
    return from_kustomization(kustomization, namespace, notes, seen | {str(kustomization.resolve())})


def from_kustomization(path: Path, namespace: str | None, notes: list[str], seen: frozenset[str]) -> list[_Source]:
    try:
        k = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise CliError(f"{path}: not YAML: {_yaml_problem(err)}") from err
    if not isinstance(k, dict) or not isinstance(k.get("resources") or [], list):
        raise CliError(f"{path}: resources: must be a list of files and folders")
    ignored = sorted(set(k) - KUSTOMIZE_READ)
    if ignored:
        notes.append(f"{path}: {', '.join(ignored)} not applied (kto plan reads resources: and namespace:; "
                     "for the rest, run kustomize build | kto plan -f -)")
    namespace = namespace or k.get("namespace")
    out: list[_Source] = []
    for entry in k.get("resources") or []:
        if not isinstance(entry, str) or "://" in entry or entry.startswith(("github.com/", "git@")):
            raise CliError(f"{path}: resource {entry!r} is not a local file or folder (remote resources are not "
                           "read; run kustomize build | kto plan -f -)")
        out += expand(str(path.parent / entry), namespace, notes, seen)
    return out


def documents(source: _Source, stdin: TextIO | None, errors: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects of a file: (where, object); a List's items one by one."""
    name = "<stdin>" if source.path == "-" else source.path
    try:
        text = (stdin or sys.stdin).read() if source.path == "-" else Path(source.path).read_text()
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        errors.append(f"{name}: not YAML: {_yaml_problem(err)}")
        return
    except (OSError, UnicodeDecodeError) as err:
        errors.append(f"{name}: cannot read it: {err}")
        return
    for i, doc in enumerate(docs, 1):
        where = name if len(docs) == 1 else f"{name} (document {i})"
        if not isinstance(doc, dict):
            errors.append(f"{where}: not a Kubernetes object (a mapping with apiVersion, kind, metadata)")
        elif doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            yield from ((f"{where} item {j}", item) for j, item in enumerate(doc["items"], 1) if isinstance(item, dict))
        else:
            yield where, doc


def _yaml_problem(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else problem


def check(where: str, doc: dict[str, Any], namespace: str) -> Manifest | None:
    """A kto object, checked as the apiserver and kto would; None for objects of other APIs."""
    kind = kind_of(where, doc)
    if kind is None:
        return None
    meta = doc.get("metadata")
    name = name_of(where, kind, meta)
    spec = spec_of(where, kind, name, doc)
    body = {**doc, "metadata": {**(meta or {}), "namespace": namespace}}
    return Manifest(where, kind, namespace, name, body, spec)


def kind_of(where: str, doc: dict[str, Any]) -> str | None:
    """The kto kind of the object, None for another API's; CliError for a wrong kind, apiVersion or field."""
    api, kind = str(doc.get("apiVersion") or ""), str(doc.get("kind") or "")
    group = api.split("/")[0] if "/" in api else ""
    if group != names.GROUP and kind not in SPEC_MODELS:
        return None
    if kind not in SPEC_MODELS:
        raise CliError(f"{where}: kind {kind or '(missing)'} is not a kind of {names.GROUP} (KafkaTopic, KafkaUser, "
                       "KafkaCluster)")
    if api != names.API_VERSION:
        raise CliError(f"{where}: apiVersion {api or '(missing)'} of a {kind} must be {names.API_VERSION}")
    unknown = sorted(set(doc) - TOP_LEVEL)
    if unknown:
        raise CliError(f"{where}: {kind}: unknown field {', '.join(unknown)} (an object has apiVersion, kind, "
                       "metadata, spec)")
    return kind


def name_of(where: str, kind: str, meta: Any) -> str:
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > 253:
        raise CliError(f"{where}: {kind}: metadata.name {name!r} must be a Kubernetes name (lowercase letters, "
                       "digits, '-' and '.')")
    if check_resource_name(name):
        raise CliError(f"{where}: {kind} {name}: {check_resource_name(name)}")
    return name


def spec_of(where: str, kind: str, name: str, doc: dict[str, Any]) -> Any:
    try:
        return SPEC_MODELS[kind].model_validate(doc.get("spec") or {})
    except ValidationError as err:
        fields = "; ".join(f"spec.{'.'.join(str(p) for p in e['loc'])}: {_message(e)}" for e in err.errors())
        raise CliError(f"{where}: {kind} {name}: {fields}") from err


def _message(error: ErrorDetails) -> str:
    if error.get("type") == "extra_forbidden":
        return "unknown field"
    if error.get("type") == "missing":
        return "required field is missing"
    return str(error.get("msg"))

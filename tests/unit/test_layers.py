"""The packages of operator/kto are layers, and what each may import is written here and checked (DESIGN.md,
"Packages and what each may import"). A module importing a package it may not is a design change: change the
table and DESIGN.md together, on purpose."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "kto"

# package -> the kto packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "api": set(),  # kto's vocabulary: resources, names, reasons, domain values; pure
    "telemetry": set(),  # metrics and logs
    "kafka": {"api", "telemetry"},  # the Kafka port's adapter: the only code that talks to Kafka
    "kube": {"api", "telemetry"},  # the Kubernetes client and kto's ledger
    "reconcile": {"api", "telemetry", "kube"},  # the engine every kind shares: gate, store, status, batching
    "topics": {"api", "telemetry", "reconcile", "policy"},  # policy.rules only (policy.bindings is an adapter)
    "users": {"api", "telemetry", "kafka", "kube", "reconcile"},
    "clusters": {"api", "telemetry", "kafka", "kube", "reconcile"},
    "ops": {"api", "telemetry", "kube"},  # leader election, health, GC policy, lag
    "policy": {"api", "telemetry", "kube"},  # KafkaPolicy: admission bindings (I/O) and the pure rules
    "cli": {"api", "telemetry", "kafka", "kube", "reconcile", "topics", "users"},  # never a kind's adapter
}
# Third-party clients, each behind one layer.
CLIENTS = {"kopf": {"handlers.py", "__main__.py"}, "confluent_kafka": {"kafka", "telemetry"}, "kafka": {"kafka"},
           "kubernetes": {"kube", "ops", "cli", "app.py", "__main__.py"}}
# Modules of a kind that only the kind's adapter (and the wiring above it) may import.
ADAPTERS = {"topics.kind", "users.kind", "clusters.registry", "policy.bindings"}


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports (absolute names)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            if node.module == "kto":
                out += [f"kto.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return out


def _where(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.name


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_package_imports_only_the_layers_below_it(path: Path) -> None:
    where = _where(path)
    if where not in ALLOWED:
        return  # the wiring at the top (app.py, handlers.py, __main__.py) may import anything
    wrong = sorted({m for m in _imports(path) if m.startswith("kto.")
                    and (pkg := m.split(".")[1]) != where and pkg != "__version__" and pkg not in ALLOWED[where]})
    assert not wrong, f"{path.relative_to(PACKAGE)} ({where}) may import {sorted(ALLOWED[where])}, not {wrong}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_third_party_clients_stay_behind_their_layer(path: Path) -> None:
    where = _where(path)
    for client, places in CLIENTS.items():
        used = [m for m in _imports(path) if m == client or m.startswith(f"{client}.")]
        assert not used or where in places, f"{path.relative_to(PACKAGE)} imports {client}: only {places} may"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_one_reaches_into_another_kinds_adapter(path: Path) -> None:
    where, rel = _where(path), ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    if where not in ALLOWED:
        return
    reached = [m for m in _imports(path) if m.removeprefix("kto.") in ADAPTERS and m.removeprefix("kto.") != rel]
    assert not reached, f"{rel} imports a kind's adapter {reached}: depend on its pure modules instead"


def test_the_table_names_every_package() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(ALLOWED), "a package was added or removed: say in ALLOWED (and DESIGN.md) what it may import"

"""The Helm chart (helm/kto) for tests: render it, install it, and run kto the way its Deployment would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.env import REPO, LocalEnv, localenv

CHART = REPO / "helm" / "kto"


def helm(*args: str, values: dict[str, Any] | None = None, kubeconfig: str | None = None,
         home: Path | None = None) -> str:
    """Run the pinned helm (built into ~/.cache/kto by hack/build-tools.sh) with ``values`` on stdin (``-f -``);
    its stdout, or an error with its stderr."""
    env = {**os.environ}
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    if home is not None:  # keep helm's cache/config/data out of the user's home
        for kind in ("CACHE", "CONFIG", "DATA"):
            env[f"HELM_{kind}_HOME"] = str(home / kind.lower())
    argv = [str(localenv.helm_bin()), *args, *(["--values", "-"] if values is not None else [])]
    r = subprocess.run(argv, input=json.dumps(values or {}), capture_output=True, text=True, env=env, cwd=REPO)
    if r.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def render(release: str = "kto", namespace: str = "kto", values: dict[str, Any] | None = None,
           include_crds: bool = False) -> list[dict[str, Any]]:
    """``helm template`` of the chart, as parsed objects."""
    # The chart declares a kubeVersion: render for the Kubernetes the environment runs (helm's default is older).
    args = ["template", release, str(CHART), "--namespace", namespace,
            "--kube-version", localenv.read_versions()["KUBERNETES_VERSION"]]
    if include_crds:
        args.append("--include-crds")
    return [doc for doc in yaml.safe_load_all(helm(*args, values=values)) if doc]


def find(objects: list[dict[str, Any]], kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind
            and (namespace is None or o["metadata"].get("namespace") == namespace)]


def kto_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = find(objects, "Deployment")
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "kto"]
    return container


def container_env(container: dict[str, Any], namespace: str) -> dict[str, str]:
    """The container's environment as the kubelet sets it, for a Pod in ``namespace`` (the downward API's
    ``metadata.namespace`` is the only reference the chart uses)."""
    env = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            assert var["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}, var
            env[var["name"]] = namespace
    return env


def container_process(container: dict[str, Any], health_port: int, metrics_port: int,
                      namespace: str) -> tuple[list[str], dict]:
    """The argv and environment of the container's process on this machine, as a Pod in ``namespace``: the
    image's ``kto`` entry point is this virtualenv's ``python -m kto``; only the ports and the listen address
    differ from the Pod."""
    command = container.get("command") or ["kto"]
    assert command[0] == "kto", f"unexpected entry point {command}"
    argv = [sys.executable, "-m", "kto", *command[1:], *container.get("args", [])]
    env = container_env(container, namespace)
    env |= {"KTO_HEALTH_ADDRESS": "127.0.0.1", "KTO_HEALTH_PORT": str(health_port),
            "KTO_METRICS_ADDRESS": "127.0.0.1", "KTO_METRICS_PORT": str(metrics_port)}
    # Variables kto reads that the Pod does not set must not leak in from the test process.
    env.setdefault("KTO_NAMESPACES", "")
    return argv, env


def token_kubeconfig(env: LocalEnv, token: str, path: Path) -> Path:
    """A kubeconfig that authenticates with a bearer token (a ServiceAccount's, from TokenRequest)."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": env.apiserver_url, "certificate-authority": env.ca_file}}],
        "users": [{"name": "token", "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "token"}}],
        "current-context": "local",
    }))
    path.chmod(0o600)
    return path

"""kto as a user runs it: a separate process, ``python -m kto run``, talking to the test environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.env import REPO, LocalEnv, localenv
from tests.support.wait import wait_until


def install_crds(env: LocalEnv) -> None:
    subprocess.run([*env.kubectl(), "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds")],
                   check=True, capture_output=True)
    for crd in ("kafkaclusters.kafka.kto.dev", "kafkatopics.kafka.kto.dev", "kafkausers.kafka.kto.dev",
                "kafkapolicies.kafka.kto.dev"):
        subprocess.run([*env.kubectl(), "wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s"],
                       check=True, capture_output=True)


class KtoProcess:
    """One running kto; ``log`` is everything it printed. kto runs with leader election (its default): it acts
    only once it holds its Lease (``default/kto-leader`` unless ``args`` say otherwise)."""

    def __init__(self, env: LocalEnv, log: Path, args: list[str] | None = None, extra_env: dict | None = None,
                 argv: list[str] | None = None):
        self.env = env
        self.log = log
        self.health_port, self.metrics_port = localenv.free_ports(2)
        self.argv = argv or [sys.executable, "-m", "kto", "run", "--health-address", "127.0.0.1",
                             "--health-port", str(self.health_port), "--metrics-port", str(self.metrics_port),
                             "--batch-window", "0.05", *(args or [])]
        self.extra_env = {"KUBECONFIG": env.kubeconfig, **(extra_env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60, wait: bool = True) -> KtoProcess:
        """Start kto; with ``wait``, return once it leads and has started (its startup LIST done): a kto whose
        startup fails never does, and one that follows a SIGKILLed kto waits for the old Lease to expire."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **self.extra_env}, cwd=REPO)
        if wait:
            wait_until(self.healthy, timeout=timeout, what=f"kto's /healthz (log: {self.log})")
        return self

    def healthy(self) -> bool:
        """/healthz says 200, this kto leads and its startup is done."""
        answer = self.health()
        return answer is not None and answer[0] == 200 and answer[1]["leader"] and answer[1]["started"]

    def standing_by(self) -> bool:
        """/healthz says 200 and this kto waits for the Lease."""
        answer = self.health()
        return answer is not None and answer[0] == 200 and not answer[1]["leader"]

    def health(self) -> tuple[int, dict] | None:
        """/healthz's status and JSON body; None while it does not answer. Raises when kto has exited."""
        if self.proc is None or self.proc.poll() is not None:
            code = self.proc.returncode if self.proc else "?"
            raise AssertionError(f"kto exited ({code}):\n{self.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())
        except OSError:
            return None

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, kill: bool = False, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

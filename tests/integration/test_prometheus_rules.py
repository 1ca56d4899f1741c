"""The chart's alert rules checked and unit-tested by promtool (built from the Go module proxy into ~/.cache/kto):
``promtool check rules`` on the rules rendered by helm, ``promtool test rules`` with tests/promrules/."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import chart
from tests.support.env import REPO, localenv

TESTS = REPO / "tests" / "promrules"


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rules of the chart's PrometheusRule (release kto, namespace kto), as a Prometheus rule file."""
    localenv.ensure_built("helm")
    localenv.ensure_built("promtool")
    objects = chart.render(release="kto", namespace="kto", values={"metrics": {"prometheusRule": {"enabled": True}}})
    (rule,) = chart.find(objects, "PrometheusRule")
    folder = tmp_path_factory.mktemp("promrules")
    (folder / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return folder


def promtool(*args: str, cwd: Path) -> str:
    r = subprocess.run([str(localenv.promtool_bin()), *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert r.returncode == 0, f"promtool {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r.stdout


def test_the_rules_are_valid(rules: Path) -> None:
    out = promtool("check", "rules", "rules.yaml", cwd=rules)
    assert "SUCCESS" in out


@pytest.mark.parametrize("test_file", sorted(p.name for p in TESTS.glob("*.test.yaml")))
def test_the_rules_fire_as_their_tests_say(rules: Path, test_file: str) -> None:
    (rules / test_file).write_text((TESTS / test_file).read_text())
    out = promtool("test", "rules", test_file, cwd=rules)
    assert "SUCCESS" in out


def test_a_wrong_expectation_fails(rules: Path) -> None:
    """The rule tests can fail: a test that expects no KtoDown while kto is down is refused."""
    wrong = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": [{"series": 'up{job="kto-metrics",instance="a"}', "values": "0x20"}],
        "alert_rule_test": [{"eval_time": "10m", "alertname": "KtoDown"}]}]}
    (rules / "wrong.yaml").write_text(yaml.safe_dump(wrong))
    r = subprocess.run([str(localenv.promtool_bin()), "test", "rules", "wrong.yaml"], capture_output=True,
                       text=True, cwd=rules, timeout=120)
    assert r.returncode != 0 and "KtoDown" in r.stdout + r.stderr

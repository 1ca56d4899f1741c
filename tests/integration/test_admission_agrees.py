"""Admission equals kto: whatever the real kube-apiserver admits (the CRD's schema and its CEL rules), kto's model
accepts, and whatever the apiserver refuses, the model refuses too.

Specs are generated (hypothesis) from the installed CRDs themselves: every property, with values around each
limit (lengths, bounds, patterns, enums, CEL rules' edge cases: surrounding or Unicode whitespace, control
characters, '*', 'User:', '__', '.', huge and fractional numbers, missing required fields). Each is created with
dryRun=All, which validates exactly as a create does and stores nothing; the model then parses what the
apiserver returned (as kto would receive it), or, when the apiserver refused, what was sent. Examples are
derandomized so that a run is repeatable; ``KTO_PROPERTY_EXAMPLES`` raises their number to explore further.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kto.api import crdgen, models
from kubernetes.client.rest import ApiException
from pydantic import ValidationError

from tests.support.resources import GROUP, VERSION

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("KTO_PROPERTY_EXAMPLES", "200"))
KINDS = {  # kind -> (plural, CRD file, model)
    "KafkaTopic": ("kafkatopics", f"{GROUP}_kafkatopics.yaml", models.KafkaTopicSpec),
    "KafkaUser": ("kafkausers", f"{GROUP}_kafkausers.yaml", models.KafkaUserSpec),
    "KafkaCluster": ("kafkaclusters", f"{GROUP}_kafkaclusters.yaml", models.KafkaClusterSpec),
}

# --- values around the limits ----------------------------------------------------------------------------

# Strings a CEL rule or a pattern treats specially, and whitespace and control characters Go's, Rust's and
# Python's notions of whitespace and of a character disagree about.
EDGE_STRINGS = [
    "", " ", "a", "a ", " a", "a\t", "\ta", "a\n", "a\u00a0", "\u00a0a", "\u3000a", "a\u2028", "a\u0085", "a\x0b",
    "a\x00b", "a\x1fb", "a\x7fb", "a\x9fb", "a b", "é", "日本", "*", "a*", "a*b", "**", "User:admin", "user:admin",
    "__consumer_offsets", "__x", "_x", ".", "..", "...", "a.b", "a_b", "a-b", "-a", "a-", "A", "Team-A", "team-a",
    "team_a", "kafka-cluster", "kafka-0.kafka:9092", "a:1", "a:0", "a:65535", "a:65536", "a:09092", "[::1]:9092",
    "[::1]:70000", "a:b:9092", "a,b:9092", "a:", ":9092", "svc-*", "compact", "retention.ms", " retention.ms",
    "retention.ms ", "Delete", "Retain", "literal", "prefixed", "allow", "deny", "topic", "group", "cluster",
    "transactionalId", "Read", "All", "a\u00a0b:9092", "a\x0bb:9092", "a\u3000b:9092", "a\x85b:9092", "é:9092",
]
# Characters whose whitespace-ness Go's RE2 (`\s`: ASCII only, no \v), Rust's regex (Unicode White_Space),
# Go's strings.TrimSpace (CEL's trim()) and Python's str.strip() (also \x1c-\x1f) disagree about, and
# characters that look like nothing.
DISPUTED = ["\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f", " ", "\x85", "\xa0", "\u1680",
            "\u2000", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\u180e", "\u200b", "\ufeff",
            "\x00", "\x7f", "\x9f"]
ALPHABET = st.sampled_from([*"aZz09._-*:@/,; ", "\t", "\n", "\x00", "\x7f", "\x85", "\u00a0", "\u2028", "\u3000",
                            "é", "ß", "日"])
INTEGERS = [0, 1, -1, 2, 2**31 - 1, 2**31, 2**53, 2**63 - 1]
FRACTIONS = [0.5, 1.0, 1.5, 1e12, 1e300, -0.5, 2.0**63]


def weighted(*pairs: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of the strategies, each drawn ``weight`` times as often as a strategy of weight 1."""
    bounds = list(accumulate(w for w, _ in pairs))
    return st.integers(0, bounds[-1] - 1).flatmap(lambda i: pairs[bisect_right(bounds, i)][1])


def python_pattern(pattern: str) -> str:
    """A CRD pattern (Go RE2, which pydantic's Rust engine reads alike) for hypothesis' ``from_regex`` with
    ``fullmatch``: ``\\x{...}`` escapes in Python's spelling, and each top-level alternative unanchored."""
    pattern = re.sub(r"\\x\{([0-9a-fA-F]+)\}", lambda m: f"\\U{int(m.group(1), 16):08x}", pattern)
    alternatives, depth, start, escaped = [], 0, 0, False
    for i, c in enumerate(pattern):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "|" and depth == 0:
            alternatives.append(pattern[start:i])
            start = i + 1
    alternatives.append(pattern[start:])
    return "|".join(f"(?:{a.removeprefix('^').removesuffix('$')})" for a in alternatives)


def regexes_of(node: dict[str, Any]) -> list[str]:
    """The node's pattern, and the regular expressions its CEL rules match values against."""
    found = [node["pattern"]] if "pattern" in node else []
    return found + [m for r in node.get("x-kubernetes-validations", ())
                    for m in re.findall(r"matches\(r?'([^']+)'\)", r["rule"]) if not m.startswith("[")]


def valid_string(node: dict[str, Any]) -> st.SearchStrategy:
    lo, hi = node.get("minLength", 0), node.get("maxLength", 64)
    regexes = regexes_of(node)
    if regexes:
        return st.one_of(*(st.from_regex(python_pattern(r), fullmatch=True) for r in regexes)).filter(
            lambda v: max(lo, 1) <= len(v) <= hi)
    return st.text(st.sampled_from("abcxyz0129.-"), min_size=max(lo, 1), max_size=max(min(hi, 20), 1))


def edge_string(node: dict[str, Any]) -> st.SearchStrategy:
    lo, hi = node.get("minLength", 0), node.get("maxLength", 64)
    lengths = sorted({n for n in (lo - 1, lo, lo + 1, hi - 1, hi, hi + 1) if 0 <= n <= 400})
    valid = valid_string(node)
    return weighted(
        (8, disputed(valid)),  # a valid value with a disputed character at its start, its end or inside
        (3, st.sampled_from(EDGE_STRINGS)),
        (1, st.text(ALPHABET, max_size=12)),
        # as long as the limit, and one longer: refused, if at all, for its length alone
        (2, st.sampled_from(lengths).flatmap(lambda n: valid.map(lambda v: (v * (n + 1))[:n]))),
    )


def disputed(values: st.SearchStrategy) -> st.SearchStrategy:
    """A value with a disputed character put at its start, its end or inside it."""
    def put(value: str, c: str, where: int) -> str:
        at = [0, len(value), len(value) // 2][where]
        return value[:at] + c + value[at:]

    return st.builds(put, values, st.sampled_from(DISPUTED), st.integers(0, 2))


def bounds(node: dict[str, Any], low: float, high: float) -> tuple[float, float]:
    lo, hi = node.get("minimum", low), node.get("maximum", high)
    return lo, hi


def valid_integer(node: dict[str, Any]) -> st.SearchStrategy:
    lo, hi = bounds(node, -5, 10**6)
    return st.integers(int(lo) + (1 if node.get("exclusiveMinimum") else 0), int(hi))


def edge_integer(node: dict[str, Any]) -> st.SearchStrategy:
    edges = set(INTEGERS)
    for bound in (node.get("minimum"), node.get("maximum")):
        if bound is not None:
            edges |= {int(bound) - 1, int(bound), int(bound) + 1}
    return weighted((3, st.sampled_from(sorted(edges))), (1, st.sampled_from(FRACTIONS)),
                    (1, valid_integer(node).map(float)))


def valid_number(node: dict[str, Any]) -> st.SearchStrategy:
    lo, hi = bounds(node, 0, 1e6)
    return st.floats(min_value=lo, max_value=hi, exclude_min=bool(node.get("exclusiveMinimum")),
                     allow_nan=False, allow_infinity=False)


def edge_number(node: dict[str, Any]) -> st.SearchStrategy:
    lo, hi = bounds(node, 0, 1e6)
    return st.sampled_from([lo, lo + 1e-9, lo - 1e-9, hi, hi * 1.0000001 + 1e-9, 0, 0.0, -1, 1e-300, 1e300, -1e300,
                            2**63, 10**20, 1])


def strategy(node: dict[str, Any], edge: bool = False) -> st.SearchStrategy:
    """Values for one node of an openAPIV3Schema: valid ones, or (``edge``) one value around a limit somewhere
    inside an otherwise valid value."""
    if node.get("x-kubernetes-int-or-string"):
        return st.one_of(edge_integer({}), edge_string({})) if edge else st.one_of(valid_integer({}),
                                                                                 valid_string({}))
    if "enum" in node:
        return st.sampled_from(["", "nonsense", node["enum"][0].upper(), node["enum"][0] + " "]) if edge \
            else st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "string":
        return edge_string(node) if edge else valid_string(node)
    if kind == "integer":
        return edge_integer(node) if edge else valid_integer(node)
    if kind == "number":
        return edge_number(node) if edge else valid_number(node)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return arrays(node, edge)
    if kind == "object":
        return objects(node, edge)
    raise AssertionError(f"no strategy for {node}")


def arrays(node: dict[str, Any], edge: bool) -> st.SearchStrategy:
    low = node.get("minItems", 0)
    items = st.lists(strategy(node["items"]), min_size=low, max_size=max(low, 2))
    if not edge:
        return items
    one_edge = st.builds(lambda xs, x, i: [*xs[:i], x, *xs[i:]], st.lists(strategy(node["items"]), max_size=2),
                         strategy(node["items"], edge=True), st.integers(0, 2))
    return weighted((5, one_edge), (1, st.just([]) if low else one_edge))


# Fields whose valid values the generic strategies rarely hit (a port rule on top of a pattern).
HINTS = {
    "bootstrapServers": st.lists(st.sampled_from(["kafka-0.kafka:9092", "a:1", "b:65535", "[::1]:9092", "c:09092",
                                                  "10.0.0.1:9093"]), min_size=1, max_size=3),
}


def objects(node: dict[str, Any], edge: bool) -> st.SearchStrategy:
    props = node.get("properties")
    if props is None:  # a map: configs
        values = node.get("additionalProperties")
        values = values if isinstance(values, dict) else {"type": "string"}
        keys = {"type": "string", "maxLength": 40, "pattern": r"^[a-z][a-z0-9.]*$"}
        valid = st.dictionaries(strategy(keys), strategy(values), max_size=3)
        if not edge:
            return valid
        return st.one_of(st.builds(lambda d, k, v: {**d, k: v}, valid, strategy(keys, edge=True), strategy(values)),
                         st.builds(lambda d, k, v: {**d, k: v}, valid, strategy(keys), strategy(values, edge=True)))
    required = set(node.get("required", ()))
    fields = {name: HINTS.get(name, strategy(child)) for name, child in props.items()}
    valid = st.fixed_dictionaries({k: v for k, v in fields.items() if k in required},
                                  optional={k: v for k, v in fields.items() if k not in required})
    if not edge:
        return valid
    # One property (any, required or not) gets an edge value; the rest stay valid. Or a required one is missing.
    one_edge = st.sampled_from(sorted(props)).flatmap(
        lambda name: st.builds(lambda d, v, n=name: {**d, n: v}, valid, strategy(props[name], edge=True)))
    missing = st.sampled_from(sorted(required)).flatmap(
        lambda name: valid.map(lambda d, n=name: {k: v for k, v in d.items() if k != n})) if required else one_edge
    return weighted((12, one_edge), (1, missing))


def spec_strategy(kind: str) -> st.SearchStrategy:
    """Mostly a spec with one edge value in it; sometimes a valid one."""
    spec = crd_spec(kind)
    return weighted((1, strategy(spec)), (4, strategy(spec, edge=True)))


# --- the apiserver and the model -----------------------------------------------------------------------------


def crd_spec(kind: str) -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "crds" / KINDS[kind][1]).read_text())
    return doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


@pytest.fixture(scope="module")
def crds(env):
    from tests.support.operator import install_crds

    install_crds(env)
    subprocess.run([*env.kubectl(), "wait", "--for=condition=Established", f"crd/kafkausers.{GROUP}",
                    "--timeout=60s"], check=True, capture_output=True)


@pytest.fixture(scope="module")
def namespace(env, crds):
    from kubernetes import client

    from tests.support.kube import admin_client
    from tests.support.resources import unique

    api = admin_client(env)
    name = unique("prop")
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    yield client.CustomObjectsApi(api), name
    client.CoreV1Api(api).delete_namespace(name)


def admitted(namespace, kind: str, spec: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The spec as the apiserver stores it (dry run), or None and why it refused."""
    objects, ns = namespace
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "p"}, "spec": spec}
    try:
        stored = objects.create_namespaced_custom_object(GROUP, VERSION, ns, KINDS[kind][0], body, dry_run="All")
    except ApiException as err:
        if err.status not in (400, 422):
            raise
        try:
            detail = json.loads(err.body).get("message", err.body)
        except ValueError:
            detail = err.body
        return None, f"{err.status}: {detail}"
    return stored["spec"], ""


def accepted(kind: str, spec: dict[str, Any]) -> tuple[bool, str]:
    try:
        KINDS[kind][2].model_validate(spec)
    except ValidationError as err:
        return False, str(err)
    return True, ""


def agree(namespace, kind: str, spec: dict[str, Any]) -> None:
    wire = json.loads(json.dumps(spec))  # what reaches the apiserver
    stored, why = admitted(namespace, kind, wire)
    ok, error = accepted(kind, stored if stored is not None else wire)
    if stored is not None:
        assert ok, f"the apiserver admits this {kind} spec, kto's model refuses it:\n{wire!r}\n{error}"
    else:
        assert not ok, f"the apiserver refuses this {kind} spec ({why}), kto's model accepts it:\n{wire!r}"


PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])


@PROPERTY
@given(spec=spec_strategy("KafkaTopic"))
def test_topic_admission_equals_the_model(namespace, spec) -> None:
    agree(namespace, "KafkaTopic", spec)


@PROPERTY
@given(spec=spec_strategy("KafkaUser"))
def test_user_admission_equals_the_model(namespace, spec) -> None:
    agree(namespace, "KafkaUser", spec)


@PROPERTY
@given(spec=spec_strategy("KafkaCluster"))
def test_cluster_admission_equals_the_model(namespace, spec) -> None:
    agree(namespace, "KafkaCluster", spec)


# --- every string, every disputed character: a deterministic sweep ---------------------------------------------

# Values a derived spec cannot guess (a port rule on top of a pattern; protocols that allow both sasl and tls).
SAMPLES = {"bootstrapServers": "kafka-0.kafka:9092", "protocol": "SASL_SSL"}
# A valid value with one character added at the start, at the end and inside, for each character whose
# whitespace-ness or control-ness the engines dispute, and the plain cases (space, tab) as a baseline.
SWEPT = ["\x0b", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\u180e", "\u200b", "\ufeff", "\x00",
         "\x7f", "\x9f", " ", "\t", "é"]


def sample(node: dict[str, Any], name: str = "") -> Any:
    """One valid value of a schema node, every optional property included (so every string is there to sweep)."""
    if name in SAMPLES:
        return SAMPLES[name] if node.get("type") != "array" else [SAMPLES[name]]
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if node.get("x-kubernetes-int-or-string") or kind == "string":
        return "a"
    if kind in ("integer", "number"):
        low = node.get("minimum", 1)
        return max(low + (1 if node.get("exclusiveMinimum") else 0), 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return [sample(node["items"], name)]
    if "properties" not in node:
        return {"a": sample(node.get("additionalProperties") or {"type": "string"})}
    return {k: sample(child, k) for k, child in node["properties"].items()}


def strings_in(node: dict[str, Any], value: Any, path: tuple = ()) -> list[tuple]:
    """The paths of every string of ``value`` (and of every key of its maps) that is not an enum."""
    if isinstance(value, dict):
        props = node.get("properties")
        if props is None:
            return [(*path, ("key", k)) for k in value] + [p for k, v in value.items() for p in strings_in(
                node.get("additionalProperties") or {}, v, (*path, k))]
        return [p for k, v in value.items() for p in strings_in(props[k], v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in strings_in(node["items"], v, (*path, i))]
    return [path] if isinstance(value, str) and "enum" not in node else []


def with_string(spec: Any, path: tuple, change) -> Any:
    """``spec`` with the string (or map key) at ``path`` replaced by ``change(it)``."""
    spec = json.loads(json.dumps(spec))
    *parents, last = path
    node = spec
    for step in parents:
        node = node[step]
    if isinstance(last, tuple):  # a map key
        node[change(last[1])] = node.pop(last[1])
    else:
        node[last] = change(node[last])
    return spec


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_string_with_every_disputed_character(namespace, kind: str) -> None:
    base = sample(crd_spec(kind))
    agree(namespace, kind, base)
    assert admitted(namespace, kind, base)[0] is not None, "the derived spec must be valid to sweep from"
    disagreements = []
    for path in strings_in(crd_spec(kind), base):
        for c in SWEPT:
            for change in (lambda v, c=c: c + v, lambda v, c=c: v + c, lambda v, c=c: v[:1] + c + v[1:]):
                try:
                    agree(namespace, kind, with_string(base, path, change))
                except AssertionError as err:
                    disagreements.append(f"{'.'.join(map(str, path))} {change('a')!r}: {str(err).splitlines()[0]}")
    assert not disagreements, f"{len(disagreements)} disagreements:\n" + "\n".join(disagreements[:40])


def test_the_generated_crds_are_the_installed_ones() -> None:
    """The strategies read crds/; make sure those are today's models (the unit tier checks it too)."""
    for kind, (_, filename, _) in KINDS.items():
        assert yaml.safe_load((REPO / "crds" / filename).read_text()) == yaml.safe_load(
            crdgen.render(crdgen.FILES[filename]())), kind

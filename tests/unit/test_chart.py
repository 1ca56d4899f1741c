"""The Helm chart (helm/kto), the plain manifests rendered from it, and the image it runs, checked without a
cluster: rendered with the pinned helm and read as objects."""

from __future__ import annotations

import json
import re
import sys

import pytest
import yaml

from tests.support import chart
from tests.support.env import REPO, localenv

sys.path.insert(0, str(REPO / "hack"))
import manifests  # hack/manifests.py: what `make manifests` writes

NAMESPACES = {"rbac": {"scope": "namespaces", "namespaces": ["team-a", "team-b"]}}
TENANT_ROLES = {"tenantRoles": {"enabled": True}}
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


@pytest.fixture(scope="module", autouse=True)
def helm_built() -> None:
    localenv.ensure_built("helm")  # cached in ~/.cache/kto after the first build


def test_chart_crds_are_the_same_bytes_as_crds() -> None:
    source = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    copies = {p.name: p.read_bytes() for p in (chart.CHART / "crds").glob("*.yaml")}
    stale = sorted(n for n in source.keys() | copies.keys() if source.get(n) != copies.get(n))
    assert not stale, f"helm/kto/crds differs from crds/ in {stale}: run `make manifests`"


def test_install_yaml_is_the_chart_rendered_with_defaults() -> None:
    assert manifests.INSTALL_YAML.read_text() == manifests.render_install_yaml(), \
        "manifests/install.yaml is stale: run `make manifests`"
    docs = [d for d in yaml.safe_load_all(manifests.INSTALL_YAML.read_text()) if d]
    assert docs[0] == {"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": "kto", "labels": {"app.kubernetes.io/part-of": "kto"}}}
    sources = [yaml.safe_load(p.read_text()) for p in (REPO / "crds").glob("*.yaml")]
    assert {(d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] in ("CustomResourceDefinition",
                                                                              "ValidatingAdmissionPolicy")} == \
        {(d["kind"], d["metadata"]["name"]) for d in sources}
    assert all(d["metadata"].get("namespace") in (None, "kto") for d in docs)


@pytest.mark.parametrize("values", [{}, NAMESPACES, TENANT_ROLES, {**NAMESPACES, **TENANT_ROLES}],
                         ids=["cluster", "namespaces", "cluster+tenantRoles", "namespaces+tenantRoles"])
def test_helm_lint_is_clean(values: dict) -> None:
    out = chart.helm("lint", "--strict", str(chart.CHART), values=values)
    assert "0 chart(s) failed" in out
    assert "[WARNING]" not in out and "[ERROR]" not in out


def test_deployment_two_replicas_rolling_probes_resources_hardened() -> None:
    objects = chart.render()
    (deployment,) = chart.find(objects, "Deployment")
    spec = deployment["spec"]
    # Two Pods, one leading: an upgrade starts the new Pod (a standby) before it stops an old one.
    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pod = spec["template"]["spec"]
    (sa,) = chart.find(objects, "ServiceAccount")
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = chart.kto_container(objects)
    assert container["image"] == "kto:0.1.0"
    assert (container["command"], container["args"]) == (["kto"], ["run"])
    env = chart.container_env(container, "kto")
    assert env["KTO_HEALTH_PORT"] == "8080" and env["KTO_METRICS_PORT"] == "8081"
    assert "KTO_NAMESPACES" not in env  # cluster scope: every namespace
    # The Lease: in the Pod's own namespace (downward API), named after the release.
    assert {"name": "KTO_LEADER_ELECTION_NAMESPACE",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in container["env"]
    assert env["KTO_LEADER_ELECTION_NAME"] == "kto-leader"
    assert "KTO_LEADER_ELECT" not in env  # on: kto's default
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": 8081}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == pod["securityContext"]["runAsUser"] > 0
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    # The only writable place is a small scratch /tmp.
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]


def test_the_image_runs_as_the_chart_user() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    uid = int(re.search(r"^ARG KTO_UID=(\d+)$", dockerfile, re.M).group(1))
    pod = chart.find(chart.render(), "Deployment")[0]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["runAsGroup"] == uid
    assert re.search(r'^USER \$\{KTO_UID\}:\$\{KTO_UID\}$', dockerfile, re.M)
    assert re.search(r'^ENTRYPOINT \["kto"\]$', dockerfile, re.M) and re.search(r'^CMD \["run"\]$', dockerfile, re.M)
    final = dockerfile.split("\nFROM ")[-1]
    assert final.startswith("${PYTHON_IMAGE}\n") and "python:3.11-slim" in dockerfile
    assert not re.search(r"apt-get|gcc|build-essential", final), "no build tools in the final image"


def test_metrics_service_and_service_monitor_are_off_by_default() -> None:
    kinds = {o["kind"] for o in chart.render()}
    assert "Service" not in kinds and "ServiceMonitor" not in kinds
    objects = chart.render(values={"metrics": {"service": {"enabled": True}, "serviceMonitor": {"enabled": True}}})
    (service,) = chart.find(objects, "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8081, "targetPort": "metrics", "protocol": "TCP"}]
    (monitor,) = chart.find(objects, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    # The ServiceMonitor alone brings the Service it scrapes through.
    alone = chart.render(values={"metrics": {"serviceMonitor": {"enabled": True}}})
    assert [o["kind"] for o in alone if o["kind"] in ("Service", "ServiceMonitor")] == ["Service", "ServiceMonitor"]


def test_alert_rules_and_dashboard_are_off_by_default_and_labelled_when_on() -> None:
    kinds = {o["kind"] for o in chart.render()}
    assert "PrometheusRule" not in kinds and not chart.find(chart.render(), "ConfigMap")
    objects = chart.render(release="kto", namespace="ops", values={"metrics": {
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
        "grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "Kafka"}}}})
    (rule,) = chart.find(objects, "PrometheusRule", "ops")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) >= {"KtoDown", "KtoNoLeader", "KafkaTopicsNotReady", "KafkaUsersNotReady",
                           "KafkaClusterNotReady", "KtoKafkaErrors", "KtoDriftCorrectionsSpiking",
                           "KafkaConsumerGroupLagGrowing"}
    assert alerts["KafkaTopicsNotReady"]["for"] == "15m"
    assert 'up{job="kto-metrics"}' in alerts["KtoDown"]["expr"]
    assert "{{ $labels.kafka_cluster }}" in alerts["KafkaTopicsNotReady"]["annotations"]["summary"]
    # Every alert links its runbook section, and none keeps instance in its identity.
    assert all(a["annotations"]["runbook_url"].endswith(f"docs/runbook.md#{name.lower()}")
               for name, a in alerts.items())
    runbook = (chart.CHART.parents[1] / "docs" / "runbook.md").read_text()
    assert all(f"\n## {name}\n" in runbook for name in alerts)
    (dashboard,) = chart.find(objects, "ConfigMap", "ops")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Kafka"}
    shipped = json.loads((chart.CHART / "dashboards" / "kto.json").read_text())
    assert json.loads(dashboard["data"]["kto.json"]) == shipped


def test_the_service_monitor_keeps_the_resources_namespace_label() -> None:
    objects = chart.render(values={"metrics": {"service": {"enabled": True}, "serviceMonitor": {"enabled": True}}})
    (monitor,) = chart.find(objects, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True


def test_pod_disruption_budget_with_more_than_one_replica() -> None:
    objects = chart.render(release="kto", namespace="ops")
    (pdb,) = chart.find(objects, "PodDisruptionBudget", "ops")
    (deployment,) = chart.find(objects, "Deployment")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"] == {"minAvailable": 1, "selector": deployment["spec"]["selector"]}
    assert deployment["spec"]["selector"]["matchLabels"].items() <= \
        deployment["spec"]["template"]["metadata"]["labels"].items()
    # One Pod: a budget of one would block every drain. Or turned off.
    for values in ({"replicaCount": 1}, {"podDisruptionBudget": {"enabled": False}}):
        objects = chart.render(values=values)
        assert not chart.find(objects, "PodDisruptionBudget")
    (deployment,) = chart.find(chart.render(values={"replicaCount": 3}), "Deployment")
    assert deployment["spec"]["replicas"] == 3


LEASE_RULES = [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["kto-leader"],
     "verbs": ["get", "update"]},
    # kto's ledger of creates in flight (kto.ledger), in its own namespace only.
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "update"]},
]


@pytest.mark.parametrize("values", [{}, NAMESPACES], ids=["cluster", "namespaces"])
def test_lease_role_in_the_release_namespace_only(values: dict) -> None:
    """Leader election: create the Lease, get and update that one Lease, in the release namespace, both modes;
    kto's ledger ConfigMaps there too."""
    objects = chart.render(release="kto", namespace="ops", values=values)
    (role,) = chart.find(objects, "Role", "ops")
    (binding,) = chart.find(objects, "RoleBinding", "ops")
    assert role["metadata"]["name"] == "kto-leader-election"
    assert role["rules"] == LEASE_RULES
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "kto-leader-election"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kto", "namespace": "ops"}]
    # Nowhere else: no other role mentions leases.
    others = [r for r in chart.find(objects, "Role") + chart.find(objects, "ClusterRole") if r is not role]
    assert not [r for r in others for rule in r["rules"] if "leases" in rule["resources"]]
    # The Lease named in the rules is the one kto is told to use.
    env = chart.container_env(chart.kto_container(objects), "ops")
    assert (env["KTO_LEADER_ELECTION_NAMESPACE"], env["KTO_LEADER_ELECTION_NAME"]) == ("ops", "kto-leader")


def test_lease_name_follows_the_release() -> None:
    objects = chart.render(release="payments", namespace="team-a", values=NAMESPACES)
    roles = {r["metadata"]["name"]: r for r in chart.find(objects, "Role", "team-a")}
    assert set(roles) == {"payments-kto", "payments-kto-leader-election"}  # served there, and elects there
    assert roles["payments-kto-leader-election"]["rules"][1]["resourceNames"] == ["payments-kto-leader"]
    env = chart.container_env(chart.kto_container(objects), "team-a")
    assert env["KTO_LEADER_ELECTION_NAME"] == "payments-kto-leader"


def test_rbac_cluster_scope() -> None:
    objects = chart.render(release="kto", namespace="ops")
    assert [r["metadata"]["name"] for r in chart.find(objects, "Role")] == ["kto-leader-election"]
    (role,) = chart.find(objects, "ClusterRole")
    (binding,) = chart.find(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kto", "namespace": "ops"}]
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert "namespaces" not in resources  # watching every namespace, kopf does not list them


def test_rbac_namespaces_scope() -> None:
    objects = chart.render(release="kto", namespace="ops", values=NAMESPACES)
    env = chart.container_env(chart.kto_container(objects), "ops")
    assert env["KTO_NAMESPACES"] == "team-a,team-b"
    for ns in ("team-a", "team-b"):
        (role,) = chart.find(objects, "Role", ns)
        (binding,) = chart.find(objects, "RoleBinding", ns)
        assert binding["roleRef"]["kind"] == "Role" and binding["roleRef"]["name"] == role["metadata"]["name"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kto", "namespace": "ops"}]
    # Nothing namespaced is granted cluster-wide: only kopf's reads of namespaces and CRDs, and the cluster-scoped
    # KafkaPolicies with their admission bindings.
    (observer,) = chart.find(objects, "ClusterRole")
    assert {r for rule in observer["rules"] for r in rule["resources"]} == {
        "namespaces", "customresourcedefinitions", "kafkapolicies", "kafkapolicies/status",
        "validatingadmissionpolicybindings"}
    reads = [rule for rule in observer["rules"] if rule["resources"][0] in ("namespaces", "customresourcedefinitions")]
    assert {v for rule in reads for v in rule["verbs"]} == {"get", "list", "watch"}


def test_no_wildcards_anywhere_in_rbac() -> None:
    for values in ({}, NAMESPACES):
        for role in [o for o in chart.render(values=values) if o["kind"] in ("ClusterRole", "Role")]:
            for rule in role["rules"]:
                for key in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule[key], (role["metadata"]["name"], rule)
                assert not {"delete", "deletecollection", "escalate", "bind", "impersonate"} & set(rule["verbs"])


def aggregated_roles(objects: list[dict]) -> dict[str, dict]:
    """The ClusterRoles that carry an aggregate-to-* label, by name."""
    return {o["metadata"]["name"]: o for o in chart.find(objects, "ClusterRole")
            if any(k.startswith(AGGREGATE) for k in o["metadata"].get("labels", {}))}


def test_tenant_roles_are_off_by_default() -> None:
    for values in ({}, NAMESPACES):
        objects = chart.render(values=values)
        assert not aggregated_roles(objects)
        assert not {"kto-view", "kto-edit"} & {o["metadata"]["name"] for o in objects}


@pytest.mark.parametrize("values", [TENANT_ROLES, {**NAMESPACES, **TENANT_ROLES},
                                    {**TENANT_ROLES, "rbac": {"create": False}}],
                         ids=["cluster", "namespaces", "without-rbac.create"])
def test_tenant_roles_aggregate_topics_and_users_never_clusters(values: dict) -> None:
    """view reads topics and users (and their status) and is part of view, edit and admin; edit writes them
    (not their status) and is part of edit and admin; KafkaClusters are in neither."""
    objects = chart.render(release="platform", values=values)
    roles = aggregated_roles(objects)
    assert set(roles) == {"platform-kto-view", "platform-kto-edit"}
    (sa,) = chart.find(objects, "ServiceAccount")
    common = sa["metadata"]["labels"]  # the chart's labels, on every object
    assert common["app.kubernetes.io/instance"] == "platform"
    view, edit = roles["platform-kto-view"], roles["platform-kto-edit"]
    assert view["metadata"]["labels"] == {**common, AGGREGATE + "view": "true", AGGREGATE + "edit": "true",
                                          AGGREGATE + "admin": "true"}
    assert edit["metadata"]["labels"] == {**common, AGGREGATE + "edit": "true", AGGREGATE + "admin": "true"}
    assert view["rules"] == [{"apiGroups": ["kafka.kto.dev"],
                              "resources": ["kafkatopics", "kafkatopics/status", "kafkausers", "kafkausers/status"],
                              "verbs": ["get", "list", "watch"]}]
    assert edit["rules"] == [{"apiGroups": ["kafka.kto.dev"], "resources": ["kafkatopics", "kafkausers"],
                              "verbs": ["create", "update", "patch", "delete", "deletecollection"]}]
    for role in roles.values():
        assert "aggregationRule" not in role
        for rule in role["rules"]:
            assert not [r for r in rule["resources"] if r.split("/")[0] == "kafkaclusters"], rule
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], rule
    # Nothing else changes: kto's own RBAC is the same with and without the tenant roles.
    without = {**values, "tenantRoles": {"enabled": False}}
    assert [o for o in objects if o["metadata"]["name"] not in roles] == chart.render(release="platform",
                                                                                      values=without)


@pytest.mark.parametrize("values, message", [
    ({"rbac": {"scope": "namespaces"}}, "minItems"),
    ({"tenantRoles": {"clusterAdmin": True}}, "clusterAdmin"),  # no role on KafkaClusters, by design
    ({"rbac": {"scope": "everywhere"}}, "scope"),
    ({"rbac": {"scope": "namespaces", "namespaces": ["Not_A_Namespace"]}}, "namespaces"),
    ({"operator": {"logFormat": "xml"}}, "logFormat"),
    ({"operator": {"logLevel": "trace"}}, "logLevel"),
    ({"replicaCount": 0}, "replicaCount"),
    ({"podDisruptionBudget": {"minAvailable": "half"}}, "minAvailable"),
    ({"unknownValue": True}, "unknownValue"),
    ({"resources": {"request": {"cpu": "1"}}}, "request"),
    ({"securityContext": {"readOnlyRootFS": True}}, "readOnlyRootFS"),
    ({"image": {"digest": "latest"}}, "digest"),
    ({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"}]},
     "whenUnsatisfiable"),
    ({"networkPolicy": {"metrics": {"from": [{"podSelector": {"app": "prometheus"}}]}}}, "app"),
])
def test_values_schema_refuses_bad_values(values: dict, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        chart.render(values=values)


def test_every_value_is_documented() -> None:
    """Each key of values.yaml has a comment right above it, except inside Kubernetes objects passed through
    as they are (resources, security contexts)."""
    lines = (chart.CHART / "values.yaml").read_text().splitlines()
    passthrough = ("resources", "podSecurityContext", "securityContext")
    undocumented, inside = [], None
    for i, line in enumerate(lines):
        m = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
        if not m:
            continue
        indent, key = len(m.group(1)), m.group(2)
        if indent == 0:
            inside = key if key in passthrough else None
        elif inside:
            continue
        if not lines[i - 1].lstrip().startswith("#"):
            undocumented.append(key)
    assert not undocumented, f"values.yaml keys without a comment above them: {undocumented}"
    values = yaml.safe_load((chart.CHART / "values.yaml").read_text())
    schema = yaml.safe_load((chart.CHART / "values.schema.json").read_text())
    assert set(values) == set(schema["properties"])


def test_notes_name_the_crd_upgrade_step() -> None:
    notes = (chart.CHART / "templates" / "NOTES.txt").read_text()  # rendered by helm install (integration tier)
    assert "kubectl apply --server-side -f <chart>/crds/" in notes
    # Only resource names that exist: the CRDs' plural names and categories (the e2e tier runs these commands).
    crds = [d["spec"]["names"] for p in (REPO / "crds").glob("*.yaml")
            if (d := yaml.safe_load(p.read_text()))["kind"] == "CustomResourceDefinition"]
    known = {n["plural"] for n in crds} | {c for n in crds for c in n.get("categories", [])}
    for names in re.findall(r"kubectl get ([a-z,]+) -A", notes):
        assert set(names.split(",")) <= known, names
    assert "kubectl get kafkatopics -A" in notes and "kubectl get kto -A" in notes


def test_chart_declares_its_kubernetes_and_accepts_global_values() -> None:
    meta = yaml.safe_load((chart.CHART / "Chart.yaml").read_text())
    assert meta["kubeVersion"] == ">=1.30.0-0"  # KafkaPolicy's ValidatingAdmissionPolicy (admissionregistration/v1)
    assert chart.render(values={"global": {"imageRegistry": "example", "anything": {"nested": True}}})


def test_default_spread_across_nodes_and_scheduling_knobs() -> None:
    (deployment,) = chart.find(chart.render(release="kto"), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (spread,) = pod["topologySpreadConstraints"]
    # Preferred, not required: a one-node cluster (kind) still runs both replicas.
    assert spread == {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
                      "labelSelector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]}}
    term = {"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {"matchLabels": {"app": "x"}}}
    affinity = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "podAffinityTerm": term}]}}
    zone = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"team": "platform"}}}
    digest = "sha256:" + "0" * 64
    (deployment,) = chart.find(chart.render(values={"topologySpreadConstraints": [zone], "affinity": affinity,
                                                    "image": {"digest": digest}}), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["topologySpreadConstraints"] == [zone] and pod["affinity"] == affinity
    assert pod["containers"][0]["image"] == f"kto@{digest}"
    (deployment,) = chart.find(chart.render(values={"topologySpreadConstraints": []}), "Deployment")
    assert "topologySpreadConstraints" not in deployment["spec"]["template"]["spec"]


def test_pod_disruption_budget_is_tunable() -> None:
    (pdb,) = chart.find(chart.render(values={"podDisruptionBudget": {"minAvailable": "50%"}}), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == "50%" and "maxUnavailable" not in pdb["spec"]
    (pdb,) = chart.find(chart.render(values={"podDisruptionBudget": {"maxUnavailable": 1}}), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    assert not chart.find(chart.render(values={"podDisruptionBudget": {"enabled": False}}), "PodDisruptionBudget")


def test_listen_addresses_reach_kto_run() -> None:
    env = chart.container_env(chart.kto_container(chart.render()), "kto")
    assert (env["KTO_HEALTH_ADDRESS"], env["KTO_METRICS_ADDRESS"]) == ("0.0.0.0", "0.0.0.0")
    values = {"operator": {"metricsAddress": "127.0.0.1", "healthAddress": "0.0.0.0"}}
    env = chart.container_env(chart.kto_container(chart.render(values=values)), "kto")
    assert (env["KTO_HEALTH_ADDRESS"], env["KTO_METRICS_ADDRESS"]) == ("0.0.0.0", "127.0.0.1")


def test_network_policy_is_opt_in_and_admits_only_the_scrapers_and_the_probes() -> None:
    assert not chart.find(chart.render(), "NetworkPolicy")
    (deployment,) = chart.find(chart.render(values={"networkPolicy": {"enabled": True}}), "Deployment")
    (policy,) = chart.find(chart.render(values={"networkPolicy": {"enabled": True}}), "NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert spec["policyTypes"] == ["Ingress"]
    metrics, health = spec["ingress"]
    assert metrics["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert metrics["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]
    # The kubelet probes from the node: by default any source may reach the health port, and only that port.
    assert health == {"ports": [{"port": "health", "protocol": "TCP"}]}
    nodes = [{"ipBlock": {"cidr": "10.0.0.0/16"}}]
    (policy,) = chart.find(chart.render(values={"networkPolicy": {
        "enabled": True, "health": {"from": nodes}, "metrics": {"from": [{"namespaceSelector": {}, "podSelector": {
            "matchLabels": {"app": "vmagent"}}}]}}}), "NetworkPolicy")
    metrics, health = policy["spec"]["ingress"]
    assert health["from"] == nodes
    assert metrics["from"] == [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "vmagent"}}}]


def test_kind_pieces_agree() -> None:
    """The in-cluster Kafka runs the pinned Kafka version, and its host port is the one kind maps."""
    docs = {d["metadata"]["name"] + "/" + d["kind"]: d
            for d in yaml.safe_load_all((REPO / "manifests" / "kafka-kind.yaml").read_text())}
    (container,) = docs["kafka/Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"apache/kafka:{localenv.read_versions()['KAFKA_VERSION']}"
    (node_port,) = [p["nodePort"] for p in docs["kafka-external/Service"]["spec"]["ports"]]
    kind = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    (node,) = kind["nodes"]
    assert [m["containerPort"] for m in node["extraPortMappings"]] == [node_port]
    props = dict(line.split("=", 1) for line in docs["kafka-config/ConfigMap"]["data"]["server.properties"].splitlines()
                 if line and not line.startswith("#"))
    assert f"EXTERNAL://127.0.0.1:{node_port}" in props["advertised.listeners"]
    # SASL/SCRAM and the authorizer, with the admin kto and the tests use as a super user.
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert "User:admin" in props["super.users"].split(";")
    assert kind["networking"]["disableDefaultCNI"] is True  # kto-kind/node brings its own CNI configuration
    assert localenv.read_versions()["KIND_NODE_IMAGE"].startswith("kindest/node:v1.34.")


@pytest.mark.parametrize(("values", "fmt", "level"), [
    ({}, "json", "info"),
    ({"operator": {"logFormat": "plain", "logLevel": "warning"}}, "plain", "warning"),
    ({"operator": {"logLevel": "debug"}}, "json", "debug"),
])
def test_log_values_reach_kto_run(monkeypatch, values: dict, fmt: str, level: str) -> None:
    """operator.logFormat and operator.logLevel become the environment kto run reads its defaults from."""
    from kto.__main__ import parse_args

    env = chart.container_env(chart.kto_container(chart.render(release="kto", values=values)), "kto")
    assert (env["KTO_LOG_FORMAT"], env["KTO_LOG_LEVEL"], env["KTO_VERBOSE"]) == (fmt, level, "false")
    for key in ("KTO_LOG_FORMAT", "KTO_LOG_LEVEL", "KTO_VERBOSE"):
        monkeypatch.setenv(key, env[key])
    args = parse_args(["run", "--no-leader-elect"])
    assert (args.log_format, args.log_level, args.verbose) == (fmt, level, False)


def _mib(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


DEFAULT_SIZING = 10_000  # the KafkaTopics the chart's default resources are for (values.yaml says so)


def test_default_resources_hold_their_benchmark_and_the_readme_table_is_the_figures() -> None:
    """The chart's defaults follow docs/benchmarks.json: the limit above the peak, the request above the idle
    resident memory of the 10,000-topic run; README's sizing table shows every run's figures, and the resources
    it recommends for each size hold that run the same way."""
    results = {r["n"]: r for r in json.loads((REPO / "docs" / "benchmarks.json").read_text())["results"]}
    sized = results[DEFAULT_SIZING]["kto"]
    (deployment,) = chart.find(chart.render(), "Deployment")
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert _mib(resources["limits"]["memory"]) >= 1.25 * sized["kto_peak_rss_mib"]
    assert _mib(resources["requests"]["memory"]) >= 1.1 * sized["idle"]["kto_rss_mib"]
    assert f"sized for {DEFAULT_SIZING:,} KafkaTopics" in (chart.CHART / "values.yaml").read_text()
    readme = (REPO / "README.md").read_text()
    for n, r in results.items():
        row = re.search(rf"^\| {n:,} \| (\d+) MiB \| (\d+) MiB \| ([\d.]+) s \| [\dm.]+, (\w+) \| [\dm.]+, (\w+) \|",
                        readme, re.M)
        assert row, f"README's sizing table has no row for {n:,} KafkaTopics"
        idle = r["kto"]["idle"]
        per_resync = idle["kto_cpu_s"] / (idle["seconds"] / idle["resync_interval_s"])
        assert (int(row[1]), int(row[2]), float(row[3])) == (
            round(idle["kto_rss_mib"]), round(r["kto"]["kto_peak_rss_mib"]), round(per_resync, 2))
        assert _mib(row[5]) >= 1.25 * r["kto"]["kto_peak_rss_mib"], f"README's limit for {n:,} is below the peak"
        assert _mib(row[4]) >= 1.1 * idle["kto_rss_mib"], f"README's request for {n:,} is below the idle memory"


def test_max_batch_is_one_default() -> None:
    from kto.__main__ import parse_args
    values = yaml.safe_load((chart.CHART / "values.yaml").read_text())
    assert values["operator"]["maxBatch"] == parse_args(["run"]).max_batch

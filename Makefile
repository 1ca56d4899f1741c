# kto: developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KAFKA_NODES ?= 1
KAFKA_VERSION ?=
KAFKA_AUTHORIZER ?=
KAFKA_MODE ?=
export KAFKA_NODES KAFKA_VERSION KAFKA_AUTHORIZER KAFKA_MODE

.PHONY: help venv tools env-up env-down env-status demo run bench bench-50k crds manifests helm-lint kind-up kind-down kind-e2e test test-unit \
	test-integration lint clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed ## Create .venv with kto and its test dependencies

tools: ## Build (or reuse from ~/.cache/kto) kube-apiserver, kubectl, etcd, helm, promtool and the Kafka jars
	$(PYTHON) hack/env.py build

env-up: ## Start etcd, kube-apiserver and Kafka (KAFKA_NODES=3, KAFKA_VERSION=3.9.1, KAFKA_MODE=zookeeper, KAFKA_AUTHORIZER=true); writes .kto/env.sh
	$(PYTHON) hack/env.py up

env-down: ## Stop everything env-up started, by process id
	$(PYTHON) hack/env.py down

env-status: ## Show the running environment's processes and their memory
	$(PYTHON) hack/env.py status

demo: venv tools ## The README's first command: environment + kto + the Media Gateway topics, all Ready
	$(PY) hack/demo.py

run: venv ## Run kto in the foreground against the running environment (.kto/env.sh)
	source .kto/env.sh && $(VENV)/bin/kto run --health-address 127.0.0.1

bench: venv tools ## Benchmark 100, 1,000 and 10,000 topics against both floors (BENCH_LAG_INTERVAL=10: lag collection too; BENCH_RESYNC=30); merges into docs/benchmarks.json, renders docs/benchmarks.md
	$(PY) hack/bench.py --sizes $${BENCH_SIZES:-100,1000,10000} --lag-interval $${BENCH_LAG_INTERVAL:-0} \
	  --resync $${BENCH_RESYNC:-30} \
	  --merge docs/benchmarks.json --markdown

bench-50k: venv tools ## Benchmark 50,000 topics on 3 brokers, no floors, one 120 s resync idle (about 25 min); merges the row into docs/benchmarks.json and docs/benchmarks.md
	$(PY) hack/bench.py --sizes $${BENCH_SIZES:-50000} --floors none --kafka-nodes 3 \
	  --lag-interval $${BENCH_LAG_INTERVAL:-0} --resync $${BENCH_RESYNC:-120} --idle-intervals 1 \
	  --merge docs/benchmarks.json --markdown

crds: venv ## Regenerate crds/ (and the editors' JSON schemas in schemas/) from the pydantic models, and KafkaPolicy's ValidatingAdmissionPolicy
	$(PY) -m kto.api.crdgen crds/ schemas/
	$(PY) -m kto.policy.admission crds/

manifests: ## Copy crds/ into the Helm chart and render manifests/install.yaml from it
	$(PYTHON) hack/manifests.py

helm-lint: ## helm lint the chart, in both RBAC modes, with the tenant roles, and with every option on
	bash hack/build-tools.sh helm
	source hack/versions.env && h=$${KTO_CACHE:-$$HOME/.cache/kto}/helm-$$HELM_VERSION/bin/helm && \
	  $$h lint --strict helm/kto && \
	  $$h lint --strict helm/kto --set rbac.scope=namespaces --set 'rbac.namespaces={team-a,team-b}' && \
	  $$h lint --strict helm/kto --set tenantRoles.enabled=true && \
	  $$h lint --strict helm/kto --set tenantRoles.enabled=true --set metrics.service.enabled=true \
	    --set metrics.serviceMonitor.enabled=true --set metrics.prometheusRule.enabled=true \
	    --set metrics.grafanaDashboard.enabled=true --set replicaCount=2

kind-up: ## A kind cluster (built here; KIND_IMAGES=official: Docker Hub's) with Kafka and kto from its image and chart; writes .kto/kind-env.sh
	bash hack/kind/up.sh

kind-down: ## Delete the kind cluster and stop the dockerd kind-up started, by process id
	bash hack/kind/down.sh

kind-e2e: venv ## kind-up, the e2e tier (pytest -m e2e), kind-down (KEEP_CLUSTER=1 keeps it)
	bash hack/kind-e2e.sh

test: venv tools ## Run the unit and integration tiers (the README's test command; CI runs it)
	$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

test-unit: venv ## Run the unit tier only (no processes)
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

test-integration: venv tools ## Run the integration tier only
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

lint: venv ## ruff, and mypy on operator/kto (strict on the pure core: [tool.mypy] in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean: ## Remove the virtualenv and local state (not the ~/.cache/kto builds)
	-$(PYTHON) hack/env.py down
	rm -rf $(VENV) .kto .pytest_cache .ruff_cache

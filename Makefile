# streamsuite: `make up` runs the local stack, `make test` runs every check.
# Everything the targets need is installed under .cache/ (git-ignored) on first use.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
CACHE := $(CURDIR)/.cache
TOOLS := $(CACHE)/tools
UV_VERSION := 0.13.8
UV := $(TOOLS)/bin/uv
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin

export UV_CACHE_DIR := $(CACHE)/uv
export UV_PYTHON_DOWNLOADS := never
export UV_SYSTEM_CERTS := 1
export UV_LINK_MODE := copy
export STREAMSUITE_CACHE := $(CACHE)

# helm from the Go module proxy: Helm 3 for the checks and `make k8s`, Helm 4 to prove the chart
# works with both. The ldflags give Helm 3 the Kubernetes version its release builds report.
HELM3_VERSION := v3.19.0
HELM4_VERSION := v4.3.1
HELM := $(TOOLS)/helm-$(HELM3_VERSION)/helm
HELM4 := $(TOOLS)/helm-$(HELM4_VERSION)/helm
GO_ENV := GOMODCACHE=$(CACHE)/go/mod GOCACHE=$(CACHE)/go/build GOFLAGS=-buildvcs=false
HELM3_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM3_VERSION) \
	$(foreach pkg,pkg/chartutil pkg/lint/rules,-X helm.sh/helm/v3/$(pkg).k8sVersionMajor=1 -X helm.sh/helm/v3/$(pkg).k8sVersionMinor=34)
CHART := helm/streamsuite
# Kubernetes v1.34.0 built from dev/tools/kubernetes/go.mod (the Go module proxy): kube-apiserver
# for the chart tests (a real API server without nodes), and the rest of a single-node cluster
# for `make kube-up` / `make kube-e2e` (containerd and runc come from Debian's packages); etcd
# from Debian's package (unpacked, not installed); CoreDNS from dev/tools/coredns.
KUBE_VERSION := v1.34.0
KUBE_BIN := $(TOOLS)/kube-$(KUBE_VERSION)
KUBE_APISERVER := $(KUBE_BIN)/kube-apiserver
KUBE_NODE_BINARIES := $(addprefix $(KUBE_BIN)/,kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
COREDNS := $(TOOLS)/coredns/coredns
ETCD := $(TOOLS)/etcd/usr/bin/etcd
KUBE_LDFLAGS := $(foreach kv,gitVersion=$(KUBE_VERSION) gitMajor=1 gitMinor=34,-X k8s.io/component-base/version.$(kv))
# promtool checks and unit-tests the chart's alert rules: Debian's prometheus package, unpacked
# (its prometheus binary runs `make prometheus`).
PROMTOOL := $(TOOLS)/prometheus/usr/bin/promtool
export HELM HELM4 KUBE_APISERVER KUBE_BIN COREDNS ETCD PROMTOOL
# CI tools from the Go module proxy: actionlint for .github/ (make lint), kind for make kind-e2e
# (v0.30.0: the release dev/ci/kind-e2e.sh's digest-pinned node images were built for).
ACTIONLINT_VERSION := v1.7.12
ACTIONLINT := $(TOOLS)/actionlint-$(ACTIONLINT_VERSION)/actionlint
KIND_VERSION := v0.30.0
KIND := $(TOOLS)/kind-$(KIND_VERSION)/kind
# helm-docs writes the chart's README.md from README.md.gotmpl and values.yaml's `# --` comments.
HELM_DOCS_VERSION := v1.14.2
HELM_DOCS := $(TOOLS)/helm-docs-$(HELM_DOCS_VERSION)/helm-docs
HELM_DOCS_ARGS := --chart-search-root $(CHART) --sort-values-order file --log-level warning

PACKAGES := services/common services/publisher services/ingestor services/query-api services/web dev
PYPROJECTS := pyproject.toml $(addsuffix /pyproject.toml,$(PACKAGES))

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# --- tools and the virtualenv ---

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock $(PYPROJECTS)
	$(UV) sync --locked --python $(PYTHON)
	@touch $@

.PHONY: venv
venv: $(VENV)/.synced ## create .venv with the locked dependencies

.PHONY: lock
lock: $(UV) ## re-resolve uv.lock after changing a pyproject.toml
	$(UV) lock --python $(PYTHON)

$(HELM):
	@command -v go >/dev/null || { echo "go not found: install Go 1.24+ to build helm" >&2; exit 1; }
	GOBIN=$(@D) $(GO_ENV) go install -ldflags '$(HELM3_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM3_VERSION)

$(HELM4):
	@command -v go >/dev/null || { echo "go not found: install Go 1.24+ to build helm" >&2; exit 1; }
	GOBIN=$(@D) $(GO_ENV) go install helm.sh/helm/v4/cmd/helm@$(HELM4_VERSION)

$(KUBE_BIN)/%: dev/tools/kubernetes/go.mod
	@command -v go >/dev/null || { echo "go not found: install Go 1.24+ to build Kubernetes" >&2; exit 1; }
	cd dev/tools/kubernetes && $(GO_ENV) go build -ldflags '$(KUBE_LDFLAGS)' -o $@ k8s.io/kubernetes/cmd/$*

# Static, for an image that holds nothing else.
$(COREDNS): dev/tools/coredns/go.mod dev/tools/coredns/main.go
	cd dev/tools/coredns && CGO_ENABLED=0 $(GO_ENV) go build -ldflags '-s -w' -o $@ .

$(ACTIONLINT):
	@command -v go >/dev/null || { echo "go not found: install Go 1.24+ to build actionlint" >&2; exit 1; }
	GOBIN=$(@D) $(GO_ENV) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

$(KIND):
	@command -v go >/dev/null || { echo "go not found: install Go 1.24+ to build kind" >&2; exit 1; }
	GOBIN=$(@D) $(GO_ENV) go install sigs.k8s.io/kind@$(KIND_VERSION)

$(HELM_DOCS):
	@command -v go >/dev/null || { echo "go not found: install Go 1.24+ to build helm-docs" >&2; exit 1; }
	GOBIN=$(@D) $(GO_ENV) go install github.com/norwoodj/helm-docs/cmd/helm-docs@$(HELM_DOCS_VERSION)

$(ETCD):
	rm -rf $(CACHE)/debs/etcd && mkdir -p $(CACHE)/debs/etcd
	cd $(CACHE)/debs/etcd && { apt-get download etcd-server 2>/dev/null \
		|| { $$([ "$$(id -u)" -eq 0 ] || echo sudo) apt-get update -qq && apt-get download etcd-server; }; }
	dpkg-deb -x $(CACHE)/debs/etcd/etcd-server_*.deb $(TOOLS)/etcd

$(PROMTOOL):
	rm -rf $(CACHE)/debs/prometheus && mkdir -p $(CACHE)/debs/prometheus
	cd $(CACHE)/debs/prometheus && { apt-get download prometheus 2>/dev/null \
		|| { $$([ "$$(id -u)" -eq 0 ] || echo sudo) apt-get update -qq && apt-get download prometheus; }; }
	dpkg-deb -x $(CACHE)/debs/prometheus/prometheus_*.deb $(TOOLS)/prometheus

.PHONY: kube-apiserver
kube-apiserver: $(KUBE_APISERVER) $(ETCD) ## build kube-apiserver and unpack etcd into .cache/tools (chart install tests)

.PHONY: kube-binaries
kube-binaries: $(KUBE_APISERVER) $(KUBE_NODE_BINARIES) $(COREDNS) $(ETCD) ## build the single-node cluster's Kubernetes and CoreDNS into .cache/tools

.PHONY: kube-deps
kube-deps: ## install containerd, runc, the CNI plugins, iptables and Podman from Debian when missing (root)
	@WITH_BROWSER=0 WITH_KUBE_NODE=1 bash dev/system-deps.sh

.PHONY: helm
helm: $(HELM) $(HELM4) ## build helm 3 and helm 4 into .cache/tools (Go module proxy)

.PHONY: bench-deps
bench-deps: ## install wrk from Debian when missing (the load generator of `make bench`)
	@WITH_BROWSER=0 WITH_BENCH=1 bash dev/system-deps.sh

.PHONY: system-deps
system-deps: ## install Java, Maven and Chromium from Debian when missing (needs root or sudo)
	@bash dev/system-deps.sh

.PHONY: stack-deps
stack-deps:
	@WITH_BROWSER=0 bash dev/system-deps.sh

# --- the local stack ---

.PHONY: up
up: venv stack-deps ## run Kafka, PostgreSQL and the services in the foreground (Ctrl-C stops)
	@$(BIN)/devstack up

.PHONY: down
down: venv ## stop a stack started by `make up` in another terminal
	@$(BIN)/devstack down

.PHONY: status
status: venv ## show what the local stack runs and whether it answers
	@$(BIN)/devstack status

.PHONY: logs
logs: venv ## follow the logs of the local stack
	@$(BIN)/devstack logs

.PHONY: prometheus
prometheus: venv $(HELM) $(PROMTOOL) ## a local Prometheus that scrapes `make up`'s services and loads the chart's alert rules (:9090)
	@$(BIN)/python -m devstack.prometheus

# --- checks ---

.PHONY: lint
lint: venv $(ACTIONLINT) ## ruff, import contracts (lint-imports), hadolint (Dockerfiles), compose.yaml against the spec, actionlint (.github), shellcheck (dev/ci, dev/images)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/hadolint services/*/Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
	$(ACTIONLINT) -shellcheck $(BIN)/shellcheck
	$(BIN)/shellcheck dev/ci/*.sh dev/images/*.sh

.PHONY: fmt
fmt: venv ## format and auto-fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: unit
unit: venv ## unit tests only (no Kafka or PostgreSQL needed)
	$(BIN)/pytest -m "not integration and not browser and not e2e and not chart and not k8s"

.PHONY: docs
docs: venv ## regenerate the configuration reference in README.md
	$(BIN)/python -m devstack.docs --write README.md

.PHONY: test
test: lint chart-test system-deps ## every check: lint, the chart, all tests on real Kafka + PostgreSQL, the images, the chart on a real node
	$(BIN)/devstack run --services -- $(BIN)/pytest -m "not chart and not k8s" $(PYTEST_ARGS)
	$(MAKE) --no-print-directory base-image images container-test kube-e2e

.PHONY: chart-test
chart-test: venv helm kube-apiserver $(PROMTOOL) $(HELM_DOCS) ## the Helm chart: README drift, lint, render every option set, validate offline (K8s 1.31/1.34, CRDs), k8s/ drift, chart tests (alert rules with promtool)
	@$(HELM_DOCS) $(HELM_DOCS_ARGS) --dry-run | cmp -s - $(CHART)/README.md || { echo "$(CHART)/README.md is out of date: run make chart-docs" >&2; exit 1; }
	$(BIN)/python -m devstack.chartcheck check --chart $(CHART)
	HELM=$(HELM4) $(BIN)/python -m devstack.chartcheck check --chart $(CHART)
	$(BIN)/python -m devstack.chartcheck render --chart $(CHART) --values $(CHART)/ci/k8s-values.yaml --out k8s --check
	$(BIN)/pytest -m chart tests/chart

.PHONY: chart-docs
chart-docs: $(HELM_DOCS) ## regenerate helm/streamsuite/README.md from its README.md.gotmpl and values.yaml (helm-docs)
	$(HELM_DOCS) $(HELM_DOCS_ARGS)

.PHONY: k8s
k8s: venv $(HELM) ## render the plain manifests in k8s/ from the chart
	$(BIN)/python -m devstack.chartcheck render --chart $(CHART) --values $(CHART)/ci/k8s-values.yaml --out k8s

# --- the single-node Kubernetes cluster (root; see README "Kubernetes on this machine") ---

.PHONY: kube-up
kube-up: venv kube-deps kube-binaries ## start a single-node Kubernetes cluster on this machine (state in var/kube)
	@$(BIN)/devstack kube up

.PHONY: kube-down
kube-down: venv ## stop it and put the host back as it was found
	@$(BIN)/devstack kube down

.PHONY: kube-e2e
kube-e2e: venv stack-deps kube-deps kube-binaries helm ## the chart on that node (images from `make images`): install, e2e suite, restarts, upgrade, uninstall
	@$(BIN)/devstack kube e2e $(PYTEST_ARGS)

.PHONY: chaos
chaos: venv stack-deps ## SIGKILL every service, kill -9 the broker and PostgreSQL while files flow; 0 lost, 0 duplicated or it fails (CHAOS_ARGS=...)
	$(BIN)/python -m devstack.chaos $(CHAOS_ARGS)

.PHONY: bench
bench: venv stack-deps bench-deps ## benchmarks on the real Kafka and PostgreSQL, then the side-by-side with Kafka Connect (BENCH_DOCS, BENCH_RUNS, BENCH_CONTENDERS; writes bench/results.md)
	$(BIN)/devstack run -- bash -c 'for b in services/*/bench/bench_*.py; do echo "== $$b"; $(BIN)/python "$$b" || exit 1; done; \
		echo "== devstack.bench: ingestor vs Kafka Connect + Debezium, raw ceilings"; $(BIN)/python -m devstack.bench'

.PHONY: clean
clean: ## remove the virtualenv and local stack state (keeps downloads in .cache)
	rm -rf $(VENV) var

# --- container images ---

.PHONY: base-image
base-image: ## build the stand-in Python 3.11 base image from Debian's packages (no registry needed)
	@bash dev/images/base-image.sh

.PHONY: images
images: ## build the four service images streamsuite/<name>:dev (ENGINE=docker|podman; default Docker where one answers)
	@bash dev/images/build.sh

.PHONY: container-test
container-test: venv stack-deps ## run the four images against the local Kafka + PostgreSQL: e2e, non-root, read-only, SIGTERM (ENGINE as for images)
	@bash dev/images/container_test.sh

# --- what GitHub CI runs besides the targets above (.github/workflows, README "Continuous integration") ---

.PHONY: integration
integration: venv system-deps ## all tests but the chart's and the node's, with Kafka, PostgreSQL and the services up (the middle of `make test`)
	$(BIN)/devstack run --services -- $(BIN)/pytest -m "not chart and not k8s" $(PYTEST_ARGS)

.PHONY: kind-e2e
kind-e2e: venv $(HELM) $(KIND) ## the chart's defaults on a kind cluster (K8S=1.34|1.31; images from `make images`; DRY_RUN=1 prints the commands)
	@KIND=$(KIND) bash dev/ci/kind-e2e.sh

.PHONY: chart-release
chart-release: $(HELM) ## package the chart as a release: VERSION=1.2.3 OWNER=<ghcr owner> (PUSH=1 pushes it to ghcr.io)
	@bash dev/ci/release-chart.sh "$(VERSION)" "$(OWNER)"

"""Offline checks for the Helm chart: strict schemas and the chart's own conventions.

``python -m devstack.chartcheck check --chart helm/streamsuite`` lints and renders the chart for
every values set, validates each object against the Kubernetes JSON schemas (kubernetes-validate)
and the Strimzi / Prometheus Operator CRDs, and applies the conventions in ``policy``.
``python -m devstack.chartcheck render`` writes (or drift-checks) the plain manifests in ``k8s/``.
"""

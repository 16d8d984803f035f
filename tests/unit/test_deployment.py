"""The deployment descriptions (Dockerfile, deploy/compose.yaml, deploy/k8s/), checked without
running them: no Docker engine or Kubernetes cluster is at hand. What is checked here:

- ``docker compose config -q`` accepts the compose file (the real client: `make compose`);
- every Kubernetes manifest validates, strictly (no unknown field), against the JSON schemas of
  the Kubernetes API that the ``kubernetes-validate`` package ships, and ``kubectl kustomize``
  renders the directory;
- every setting a service reads (``settings.<field>`` in its code and in shared/) is set for it
  in both descriptions, or is one whose default holds in production; each service is given its
  own secrets (shared/service_settings.py), as files, and no other service's; and with exactly
  what they give it, each service's settings load in production (so no secret is missing);
- the Kafka nodes in compose have the settings of deploy/kafka_cluster.py;
- watching it: every instance of every service is scraped at /metrics in both (compose's
  Prometheus finds each replica by DNS; Kubernetes' pods carry the scrape annotations that the
  ConfigMap onedoor-prometheus keeps), the alert rules parse, watch metrics the services really
  export (lag, oldest outbox row, dead letters, held payments, readiness) and fire on them
  (``promtool test rules``), and each service names itself in its traces, sent to a collector
  described beside it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy.kafka_cluster import KafkaCluster
from shared import tracing
from shared.service_settings import SECRETS, secrets_of
from shared.settings import SERVICES, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
K8S = ROOT / "deploy" / "k8s"
PROMETHEUS = ROOT / "deploy" / "prometheus"
COLLECTOR = ROOT / "deploy" / "otel" / "collector.yaml"
KUBERNETES_VERSION = "1.32.0"  # the oldest Kubernetes release still supported when written

# Read by a service, and right in production as they are (every other setting read is set).
DEFAULT_HOLDS = {
    "consumer_batch_size", "consumer_fetch_max_wait_ms", "consumer_max_attempts",
    "consumer_retry_backoff_s",  # tuning
    "policy_paths", "monitoring_policy_paths",  # the packaged policies
    "verification_live_sources", "verification_live_timeout_s", "verification_live_retries",
    "verification_live_breaker_failures", "verification_live_breaker_reset_s",  # none
    "audit_checkpoint_interval_s",
    "shutdown_drain_s",  # matches the manifests' preStop and grace period (docs/RELIABILITY.md)
    "auth_signing_key",  # only the window signs tokens (required for it below)
    "window_session_idle_minutes", "window_session_max_hours", "window_token_minutes",
    "window_sign_in_max_failures", "window_sign_in_lockout_minutes",
    # local sign-in; OIDC is the deployer's choice (docs/WINDOW.md)
    "window_identity_provider", "window_oidc_issuer", "window_oidc_client_id",
    "window_oidc_client_secret", "window_oidc_username_claim", "window_public_url",
}
MUST_SET_TOO = {"window": {"auth_signing_key"}}
# Read by production's start-up check in every process (shared/settings.py): which service it
# is decides which secrets it is asked for.
READ_BY_ALL = {"env", "service"}
# A secret a service may be given but need not be: the window's, when staff sign in elsewhere.
OPTIONAL_SECRETS = {"window_oidc_client_secret"}


def settings_read(service: str) -> set[str]:
    """The Settings fields a service's code reads: ``settings.<field>`` in services/<service>/
    and shared/, and its own database's URL."""
    fields = set(Settings.model_fields)
    found: set[str] = set()
    for path in [*(ROOT / "services" / service).rglob("*.py"), *(ROOT / "shared").rglob("*.py")]:
        if "migrations" not in path.parts:
            found |= set(re.findall(r"settings\.([a-z_]+)", path.read_text()))
    return (found & fields) | READ_BY_ALL | {f"{service}_database_url"}


def must_set(service: str) -> set[str]:
    return settings_read(service) - DEFAULT_HOLDS | MUST_SET_TOO.get(service, set())


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def manifests() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def onedoor_deployments(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The services' Deployments (not the collector's beside them)."""
    return [d for d in docs if d["kind"] == "Deployment"
            and d["metadata"]["labels"]["app.kubernetes.io/name"] == "onedoor"]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


SECRET_FILE = None  # given() says so for a setting that comes from a file


def given(environment: dict[str, str], secret_files: list[str]) -> dict[str, str | None]:
    """Setting name → its value in the ONEDOOR_* variables, or SECRET_FILE for the files in the
    secrets directory, each named like its setting."""
    found: dict[str, str | None] = {name.removeprefix("ONEDOOR_").lower(): str(value)
                                    for name, value in environment.items()
                                    if name.startswith("ONEDOOR_")}
    found |= {name.removeprefix("onedoor_"): SECRET_FILE for name in secret_files}
    return found


def compose_services() -> dict[str, dict[str, str | None]]:
    services = compose()["services"]
    return {name: given(services[name]["environment"],
                        [s["target"] for s in services[name]["secrets"]])
            for name in SERVICES}


def k8s_services() -> dict[str, dict[str, str | None]]:
    docs = manifests()
    config = named(docs, "ConfigMap", "onedoor-settings")
    out = {}
    for deployment in onedoor_deployments(docs):
        pod = deployment["spec"]["template"]["spec"]
        container, = pod["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
        files = [item["path"] for volume in pod["volumes"] if "projected" in volume
                 for source in volume["projected"]["sources"]
                 for item in source["secret"]["items"]]
        own = {e["name"]: e["value"] for e in container.get("env", [])}
        out[container["args"][1]] = given(config["data"] | own, files)
    return out


@pytest.fixture(params=["compose", "kubernetes"])
def deployment(request: pytest.FixtureRequest) -> dict[str, dict[str, str | None]]:
    return compose_services() if request.param == "compose" else k8s_services()


def test_every_setting_a_service_reads_is_set_or_defaulted(deployment):
    assert set(deployment) == set(SERVICES)
    for service, settings in deployment.items():
        missing = must_set(service) - set(settings)
        assert not missing, f"{service} reads {sorted(missing)}, which are neither set nor " \
                            "defaulted for production (DEFAULT_HOLDS)"
        unknown = set(settings) - set(Settings.model_fields) - {"secrets_dir"}
        assert not unknown, f"{service} is given settings that do not exist: {unknown}"


def test_each_service_is_given_its_own_secrets_as_files_and_no_others(deployment):
    for service, settings in deployment.items():
        assert settings["service"] == service  # production asks it for these alone
        secrets = {name: value for name, value in settings.items() if name in SECRETS}
        assert set(secrets) == secrets_of(service) - OPTIONAL_SECRETS, service
        assert all(value is SECRET_FILE for value in secrets.values()), \
            f"{service} is given a secret in its environment, where every process sees it"


def test_with_what_it_is_given_each_service_starts_in_production(deployment, tmp_path,
                                                                 monkeypatch):
    for name in [n for n in os.environ if n.startswith("ONEDOOR_")]:
        monkeypatch.delenv(name)
    for service, settings in deployment.items():
        secrets = tmp_path / service
        secrets.mkdir()
        for name, value in settings.items():
            if value is SECRET_FILE:
                (secrets / f"onedoor_{name}").write_text(f"a {name} of the deployer's own")
            else:
                monkeypatch.setenv(f"ONEDOOR_{name.upper()}", value)
        monkeypatch.setenv("ONEDOOR_SECRETS_DIR", str(secrets))
        loaded = load_settings()
        assert loaded.env == "production" and loaded.service == service
        assert loaded.database_url(service) == f"a {service}_database_url of the deployer's own"
        for key in ("pseudonym_key", "payment_account_key"):
            if key in secrets_of(service):
                assert getattr(loaded, key).get_secret_value() == f"a {key} of the deployer's own"
        for name in settings:
            monkeypatch.delenv(f"ONEDOOR_{name.upper()}", raising=False)


def test_docker_compose_accepts_the_compose_file(tmp_path):
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "compose", "version"], capture_output=True).returncode != 0:
        message = "the docker compose client is missing (make compose builds it)"
        if os.environ.get("ONEDOOR_REQUIRE_COMPOSE") == "1":
            pytest.fail(message)
        pytest.skip(message)

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "compose", "-f", str(path), "config", "-q"],
                              capture_output=True, text=True, timeout=60)

    checked = check(COMPOSE)
    assert checked.returncode == 0, checked.stderr
    # The check is real: a misspelt key is refused.
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("stop_grace_period:", "stop_grace_periods:"))
    assert check(broken).returncode != 0


def test_the_kafka_nodes_have_the_settings_of_the_test_cluster():
    cluster = KafkaCluster(3)
    try:
        expected = dict(line.split("=", 1) for line in
                        cluster._properties(cluster.nodes[0]).splitlines() if line)
    finally:
        cluster.stop()
    # Per node, or the JVM's and the machine's: set where the node is.
    for key in ("node.id", "controller.quorum.voters", "listeners", "advertised.listeners",
                "log.dirs", "num.network.threads", "num.io.threads",
                "log.cleaner.dedupe.buffer.size"):
        expected.pop(key)
    services = compose()["services"]
    for node in ("kafka-1", "kafka-2", "kafka-3"):
        environment = services[node]["environment"]
        given_ = {name.removeprefix("KAFKA_").lower().replace("_", "."): str(value)
                  for name, value in environment.items() if name.startswith("KAFKA_")}
        assert {k: given_.get(k) for k in expected} == expected, node
        assert services[node]["image"].startswith("apache/kafka:4.0.")


def test_the_manifests_match_the_kubernetes_schemas():
    docs = manifests()
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    for service in SERVICES:
        for kind in ("Deployment", "Service", "PodDisruptionBudget"):
            assert (kind, f"onedoor-{service}") in kinds
    assert ("Job", "onedoor-migrate-0-1-0") in kinds
    # The schema check is real: an unknown field is refused.
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_traffic_waits_for_readiness_and_restarts_ask_liveness():
    docs = manifests()
    for deployment in onedoor_deployments(docs):
        labels = deployment["spec"]["selector"]["matchLabels"]
        assert deployment["spec"]["template"]["metadata"]["labels"] == labels
        assert deployment["spec"]["replicas"] >= 2
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        container, = pod["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["args"][0] == "serve" and container["args"][1] in SERVICES
        name = deployment["metadata"]["name"]
        for kind in ("Service", "PodDisruptionBudget"):
            other = next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
            selector = other["spec"]["selector"]
            assert selector.get("matchLabels", selector) == labels, (kind, name)
    services = compose()["services"]
    for service in SERVICES:
        assert services[service]["command"] == ["serve", service]
        assert "/health/ready" in " ".join(services[service]["healthcheck"]["test"])
        if service != "window":
            assert services[service]["deploy"]["replicas"] == 2
    assert services["migrate"]["command"] == ["migrate"]


def test_the_image_runs_as_a_user_and_checks_liveness():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    user = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert "/health/live" in dockerfile.split("HEALTHCHECK", 1)[1].split("\n\n")[0]
    assert 'ENTRYPOINT ["onedoor"]' in dockerfile


def test_kustomize_renders_the_rollout():
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    rendered = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True,
                              text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    kinds = [d["kind"] for d in docs]
    assert len(onedoor_deployments(docs)) == len(SERVICES)
    assert "Job" not in kinds  # it runs before the rollout, not with it
    assert ("ConfigMap", "onedoor-prometheus") in [(d["kind"], d["metadata"]["name"])
                                                   for d in docs]


# -- watching it: metrics, alerts, traces ---------------------------------------------------------

WATCHED = {  # what docs/OPERATIONS.md says the alerts must watch, and the metric each reads
    "consumer lag": "onedoor_consumer_lag", "archiver lag": "onedoor_audit_archiver_lag",
    "oldest outbox row": "onedoor_outbox_oldest_unpublished_age_seconds",
    "dead letters": "onedoor_events_dead_lettered_total",
    "held payments": "onedoor_payments_total", "readiness": "probe_success"}


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
            for rule in group["rules"]]


def exported_metrics() -> set[str]:
    """Every sample name the services' /metrics can show (shared/metrics.py's families)."""
    from prometheus_client import REGISTRY

    import shared.metrics  # noqa: F401 (registers them)

    names = set()
    for family in REGISTRY.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_count", "_sum", "_bucket"]}
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return names


def test_compose_scrapes_every_instance_of_every_service():
    services = compose()["services"]
    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    mounted = {v.split(":")[0] for v in prometheus["volumes"]}
    assert {"./prometheus/prometheus.yml", "./prometheus/alerts.yml"} <= mounted
    assert services["blackbox"]["image"].startswith("prom/blackbox-exporter:")
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"][0].split()[0] == "alerts.yml"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for name, path in (("onedoor", "/metrics"), ("onedoor-readiness", "/probe")):
        job = jobs[name]
        assert job["metrics_path"] == path
        # By DNS, one address per replica: a static target would reach one at random.
        lookup, = job["dns_sd_configs"]
        assert set(lookup["names"]) == set(SERVICES) and lookup["type"] == "A"
        assert lookup["port"] == 8000  # where `onedoor serve` listens in its container
    readiness = jobs["onedoor-readiness"]
    assert readiness["params"]["module"] == ["ready"]
    target = next(r for r in readiness["relabel_configs"]
                  if r.get("target_label") == "__param_target")
    assert target["replacement"].endswith("/health/ready")
    blackbox = yaml.safe_load((PROMETHEUS / "blackbox.yml").read_text())
    assert blackbox["modules"]["ready"]["http"]["valid_status_codes"] == [200]
    for service in SERVICES:
        assert services[service]["command"] == ["serve", service]  # port 8000, the default


def test_kubernetes_pods_are_annotated_for_the_scrape_job_beside_them():
    docs = manifests()
    for deployment in onedoor_deployments(docs):
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        container, = template["spec"]["containers"]
        port = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
        assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
                               "prometheus.io/path": "/metrics"}, deployment["metadata"]["name"]
    assert {d["spec"]["template"]["spec"]["containers"][0]["args"][1]
            for d in onedoor_deployments(docs)} == set(SERVICES)
    kept = named(docs, "ConfigMap", "onedoor-prometheus")["data"]
    config = yaml.safe_load(kept["prometheus.yml"])
    job, = config["scrape_configs"]
    assert job["job_name"] == "onedoor"  # as in compose: the rules read the same in both
    keeps = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"]
             if r.get("action") == "keep"}
    assert keeps == {"__meta_kubernetes_pod_label_app_kubernetes_io_name": "onedoor",
                     "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true"}
    assert kept["alerts.yml"] == (PROMETHEUS / "alerts.yml").read_text()


def test_the_alert_rules_parse_and_watch_what_the_services_export():
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    exported = exported_metrics()
    read = set()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        metrics = set(re.findall(r"\b(onedoor_[a-z_]+|probe_success|up|kube_[a-z_]+)\b",
                                 rule["expr"]))
        assert metrics, rule["alert"]
        # A misspelt metric would never fire: each one read is one the services export (or
        # Prometheus', the blackbox exporter's, kube-state-metrics').
        unknown = {m for m in metrics if m.startswith("onedoor_")} - exported
        assert not unknown, (rule["alert"], unknown)
        read |= metrics
    assert set(WATCHED.values()) <= read
    held = next(r for r in rules if r["alert"] == "OneDoorPaymentsHeld")
    assert 'status="held"' in held["expr"]


def test_promtool_accepts_the_configurations_and_the_alerts_fire_on_what_they_watch(tmp_path):
    if shutil.which("promtool") is None:
        message = "promtool is missing (Debian's prometheus package has it)"
        if os.environ.get("ONEDOOR_REQUIRE_PROMTOOL") == "1":
            pytest.fail(message)
        pytest.skip(message)

    def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["promtool", *map(str, args)], capture_output=True, text=True,
                              timeout=60)

    for checked in (promtool("check", "config", PROMETHEUS / "prometheus.yml"),
                    promtool("test", "rules", PROMETHEUS / "alerts.test.yml")):
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # (Kubernetes' configuration is not given to promtool: Debian builds it without the
    # Kubernetes service discovery. Its rules are alerts.yml's, compared above.)
    # The check is real: a rule that does not parse is refused.
    broken = tmp_path / "broken.yml"
    broken.write_text((PROMETHEUS / "alerts.yml").read_text().replace(
        "max by (service) (", "max by (service (", 1))
    assert promtool("check", "rules", broken).returncode != 0


def test_each_service_names_itself_in_traces_sent_to_the_collector_beside_it():
    services = compose()["services"]
    collector = services["otel-collector"]
    assert collector["image"].startswith("otel/opentelemetry-collector")
    assert any(v.startswith("./otel/collector.yaml:") for v in collector["volumes"])
    receivers = yaml.safe_load(COLLECTOR.read_text())["receivers"]["otlp"]["protocols"]
    assert receivers["http"]["endpoint"].endswith(":4318")
    for service in SERVICES:
        environment = services[service]["environment"]
        assert environment["OTEL_SERVICE_NAME"] == f"onedoor-{service}"
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert tracing.export_configured(environment)  # on here; off by default in the code
    assert not tracing.export_configured({})
    assert not tracing.export_configured(services["migrate"]["environment"])

    docs = manifests()
    settings = named(docs, "ConfigMap", "onedoor-settings")["data"]
    endpoint = settings["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert endpoint == "http://onedoor-otel-collector:4318"
    assert 4318 in [p["port"] for p in named(docs, "Service", "onedoor-otel-collector")["spec"]
                    ["ports"]]
    assert named(docs, "ConfigMap", "onedoor-otel-collector")["data"]["collector.yaml"] == \
        COLLECTOR.read_text()
    for deployment in onedoor_deployments(docs):
        container, = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        assert env["OTEL_SERVICE_NAME"] == f"onedoor-{container['args'][1]}"
        assert tracing.export_configured({**settings, **env})


def test_a_new_kafka_cluster_id_never_starts_with_a_dash():
    """The storage tool reads `-t -abc…` as a missing id: Kafka's own ids never start with '-'."""
    import base64

    from deploy.kafka_cluster import new_cluster_id

    ids = [new_cluster_id() for _ in range(2000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
    assert len(set(ids)) == len(ids)

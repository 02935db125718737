"""docker/ stays true to the code: services, env vars the code reads, topic settings.

No Docker engine runs in CI, so the production set-up is checked by structure:
every ``EDX_*`` variable a service sets is one ``bus.settings`` reads, each service
has the variables it cannot run correctly without, the Settings each service would
load give the cluster's replication and the topics the ACLs name, and the broker
defaults agree with ``bus.topics``. ``compose_problems`` lists every disagreement;
the mutation tests prove it notices a removed variable or broker.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from bus.kafka import connection_options
from bus.settings import ENV_VARS, TOPIC_ENV_PREFIX, Settings, TopicNames, load_settings
from bus.topics import FOREVER, topic_specs
from cli.main import cli

DOCKER = Path(__file__).resolve().parent.parent / "docker"
COMPOSE = DOCKER / "compose.yaml"
KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")
EDXBUS_SERVICES = ("topics-init", "router", "tracker")

#: Variables a service cannot do without, and why (the defaults are for the embedded bus).
REQUIRED: dict[str, dict[str, str]] = {
    "router": {
        "EDX_BOOTSTRAP": "the default is a local embedded broker",
        "EDX_SECURITY_PROTOCOL": "the brokers accept SASL clients only",
        "EDX_SASL_MECHANISM": "the brokers use SCRAM-SHA-512",
        "EDX_SASL_USERNAME": "the router principal its ACLs name",
        "EDX_SASL_PASSWORD": "SCRAM needs it",
        "EDX_ROUTER_DB_URL": "replicas must share one memory of accepted documents",
        "EDX_TRUST": "signatures verify against the government roots, not a dev PKI",
        "EDX_REPLICATION_FACTOR": "inboxes it may create must be replicated",
        "EDX_METRICS_PORT": "0 would hide the service from monitoring",
    },
    "tracker": {
        "EDX_BOOTSTRAP": "the default is a local embedded broker",
        "EDX_SECURITY_PROTOCOL": "the brokers accept SASL clients only",
        "EDX_SASL_MECHANISM": "the brokers use SCRAM-SHA-512",
        "EDX_SASL_USERNAME": "the tracker principal its ACLs name",
        "EDX_SASL_PASSWORD": "SCRAM needs it",
        "EDX_DB_URL": "the default SQLite file would die with the container",
        "EDX_METRICS_PORT": "0 would hide the service from monitoring",
    },
    "topics-init": {
        "EDX_BOOTSTRAP": "the default is a local embedded broker",
        "EDX_SECURITY_PROTOCOL": "the brokers accept SASL clients only",
        "EDX_SASL_MECHANISM": "the brokers use SCRAM-SHA-512",
        "EDX_SASL_USERNAME": "topic creation needs the admin principal",
        "EDX_SASL_PASSWORD": "SCRAM needs it",
        "EDX_PARTITIONS": "the default leaves routers idle",
        "EDX_REPLICATION_FACTOR": "the default (1) would not survive a broker loss",
    },
}
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def interpolate(value: object) -> str:
    """Compose's ``${VAR:?msg}`` with a stand-in value, as a started stack would see it."""
    return _INTERPOLATION.sub(lambda m: f"stand-in-{m[1].lower()}", str(value))


def service_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): interpolate(v) for k, v in env.items()}


def _script_default(script: str, variable: str) -> str | None:
    match = re.search(rf"\$\{{{variable}:=([^}}]*)\}}", script)
    return match[1] if match else None


def _broker_property(name: str) -> str | None:
    template = (DOCKER / "kafka" / "start-broker.sh").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(name)}=(.*)$", template, re.MULTILINE)
    return match[1].strip() if match else None


def compose_problems(compose: dict[str, Any]) -> list[str]:
    """Every way ``compose`` disagrees with the code; empty when they agree."""
    problems: list[str] = []
    services: dict[str, Any] = compose.get("services", {})
    expected = {*KAFKA_NODES, "kafka-setup", "postgres", *EDXBUS_SERVICES}
    problems += [f"service {name} is missing" for name in sorted(expected - set(services))]

    nodes = [name for name in services if name.startswith("kafka-") and name != "kafka-setup"]
    node_envs = {name: service_env(services[name]) for name in nodes}
    node_ids = {env.get("KAFKA_NODE_ID") for env in node_envs.values()}
    if len(node_ids) != len(nodes):
        problems.append("Kafka nodes must have distinct KAFKA_NODE_ID values")
    for name, env in node_envs.items():
        voters = env.get("KAFKA_QUORUM_VOTERS", "")
        if sorted(voters.split(",")) != sorted(
            f"{e.get('KAFKA_NODE_ID')}@{n}:9093" for n, e in node_envs.items()
        ):
            problems.append(f"{name}: KAFKA_QUORUM_VOTERS does not list exactly the nodes")
        rf = int(env.get("KAFKA_DEFAULT_REPLICATION_FACTOR", "0"))
        min_isr = int(env.get("KAFKA_MIN_INSYNC_REPLICAS", "0"))
        if rf != 3 or rf > len(nodes):
            problems.append(f"{name}: replication factor {rf} needs 3 of {len(nodes)} brokers")
        if min_isr != 2:
            problems.append(f"{name}: min.insync.replicas is {min_isr}, expected 2")

    for name in EDXBUS_SERVICES:
        if name not in services:
            continue
        env = service_env(services[name])
        problems += _edxbus_env_problems(name, env, broker_count=len(nodes))

    router = services.get("router", {})
    replicas = int((router.get("deploy") or {}).get("replicas", 1))
    if replicas != 2:
        problems.append(f"router runs {replicas} replica(s), expected 2")
    if "topics-init" in services:
        init_settings = load_settings(environ=service_env(services["topics-init"]))
        partitions = init_settings.topic_layout.partitions
        if partitions < replicas:
            problems.append(f"{partitions} partitions leave some of {replicas} routers idle")
    for name in ("router", "tracker"):
        needs = (services.get(name) or {}).get("depends_on") or {}
        if (needs.get("topics-init") or {}).get("condition") != ("service_completed_successfully"):
            problems.append(f"{name} must wait for topics-init to complete")
    return problems + _health_problems(services)


def _edxbus_env_problems(name: str, env: dict[str, str], *, broker_count: int) -> list[str]:
    problems: list[str] = []
    topic_fields = {f.upper() for f in TopicNames.__dataclass_fields__}
    for var in env:
        if not var.startswith("EDX_"):
            continue
        known = var in ENV_VARS or (
            var.startswith(TOPIC_ENV_PREFIX) and var.removeprefix(TOPIC_ENV_PREFIX) in topic_fields
        )
        if not known:
            problems.append(f"{name}: {var} is not a variable bus.settings reads")
    for var, why in REQUIRED.get(name, {}).items():
        if var not in env:
            problems.append(f"{name}: {var} is missing ({why})")
    if problems:
        return problems
    settings = load_settings(environ=env)
    try:
        connection_options(settings)
    except Exception as exc:
        problems.append(f"{name}: the code cannot connect with these settings: {exc}")
    servers = settings.broker.bootstrap.split(",")
    if len(servers) != broker_count:
        problems.append(f"{name}: EDX_BOOTSTRAP names {len(servers)} of {broker_count} brokers")
    replication = settings.topic_layout.replication_factor
    if "EDX_REPLICATION_FACTOR" in env and replication != broker_count:
        problems.append(f"{name}: replication factor {replication} != {broker_count} brokers")
    if name == "router" and settings.observability.metrics_port == 0:
        problems.append("router: metrics are off")
    return problems


def _health_problems(services: dict[str, Any]) -> list[str]:
    """Routers and trackers are healthy while their metrics endpoint answers."""
    problems: list[str] = []
    for name in ("router", "tracker"):
        service = services.get(name) or {}
        port = service_env(service).get("EDX_METRICS_PORT")
        probe = " ".join((service.get("healthcheck") or {}).get("test") or [])
        if not port or f":{port}/metrics" not in probe:
            problems.append(f"{name}: the healthcheck does not probe its metrics port {port}")
    return problems


# --- the real files ----------------------------------------------------------------


def test_compose_file_agrees_with_the_code() -> None:
    assert compose_problems(load_compose()) == []


def test_every_interpolated_variable_is_documented_in_env_example() -> None:
    used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text(encoding="utf-8")))
    example = (DOCKER / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^(\w+)=", example, re.MULTILINE))
    assert used, "compose must take its secrets from docker/.env"
    assert used <= documented, sorted(used - documented)


def test_acl_scripts_name_the_topics_and_groups_of_the_code() -> None:
    topics, settings = TopicNames(), Settings()
    setup = (DOCKER / "kafka" / "setup-security.sh").read_text(encoding="utf-8")
    agency = (DOCKER / "kafka" / "add-agency.sh").read_text(encoding="utf-8")
    assert _script_default(setup, "EDX_TOPIC_SUBMIT") == topics.submit
    assert _script_default(setup, "EDX_TOPIC_INBOX_PREFIX") == topics.inbox_prefix
    assert _script_default(setup, "EDX_TOPIC_EVENTS") == topics.events
    assert _script_default(setup, "EDX_TOPIC_DEADLETTER") == topics.deadletter
    assert _script_default(setup, "EDX_TOPIC_AGENCIES") == topics.agencies
    assert _script_default(setup, "EDX_ROUTER_GROUP") == settings.groups.router
    assert _script_default(setup, "EDX_TRACKER_GROUP") == settings.groups.tracker
    assert _script_default(agency, "EDX_TOPIC_SUBMIT") == topics.submit
    assert _script_default(agency, "EDX_TOPIC_INBOX_PREFIX") == topics.inbox_prefix
    # An agency may read its own inbox only: a literal ACL, never a prefixed one.
    inbox_acl = next(
        line for line in agency.splitlines() if "EDX_TOPIC_INBOX_PREFIX}${CODE}" in line
    )
    assert "prefixed" not in inbox_acl


def test_broker_defaults_agree_with_the_topics_the_code_creates() -> None:
    services = load_compose()["services"]
    settings = load_settings(environ=service_env(services["topics-init"]))
    specs = {spec.name: spec for spec in topic_specs(settings)}
    assert set(specs) == {
        settings.topics.submit,
        settings.topics.events,
        settings.topics.deadletter,
        settings.topics.agencies,
    }
    assert specs[settings.topics.agencies].compacted
    for spec in specs.values():
        assert spec.configs.get("retention.ms") == FOREVER, spec.name
    # The cluster keeps records as long as the topics ask, and takes the largest package.
    assert _broker_property("log.retention.ms") == FOREVER
    assert int(_broker_property("message.max.bytes") or 0) >= settings.packages.max_package_bytes
    assert _broker_property("auto.create.topics.enable") == "false"
    assert _broker_property("allow.everyone.if.no.acl.found") == "false"
    assert "controller" in (_broker_property("process.roles") or ""), "KRaft mode"


def test_databases_in_urls_are_the_ones_postgres_init_creates() -> None:
    services = load_compose()["services"]
    init = (DOCKER / "postgres" / "init.sh").read_text(encoding="utf-8")
    created = set(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+)", init))
    for name, var in (("tracker", "EDX_DB_URL"), ("router", "EDX_ROUTER_DB_URL")):
        url = service_env(services[name])[var]
        match = re.match(r"postgresql\+psycopg://(\w+):[^@]+@postgres:5432/(\w+)$", url)
        assert match, url
        assert (match[2], match[1]) in created, f"{name} uses {url}"


def test_service_commands_exist_in_the_code() -> None:
    services = load_compose()["services"]
    for name in EDXBUS_SERVICES:
        command = services[name]["command"]
        if command[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(command[2]) is not None, command
            continue
        assert command[0] == "edx", command
        found: click.Command = cli
        for word in command[1:]:
            assert isinstance(found, click.Group), command
            found = found.commands[word]
        assert found.callback is not None, command


def test_scripts_are_executable() -> None:
    for script in [
        *DOCKER.glob("kafka/*.sh"),
        *DOCKER.glob("postgres/*.sh"),
        DOCKER / "tls/make-certs.sh",
    ]:
        assert script.stat().st_mode & 0o111, f"{script} is not executable"


# --- the check notices drift -------------------------------------------------------------

_REQUIRED_PAIRS = [(service, var) for service, needs in REQUIRED.items() for var in needs]


@pytest.mark.parametrize(("service", "var"), _REQUIRED_PAIRS)
def test_removing_a_required_variable_is_reported(service: str, var: str) -> None:
    compose = copy.deepcopy(load_compose())
    env = compose["services"][service]["environment"]
    if var not in env:  # inherited through a YAML anchor: the merged copy holds it
        pytest.fail(f"{service} should hold {var}")
    del env[var]
    problems = compose_problems(compose)
    assert any(var in problem and service in problem for problem in problems), problems


def test_a_variable_the_code_does_not_read_is_reported() -> None:
    compose = copy.deepcopy(load_compose())
    compose["services"]["tracker"]["environment"]["EDX_DATABASE"] = "postgresql://x"
    assert any("EDX_DATABASE" in p for p in compose_problems(compose))


def test_losing_a_broker_is_reported() -> None:
    compose = copy.deepcopy(load_compose())
    del compose["services"]["kafka-3"]
    problems = compose_problems(compose)
    assert any("kafka-3 is missing" in p for p in problems)
    assert any("replication factor" in p for p in problems)


def test_a_metrics_port_the_healthcheck_does_not_probe_is_reported() -> None:
    compose = copy.deepcopy(load_compose())
    compose["services"]["tracker"]["environment"]["EDX_METRICS_PORT"] = "9500"
    assert any("tracker: the healthcheck" in p for p in compose_problems(compose))


def test_a_single_router_is_reported() -> None:
    compose = copy.deepcopy(load_compose())
    compose["services"]["router"]["deploy"]["replicas"] = 1
    assert any("replica" in p for p in compose_problems(compose))


def test_the_image_is_built_from_every_package_of_the_project() -> None:
    pyproject = tomllib.loads((DOCKER.parent / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [pattern.rstrip("*") for pattern in include]
    dockerfile = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    for package in packages:
        assert f"COPY {package} ./{package}" in dockerfile, package
        assert f"!{package}/**" in ignore, package
    assert "!pyproject.toml" in ignore
    assert "!README.md" in ignore  # the project's readme is part of its metadata
    # The image runs the services the compose file names, with the PostgreSQL driver.
    assert "[postgres]" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE), "never run as root"

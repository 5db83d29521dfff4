#!/usr/bin/python3
"""monitoring/docker-compose.yml is consistent with the local setup.

There is no Docker engine to run it here, so this checks what can go wrong
silently: the YAML parses (PyYAML, Debian's python3-yaml), Prometheus gets
the same config, rules and a target for every job, each target names a
compose service listening on that port with a /health/ready healthcheck,
the instance names are the ones scripts/stack.sh gives, Grafana gets the
provisioning and dashboards where the provisioning looks for them, and
every published port is on 127.0.0.1. Every chat service (the chat4all
image) has a healthcheck on its own port's /health/ready with a tool the
image installs, is restarted on failure, and none enables the demo users.
"""

import json
import pathlib
import re
import sys

import yaml

MONITORING = pathlib.Path(__file__).resolve().parents[2] / "monitoring"
# scripts/stack.sh's service names, by job.
STACK_NAMES = {"chat-api": "api", "chat-router": "router-1",
               "chat-platform-sim": "platform-sim",
               "chat-connector-whatsapp": "connector-whatsapp",
               "chat-connector-instagram": "connector-instagram"}


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def mounts(service):
    return dict(volume.split(":")[:2] for volume in service.get("volumes", []))


# What the image's final stage installs, by apt-get install.
def image_packages():
    dockerfile = (MONITORING.parent / "chat-services" / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1].replace("\\\n", " ")
    installs = re.findall(r"apt-get install ([^&\n]*)", final_stage)
    return {word for line in installs for word in line.split()
            if not word.startswith("-")}


def check_chat_service(name, service):
    """Healthy means ready, on the service's own port, checked with a tool
    in the image; restarted when it fails; no demo users."""
    command = service["command"]
    port = next((command[i + 1] for i, arg in enumerate(command[:-1])
                 if arg in ("--port", "--metrics-port")), None)
    if port is None:
        fail(f"{name} has no --port or --metrics-port")
    test = service.get("healthcheck", {}).get("test", [])
    if not test or test[0] != "CMD":
        fail(f"{name} has no healthcheck test [\"CMD\", ...]")
    if f"http://127.0.0.1:{port}/health/ready" not in test:
        fail(f"{name}'s healthcheck does not ask :{port}/health/ready")
    tool = test[1]
    if tool not in image_packages():
        fail(f"{name}'s healthcheck runs {tool}, which the image lacks "
             f"(chat-services/Dockerfile installs {sorted(image_packages())})")
    if tool == "curl" and "-f" not in "".join(a for a in test if a.startswith("-")):
        fail(f"{name}'s healthcheck must fail on HTTP errors (curl -f)")
    if service.get("restart") != "on-failure":
        fail(f"{name} must have restart: on-failure, not {service.get('restart')}")
    environment = service.get("environment", {})
    if str(environment.get("CHAT_DEMO_USERS", "false")).lower() != "false":
        fail(f"{name} enables the demo users (CHAT_DEMO_USERS)")
    if any(arg.startswith("--demo-users") for arg in command):
        fail(f"{name} passes --demo-users")
    if name == "chat-api" and "CHAT_DEMO_USERS" not in environment:
        fail("chat-api must say CHAT_DEMO_USERS: \"false\" (whatever the "
             "binary's default)")


def main():
    compose = yaml.safe_load((MONITORING / "docker-compose.yml").read_text())
    services = compose["services"]
    config = (MONITORING / "prometheus.yml").read_text()
    jobs = re.findall(r"^\s*- job_name: (\S+)", config, re.M)
    if sorted(jobs) != sorted(STACK_NAMES):
        fail(f"prometheus.yml jobs {jobs} are not {sorted(STACK_NAMES)}")

    for job in jobs:
        targets = MONITORING / "docker" / "targets" / job
        files = sorted(targets.glob("*.json"))
        if not files:
            fail(f"no docker target file for {job}")
        for path in files:
            for group in json.loads(path.read_text()):
                if group["labels"].get("__chat_instance") != STACK_NAMES[job]:
                    fail(f"{path.name}: instance is not {STACK_NAMES[job]}")
                for address in group["targets"]:
                    host, port = address.rsplit(":", 1)
                    service = services.get(host)
                    if service is None:
                        fail(f"{path.name}: no compose service {host}")
                    if port not in service["command"]:
                        fail(f"{host} does not listen on {port}")
                    check = " ".join(
                        service.get("healthcheck", {}).get("test", []))
                    if f":{port}/health/ready" not in check:
                        fail(f"{host}'s healthcheck is not /health/ready")

    prometheus = mounts(services["prometheus"])
    config_file = next(arg.split("=", 1)[1]
                       for arg in services["prometheus"]["command"]
                       if arg.startswith("--config.file="))
    config_dir = config_file.rsplit("/", 1)[0]
    expected = {"./prometheus.yml": config_file,
                "./rules": f"{config_dir}/rules",
                "./docker/targets": f"{config_dir}/targets"}
    for source, target in expected.items():
        if prometheus.get(source) != target:
            fail(f"prometheus must mount {source} at {target}")

    grafana = services["grafana"]
    environment = grafana["environment"]
    expected = {"./grafana/provisioning": "/etc/grafana/provisioning",
                "./grafana/dashboards": environment["CHAT_DASHBOARDS_DIR"]}
    for source, target in expected.items():
        if mounts(grafana).get(source) != target:
            fail(f"grafana must mount {source} at {target}")
    if environment["CHAT_PROMETHEUS_URL"] != "http://prometheus:9090":
        fail("grafana's datasource must be the compose Prometheus")

    chat_services = {name: service for name, service in services.items()
                     if service.get("build", {}).get("dockerfile")
                     == "chat-services/Dockerfile"}
    if sorted(chat_services) != sorted(STACK_NAMES):
        fail(f"chat services {sorted(chat_services)} are not "
             f"{sorted(STACK_NAMES)}")
    for name, service in chat_services.items():
        check_chat_service(name, service)

    for name, service in services.items():
        for published in service.get("ports", []):
            if not published.startswith("127.0.0.1:"):
                fail(f"{name} publishes {published} beyond loopback")
    print(f"docker-compose.yml: {len(services)} services consistent")


if __name__ == "__main__":
    main()

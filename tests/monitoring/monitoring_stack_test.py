#!/usr/bin/env python3
"""monitoring/ against the real stack and a real Prometheus.

One stack (scripts/stack.sh up, free loopback ports, a temporary
CHAT_STACK_DIR) serves every check, in order:

  targets    every target Prometheus discovers is up within 30 s of
             `stack.sh up` returning, and Prometheus listens on loopback;
  lint       every dashboard parses, has unique panel ids, uses only the
             provisioned datasource uid, filters on variables rather than a
             hard-coded instance, and every query (panels, variables,
             annotations) is valid PromQL to Prometheus;
  liveness   with messages flowing and the WhatsApp platform down (so the
             connector's circuit breaker opens), every panel query returns at
             least one series with a non-NaN value, EXCEPTIONS aside;
  alert      ChatCircuitBreakerOpen fires within its `for:` plus two
             evaluation intervals of Prometheus seeing the breaker open, and
             resolves after the platform heals.

    monitoring_stack_test.py BIN_DIR

Standard library only. Everything started is stopped on exit.
"""

import base64
import json
import math
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
STACK = ROOT / "scripts" / "stack.sh"
TARGETS_DEADLINE = 30.0
POLL = 0.5

# Grafana's values for the dashboard variables when everything is selected.
# $__rate_interval: max(4 x the datasource's 5 s timeInterval, step + 5 s),
# which is 20 s for a 30-minute dashboard.
VARIABLES = {"$service": ".*", "$instance": ".*", "$__rate_interval": "20s"}

# (dashboard uid, panel title) -> why that panel may have no data here.
EXCEPTIONS = {}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Failure(Exception):
    pass


def http(method, url, body=None, headers=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def eventually(what, deadline, check):
    """Polls check() until it returns something truthy; Failure at deadline."""
    last = None
    while True:
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError) as error:
            last = error
        if time.monotonic() >= deadline:
            raise Failure(f"{what}: not within the deadline"
                          + (f" (last error: {last})" if last else ""))
        time.sleep(POLL)


def duration_seconds(text):
    """A Prometheus duration such as 5s, 1m or 1m30s."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text}")
    return sum(int(n) * units[u] for n, u in parts)


def alert_rule(name):
    """The expr and for: of an alert in monitoring/rules/alerts.yml."""
    text = (MONITORING / "rules" / "alerts.yml").read_text()
    block = re.search(rf"- alert: {name}\n(.*?)(?=\n\s*- alert:|\Z)", text,
                      re.S)
    if not block:
        raise Failure(f"no alert {name} in alerts.yml")
    expr = re.search(r"^\s*expr: (.+)$", block.group(1), re.M).group(1)
    hold = re.search(r"^\s*for: (\S+)$", block.group(1), re.M)
    return expr, duration_seconds(hold.group(1)) if hold else 0


def evaluation_interval():
    text = (MONITORING / "prometheus.yml").read_text()
    return duration_seconds(
        re.search(r"^\s*evaluation_interval: (\S+)", text, re.M).group(1))


def provisioned_uids():
    text = (MONITORING / "grafana" / "provisioning" / "datasources" /
            "prometheus.yml").read_text()
    return set(re.findall(r"^\s*uid: (\S+)", text, re.M))


class Prometheus:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def api(self, path, **params):
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body = http("GET", url)
        answer = json.loads(body)
        if status != 200 or answer.get("status") != "success":
            raise Failure(f"{path} {params}: HTTP {status}: "
                          f"{answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]


class Stack:
    """scripts/stack.sh on free ports in a temporary directory."""

    def __init__(self, bin_dir):
        self.dir = tempfile.mkdtemp(prefix="chat-monitoring-test-")
        self.env = dict(
            os.environ, CHAT_BIN_DIR=bin_dir, CHAT_STACK_DIR=self.dir,
            CHAT_PASSWORD_ITERATIONS="1000",
            # Platforms answer in milliseconds, and an open breaker retries
            # after 1-4 s rather than 10-60 s: the same behaviour, sooner.
            CHAT_WHATSAPP_LATENCY_MS="5-20", CHAT_INSTAGRAM_LATENCY_MS="5-20",
            CHAT_CONNECTOR_BREAKER_OPEN_MS="1000",
            CHAT_CONNECTOR_BREAKER_MAX_OPEN_MS="4000")
        for name in ("API", "ROUTER", "PROMETHEUS", "PLATFORM",
                     "CONNECTOR_WHATSAPP", "CONNECTOR_INSTAGRAM"):
            self.env[f"CHAT_{name}_PORT"] = "0"
        self.env.pop("CHAT_PROMETHEUS", None)

    def run(self, *args):
        result = subprocess.run([str(STACK), *args], env=self.env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise Failure(f"stack.sh {' '.join(args)} failed:\n"
                          f"{result.stdout}{result.stderr}")
        return result.stdout

    def services(self):
        return sorted(os.listdir(os.path.join(self.dir, "pids")))

    def port_of(self, name):
        """The port a service logged in its "..._listening" event."""
        port = None
        with open(os.path.join(self.dir, "logs", f"{name}.log")) as lines:
            for line in lines:
                match = re.search(r'"event":"\w+_listening".*"port":(\d+)',
                                  line)
                if match:
                    port = int(match.group(1))
        if port is None:
            raise Failure(f"{name} logged no port")
        return port

    def prometheus_port(self):
        with open(os.path.join(self.dir, "prometheus", "port")) as f:
            return int(f.read())

    def close(self):
        subprocess.run([str(STACK), "down"], env=self.env,
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class Load:
    """Messages to local, WhatsApp and Instagram recipients, ~10/s, on a
    thread until stopped: every rate panel needs traffic in its window."""

    def __init__(self, api_port):
        self.base = f"http://127.0.0.1:{api_port}"
        status, body = http("POST", f"{self.base}/auth/token",
                            {"username": "user_a", "password": "pass_a"})
        if status != 200:
            raise Failure(f"login: HTTP {status} {body!r}")
        token = json.loads(body)["access_token"]
        payload = token.split(".")[1]
        self.user = json.loads(base64.urlsafe_b64decode(
            payload + "=" * (-len(payload) % 4)))["sub"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.thread.start()

    def _send(self):
        recipients = ["user_b", "whatsapp:+5511999990001",
                      "instagram:@chat4all_test"]
        n = 0
        while not self.stop.wait(0.1):
            recipient = recipients[n % len(recipients)]
            body = {"conversation_id": f"monitoring-{n % 7}",
                    "sender_id": self.user, "content": f"load {n}",
                    "recipient_id": recipient}
            try:
                status, _ = http("POST", f"{self.base}/v1/messages", body,
                                 self.headers, timeout=5)
                self.accepted += status == 202
            except OSError:
                pass
            n += 1

    def close(self):
        self.stop.set()
        self.thread.join()


def dashboards():
    for path in sorted((MONITORING / "grafana" / "dashboards").glob("*.json")):
        yield path, json.loads(path.read_text())


def substitute(expr):
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    if "$" in expr:
        raise Failure(f"unknown variable left in {expr}")
    return expr


def panel_queries():
    """(dashboard uid, panel title, expr) of every panel target."""
    for _, board in dashboards():
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                yield board["uid"], panel["title"], t["expr"]


def check_targets(stack, prometheus, up_returned):
    """Every service stack.sh runs (but the broker) is a target, and up."""
    jobs = {"api": "chat-api", "platform-sim": "chat-platform-sim",
            "connector-whatsapp": "chat-connector-whatsapp",
            "connector-instagram": "chat-connector-instagram"}
    expected = {(jobs.get(name, "chat-router" if name.startswith("router-")
                          else None), name)
                for name in stack.services() if name not in
                ("broker", "prometheus")}
    assert all(job for job, _ in expected), expected

    def all_up():
        active = prometheus.api("targets", state="active")["activeTargets"]
        seen = {(t["labels"]["job"], t["labels"]["instance"]): t["health"]
                for t in active}
        up = {(s["metric"]["job"], s["metric"]["instance"])
              for s in prometheus.query('up{job=~"chat-.*"} == 1')}
        return set(seen) == expected and expected <= up

    eventually("every target up", up_returned + TARGETS_DEADLINE, all_up)
    log(f"targets: {len(expected)} up "
        f"{time.monotonic() - up_returned:.1f} s after stack.sh up returned")
    flags = prometheus.api("status/flags")
    if not flags["web.listen-address"].startswith("127.0.0.1:"):
        raise Failure(f"Prometheus listens on {flags['web.listen-address']}")


def check_lint(prometheus):
    uids = provisioned_uids()
    queries = 0
    for path, board in dashboards():
        ids = [p["id"] for p in board["panels"]]
        if len(ids) != len(set(ids)):
            raise Failure(f"{path.name}: duplicate panel ids")
        sources = [board["annotations"]["list"], board["templating"]["list"],
                   board["panels"]]
        exprs = [a["expr"] for a in board["annotations"]["list"]]
        for variable in board["templating"]["list"]:
            call = re.fullmatch(r"label_values\((.*), (\w+)\)",
                                variable["query"]["query"])
            exprs.append(call.group(1))
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            if not panel.get("description"):
                raise Failure(f"{path.name}: '{panel['title']}' has no "
                              "description")
            exprs += [t["expr"] for t in panel["targets"]]
            sources.append(panel["targets"])
        for source in sources:
            for item in source:
                uid = item.get("datasource", {}).get("uid")
                if uid is not None and uid not in uids:
                    raise Failure(f"{path.name}: datasource uid {uid} is not "
                                  f"provisioned ({uids})")
        for expr in exprs:
            if re.search(r'instance\s*=~?\s*"[^$]', expr):
                raise Failure(f"{path.name}: hard-coded instance in {expr}")
            prometheus.query(substitute(expr))  # Failure on a parse error
            queries += 1
    log(f"lint: {queries} queries valid")


def dead_panels(prometheus):
    """Panel queries with no series or only NaN values now."""
    dead = []
    for uid, title, expr in panel_queries():
        if (uid, title) in EXCEPTIONS:
            continue
        values = [s["value"][1] for s in prometheus.query(substitute(expr))]
        if not any(not math.isnan(float(v)) for v in values):
            dead.append(f"{uid} / {title}: {expr}")
    return dead


def platform_fault(stack, **fault):
    port = stack.port_of("platform-sim")
    url = f"http://127.0.0.1:{port}/admin/faults"
    status, body = (http("POST", url, fault) if fault
                    else http("DELETE", url))
    if status // 100 != 2:
        raise Failure(f"/admin/faults: HTTP {status} {body!r}")


def check_liveness_and_alert(stack, prometheus):
    expr, hold = alert_rule("ChatCircuitBreakerOpen")
    interval = evaluation_interval()
    # Messages have to reach the platforms before one goes down, so that
    # the delivery and latency panels have data.
    eventually("deliveries on both channels", time.monotonic() + 60,
               lambda: len(prometheus.query(
                   'sum by (channel) (chat_connector_messages_sent_total'
                   '{status="delivered"}) > 0')) == 2)
    platform_fault(stack, channel="whatsapp", down=True)
    log("whatsapp platform down")
    start = time.monotonic()
    eventually("the breaker open in Prometheus", start + 60,
               lambda: prometheus.query(expr))
    seen_open = time.monotonic()
    log(f"breaker open seen by Prometheus after {seen_open - start:.1f} s")
    fire_deadline = seen_open + hold + 2 * interval + POLL

    def firing():
        return [a for a in prometheus.api("alerts")["alerts"]
                if a["labels"]["alertname"] == "ChatCircuitBreakerOpen"
                and a["state"] == "firing"]

    # Liveness while the alert is pending (the panels need the fault and the
    # load, not the alert), watching for the alert at the same time.
    fired_at, dead = None, ["not checked yet"]
    while (dead or fired_at is None) and time.monotonic() < fire_deadline:
        if fired_at is None and firing():
            fired_at = time.monotonic()
        if dead:
            dead = dead_panels(prometheus)
            if not dead:
                log(f"liveness: {sum(1 for _ in panel_queries())} panel "
                    f"queries have data ({len(EXCEPTIONS)} exceptions), "
                    f"{time.monotonic() - seen_open:.1f} s after the fault")
        time.sleep(POLL)
    if dead:
        raise Failure("panels without data:\n  " + "\n  ".join(dead))
    if fired_at is None:
        raise Failure(f"ChatCircuitBreakerOpen not firing within for "
                      f"({hold:.0f} s) + 2 evaluation intervals "
                      f"({interval:.0f} s) of the open breaker being visible")
    log(f"alert firing {fired_at - seen_open:.1f} s after the open breaker "
        f"was visible (limit {fire_deadline - seen_open:.1f} s)")

    platform_fault(stack)
    healed = time.monotonic()
    eventually("ChatCircuitBreakerOpen resolved after healing", healed + 90,
               lambda: not [a for a in prometheus.api("alerts")["alerts"]
                            if a["labels"]["alertname"] ==
                            "ChatCircuitBreakerOpen"])
    log(f"alert resolved {time.monotonic() - healed:.1f} s after healing")


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    # ctest's timeout sends SIGTERM: stop the stack on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    stack = Stack(argv[1])
    load = None
    try:
        stack.run("up")
        up_returned = time.monotonic()
        log(f"stack.sh up took {up_returned - began:.1f} s")
        prometheus = Prometheus(stack.prometheus_port())
        check_targets(stack, prometheus, up_returned)
        check_lint(prometheus)
        load = Load(stack.port_of("api"))
        check_liveness_and_alert(stack, prometheus)
        log(f"{load.accepted} messages accepted during the checks")
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        return 1
    finally:
        if load:
            load.close()
        stack.close()
    log(f"all checks passed in {time.monotonic() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

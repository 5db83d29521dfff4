#!/usr/bin/env python3
"""Writes the Grafana dashboards in monitoring/grafana/dashboards/.

The panels are described once here, in a few lines each; the JSON Grafana
wants repeats the same datasource, grid and field boilerplate in every panel,
which is where hand edits go wrong. Edit this file, then run

    python3 monitoring/grafana/generate_dashboards.py          # rewrite
    python3 monitoring/grafana/generate_dashboards.py --check  # compare

The ctest `monitoring_dashboards_generated` runs --check, so the committed
JSON is always this file's output.

Every query filters on the dashboard variables $service and $instance (both
multi-value regexes) and uses the provisioned datasource uid. Series recorded
by monitoring/rules/recording.yml are used where the expression is heavy.
"""

import json
import pathlib
import sys

DATASOURCE = {"type": "prometheus", "uid": "chat-prometheus"}
SEL = 'service=~"$service", instance=~"$instance"'
RATE = "$__rate_interval"
GREEN, YELLOW, ORANGE, RED, BLUE, GREY = (
    "green", "yellow", "orange", "red", "blue", "text")


def thresholds(*steps, base=GREEN):
    """steps: (value, color) above the base color."""
    return {"mode": "absolute",
            "steps": [{"color": base, "value": None}] +
                     [{"color": color, "value": value}
                      for value, color in steps]}


def target(expr, legend, instant=False):
    return {"expr": expr, "legendFormat": legend, "instant": instant,
            "range": not instant}


class Dashboard:
    """Panels are laid out left to right, 24 columns wide, in rows."""

    def __init__(self, uid, title, description, tags):
        self.uid, self.title = uid, title
        self.description, self.tags = description, tags
        self.panels = []
        self.x = self.y = self.row_height = 0

    def row(self, title):
        self._newline()
        self._add({"type": "row", "title": title, "collapsed": False,
                   "panels": []}, width=24, height=1)

    def panel(self, kind, title, description, targets, unit="short",
              width=12, height=8, steps=(), base=GREEN, mappings=None,
              minimum=None,
              maximum=None, threshold_line=False, options=None):
        custom = {}
        if kind == "timeseries":
            custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                      "showPoints": "never", "spanNulls": False}
            if threshold_line:
                custom["thresholdsStyle"] = {"mode": "line"}
        elif kind == "state-timeline":
            custom = {"fillOpacity": 80, "lineWidth": 0}
        defaults = {"unit": unit, "thresholds": thresholds(*steps, base=base),
                    "color": {"mode": "thresholds" if kind in (
                        "stat", "state-timeline", "bargauge")
                        else "palette-classic"},
                    "custom": custom}
        if mappings:
            defaults["mappings"] = mappings
        if minimum is not None:
            defaults["min"] = minimum
        if maximum is not None:
            defaults["max"] = maximum
        panel = {
            "type": kind,
            "title": title,
            "description": description,
            "datasource": DATASOURCE,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options or default_options(kind),
            "targets": [dict(t, refId=chr(ord("A") + i), datasource=DATASOURCE)
                        for i, t in enumerate(targets)],
        }
        self._add(panel, width, height)

    def _newline(self):
        if self.x:
            self.x, self.y = 0, self.y + self.row_height
            self.row_height = 0

    def _add(self, panel, width, height):
        if self.x + width > 24:
            self._newline()
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"h": height, "w": width, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += width
        self.row_height = max(self.row_height, height)

    def json(self):
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "editable": True,
            "schemaVersion": 38,
            "version": 1,
            "time": {"from": "now-30m", "to": "now"},
            "refresh": "10s",
            "timezone": "",
            "graphTooltip": 1,
            "links": [{"title": "chat4all dashboards", "type": "dashboards",
                       "tags": ["chat4all"], "asDropdown": True}],
            "annotations": {"list": [{
                "name": "Alerts", "datasource": DATASOURCE, "enable": True,
                "iconColor": RED,
                "expr": 'ALERTS{alertstate="firing", service=~"$service"}',
                "titleFormat": "{{alertname}}",
                "textFormat": "{{instance}}"}]},
            "templating": {"list": [
                variable("service", "Service",
                         'label_values(up{job=~"chat-.*"}, service)'),
                variable("instance", "Instance",
                         'label_values(up{job=~"chat-.*", '
                         'service=~"$service"}, instance)'),
            ]},
            "panels": self.panels,
        }


def variable(name, label, query):
    return {"name": name, "label": label, "type": "query",
            "datasource": DATASOURCE, "definition": query,
            "query": {"query": query, "refId": name},
            "refresh": 2, "sort": 1, "multi": True, "includeAll": True,
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"],
                        "value": ["$__all"]}}


def default_options(kind):
    if kind == "timeseries":
        return {"legend": {"displayMode": "list", "placement": "bottom",
                           "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "desc"}}
    if kind == "stat":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                  "values": False},
                "colorMode": "background", "graphMode": "none",
                "justifyMode": "auto", "textMode": "auto",
                "orientation": "auto"}
    if kind == "state-timeline":
        return {"showValue": "auto", "mergeValues": True, "rowHeight": 0.9,
                "alignValue": "left",
                "legend": {"displayMode": "list", "placement": "bottom",
                           "showLegend": True}}
    if kind == "bargauge":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                  "values": False},
                "orientation": "horizontal", "displayMode": "gradient",
                "showUnfilled": True}
    raise ValueError(kind)


def value_map(*entries):
    """entries: (value, text, color)."""
    return [{"type": "value", "options": {
        str(value): {"text": text, "color": color, "index": i}
        for i, (value, text, color) in enumerate(entries)}}]


UP_DOWN = value_map((0, "DOWN", RED), (1, "UP", GREEN))
PASS_FAIL = value_map((0, "fail", RED), (1, "pass", GREEN))
BREAKER = value_map((0, "closed", GREEN), (1, "half_open", YELLOW),
                    (2, "open", RED), (3, "forced_open", ORANGE),
                    (4, "disabled", GREY))
LAG_STATUS = value_map((0, "ok", GREEN), (1, "warn", YELLOW),
                       (2, "stall", ORANGE), (3, "stop", RED))
MSG_RATE = "suffix: msg/s"


def quantiles(metric_format, legend_format):
    return [target(metric_format.format(q=q), legend_format.format(q=q))
            for q in ("p50", "p95", "p99")]


def histogram_quantiles(metric, by, legend):
    return [target(
        f"histogram_quantile({q}, sum by ({by}, le) "
        f"(rate({metric}_bucket{{{SEL}}}[{RATE}])))",
        legend.format(q=f"p{round(q * 100)}")) for q in (0.5, 0.95, 0.99)]


def system_overview():
    d = Dashboard("chat-overview", "chat4all / System Overview",
                  "Is chat4all taking, storing and answering messages, and "
                  "how fast?", ["chat4all"])
    d.row("Messages")
    d.panel("timeseries", "Messages accepted and stored",
            "Messages the API acknowledged (Kafka confirmed, 202) and "
            "messages the routers stored, per second over 1m. Stored "
            "trailing accepted for long means the routers fall behind "
            "(see Component Health, consumer lag).",
            [target('service:chat_messages_accepted:rate1m'
                    '{service=~"$service"}', "accepted ({{service}})"),
             target('service:chat_messages_stored:rate1m'
                    '{service=~"$service"}', "stored ({{service}})")],
            unit=MSG_RATE, minimum=0)
    d.panel("timeseries", "End-to-end latency",
            "From the API accepting a message to a router storing it, "
            "p50/p95/p99 over all routers (1m). Above 1 s the stack is "
            "queueing.",
            quantiles("service:chat_end_to_end_latency_seconds:{q}_1m"
                      '{{service=~"$service"}}', "{q}"),
            unit="s", minimum=0, steps=((0.5, ORANGE), (1, RED)),
            threshold_line=True)
    d.row("HTTP")
    d.panel("timeseries", "Request latency (without /auth/*)",
            "p50/p95/p99 of the HTTP servers' request latency over 1m, "
            "per instance. /auth/* is left out: password hashing is slow "
            "on purpose. The red line is the ChatApiHighLatency threshold "
            "(p95 > 200 ms for 5m on chat-api).",
            quantiles("instance:http_request_duration_seconds:{q}_1m"
                      f"{{{{{SEL}}}}}", "{{{{instance}}}} {q}"),
            unit="s", minimum=0, steps=((0.2, RED),), threshold_line=True)
    d.panel("timeseries", "5xx error ratio",
            "Share of HTTP requests answered 5xx over 1m, per instance. The "
            "red line is the ChatApiHighErrorRatio threshold (1% for 2m).",
            [target(f"instance:http_requests_5xx:ratio_rate1m{{{SEL}}}",
                    "{{instance}}")],
            unit="percentunit", minimum=0, steps=((0.01, RED),),
            threshold_line=True)
    d.panel("timeseries", "Requests per second",
            "HTTP requests served per second over 1m, per instance (vigil's "
            "own /metrics and /health paths are not counted).",
            [target(f"instance:http_requests:rate1m{{{SEL}}}",
                    "{{instance}}")],
            unit="reqps", minimum=0)
    d.panel("timeseries", "In-flight requests",
            "HTTP requests being served right now, per instance. A climb "
            "with flat throughput means requests are stuck (e.g. waiting "
            "for Kafka).",
            [target(f"http_requests_in_flight{{{SEL}}}", "{{instance}}")],
            minimum=0, steps=((50, ORANGE), (200, RED)))
    d.row("Targets")
    d.panel("stat", "Targets up",
            "Prometheus's view of every scraped process: UP when the last "
            "scrape succeeded. A DOWN target for a minute fires "
            "ChatTargetDown.",
            [target(f'up{{job=~"chat-.*", {SEL}}}', "{{instance}}")],
            width=24, height=4, steps=((1, GREEN),), base=RED,
            mappings=UP_DOWN,
            options=dict(default_options("stat"), text={"titleSize": 14}))
    return d


def component_health():
    d = Dashboard("chat-components", "chat4all / Component Health",
                  "Kafka consumers, routers, connectors, circuit breakers "
                  "and health checks.", ["chat4all"])
    d.row("Kafka consumers")
    d.panel("timeseries", "Consumer lag per partition",
            "Messages not yet committed by the consumer group, per "
            "partition and consumer. Partitions with nothing committed yet "
            "(lag -1) are left out.",
            [target(f"kafka_consumergroup_lag{{{SEL}}} >= 0",
                    "{{group}} {{topic}}/{{partition}} ({{instance}})")],
            minimum=0, steps=((100, RED),), threshold_line=True)
    d.panel("timeseries", "Consumer lag, total",
            "Unconsumed messages per group and topic, each partition counted "
            "once. Above 100 for 2m fires ChatConsumerLagHigh.",
            [target('service_topic:kafka_consumergroup_lag:sum'
                    '{service=~"$service"}', "{{group}} {{topic}}")],
            minimum=0, steps=((100, RED),), threshold_line=True)
    d.panel("timeseries", "Lag in seconds",
            "Estimated age of the oldest unconsumed message per partition "
            "(left out while unknown).",
            [target(f"kafka_consumergroup_lag_seconds{{{SEL}}} >= 0",
                    "{{topic}}/{{partition}} ({{instance}})")],
            unit="s", minimum=0, steps=((5, ORANGE), (30, RED)))
    d.panel("state-timeline", "Consumer status",
            "Burrow-style judgement of each consumer's worst partition: ok, "
            "warn (lag growing), stall (committing nothing while behind), "
            "stop.",
            [target(f"max by (instance, group) "
                    f"(kafka_consumergroup_partition_status{{{SEL}}})",
                    "{{instance}} {{group}}")],
            steps=((1, YELLOW), (2, ORANGE), (3, RED)), mappings=LAG_STATUS)
    d.row("Routers")
    d.panel("stat", "Router instances",
            "Routers Prometheus scrapes successfully.",
            [target('count(up{job="chat-router"} == 1)', "routers")],
            width=4, steps=((1, GREEN),), base=RED,
            options=dict(default_options("stat"), colorMode="value"))
    d.panel("bargauge", "Partitions per router",
            "Partitions of `messages` each router owns now: the consumer "
            "group's assignment, balanced when routers own about the same "
            "number.",
            [target('count by (instance) (kafka_consumergroup_lag'
                    '{job="chat-router", topic="messages", '
                    'instance=~"$instance"})', "{{instance}}", instant=True)],
            width=8, minimum=0)
    d.panel("timeseries", "Events consumed per router",
            "Load distribution: events each router consumes per second.",
            [target('sum by (instance) (rate(chat_messages_consumed_total'
                    f'{{job="chat-router", instance=~"$instance"}}[{RATE}]))',
                    "{{instance}}")],
            unit=MSG_RATE, minimum=0)
    d.panel("timeseries", "Processing time per batch",
            "Time to store, forward and commit one batch, p50/p95/p99 per "
            "router.",
            histogram_quantiles("chat_processing_duration_seconds",
                                "instance", "{{{{instance}}}} {q}"),
            unit="s", minimum=0, steps=((0.25, ORANGE), (1, RED)))
    d.panel("timeseries", "Batch size",
            "Events per processed batch: p50/p95 and the mean. Large "
            "batches mean the router is catching up.",
            histogram_quantiles("chat_router_batch_size", "instance",
                                "{{{{instance}}}} {q}")[:2] +
            [target(f"sum by (instance) "
                    f"(rate(chat_router_batch_size_sum{{{SEL}}}[{RATE}])) / "
                    f"sum by (instance) "
                    f"(rate(chat_router_batch_size_count{{{SEL}}}[{RATE}]))",
                    "{{instance}} mean")],
            minimum=0)
    d.panel("timeseries", "Outcomes and dead letters",
            "Events processed per second by outcome (stored, duplicate, "
            "dead_letter), and events sent to the dead-letter topic. Any "
            "dead letter fires ChatDeadLetters.",
            [target(f"sum by (instance, outcome) "
                    f"(rate(chat_messages_processed_total{{{SEL}}}[{RATE}]))",
                    "{{instance}} {{outcome}}"),
             target(f"sum by (instance) "
                    f"(rate(chat_dead_letter_total{{{SEL}}}[{RATE}]))",
                    "{{instance}} dead-letter topic")],
            unit=MSG_RATE, minimum=0)
    d.panel("timeseries", "Status updates",
            "Status events from the connectors the routers handled per "
            "second, by status (SENT, DELIVERED, READ...) and outcome: "
            "applied, replayed (a no-op), invalid or unknown_message.",
            [target(f"sum by (status, outcome) "
                    f"(rate(chat_status_updates_total{{{SEL}}}[{RATE}]))",
                    "{{status}} {{outcome}}")],
            unit="ops", minimum=0)
    d.row("Connectors")
    d.panel("timeseries", "Deliveries per channel",
            "Messages the connectors sent to the platforms per second, by "
            "channel and status.",
            [target('service_channel:chat_connector_messages_sent:rate1m'
                    '{service=~"$service"}', "{{channel}} {{status}}")],
            unit=MSG_RATE, minimum=0)
    d.panel("timeseries", "Platform call latency p95",
            "p95 of the connectors' calls to the platform APIs, per channel "
            "(1m).",
            [target('service_channel:chat_connector_api_duration_seconds:'
                    'p95_1m{service=~"$service"}', "{{channel}}")],
            unit="s", minimum=0, steps=((1, ORANGE), (5, RED)))
    d.panel("state-timeline", "Circuit breaker state",
            "Each circuit breaker over time: closed, half_open (probing), "
            "open (calls refused), forced_open, disabled. Not closed for a "
            "minute fires ChatCircuitBreakerOpen.",
            [target(f"instance_name:vigil_circuit_breaker_state:code{{{SEL}}}",
                    "{{instance}} {{name}}")],
            steps=((1, YELLOW), (2, RED)), mappings=BREAKER)
    d.panel("timeseries", "Circuit breaker calls",
            "Calls through each breaker per second, by outcome (success, "
            "failure, slow, rejected).",
            [target(f"sum by (instance, name, outcome) "
                    f"(rate(vigil_circuit_breaker_calls_total{{{SEL}}}"
                    f"[{RATE}]))", "{{instance}} {{name}} {{outcome}}")],
            unit="ops", minimum=0)
    d.panel("timeseries", "Platform call retries",
            "Attempts of each retried platform call per second (first "
            "attempts included), and calls given up by reason "
            "(max_attempts, max_elapsed, not_retryable, circuit_open).",
            [target(f"sum by (instance, operation) "
                    f"(rate(vigil_retry_attempts_total{{{SEL}}}[{RATE}]))",
                    "{{instance}} {{operation}} attempts"),
             target(f"sum by (instance, operation, reason) "
                    f"(rate(vigil_retry_give_ups_total{{{SEL}}}[{RATE}]))",
                    "{{instance}} {{operation}} gave up: {{reason}}")],
            unit="ops", minimum=0)
    d.panel("timeseries", "Pending messages (store-and-forward)",
            "Messages a connector holds because the platform did not take "
            "them yet. Growing for 5m fires ChatPendingMessagesGrowing.",
            [target(f"chat_connector_pending_messages{{{SEL}}}",
                    "{{instance}} {{channel}}")],
            minimum=0, steps=((10, ORANGE), (100, RED)))
    d.panel("timeseries", "Platform requests by outcome",
            "What the platform simulator saw per second: delivered, "
            "error_injected, reset_injected.",
            [target(f"sum by (channel, outcome) "
                    f"(rate(chat_platform_requests_total{{{SEL}}}[{RATE}]))",
                    "{{channel}} {{outcome}}")],
            unit="reqps", minimum=0)
    d.row("Health")
    d.panel("state-timeline", "Health checks",
            "Each service's health checks (vigil HealthRegistry), per probe "
            "kind: pass (or warn) or fail. A failing readiness check takes "
            "the instance out of /health/ready.",
            [target(f"vigil_health_check_status{{{SEL}}}",
                    "{{instance}} {{check}} ({{kind}})")],
            width=24, steps=((1, GREEN),), base=RED, mappings=PASS_FAIL)
    return d


def self_observability():
    d = Dashboard("vigil-self", "chat4all / vigil self-observability",
                  "What observing the stack costs: scrapes, series, "
                  "overflow, process resources.", ["chat4all", "vigil"])
    d.row("Scrapes")
    d.panel("timeseries", "Scrape duration",
            "Seen by Prometheus (whole scrape) and by vigil (rendering and "
            "compressing /metrics, p95).",
            [target(f'scrape_duration_seconds{{job=~"chat-.*", {SEL}}}',
                    "{{instance}} prometheus"),
             target(f"histogram_quantile(0.95, sum by (instance, le) "
                    f"(rate(vigil_scrape_duration_seconds_bucket{{{SEL}}}"
                    f"[{RATE}])))", "{{instance}} vigil p95")],
            unit="s", minimum=0, steps=((0.1, ORANGE), (1, RED)))
    d.panel("timeseries", "Scrape size",
            "Bytes per /metrics body as served (after compression), and "
            "samples per scrape.",
            [target(f"sum by (instance) "
                    f"(rate(vigil_scrape_bytes_total{{{SEL}}}[{RATE}])) / "
                    f"sum by (instance) "
                    f"(rate(vigil_scrapes_total{{{SEL}}}[{RATE}]))",
                    "{{instance}} bytes")],
            unit="bytes", minimum=0)
    d.panel("timeseries", "Samples per scrape",
            "Samples Prometheus took from each target per scrape.",
            [target(f'scrape_samples_scraped{{job=~"chat-.*", {SEL}}}',
                    "{{instance}}")],
            minimum=0, steps=((5000, ORANGE), (20000, RED)))
    d.panel("bargauge", "Series per metric",
            "The 20 metric names with the most series now, over the "
            "selected instances (histogram buckets count one series per "
            "bucket).",
            [target(f"topk(20, count by (__name__) "
                    f"({{__name__=~\".+\", {SEL}}}))",
                    "{{__name__}}", instant=True)],
            minimum=0, steps=((500, ORANGE), (2000, RED)))
    d.panel("timeseries", "Overflowed and rejected updates",
            "Lookups of new label sets sent to a family's overflow series "
            "(the family hit its series limit) and updates vigil refused "
            "(negative or non-finite increments, NaN observations), per "
            "second. vigil only exports these once non-zero, so 0 per "
            "target stands in until then.",
            [target(f"sum by (instance, metric) "
                    f"(rate(vigil_series_dropped_total{{{SEL}}}[{RATE}])) "
                    f'or sum by (instance) (0 * up{{job=~"chat-.*", {SEL}}})',
                    "{{instance}} overflow {{metric}}"),
             target(f"sum by (instance, metric) "
                    f"(rate(vigil_updates_rejected_total{{{SEL}}}[{RATE}])) "
                    f'or sum by (instance) (0 * up{{job=~"chat-.*", {SEL}}})',
                    "{{instance}} rejected {{metric}}")],
            unit="ops", minimum=0, steps=((0.001, RED),))
    d.row("Processes")
    d.panel("timeseries", "CPU",
            "CPU time per second of each process (1 = one core).",
            [target(f"rate(process_cpu_seconds_total{{{SEL}}}[{RATE}])",
                    "{{instance}}")],
            unit="percentunit", minimum=0, steps=((0.8, ORANGE), (1.5, RED)))
    d.panel("timeseries", "Resident memory",
            "Resident set size of each process.",
            [target(f"process_resident_memory_bytes{{{SEL}}}",
                    "{{instance}}")],
            unit="bytes", minimum=0,
            steps=((512 * 2**20, ORANGE), (2 * 2**30, RED)))
    d.panel("timeseries", "Open file descriptors",
            "Open descriptors as a share of the process's limit.",
            [target(f"process_open_fds{{{SEL}}} / process_max_fds{{{SEL}}}",
                    "{{instance}}")],
            unit="percentunit", minimum=0, steps=((0.7, ORANGE), (0.9, RED)))
    d.panel("timeseries", "vigil endpoint connections",
            "Connections held by vigil's own HTTP endpoint (the routers' "
            "/metrics and /health), and connections and requests it "
            "refused per second.",
            [target(f"vigil_http_connections_open{{{SEL}}}",
                    "{{instance}} open"),
             target(f"rate(vigil_http_connections_rejected_total{{{SEL}}}"
                    f"[{RATE}])", "{{instance}} connections refused/s")],
            minimum=0)
    d.panel("timeseries", "Kafka lag probe failures",
            "Lag samples abandoned because librdkafka could not answer, per "
            "second.",
            [target(f"rate(vigil_kafka_lag_probe_failures_total{{{SEL}}}"
                    f"[{RATE}])", "{{instance}} {{group}}")],
            unit="ops", minimum=0, steps=((0.1, RED),))
    return d


DASHBOARDS = {
    "system-overview.json": system_overview,
    "component-health.json": component_health,
    "vigil-self-observability.json": self_observability,
}


def render(build):
    return json.dumps(build().json(), indent=2, sort_keys=True) + "\n"


def main(argv):
    out = pathlib.Path(__file__).resolve().parent / "dashboards"
    check = argv[1:] == ["--check"]
    stale = []
    for name, build in DASHBOARDS.items():
        text = render(build)
        path = out / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            out.mkdir(exist_ok=True)
            path.write_text(text)
    if stale:
        print("not what generate_dashboards.py writes (run it):\n  " +
              "\n  ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

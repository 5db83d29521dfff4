#!/usr/bin/env python3
"""The chat API's contract test: docs/api/openapi.yaml against real responses.

1. The spec itself: parses, is OpenAPI 3.1 in shape, every $ref resolves,
   every schema is valid Draft 2020-12, every operation has responses, path
   parameters match the templates, examples validate.
2. Recording: runs the stack tests (chat_integration_tests) with
   CHAT_API_RECORD set, so tests/chat/process.cpp records every exchange,
   then exercise.py's own requests against a stack of its own (for what the
   stack tests never ask: HEAD, members, listing, 405s, 429...).
3. Every recorded exchange with the API is checked against the spec: the
   route and method exist, the status is documented for the operation, the
   body validates against that status' schema (response objects are
   strict), documented required headers are present and valid, HEAD answers
   have no body, a problem's status is the response's.

Which exchanges are the API's: the recorder records every service the tests
talk to. A port that answered any /v1/ or /auth/ request is an API port;
every exchange on it is judged against the spec, and a path the spec lacks
must be answered as the API answers unknown paths (404 problem+json): an
answer that is anything else is a route the spec is missing. On other ports
(routers, connectors, the platform simulator) only vigil's /metrics and
/health* are judged (the same handler as on the API's port); the rest
(/admin/*, /whatsapp/*, ...) is not the API and is skipped, and counted.

It cannot pass vacuously: fewer than --min-exchanges API exchanges, or a
documented operation never answered with a documented status (unless
listed in NOT_EXERCISED, with its reason), fail it.

Usage (ctest passes these; see tests/api/CMakeLists.txt):
  check_contract.py --spec docs/api/openapi.yaml --work-dir DIR \
      --stack-binary chat_integration_tests --gtest-filter 'Stack.*:Files.*' \
      --bin-dir DIR_OF_CHAT_BINARIES
  check_contract.py --spec ... --record FILE [--record FILE...]   # no runs
"""

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from urllib.parse import urlsplit


def _import_or_reexec():
    """jsonschema and PyYAML come from Debian (scripts/setup.sh) for
    /usr/bin/python3; another interpreter found first on PATH may lack
    them."""
    try:
        import jsonschema  # noqa: F401
        import yaml  # noqa: F401
    except ImportError:
        system = "/usr/bin/python3"
        if os.path.realpath(sys.executable) != os.path.realpath(system) and \
                os.path.exists(system):
            os.execv(system, [system] + sys.argv)
        raise


_import_or_reexec()
import jsonschema  # noqa: E402
import yaml  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import exercise  # noqa: E402

METHODS = ("get", "head", "post", "put", "patch", "delete", "options", "trace")

# Operations the recordings may leave out, each with its reason. Empty:
# exercise.py asks for everything the stack tests do not.
NOT_EXERCISED = {
    # ("get", "/example"): "why it cannot be exercised here",
}

# Disagreements that are the code's to fix, not the spec's: the spec says
# what the API should do, and these exchanges are reported as known
# instead of failing the test. Each: (method or None, path template prefix,
# status or None, a regular expression for the reason, what is wrong).
# One that no longer occurs is reported too: remove it.
KNOWN_CODE_BUGS = []

# Response headers the recorder (tests/chat/process.cpp, exercise.py)
# keeps: a required header the spec documents must be one of them, or it
# could never be checked.
RECORDED_HEADERS = {
    "content-type", "content-length", "retry-after", "allow",
    "www-authenticate", "location", "content-range", "accept-ranges",
    "content-disposition", "cache-control",
}

# Not the API: paths of the other services the stack tests talk to.
FOREIGN_PREFIXES = ("/admin/", "/whatsapp/", "/instagram/")

DRAFT = jsonschema.Draft202012Validator


# --- formats: checked the same whatever optional packages are installed

FORMATS = jsonschema.FormatChecker(formats=())
DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@FORMATS.checks("date-time")
def _date_time(value):
    if not isinstance(value, str):
        return True
    if not DATE_TIME.match(value):
        return False
    import datetime
    datetime.datetime.fromisoformat(value[:19])  # raises on 2025-13-40
    return True


@FORMATS.checks("uri", raises=ValueError)
def _uri(value):
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and not re.search(r"\s", value)


@FORMATS.checks("uri-reference")
def _uri_reference(value):
    return not isinstance(value, str) or not re.search(r"\s", value)


# --- the spec

class Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.path = path
        self._validators = {}

    def resolve(self, node):
        """Follows $ref (local only) until a node without one."""
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise ValueError("circular $ref " + ref)
            seen.add(ref)
            node = self.pointer(ref)
        return node

    def pointer(self, ref):
        if not ref.startswith("#/"):
            raise ValueError("not a local $ref: " + ref)
        node = self.doc
        for raw in ref[2:].split("/"):
            key = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list):
                node = node[int(key)]
            elif isinstance(node, dict) and key in node:
                node = node[key]
            else:
                raise KeyError(ref)
        return node

    def validator(self, schema):
        """A Draft 2020-12 validator for a schema of the spec; its $refs
        resolve against the document."""
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            root = {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": self.doc.get("components", {}),
                "allOf": [schema],
            }
            self._validators[key] = DRAFT(root, format_checker=FORMATS)
        return self._validators[key]

    def errors(self, schema, instance):
        return sorted(self.validator(schema).iter_errors(instance),
                      key=lambda e: list(e.absolute_path))

    def operations(self):
        for template, item in self.doc.get("paths", {}).items():
            for method in METHODS:
                if method in item:
                    yield template, method, item[method]


# The shape of an OpenAPI 3.1 document, as far as this spec uses it (no
# copy of the official schema is kept here): a JSON Schema, Draft 2020-12.
OPENAPI_SHAPE = {
    "type": "object",
    "required": ["openapi", "info", "paths"],
    "properties": {
        "openapi": {"type": "string", "pattern": r"^3\.1\.\d+$"},
        "jsonSchemaDialect": {"type": "string", "format": "uri"},
        "info": {
            "type": "object",
            "required": ["title", "version"],
            "properties": {"title": {"type": "string"},
                           "version": {"type": "string"}},
        },
        "servers": {"type": "array", "items": {
            "type": "object", "required": ["url"]}},
        "security": {"$ref": "#/$defs/security"},
        "tags": {"type": "array", "items": {
            "type": "object", "required": ["name"]}},
        "paths": {
            "type": "object",
            "propertyNames": {"pattern": "^/"},
            "additionalProperties": {"$ref": "#/$defs/pathItem"},
        },
        "components": {
            "type": "object",
            "properties": {
                "schemas": {"type": "object"},
                "responses": {"type": "object", "additionalProperties": {
                    "$ref": "#/$defs/response"}},
                "parameters": {"type": "object", "additionalProperties": {
                    "$ref": "#/$defs/parameter"}},
                "headers": {"type": "object", "additionalProperties": {
                    "$ref": "#/$defs/header"}},
                "securitySchemes": {"type": "object", "additionalProperties": {
                    "type": "object", "required": ["type"],
                    "properties": {"type": {"enum": [
                        "apiKey", "http", "mutualTLS", "oauth2",
                        "openIdConnect"]}}}},
            },
        },
    },
    "patternProperties": {"^x-": True},
    "unevaluatedProperties": False,
    "$defs": {
        "ref": {"type": "object", "required": ["$ref"],
                "properties": {"$ref": {"type": "string"}}},
        "security": {"type": "array", "items": {
            "type": "object", "additionalProperties": {
                "type": "array", "items": {"type": "string"}}}},
        "pathItem": {
            "type": "object",
            "properties": {
                "summary": {"type": "string"},
                "description": {"type": "string"},
                "parameters": {"type": "array", "items": {
                    "$ref": "#/$defs/parameterOrRef"}},
                **{m: {"$ref": "#/$defs/operation"} for m in METHODS},
            },
            "patternProperties": {"^x-": True},
            "unevaluatedProperties": False,
        },
        "operation": {
            "type": "object",
            "required": ["responses"],
            "properties": {
                "operationId": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "parameters": {"type": "array", "items": {
                    "$ref": "#/$defs/parameterOrRef"}},
                "requestBody": {"anyOf": [
                    {"$ref": "#/$defs/ref"},
                    {"type": "object", "required": ["content"],
                     "properties": {"content": {"$ref": "#/$defs/content"}}},
                ]},
                "responses": {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {
                        "pattern": r"^([1-5](\d\d|XX)|default)$"},
                    "additionalProperties": {"anyOf": [
                        {"$ref": "#/$defs/ref"},
                        {"$ref": "#/$defs/response"}]},
                },
                "security": {"$ref": "#/$defs/security"},
            },
        },
        "parameterOrRef": {"anyOf": [{"$ref": "#/$defs/ref"},
                                     {"$ref": "#/$defs/parameter"}]},
        "parameter": {
            "type": "object",
            "required": ["name", "in"],
            "properties": {
                "name": {"type": "string"},
                "in": {"enum": ["query", "header", "path", "cookie"]},
                "required": {"type": "boolean"},
                "schema": {"type": ["object", "boolean"]},
            },
            "if": {"properties": {"in": {"const": "path"}}},
            "then": {"required": ["required"],
                     "properties": {"required": {"const": True}}},
        },
        "header": {
            "anyOf": [
                {"$ref": "#/$defs/ref"},
                {"type": "object",
                 "properties": {"required": {"type": "boolean"},
                                "schema": {"type": ["object", "boolean"]}},
                 "not": {"anyOf": [{"required": ["name"]},
                                   {"required": ["in"]}]}},
            ],
        },
        "response": {
            "type": "object",
            "required": ["description"],
            "properties": {
                "description": {"type": "string"},
                "headers": {"type": "object", "additionalProperties": {
                    "$ref": "#/$defs/header"}},
                "content": {"$ref": "#/$defs/content"},
            },
        },
        "content": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "schema": {"type": ["object", "boolean"]},
                    "examples": {"type": "object", "additionalProperties": {
                        "type": "object"}},
                    "encoding": {"type": "object"},
                },
            },
        },
    },
}


def check_spec(spec):
    """Problems with the document itself, as strings."""
    problems = []
    doc = spec.doc
    for error in DRAFT(OPENAPI_SHAPE, format_checker=FORMATS).iter_errors(doc):
        where = "/".join(str(p) for p in error.absolute_path)
        problems.append("OpenAPI shape at /%s: %s" % (where, error.message))

    # Every $ref resolves; every schema is a valid Draft 2020-12 schema.
    def walk(node, where):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    spec.pointer(ref)
                except (KeyError, ValueError, IndexError) as e:
                    problems.append("%s: $ref %s does not resolve (%s)"
                                    % (where, ref, e))
            for key, value in node.items():
                walk(value, where + "/" + str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, "%s/%d" % (where, i))

    shape_problems = len(problems)
    walk(doc, "#")
    if len(problems) > shape_problems:
        return problems  # unresolved $refs: the rest would only repeat them

    schemas = []  # (where, schema)
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        schemas.append(("#/components/schemas/" + name, schema))

    def collect(node, where):
        if isinstance(node, dict):
            if "schema" in node and isinstance(node["schema"], (dict, bool)):
                schemas.append((where + "/schema", node["schema"]))
            for key, value in node.items():
                if key != "schema" and not (
                        where == "#/components" and key == "schemas"):
                    collect(value, where + "/" + str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                collect(value, "%s/%d" % (where, i))

    collect(doc.get("paths", {}), "#/paths")
    collect(doc.get("components", {}), "#/components")
    for where, schema in schemas:
        try:
            DRAFT.check_schema(schema)
        except jsonschema.SchemaError as e:
            problems.append("%s: not a Draft 2020-12 schema: %s"
                            % (where, e.message))
    if problems:
        return problems  # examples cannot be checked against broken schemas

    schemes = doc.get("components", {}).get("securitySchemes", {})
    for requirement in doc.get("security", []):
        for name in requirement:
            if name not in schemes:
                problems.append("security names no scheme: " + name)

    ids = Counter()
    for template, method, op in spec.operations():
        where = "%s %s" % (method.upper(), template)
        ids[op.get("operationId")] += 1
        if not op.get("operationId"):
            problems.append(where + ": no operationId")
        if not op.get("responses"):
            problems.append(where + ": no responses")
        for requirement in op.get("security", []):
            for name in requirement:
                if name not in schemes:
                    problems.append(where + ": security names no scheme "
                                    + name)
        # Path parameters: exactly the template's, each declared once.
        item = doc["paths"][template]
        declared = {}
        for param in item.get("parameters", []) + op.get("parameters", []):
            param = spec.resolve(param)
            declared[(param["name"], param["in"])] = param
        wanted = set(re.findall(r"\{([^}]+)\}", template))
        have = {name for name, where_in in declared if where_in == "path"}
        for name in sorted(wanted - have):
            problems.append(where + ": path parameter {%s} not declared"
                            % name)
        for name in sorted(have - wanted):
            problems.append(where + ": declares path parameter %s that the "
                            "template lacks" % name)
        for (name, _), param in declared.items():
            if "example" in param and "schema" in param:
                for e in spec.errors(param["schema"], param["example"]):
                    problems.append("%s: example of %s: %s"
                                    % (where, name, e.message))
        # Examples validate against their schemas.
        bodies = []
        if "requestBody" in op:
            bodies.append(("request", spec.resolve(op["requestBody"])))
        for status, response in op.get("responses", {}).items():
            response = spec.resolve(response)
            bodies.append((status, response))
            for header, definition in response.get("headers", {}).items():
                definition = spec.resolve(definition)
                if definition.get("required") and \
                        header.lower() not in RECORDED_HEADERS:
                    problems.append(
                        "%s %s: required header %s is not recorded by "
                        "tests/chat/process.cpp" % (where, status, header))
        for label, body in bodies:
            for media, content in body.get("content", {}).items():
                for name, example in content.get("examples", {}).items():
                    example = spec.resolve(example)
                    if "value" not in example or "schema" not in content:
                        continue
                    for e in spec.errors(content["schema"], example["value"]):
                        path = "/".join(str(p) for p in e.absolute_path)
                        problems.append("%s %s %s example %r at /%s: %s"
                                        % (where, label, media, name, path,
                                           e.message))
    for op_id, count in ids.items():
        if op_id and count > 1:
            problems.append("operationId %s used %d times" % (op_id, count))
    for path, item in doc.get("paths", {}).items():
        if "x-method-not-allowed" in item:
            try:
                spec.resolve(item["x-method-not-allowed"])
            except (KeyError, ValueError) as e:
                problems.append(path + ": x-method-not-allowed: " + str(e))
    return problems


# --- judging exchanges

def media_essence(value):
    return value.split(";")[0].strip().lower()


def normalized_media(value):
    return ";".join(part.strip().lower() for part in value.split(";"))


def media_matches(documented, actual):
    """Whether a Content-Type matches a documented media type key: exactly
    (parameters included) when the key has parameters, else by essence;
    */* and type/* match their kind."""
    if documented == "*/*":
        return True
    if documented.endswith("/*"):
        return media_essence(actual).startswith(documented[:-1].lower())
    if ";" in documented:
        return normalized_media(documented) == normalized_media(actual)
    return media_essence(documented) == media_essence(actual)


def is_json_media(value):
    essence = media_essence(value)
    return essence == "application/json" or essence.endswith("+json")


class Judge:
    def __init__(self, spec):
        self.spec = spec
        self.templates = []
        for template in spec.doc["paths"]:
            parts = template.strip("/").split("/")
            literal = sum(1 for p in parts if not p.startswith("{"))
            self.templates.append((template, parts, literal))
        # Most literal segments first: /a/b beats /a/{x}.
        self.templates.sort(key=lambda t: -t[2])
        self.operations_seen = defaultdict(Counter)  # (method, tpl) -> status
        self.other_service_seen = Counter()
        self.skipped = Counter()
        self.unknown_paths = Counter()
        self.titles = defaultdict(Counter)  # status -> titles
        self.known = Counter()  # index in KNOWN_CODE_BUGS -> exchanges
        self.failures = []
        self.validated = 0  # judged against the spec
        self.api_validated = 0  # of them, on the API's ports

    def match(self, path):
        segments = path.strip("/").split("/")
        for template, parts, _ in self.templates:
            if len(parts) != len(segments):
                continue
            if all(p == s if not p.startswith("{") else s != ""
                   for p, s in zip(parts, segments)):
                return template
        return None

    def fail(self, exchange, reasons):
        self.failures.append((exchange, reasons))

    def judge_all(self, exchanges):
        api_ports = {e["port"] for e in exchanges
                     if e.get("status") is not None and
                     e["target"].startswith(("/v1/", "/auth/"))}
        for exchange in exchanges:
            self.judge(exchange, exchange["port"] in api_ports)

    def judge(self, exchange, on_api_port):
        path = exchange["target"].split("?", 1)[0]
        template = self.match(path)
        if not on_api_port:
            item = self.spec.doc["paths"].get(template, {}) if template else {}
            vigil = any("operations" in item.get(m, {}).get("tags", [])
                        for m in METHODS)
            if not vigil:
                prefix = next((p for p in FOREIGN_PREFIXES
                               if path.startswith(p)), None)
                self.skipped["another service's " + (prefix or path)] += 1
                return
        if exchange.get("status") is None:
            self.fail(exchange, ["the server closed the connection without "
                                 "an HTTP response"])
            return
        self.validated += 1
        if on_api_port:
            self.api_validated += 1
        reasons = []
        status = exchange["status"]
        if template is None:
            # Not in the spec: the API must not have it either.
            self.unknown_paths[path] += 1
            response = self.spec.resolve(
                {"$ref": "#/components/responses/NotFound"})
            if status != 404:
                reasons.append(
                    "the spec has no path %s, but the API answered %d "
                    "(not its 404 for unknown paths): undocumented route"
                    % (path, status))
            else:
                reasons += self.check_response(exchange, response)
            self.report(exchange, reasons)
            return
        item = self.spec.doc["paths"][template]
        method = exchange["method"].lower()
        if method not in item:
            reasons += self.check_wrong_method(exchange, template, item)
            self.report(exchange, reasons)
            return
        op = item[method]
        key = (method, template)
        responses = op["responses"]
        code = str(status)
        documented = code if code in responses else \
            code[0] + "XX" if code[0] + "XX" in responses else \
            "default" if "default" in responses else None
        if documented is None:
            reasons.append("status %d is not documented for %s %s "
                           "(documented: %s)"
                           % (status, method.upper(), template,
                              ", ".join(sorted(responses))))
        else:
            if on_api_port:
                self.operations_seen[key][code] += 1
            else:
                self.other_service_seen[key] += 1
            reasons += self.check_response(
                exchange, self.spec.resolve(responses[documented]))
        self.report(exchange, reasons)

    def check_wrong_method(self, exchange, template, item):
        """A method the path does not list: 405 with Allow naming exactly
        the documented methods (or, as the API checks the token and
        membership first on /v1/, its 401 or 404)."""
        status = exchange["status"]
        allowed = {m.upper() for m in METHODS if m in item}
        if status == 405:
            response = self.spec.resolve(item.get(
                "x-method-not-allowed",
                {"$ref": "#/components/responses/MethodNotAllowed"}))
            reasons = self.check_response(exchange, response)
            allow = header(exchange, "Allow")
            if allow is not None:
                given = {m.strip().upper() for m in allow.split(",")
                         if m.strip()}
                if given != allowed:
                    reasons.append("Allow: %s, but the spec has %s for %s"
                                   % (allow, ", ".join(sorted(allowed)),
                                      template))
            return reasons
        if template.startswith("/v1/") and status in (401, 404):
            name = "Unauthorized" if status == 401 else "NotFound"
            return self.check_response(exchange, self.spec.resolve(
                {"$ref": "#/components/responses/" + name}))
        return ["%s is not a method of %s (the spec has %s), but the API "
                "answered %d, not 405" % (exchange["method"], template,
                                         ", ".join(sorted(allowed)), status)]

    def check_response(self, exchange, response):
        reasons = []
        for name, definition in response.get("headers", {}).items():
            definition = self.spec.resolve(definition)
            value = header(exchange, name)
            if value is None:
                if definition.get("required"):
                    reasons.append("required header %s is missing" % name)
                continue
            schema = definition.get("schema")
            if schema is not None:
                for e in self.spec.errors(schema, value):
                    reasons.append("header %s: %r: %s"
                                   % (name, value, e.message))
        content = response.get("content", {})
        body_length = exchange.get("body_length", 0)
        content_type = header(exchange, "Content-Type")
        head = exchange["method"].upper() == "HEAD"
        if head and body_length:
            reasons.append("a HEAD response with a %d-byte body (RFC 9110 "
                           "section 9.3.2: none)" % body_length)
        if not content:
            if body_length and not head:
                reasons.append("the spec documents no body for this status, "
                               "but it has %d bytes" % body_length)
            return reasons
        if content_type is None:
            reasons.append("no Content-Type (the spec documents %s)"
                           % ", ".join(content))
            return reasons
        media = next((m for m in content if media_matches(m, content_type)),
                     None)
        if media is None:
            reasons.append("Content-Type %s, but the spec documents %s"
                           % (content_type, ", ".join(content)))
            return reasons
        schema = content[media].get("schema")
        if head or schema is None:
            return reasons
        if not is_json_media(content_type):
            if schema.get("type") == "string" and "body" in exchange:
                for e in self.spec.errors(schema, exchange["body"]):
                    reasons.append("body: " + e.message)
            return reasons
        if "body" not in exchange:
            reasons.append("a JSON body that was not recorded as text "
                           "(%d bytes; invalid UTF-8 or too large)"
                           % body_length)
            return reasons
        try:
            body = json.loads(exchange["body"])
        except ValueError as e:
            reasons.append("the body is not JSON: %s" % e)
            return reasons
        for e in self.spec.errors(schema, body):
            where = "/".join(str(p) for p in e.absolute_path)
            reasons.append("body at /%s: %s" % (where, e.message))
        if media_essence(content_type) == "application/problem+json" and \
                isinstance(body, dict):
            if body.get("status") != exchange["status"]:
                reasons.append("the problem's status %r is not the "
                               "response's %d"
                               % (body.get("status"), exchange["status"]))
            self.titles[exchange["status"]][body.get("title")] += 1
        return reasons

    def report(self, exchange, reasons):
        path = exchange["target"].split("?", 1)[0]
        template = self.match(path) or path
        left = []
        for reason in reasons:
            for i, (method, prefix, status, pattern, _) in \
                    enumerate(KNOWN_CODE_BUGS):
                if (method is None or method == exchange["method"]) and \
                        template.startswith(prefix) and \
                        (status is None or status == exchange["status"]) and \
                        re.search(pattern, reason):
                    self.known[i] += 1
                    break
            else:
                left.append(reason)
        if left:
            self.fail(exchange, left)


def header(exchange, name):
    for key, value in exchange.get("headers", {}).items():
        if key.lower() == name.lower():
            return value
    return None


def describe(exchange):
    lines = ["%s %s -> %s  [%s, port %s]" % (
        exchange.get("method"), exchange.get("target"),
        exchange.get("status"), exchange.get("test") or "?",
        exchange.get("port"))]
    if exchange.get("request_content_type"):
        lines.append("  request Content-Type: "
                     + exchange["request_content_type"])
    for key, value in exchange.get("headers", {}).items():
        lines.append("  %s: %s" % (key, value))
    if "body" in exchange:
        body = exchange["body"]
        lines.append("  body: " + (body if len(body) <= 600
                                   else body[:600] + "... (%d bytes)"
                                   % len(body)))
    elif "body_base64" in exchange:
        raw = base64.b64decode(exchange["body_base64"])
        lines.append("  body (%d bytes, not text): %r" % (len(raw), raw[:80]))
    elif exchange.get("body_omitted"):
        lines.append("  body: %d bytes, not recorded"
                     % exchange.get("body_length", 0))
    return "\n".join(lines)


def load(paths):
    exchanges, broken = [], []
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    exchanges.append(json.loads(raw.decode("utf-8")))
                except ValueError as e:
                    broken.append("%s:%d: not a JSON line (%s): %r"
                                  % (path, number, e, raw[:200]))
    return exchanges, broken


# --- running the recordings

def run_stack_tests(binary, gtest_filter, record, log):
    env = dict(os.environ, CHAT_API_RECORD=record)
    print("contract: running %s --gtest_filter=%s (recording to %s)"
          % (binary, gtest_filter, record), flush=True)
    started = time.monotonic()
    with open(log, "wb") as out:
        rc = subprocess.call([binary, "--gtest_filter=" + gtest_filter],
                             env=env, stdout=out, stderr=subprocess.STDOUT)
    print("contract: stack tests exited %d after %.0f s (output in %s)"
          % (rc, time.monotonic() - started, log), flush=True)
    return rc


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--work-dir")
    parser.add_argument("--stack-binary")
    parser.add_argument("--gtest-filter", default="Stack.*:Files.*")
    parser.add_argument("--bin-dir", help="where chat-api and chat-broker "
                        "are, for exercise.py")
    parser.add_argument("--record", action="append", default=[],
                        help="judge this recording instead of running")
    parser.add_argument("--min-exchanges", type=int, default=1000)
    args = parser.parse_args()

    spec = Spec(args.spec)
    problems = check_spec(spec)
    if problems:
        print("contract: %s is not a valid OpenAPI 3.1 document:" % args.spec)
        for p in problems:
            print("  " + p)
        return 1
    operations = list(spec.operations())
    print("contract: %s is valid: %d paths, %d operations"
          % (args.spec, len(spec.doc["paths"]), len(operations)), flush=True)

    records = list(args.record)
    failed_runs = []
    if not records:
        if not (args.work_dir and args.stack_binary and args.bin_dir):
            parser.error("--work-dir, --stack-binary and --bin-dir, "
                         "or --record")
        os.makedirs(args.work_dir, exist_ok=True)
        stack_record = os.path.join(args.work_dir, "stack.jsonl")
        exercise_record = os.path.join(args.work_dir, "exercise.jsonl")
        for path in (stack_record, exercise_record):
            if os.path.exists(path):
                os.remove(path)
        rc = run_stack_tests(args.stack_binary, args.gtest_filter,
                             stack_record,
                             os.path.join(args.work_dir, "stack-tests.log"))
        if rc != 0:
            failed_runs.append("the stack tests failed (exit %d): see %s"
                               % (rc, os.path.join(args.work_dir,
                                                   "stack-tests.log")))
        try:
            exercise.run(args.bin_dir, os.path.join(args.work_dir, "stack"),
                         exercise_record)
        except Exception as e:  # report it, judge what was recorded
            failed_runs.append("exercise.py failed: %r" % e)
        records = [stack_record, exercise_record]

    exchanges, broken = load(records)
    judge = Judge(spec)
    judge.judge_all(exchanges)

    print("\ncontract: %d exchanges recorded, %d judged against the spec "
          "(%d with the API, %d with other services' vigil paths)"
          % (len(exchanges), judge.validated, judge.api_validated,
             judge.validated - judge.api_validated))
    for reason, count in sorted(judge.skipped.items()):
        print("  skipped %5d  %s" % (count, reason))
    for path, count in sorted(judge.unknown_paths.items()):
        print("  unknown path %s: %d (must be the API's 404)" % (path, count))
    print("\ncontract: operations, by the statuses they answered:")
    missing = []
    for template, method, op in operations:
        key = (method, template)
        seen = judge.operations_seen.get(key)
        documented = sorted(op["responses"])
        if seen:
            statuses = " ".join("%s×%d" % (s, n)
                                for s, n in sorted(seen.items()))
            unseen = [s for s in documented if s not in seen]
            print("  %-7s %-46s %s%s" % (
                method.upper(), template, statuses,
                ("   (never: %s)" % " ".join(unseen)) if unseen else ""))
        elif key in NOT_EXERCISED:
            print("  %-7s %-46s not exercised: %s"
                  % (method.upper(), template, NOT_EXERCISED[key]))
        else:
            print("  %-7s %-46s NEVER EXERCISED" % (method.upper(), template))
            missing.append("%s %s" % (method.upper(), template))
    for key, count in sorted(judge.other_service_seen.items()):
        print("  (also %d× %s %s on other chat services)"
              % (count, key[0].upper(), key[1]))
    mixed = {s: t for s, t in judge.titles.items() if len(t) > 1}
    for status, titles in sorted(mixed.items()):
        print("  note: problems of status %d come with different titles: %s"
              % (status, ", ".join("%r×%d" % kv for kv in titles.items())))

    for i, (method, prefix, status, _, what) in enumerate(KNOWN_CODE_BUGS):
        where = "%s %s*%s" % (method or "any method", prefix,
                              " %d" % status if status else "")
        if judge.known[i]:
            print("  known code bug, %d exchanges: %s: %s"
                  % (judge.known[i], where, what))
        else:
            print("  known code bug NO LONGER SEEN (remove it from "
                  "KNOWN_CODE_BUGS): %s: %s" % (where, what))

    errors = list(failed_runs) + broken
    if judge.api_validated < args.min_exchanges:
        errors.append("only %d exchanges with the API were judged (at least "
                      "%d expected): the recording is incomplete"
                      % (judge.api_validated, args.min_exchanges))
    if missing:
        errors.append("operations never exercised: " + ", ".join(missing))
    if judge.failures:
        print("\ncontract: %d exchanges disagree with the spec:"
              % len(judge.failures))
        # Group identical disagreements, show each group once with a count.
        groups = defaultdict(list)
        for exchange, reasons in judge.failures:
            path = exchange["target"].split("?", 1)[0]
            template = judge.match(path) or path
            groups[(exchange["method"], template, exchange.get("status"),
                    tuple(re.sub(r"'[^']*'|\d+", "…", r)
                          for r in reasons))].append((exchange, reasons))
        for (_, _, _, _), items in groups.items():
            exchange, reasons = items[0]
            print("\n" + describe(exchange))
            for r in reasons:
                print("  !! " + r)
            if len(items) > 1:
                print("  (and %d more like it)" % (len(items) - 1))
        errors.append("%d exchanges disagree with the spec"
                      % len(judge.failures))
    if errors:
        print("\ncontract: FAILED")
        for e in errors:
            print("  - " + e)
        return 1
    known = sum(judge.known.values())
    print("\ncontract: passed: %d exchanges with the API agree with %s%s; "
          "%d of %d operations exercised"
          % (judge.api_validated, args.spec,
             " (%d of them but for known code bugs)" % known if known else "",
             sum(1 for t, m, _ in operations if (m, t) in
                 judge.operations_seen), len(operations)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

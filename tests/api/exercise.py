#!/usr/bin/env python3
"""Requests the stack tests never make, recorded for check_contract.py.

Starts chat-broker, chat-api and a chat-router of its own (loopback, free
ports, a temporary data directory; no connectors, so platform messages are
stored but never delivered) and
asks for every operation of docs/api/openapi.yaml the stack tests do not
(HEAD, listing, members, the health probes and metrics, 405s, 409s, 429,
413...), recording each exchange as tests/chat/process.cpp does: one JSON
line per exchange in the file given.

Its client is a raw socket, like the stack tests' (Connection: close, read
until the server closes), so a HEAD answer's body, if any, is seen.

  exercise.py BIN_DIR WORK_DIR RECORD_FILE
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

RECORDED_HEADERS = (
    "Content-Type", "Content-Length", "Retry-After", "Allow",
    "WWW-Authenticate", "Location", "Content-Range", "Accept-Ranges",
    "Content-Disposition", "Cache-Control")
MAX_TEXT_BODY = 256 * 1024
MAX_BASE64_BODY = 4096
SECRET = "exercise-contract-secret-of-32-bytes!!"
BOUNDARY = "contract-exercise-boundary"
QUOTA = 64 * 1024  # bytes of files per user, for a 507


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> first value
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name):
        return self.headers.get(name.lower())


class Client:
    """HTTP/1.1 over a fresh connection per request, every exchange
    appended to `record`."""

    def __init__(self, port, record):
        self.port = port
        self.record = record
        self.step = ""
        self.count = 0

    def request(self, method, target, body=b"", headers=None, token=None):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = "Bearer " + token
        if isinstance(body, str):
            body = body.encode("utf-8")
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" \
            % (method, target)
        for name, value in headers.items():
            head += "%s: %s\r\n" % (name, value)
        if body or method == "POST":
            head += "Content-Length: %d\r\n" % len(body)
        raw = b""
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=30) as s:
            s.sendall(head.encode("latin-1") + b"\r\n" + body)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
        response = parse(raw)
        self.write(method, target, headers, response)
        return response

    def json(self, method, target, value=None, token=None, headers=None):
        body = b"" if value is None else json.dumps(value).encode("utf-8")
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        return self.request(method, target, body, all_headers, token)

    def write(self, method, target, headers, response):
        def get(name):
            for key, value in headers.items():
                if key.lower() == name.lower():
                    return value
            return None

        line = {"test": "exercise." + self.step, "port": self.port,
                "method": method, "target": target}
        if get("Content-Type") is not None:
            line["request_content_type"] = get("Content-Type")
        if get("Range") is not None:
            line["request_range"] = get("Range")
        line["request_authorization"] = get("Authorization") is not None
        if response is None:
            line["status"] = None
        else:
            line["status"] = response.status
            line["headers"] = {n: response.header(n) for n in RECORDED_HEADERS
                               if response.header(n) is not None}
            body = response.body
            line["body_length"] = len(body)
            kind = (response.header("Content-Type") or "").lower()
            textual = kind.startswith(("text/", "application/json")) or \
                "+json" in kind
            text = None
            if textual and len(body) <= MAX_TEXT_BODY:
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            if text is not None:
                line["body"] = text
            elif len(body) <= MAX_BASE64_BODY:
                line["body_base64"] = base64.b64encode(body).decode("ascii")
            else:
                line["body_omitted"] = True
        with open(self.record, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        self.count += 1


def parse(raw):
    if not raw.startswith(b"HTTP/1.1 "):
        return None
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return Response(status, headers, body)


class Stack:
    """chat-broker and chat-api on free loopback ports, stopped on exit."""

    def __init__(self, bin_dir, work_dir):
        self.bin_dir = bin_dir
        self.dir = work_dir
        self.processes = []

    def __enter__(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        address_file = os.path.join(self.dir, "broker.addr")
        self.start("broker", [os.path.join(self.bin_dir, "chat-broker"),
                              "--address-file", address_file])
        brokers = self.wait(lambda: read_line(address_file), "broker address")
        api_log = os.path.join(self.dir, "api.log")
        self.start("api", [
            os.path.join(self.bin_dir, "chat-api"), "--brokers", brokers,
            "--data-dir", os.path.join(self.dir, "api"), "--port", "0",
            "--jwt-secret", SECRET, "--password-iterations", "1000",
            "--demo-users", "true", "--user-quota-bytes", str(QUOTA)])
        self.port = int(self.wait(
            lambda: first_match(api_log, r'"api_listening".*"port":(\d+)'),
            "api_listening in " + api_log))
        # The router stores what the API accepts, in the API's store.
        router_log = os.path.join(self.dir, "router.log")
        self.start("router", [
            os.path.join(self.bin_dir, "chat-router"), "--brokers", brokers,
            "--data-dir", os.path.join(self.dir, "api"), "--metrics-port",
            "0", "--instance", "exercise-router"])
        self.wait(lambda: first_match(router_log,
                                      r'"(endpoint_listening)"'),
                  "endpoint_listening in " + router_log)
        return self

    def start(self, name, argv):
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        self.processes.append(subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT))
        log.close()

    def wait(self, probe, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            for p in self.processes:
                if p.poll() is not None:
                    raise RuntimeError("%s exited %d while waiting for %s"
                                       % (p.args[0], p.returncode, what))
            time.sleep(0.05)
        raise RuntimeError("no %s within %d s" % (what, timeout))

    def __exit__(self, *exc):
        for p in reversed(self.processes):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.processes):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def read_line(path):
    try:
        with open(path) as f:
            line = f.readline()
        return line.strip() if line.endswith("\n") else None
    except FileNotFoundError:
        return None


def first_match(path, pattern):
    try:
        with open(path, errors="replace") as f:
            match = re.search(pattern, f.read())
        return match.group(1) if match else None
    except FileNotFoundError:
        return None


def expect(response, status, what):
    if response is None or response.status != status:
        got = "no response" if response is None else "%d %r" % (
            response.status, response.body[:300])
        raise AssertionError("%s: expected %d, got %s" % (what, status, got))
    return response


def wait_for(condition, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("waited %d s for %s" % (timeout, what))
        time.sleep(0.2)


def form(conversation, filename, content, content_type="text/plain"):
    return ("--%s\r\nContent-Disposition: form-data; name=\"conversation_id\""
            "\r\n\r\n%s\r\n--%s\r\nContent-Disposition: form-data; "
            "name=\"file\"; filename=\"%s\"\r\nContent-Type: %s\r\n\r\n%s"
            "\r\n--%s--\r\n" % (BOUNDARY, conversation, BOUNDARY, filename,
                                content_type, content, BOUNDARY))


def exercise(c):
    """The requests. Each step names itself in the recording; a step whose
    answer is not what it needs to go on raises."""
    c.step = "operations"
    for path in ("/health", "/health/live", "/health/ready",
                 "/health/started", "/metrics"):
        expect(c.request("GET", path), 200, "GET " + path)
        expect(c.request("HEAD", path), 200, "HEAD " + path)
    expect(c.request("GET", "/metrics", headers={
        "Accept": "application/openmetrics-text"}), 200, "OpenMetrics")
    c.request("POST", "/metrics")
    c.request("DELETE", "/health/ready")

    c.step = "register"
    users = {}
    for name in ("ex_alice", "ex_bob", "ex_carol", "ex_dave"):
        r = expect(c.json("POST", "/auth/register",
                          {"username": name, "password": "secret-" + name}),
                   201, "register " + name)
        users[name] = r.json()["user_id"]
    c.json("POST", "/auth/register",
           {"username": "ex_alice", "password": "another-one"})  # 409
    c.json("POST", "/auth/register", {"username": "x y", "password": "pw"})
    c.request("POST", "/auth/register", b"not json",
              {"Content-Type": "application/json"})
    c.request("GET", "/auth/register")

    c.step = "token"
    tokens = {}
    for name in users:
        r = expect(c.json("POST", "/auth/token",
                          {"username": name, "password": "secret-" + name}),
                   200, "login " + name)
        tokens[name] = r.json()["access_token"]
    alice, bob, carol, dave = (tokens[n] for n in
                               ("ex_alice", "ex_bob", "ex_carol", "ex_dave"))
    c.json("POST", "/auth/token", {"username": "ex_alice"})  # 401
    c.json("POST", "/auth/token", ["not", "an", "object"])  # 400

    c.step = "conversations"
    r = expect(c.json("POST", "/v1/conversations",
                      {"type": "private", "participant_ids": ["ex_bob"]},
                      alice), 201, "private conversation")
    private = r.json()["conversation_id"]
    expect(c.json("POST", "/v1/conversations",
                  {"type": "private", "participant_ids": [users["ex_bob"]]},
                  alice), 200, "the same private conversation")
    r = expect(c.json("POST", "/v1/conversations",
                      {"type": "group", "name": "Exercise",
                       "participant_ids": ["ex_bob"]}, alice),
               201, "group")
    group = r.json()["conversation_id"]
    c.json("POST", "/v1/conversations",
           {"type": "private", "participant_ids": ["nobody_here"]}, alice)
    c.json("POST", "/v1/conversations", {"type": "channel"}, alice)
    c.json("POST", "/v1/conversations",
           {"type": "group", "participant_ids": []})  # no token: 401
    c.json("POST", "/v1/conversations",
           {"type": "group", "participant_ids": [], "name": "x" * 70000},
           alice)  # over the server's body limit: 413
    expect(c.json("GET", "/v1/conversations", token=alice), 200, "list")
    c.json("GET", "/v1/conversations?limit=1&offset=1", token=alice)
    c.json("GET", "/v1/conversations?limit=0", token=alice)  # 400
    c.json("GET", "/v1/conversations")  # 401
    c.json("HEAD", "/v1/conversations", token=alice)
    c.json("HEAD", "/v1/conversations")
    c.json("PUT", "/v1/conversations", {}, alice)  # 405
    expect(c.json("GET", "/v1/conversations/" + group, token=bob), 200,
           "get the group")
    c.json("GET", "/v1/conversations/" + group, token=carol)  # 404
    c.json("GET", "/v1/conversations/" + group)  # 401
    c.json("HEAD", "/v1/conversations/" + group, token=bob)
    c.json("HEAD", "/v1/conversations/" + group, token=carol)
    c.json("POST", "/v1/conversations/" + group, {}, alice)  # 405

    c.step = "members"
    members = "/v1/conversations/%s/members" % group
    expect(c.json("POST", members, {"user_id": "ex_carol"}, alice), 201,
           "add carol")
    expect(c.json("POST", members, {"user_id": users["ex_carol"]}, alice),
           200, "add carol again")
    c.json("POST", members, {"user_id": "ex_dave"}, bob)  # 403: not admin
    c.json("POST", members, {"user_id": "nobody_here"}, alice)  # 400
    c.json("POST", members, {"user_id": "ex_dave"}, dave)  # 404: stranger
    c.json("POST", members, {"user_id": "ex_dave"})  # 401
    c.json("POST", "/v1/conversations/%s/members" % private,
           {"user_id": "ex_carol"}, alice)  # 409: private
    c.json("GET", members, token=alice)  # 405
    c.json("DELETE", members + "/ex_carol", token=bob)  # 403
    expect(c.json("DELETE", members + "/ex_carol", token=alice), 204,
           "remove carol")
    c.json("DELETE", members + "/ex_carol", token=alice)  # 404: no member
    expect(c.json("POST", members, {"user_id": "ex_carol"}, alice), 201,
           "add carol back")
    expect(c.json("DELETE", members + "/" + users["ex_carol"], token=carol),
           204, "carol leaves")
    c.json("DELETE", "/v1/conversations/%s/members/ex_bob" % private,
           token=alice)  # 409
    c.json("DELETE", members + "/ex_bob")  # 401
    c.json("GET", members + "/ex_bob", token=alice)  # 405

    c.step = "messages"
    message = {"conversation_id": group, "sender_id": users["ex_alice"],
               "content": "hello", "recipient_id": "ex_bob"}
    expect(c.json("POST", "/v1/messages", message, alice), 202, "send")
    key = {"Idempotency-Key": "exercise-key-1"}
    first = expect(c.json("POST", "/v1/messages", message, alice, key), 202,
                   "send with a key")
    # A message to a platform: stored, never delivered (no connector).
    platform = expect(c.json(
        "POST", "/v1/messages",
        {"conversation_id": "ex-whatsapp:+5511999999999",
         "sender_id": "ex_alice", "receiver_id": "whatsapp:+5511999999999",
         "content": "to the platform", "content_type": "text/markdown"},
        alice), 202, "send to a platform recipient")
    history = "/v1/conversations/%s/messages" % group
    wait_for(lambda: len(c.json("GET", history, token=bob).json()
                         ["messages"]) == 2, "the router to store 2 messages")
    wait_for(lambda: len(c.json(
        "GET", "/v1/conversations/ex-whatsapp:+5511999999999/messages",
        token=alice).json()["messages"]) == 1,
        "the router to store the platform message")
    again = expect(c.json("POST", "/v1/messages", message, alice, key), 202,
                   "send with the key again")
    if first.json()["message_id"] != again.json()["message_id"]:
        raise AssertionError("an Idempotency-Key retry got another id")
    expect(c.json("POST", "/v1/messages", dict(message, content="other"),
                  alice, key), 422, "the key again for another message")
    c.json("POST", "/v1/messages", message, alice,
           {"Idempotency-Key": "has space"})  # 400
    c.json("POST", "/v1/messages", dict(message, message_id="a"), alice,
           {"Idempotency-Key": "b"})  # 400
    c.json("POST", "/v1/messages", dict(message, content_type="nope"),
           alice)  # 400
    c.json("POST", "/v1/messages", dict(message, receiver_id="ex_carol"),
           alice)  # 400: recipient_id and receiver_id differ
    c.json("POST", "/v1/messages", dict(message, sender_id="ex_bob"),
           alice)  # 403
    c.json("POST", "/v1/messages",
           dict(message, recipient_id="whatsapp:+5511999999999"), alice)
    c.json("GET", "/v1/messages", token=alice)  # 405
    expect(c.json("GET", history + "?limit=1", token=bob), 200, "history")
    c.json("GET", history + "?offset=-1", token=bob)  # 400
    c.json("GET", history, token=dave)  # 404
    c.json("GET", history)  # 401
    c.json("HEAD", history, token=bob)
    c.json("HEAD", history, token=dave)
    c.json("PUT", history, {}, bob)  # 405
    read = "/v1/messages/%s/read" % first.json()["message_id"]
    c.json("POST", read, token=alice)  # 404: the sender is no recipient
    expect(c.json("POST", read, token=bob), 200, "read")
    expect(c.json("POST", read, token=bob), 200, "read again")
    c.json("POST", read)  # 401
    c.json("GET", read, token=bob)  # 405
    # Read before delivered: the platform's receipt cannot come yet.
    expect(c.json("POST", "/v1/messages/%s/read"
                  % platform.json()["message_id"], token=alice), 409,
           "a platform message read before it was delivered")
    c.json("GET", history, token=bob)  # now with status READ, read_at

    c.step = "files"
    multipart = {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY}
    r = expect(c.request("POST", "/v1/files",
                         form(group, "notes.txt", "some notes"), multipart,
                         alice), 201, "upload")
    file_id = r.json()["file_id"]
    c.request("POST", "/v1/files", form(group, "x.txt", "x"), multipart,
              dave)  # 404
    c.request("POST", "/v1/files", form("bad id", "x.txt", "x"), multipart,
              alice)  # 400
    c.request("POST", "/v1/files", "{}", {"Content-Type": "text/plain"},
              alice)  # 415
    c.request("POST", "/v1/files", form(group, "x.txt", "x"), multipart)
    expect(c.request("POST", "/v1/files",
                     form(group, "big.bin", "b" * (4 * QUOTA)), multipart,
                     alice), 507, "an upload over the quota")
    c.request("GET", "/v1/files", token=alice)  # 405
    link = "/v1/files/%s/download" % file_id
    r = expect(c.json("GET", link, token=bob), 200, "download link")
    url = r.json()["download_url"]
    content = url[url.index("/v1/"):]
    c.json("GET", link, token=dave)  # 404
    c.json("GET", "/v1/files/f_nope/download", token=bob)  # 404
    c.json("GET", link)  # 401
    c.json("POST", link, token=bob)  # 405
    expect(c.request("GET", content), 200, "content")
    c.request("GET", content, headers={"Range": "bytes=0-3"})  # 206
    c.request("GET", content, headers={"Range": "bytes=99-"})  # 416
    c.request("GET", content.replace("expires=", "expires=1"))  # 403
    expect(c.request("HEAD", content), 200, "HEAD of the content")
    c.request("POST", content)  # 405
    c.request("GET", "/v1/files/%s/nothing" % file_id)  # 404: no route

    c.step = "unknown"
    c.request("GET", "/nothing")
    c.json("GET", "/v1/nothing", token=alice)
    c.request("GET", "/v1/conversations/x/messages", headers={
        "X-Filler": "h" * 9000})  # 431

    c.step = "rate-limit"
    # 10 attempts per username, then 429 with Retry-After.
    for _ in range(12):
        r = c.json("POST", "/auth/token",
                   {"username": "ex_dave", "password": "wrong-password"})
        if r.status == 429:
            break
    expect(r, 429, "the 11th failed login of one username")


def run(bin_dir, work_dir, record):
    with Stack(bin_dir, work_dir) as stack:
        client = Client(stack.port, record)
        deadline = time.monotonic() + 30
        while True:
            try:
                r = client.request("GET", "/health/ready")
                if r and r.status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("chat-api never became ready; see "
                                   + os.path.join(work_dir, "api.log"))
            time.sleep(0.1)
        exercise(client)
        print("contract: exercise.py made %d requests (port %d)"
              % (client.count, stack.port), flush=True)
        return client.count


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    run(*sys.argv[1:])

#!/usr/bin/python3
"""The systemd units here are what monitoring/systemd/README.md promises.

    check_units.py BIN_DIR    (the built chat-api, chat-router... are there)

Every unit restarts on failure with a bounded rate, reads
/etc/chat4all/<name>.env, runs as chat4all with the hardening listed below,
stops with SIGTERM and a drain timeout, and starts the binary it names with
flags that binary has; every variable in env/<name>.env is one the binary
reads (`--help` lists them). Then, where systemd-analyze exists (Debian 12's
systemd package; no running systemd needed), `systemd-analyze verify` on
each unit and instance with ExecStart pointed at BIN_DIR must pass without
a word (it only warns about unknown keys), and `systemd-analyze security
--offline` must rate each at most EXPOSURE_MAX.
"""

import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
# unit file -> (binary, instances to verify)
UNITS = {
    "chat-api.service": ("chat-api", ["chat-api.service"]),
    "chat-router@.service": ("chat-router", ["chat-router@1.service",
                                             "chat-router@2.service"]),
    "chat-connector@.service": ("chat-connector",
                                ["chat-connector@whatsapp.service",
                                 "chat-connector@instagram.service"]),
    "chat-platform-sim.service": ("chat-platform-sim",
                                  ["chat-platform-sim.service"]),
}
REQUIRED = {  # (section, key): value it must have
    ("Service", "Restart"): "on-failure",
    ("Service", "User"): "chat4all",
    ("Service", "Group"): "chat4all",
    ("Service", "NoNewPrivileges"): "yes",
    ("Service", "ProtectSystem"): "strict",
    ("Service", "ProtectHome"): "yes",
    ("Service", "PrivateTmp"): "yes",
    ("Service", "ReadWritePaths"): "/var/lib/chat4all",
    ("Service", "KillSignal"): "SIGTERM",
    ("Install", "WantedBy"): "multi-user.target",
}
EXPOSURE_MAX = 2.0  # systemd-analyze security's 0-10 scale; they rate 1.5
failures = []


def fail(message):
    failures.append(message)
    print(f"FAIL: {message}", file=sys.stderr)


def parse(path):
    """{(section, key): [values]}, in order; systemd's syntax without
    continuation lines, which these files do not use."""
    keys, section = {}, None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line and section:
            key, value = line.split("=", 1)
            keys.setdefault((section, key.strip()), []).append(value.strip())
        else:
            fail(f"{path.name}:{number}: not a key=value line: {line}")
    return keys


def seconds(value):
    """A systemd time span (5s, 10min, 30, 1min 30s) in seconds."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600,
             "ms": 0.001}
    parts = re.findall(r"(\d+)\s*([a-z]*)", value)
    if not parts or "".join(n + u for n, u in parts) != value.replace(" ", ""):
        return None
    try:
        return sum(int(n) * units[u] for n, u in parts)
    except KeyError:
        return None


def help_of(binary):
    """The env variables and flags `BINARY --help` lists."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True)
    text = out.stdout + out.stderr
    return (set(re.findall(r"env ([A-Z0-9_]+)", text)),
            set(re.findall(r"^\s*(--[a-z0-9-]+)", text, re.M)))


def check_unit(name, binary_dir):
    binary, _ = UNITS[name]
    keys = parse(HERE / name)
    stem = name.split("@")[0].removesuffix(".service")
    for (section, key), value in REQUIRED.items():
        values = keys.get((section, key), [])
        if value not in " ".join(values).split():
            fail(f"{name}: [{section}] {key}={value} missing (has {values})")
    restart = seconds(keys.get(("Service", "RestartSec"), [""])[-1])
    if restart is None or not 1 <= restart <= 60:
        fail(f"{name}: RestartSec must be 1-60 s, not "
             f"{keys.get(('Service', 'RestartSec'))}")
    interval = seconds(keys.get(("Unit", "StartLimitIntervalSec"), [""])[-1])
    burst = keys.get(("Unit", "StartLimitBurst"), ["0"])[-1]
    if not interval or not burst.isdigit() or int(burst) < 2:
        fail(f"{name}: [Unit] StartLimitIntervalSec and StartLimitBurst >= 2 "
             "must bound the restarts")
    elif restart and interval <= int(burst) * restart:
        fail(f"{name}: StartLimitIntervalSec {interval}s cannot see "
             f"{burst} restarts {restart}s apart")
    stop = seconds(keys.get(("Service", "TimeoutStopSec"), [""])[-1])
    if not stop or stop < 5:
        fail(f"{name}: TimeoutStopSec must leave time to drain (>= 5 s)")
    environment_files = keys.get(("Service", "EnvironmentFile"), [])
    if f"/etc/chat4all/{stem}.env" not in environment_files:
        fail(f"{name}: EnvironmentFile=/etc/chat4all/{stem}.env (required, "
             f"no '-') missing; has {environment_files}")
    exec_start = keys.get(("Service", "ExecStart"), [])
    if len(exec_start) != 1:
        fail(f"{name}: one ExecStart, not {exec_start}")
        return
    argv = exec_start[0].split()
    if argv[0] != f"/usr/local/bin/{binary}":
        fail(f"{name}: ExecStart runs {argv[0]}, not /usr/local/bin/{binary}")
    variables, flags = help_of(binary_dir / binary)
    if not variables:
        fail(f"{binary} --help lists no env variables")
    for arg in argv[1:]:
        if arg.startswith("--") and arg not in flags:
            fail(f"{name}: {binary} has no flag {arg}")
    env_file = HERE / "env" / f"{stem}.env"
    if not env_file.is_file():
        fail(f"no env/{env_file.name} to install as /etc/chat4all/")
        return
    for line in env_file.read_text().splitlines():
        match = re.match(r"#?([A-Z][A-Z0-9_]*)=", line)
        if match and match.group(1) not in variables:
            fail(f"env/{env_file.name}: {binary} reads no {match.group(1)}")
    if stem == "chat-api" and "CHAT_DEMO_USERS=false" not in \
            env_file.read_text().splitlines():
        fail("env/chat-api.env must keep the demo users off")


def systemd_analyze(binary_dir):
    if shutil.which("systemd-analyze") is None:
        print("systemd-analyze not installed: verify and security skipped")
        return
    with tempfile.TemporaryDirectory(prefix="chat-units-") as tmp:
        for name in UNITS:
            text = (HERE / name).read_text()
            (pathlib.Path(tmp) / name).write_text(
                text.replace("/usr/local/bin/", f"{binary_dir}/"))
        for name, (_, instances) in UNITS.items():
            for instance in instances:
                path = f"{tmp}/{instance}"
                out = subprocess.run(
                    ["systemd-analyze", "verify", "--man=no", path],
                    capture_output=True, text=True)
                said = (out.stdout + out.stderr).strip()
                if out.returncode != 0 or said:
                    fail(f"systemd-analyze verify {instance} "
                         f"(rc {out.returncode}): {said}")
                out = subprocess.run(
                    ["systemd-analyze", "security", "--offline=yes",
                     "--no-pager", path], capture_output=True, text=True)
                level = re.search(r"Overall exposure level for \S+: "
                                  r"([0-9.]+)", out.stdout + out.stderr)
                if level is None or float(level.group(1)) > EXPOSURE_MAX:
                    fail(f"systemd-analyze security {instance}: exposure "
                         f"{level.group(1) if level else '?'} > "
                         f"{EXPOSURE_MAX}")
    print("systemd-analyze verify and security: "
          f"{sum(len(i) for _, i in UNITS.values())} units checked")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_units.py BIN_DIR")
    binary_dir = pathlib.Path(sys.argv[1]).resolve()
    present = {p.name for p in HERE.glob("*.service")}
    if present != set(UNITS):
        fail(f"units here {sorted(present)} are not {sorted(UNITS)}")
    for name in sorted(present & set(UNITS)):
        check_unit(name, binary_dir)
    systemd_analyze(binary_dir)
    if failures:
        sys.exit(1)
    print(f"systemd units: {len(UNITS)} consistent")


if __name__ == "__main__":
    main()

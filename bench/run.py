#!/usr/bin/env python3
"""make bench: the issue-8 scenarios against a release build.

Every run starts a fresh gateway (embedded Kafka, the default) in a temporary
DATA_DIR, drives it with `tb-gateway bench`, and records the gateway's CPU
seconds and peak RSS (VmHWM) next to the bench tool's JSON. Each figure is
the median of RUNS runs. Every run is one JSON line in
bench/results/<date>-<commit>.jsonl; the table goes to
bench/results/<date>-<commit>.md, bench/results/latest.md and the README
between its bench markers.

Environment: BIN (default .build/release/tb-gateway), RUNS (3), DURATION
(seconds per run, 10), SCENARIOS (comma list, default all), NO_README=1,
FROM=bench/results/X.jsonl (the table again from recorded runs).
"""

import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.path.join(ROOT, os.environ.get("BIN", ".build/release/tb-gateway")))
RUNS = int(os.environ.get("RUNS", "3"))
DURATION = float(os.environ.get("DURATION", "10"))
HZ = os.sysconf("SC_CLK_TCK")
PORTS = {"HTTP_BIND_PORT": 28081, "MQTT_BIND_PORT": 21883, "COAP_BIND_PORT": 25683, "METRICS_PORT": 29090}
MOSQUITTO_PORT = 21884


def log(line):
    print(line, file=sys.stderr, flush=True)


class Measured:
    """A server process whose CPU time and memory are read from /proc."""

    def cpu_seconds(self):
        fields = open(f"/proc/{self.process.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HZ

    def status(self, key):
        for line in open(f"/proc/{self.process.pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return 0.0


class Gateway(Measured):
    """A release gateway in a temporary directory, with a copy of a provisioned registry."""

    def __init__(self, registry, extra=None):
        self.dir = tempfile.mkdtemp(prefix="tb-bench-")
        shutil.copytree(registry, self.dir + "/data")
        env = dict(os.environ)
        env.update({k: str(v) for k, v in PORTS.items()})
        env.update({
            "DATA_DIR": self.dir + "/data", "HTTP_BIND_ADDRESS": "127.0.0.1", "MQTT_BIND_ADDRESS": "127.0.0.1",
            "COAP_BIND_ADDRESS": "127.0.0.1", "METRICS_BIND_ADDRESS": "127.0.0.1", "MQTT_ENABLED": "true",
            "COAP_ENABLED": "true", "LWM2M_ENABLED": "false", "KAFKA_BOOTSTRAP_SERVERS": "embedded",
            "LOG_FORMAT": "json", "LOG_LEVEL": "info", "MQTT_MAX_CONNECTIONS": "20000",
        })
        env.pop("ADMIN_API_KEY", None)
        env.update(extra or {})
        self.log = open(self.dir + "/gateway.log", "w+")
        self.process = subprocess.Popen([BIN, "run"], cwd=self.dir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.bootstrap = None
        deadline = time.time() + 60
        while time.time() < deadline:
            text = open(self.dir + "/gateway.log").read()
            match = re.search(r'"bootstrap_servers":"([0-9.:]+)"', text)
            if match:
                self.bootstrap = match.group(1)
            if self.bootstrap and "CoAP device API listening" in text and "MQTT listening" in text and "HTTP device API listening" in text:
                return
            if self.process.poll() is not None:
                raise RuntimeError("gateway exited: " + text[-2000:])
            time.sleep(0.1)
        raise RuntimeError("gateway did not start")


    def metric(self, name, **labels):
        text = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{PORTS['METRICS_PORT']}/metrics"], capture_output=True, text=True).stdout
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                if all(f'{k}="{v}"' in line for k, v in labels.items()):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def kafka_records(self, topic="tb.telemetry"):
        meta = subprocess.run(["kcat", "-b", self.bootstrap, "-L", "-t", topic, "-J"], capture_output=True, text=True, timeout=30)
        partitions = json.loads(meta.stdout)["topics"][0]["partitions"]
        total = 0
        for p in partitions:
            out = subprocess.run(["kcat", "-b", self.bootstrap, "-Q", "-t", f"{topic}:{p['partition']}:-1"],
                                 capture_output=True, text=True, timeout=30).stdout.split()
            total += int(out[-1]) if out else 0
        return total

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Mosquitto(Measured):
    """Debian's mosquitto 2.0 as the reference broker: no persistence, TCP_NODELAY on."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tb-bench-mosquitto-")
        os.chmod(self.dir, 0o755)
        conf = self.dir + "/mosquitto.conf"
        with open(conf, "w") as f:
            f.write(f"listener {MOSQUITTO_PORT} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
                    "max_connections -1\nlog_dest stderr\n")
        os.chmod(conf, 0o644)
        self.process = subprocess.Popen(["/usr/sbin/mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)


    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def bench(args, timeout=300):
    # 100-byte JSON payloads, as the budget is stated for.
    result = subprocess.run([BIN, "bench"] + args + ["--size", "100", "--json", "--quiet"], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"bench {' '.join(args)} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def provision(devices):
    """A registry with devices bench-1 … bench-N whose tokens are their names."""
    work = tempfile.mkdtemp(prefix="tb-bench-registry-")
    env = dict(os.environ, DATA_DIR=work + "/data")
    lines = "".join(f"bench-{n},bench,bench-{n}\n" for n in range(1, devices + 1))
    subprocess.run([BIN, "device", "import", "--allow-short-tokens", "-"], input=lines, text=True, env=env, check=True, capture_output=True)
    return work + "/data"


def measured(server, run):
    """Runs `run()` and returns its result with the server's CPU seconds and peak RSS."""
    cpu0 = server.cpu_seconds()
    result = run()
    result["serverCpuSeconds"] = round(server.cpu_seconds() - cpu0, 2)
    result["serverPeakRssMiB"] = round(server.status("VmHWM"), 1)
    return result


def on_fresh_gateway(registry, args, extra=None):
    """One bench run against a gateway of its own, measured."""
    gateway = Gateway(registry, extra)
    try:
        return measured(gateway, lambda: bench(args))
    finally:
        gateway.stop()


def mqtt_args(url, devices, extra):
    return ["mqtt", "--url", url, "--devices", str(devices)] + extra


def on_gateway_and_mosquitto(registry, devices, load):
    """The same MQTT load against a fresh gateway, then against mosquitto; both measured."""
    gw = on_fresh_gateway(registry, mqtt_args(f"mqtt://127.0.0.1:{PORTS['MQTT_BIND_PORT']}", devices, load))
    mosquitto = Mosquitto()
    try:
        mq = measured(mosquitto, lambda: bench(mqtt_args(f"mqtt://127.0.0.1:{MOSQUITTO_PORT}", devices, load)))
    finally:
        mosquitto.stop()
    return gw, mq


def scenario_mqtt_qos1(registry):
    """MQTT QoS 1, 100 connections, 16 in flight each, against the gateway and mosquitto."""
    gw, mq = on_gateway_and_mosquitto(registry, 100, ["--qos", "1", "--window", "16", "--duration", str(DURATION)])
    return {"gateway": gw, "mosquitto": mq, "ratio": gw["steadyRate"] / mq["steadyRate"] if mq["steadyRate"] else 0}


def scenario_mqtt_fixed(registry):
    """MQTT QoS 1 at a fixed 10,000 msg/s over 1,000 connections; the same
    load against mosquitto shows what the tool and the machine add to the
    tail by themselves."""
    gw, mq = on_gateway_and_mosquitto(registry, 1000, ["--qos", "1", "--window", "16", "--rate", "10000", "--duration", str(DURATION)])
    return {"gateway": gw, "mosquitto": mq}


def scenario_mqtt_qos0(registry):
    """MQTT QoS 0, 100 connections: records into Kafka per second between
    two samples of Kafka's high watermarks (2 s in, 1 s before the end), and
    none the gateway accepted lost."""
    gateway = Gateway(registry)
    try:
        process = subprocess.Popen([BIN, "bench", "mqtt", "--url", f"mqtt://127.0.0.1:{PORTS['MQTT_BIND_PORT']}", "--devices", "100",
                                    "--qos", "0", "--duration", str(DURATION), "--size", "100", "--json", "--quiet"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cpu0 = gateway.cpu_seconds()
        # Two samples of the high watermarks, 2 s in and 1 s before the end:
        # each takes five kcat processes, which would load the two cores if
        # taken every second.
        started = time.time()
        samples = []
        for offset in (2.0, DURATION - 1.0):
            time.sleep(max(0.0, started + offset - time.time()))
            samples.append((time.time(), gateway.kafka_records()))
        out, err = process.communicate(timeout=DURATION + 120)
        if process.returncode != 0:
            raise RuntimeError("bench mqtt --qos 0 failed: " + err[-2000:])
        result = json.loads(out)
        result["serverCpuSeconds"] = round(gateway.cpu_seconds() - cpu0, 2)
        result["serverPeakRssMiB"] = round(gateway.status("VmHWM"), 1)
        (t0, c0), (t1, c1) = samples[0], samples[-1]
        # The gateway may still be reading what the sockets hold: wait until Kafka stops growing.
        last, stable_since = -1, time.time()
        while time.time() - stable_since < 1.5:
            count = gateway.kafka_records()
            if count != last:
                last, stable_since = count, time.time()
            time.sleep(0.25)
        received = gateway.metric("tb_gateway_messages_received_total", transport="mqtt")
        dropped = gateway.metric("tb_gateway_messages_dropped_total")
        result.update({"kafkaRecords": last, "kafkaRate": (c1 - c0) / (t1 - t0) if t1 > t0 else 0, "kafkaSamples": samples,
                       "gatewayReceived": received, "gatewayDropped": dropped,
                       # Telemetry the gateway took but tb.telemetry lacks, and what the bench wrote that the gateway never took.
                       "lost": received - last, "notReceived": result["sent"] - received})
        return result
    finally:
        gateway.stop()


def scenario_http(registry):
    """HTTP, 64 connections, 1,000 devices."""
    return on_fresh_gateway(registry, ["http", "--url", f"http://127.0.0.1:{PORTS['HTTP_BIND_PORT']}", "--devices", "1000",
                                       "--connections", "64", "--duration", str(DURATION)])


def scenario_coap(registry):
    """CoAP CON POST, 100 devices, window 64."""
    return on_fresh_gateway(registry, ["coap", "--url", f"coap://127.0.0.1:{PORTS['COAP_BIND_PORT']}", "--devices", "100",
                                       "--window", "64", "--duration", str(DURATION)])


def scenario_mqtt_idle(registry):
    """10,000 idle MQTT connections, keep-alive 60 s: RSS, connect rate, memory per connection."""
    gateway = Gateway(registry)
    try:
        time.sleep(1)
        before = gateway.status("VmRSS")
        cpu0 = gateway.cpu_seconds()
        hold = max(DURATION, 15)
        process = subprocess.Popen([BIN, "bench", "mqtt", "--url", f"mqtt://127.0.0.1:{PORTS['MQTT_BIND_PORT']}", "--devices", "10000",
                                    "--idle", "--keep-alive", "60", "--duration", str(hold), "--json", "--quiet"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(hold * 0.8)
        held = gateway.status("VmRSS")
        out, err = process.communicate(timeout=hold + 120)
        if process.returncode != 0:
            raise RuntimeError("bench mqtt --idle failed: " + err[-2000:])
        result = json.loads(out)
        result.update({"rssBeforeMiB": round(before, 1), "rssHeldMiB": round(held, 1), "serverCpuSeconds": round(gateway.cpu_seconds() - cpu0, 2),
                       "serverPeakRssMiB": round(gateway.status("VmHWM"), 1),
                       "kibPerConnection": round((held - before) * 1024 / max(1, result["connected"]), 1)})
    finally:
        gateway.stop()
    # The connect rate the same tool reaches against mosquitto on this machine.
    mosquitto = Mosquitto()
    try:
        result["mosquitto"] = bench(["mqtt", "--url", f"mqtt://127.0.0.1:{MOSQUITTO_PORT}", "--devices", "10000",
                                     "--idle", "--keep-alive", "60", "--duration", "5"])
    finally:
        mosquitto.stop()
    return result


def scenario_overload(registry):
    """Far more than the gateway sustains, for three times DURATION: MQTT QoS 1
    from 100 connections with 256 in flight each, unthrottled (the gateway
    stops reading rather than buffering without bound), HTTP from 256
    connections at the same time (answered 503 when the queue is full).
    Then, the second it ends, a probe at a normal rate must be served.
    QUEUE_CAPACITY is 2,000 here: with the default 100,000 the windows above
    never fill the queue (MQTT stops reading first), and the point is to see
    refusals answered and counted."""
    gateway = Gateway(registry, {"QUEUE_CAPACITY": "2000"})
    try:
        hold = DURATION * 3
        cpu0 = gateway.cpu_seconds()
        mqtt = subprocess.Popen([BIN, "bench", "mqtt", "--url", f"mqtt://127.0.0.1:{PORTS['MQTT_BIND_PORT']}", "--devices", "100",
                                 "--qos", "1", "--window", "256", "--duration", str(hold), "--size", "100", "--json", "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        http = subprocess.Popen([BIN, "bench", "http", "--url", f"http://127.0.0.1:{PORTS['HTTP_BIND_PORT']}", "--devices", "1000",
                                 "--connections", "256", "--duration", str(hold), "--size", "100", "--json", "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rss = []
        while mqtt.poll() is None or http.poll() is None:
            rss.append(gateway.status("VmRSS"))
            time.sleep(0.5)
        mqtt_out, mqtt_err = mqtt.communicate()
        http_out, http_err = http.communicate()
        if mqtt.returncode != 0 or http.returncode != 0:
            raise RuntimeError("overload bench failed: " + mqtt_err[-1000:] + http_err[-1000:])
        probe = bench(["mqtt", "--url", f"mqtt://127.0.0.1:{PORTS['MQTT_BIND_PORT']}", "--tokens-pattern", "bench-{n}", "--devices", "10",
                       "--qos", "1", "--window", "1", "--rate", "1000", "--count", "2000"])
        load = {"mqtt": json.loads(mqtt_out), "http": json.loads(http_out)}
        dropped = gateway.metric("tb_gateway_messages_dropped_total", reason="queue_full")
        return {"load": load, "probe": probe, "maxRssMiB": round(max(rss), 1), "serverPeakRssMiB": round(gateway.status("VmHWM"), 1),
                "serverCpuSeconds": round(gateway.cpu_seconds() - cpu0, 2), "gatewayDropped": dropped,
                "refusedAnswered": sum(load["http"]["refused"].values()) + sum(load["mqtt"]["refused"].values()),
                "unanswered": load["http"]["unanswered"] + load["mqtt"]["unanswered"] + load["http"]["errors"] + load["mqtt"]["errors"]}
    finally:
        gateway.stop()


def median(values):
    return statistics.median(values) if values else 0.0


def p99(run):
    return (run.get("latencyMs") or {}).get("p99", 0.0)


def steady_p99(run):
    """p99 of the messages sent in the steady window (the run without its
    first and last second: the connects and the disconnects)."""
    return (run.get("steadyLatencyMs") or {}).get("p99", float("nan"))


def mosquitto_cpu_per_message(run):
    """mosquitto's CPU time per acknowledged message under the QoS 1 load:
    the same broker and load in every table, so it tracks the machine."""
    mosquitto = run["mosquitto"]
    return 1e6 * mosquitto["serverCpuSeconds"] / mosquitto["acknowledged"] if mosquitto.get("acknowledged") else float("nan")


# Each figure: how to get it from a run, the budget, and whether it is met.
FIGURES = {
    "mqtt-qos1": [
        ("MQTT QoS 1, 100 conn × 16 in flight: gateway msg/s", lambda r: r["gateway"]["steadyRate"], None),
        ("same load, mosquitto 2.0 msg/s", lambda r: r["mosquitto"]["steadyRate"], None),
        ("gateway ÷ mosquitto", lambda r: r["ratio"], (">=", 0.60)),
        ("gateway p99 PUBLISH→PUBACK ms", lambda r: p99(r["gateway"]), None),
        # The machine's speed in this run: a shared two-core VM gave the same
        # build three times the CPU per message in one hour as in another
        # (docs/performance.md), so tables are compared through this row.
        ("mosquitto CPU µs per message (the machine's speed)", mosquitto_cpu_per_message, None),
    ],
    "mqtt-fixed": [
        ("MQTT QoS 1 at 10,000 msg/s, 1,000 conn: p99 ms (steady window)", lambda r: steady_p99(r.get("gateway", r)), ("<", 5.0)),
        ("achieved msg/s", lambda r: r.get("gateway", r)["steadyRate"], None),
        ("same load, mosquitto 2.0: p99 ms (steady window)", lambda r: steady_p99(r["mosquitto"]) if "mosquitto" in r else float("nan"), None),
        ("p99 ms over the whole run, with the 1,000 connects", lambda r: p99(r.get("gateway", r)), None),
        ("mosquitto 2.0: p99 ms over the whole run", lambda r: p99(r["mosquitto"]) if "mosquitto" in r else float("nan"), None),
    ],
    "mqtt-qos0": [
        ("MQTT QoS 0, 100 conn: records into Kafka /s", lambda r: r["kafkaRate"], (">=", 150000)),
        ("accepted but not in Kafka", lambda r: r["lost"], ("<=", 0)),
        ("written by the bench but not taken", lambda r: r["notReceived"], ("<=", 0)),
    ],
    "http": [
        ("HTTP, 64 conn, 1,000 devices: req/s", lambda r: r["steadyRate"], (">=", 20000)),
        ("HTTP p99 ms", p99, ("<", 10.0)),
    ],
    "coap": [
        ("CoAP CON POST, 100 devices, window 64: req/s", lambda r: r["steadyRate"], (">=", 50000)),
        ("CoAP retransmissions", lambda r: r["retransmitted"], ("<=", 0)),
    ],
    "overload": [
        ("overload (MQTT 100×256 in flight + HTTP 256 conn, QUEUE_CAPACITY 2,000): gateway max RSS MiB", lambda r: r["maxRssMiB"], ("<", 512)),
        ("accepted msg/s under overload (MQTT + HTTP)", lambda r: r["load"]["mqtt"]["steadyRate"] + r["load"]["http"]["steadyRate"], None),
        ("refusals answered (HTTP 503 / PUBACK codes)", lambda r: r["refusedAnswered"], None),
        ("refusals answered but not counted (dropped_total{queue_full})", lambda r: r["refusedAnswered"] - r["gatewayDropped"], ("<=", 0)),
        ("requests without an answer", lambda r: r["unanswered"], ("<=", 0)),
        ("probe right after: acknowledged of 2,000", lambda r: r["probe"]["acknowledged"], (">=", 2000)),
        ("probe p99 ms", lambda r: p99(r["probe"]), None),
    ],
    "mqtt-idle": [
        ("10,000 idle MQTT connections: gateway RSS MiB", lambda r: r["rssHeldMiB"], ("<", 250)),
        ("connect rate /s", lambda r: r["connectRate"], (">=", 5000)),
        ("same tool, mosquitto 2.0: connect rate /s", lambda r: r["mosquitto"]["connectRate"] if "mosquitto" in r else float("nan"), None),
        ("KiB per connection", lambda r: r["kibPerConnection"], None),
    ],
}

SCENARIOS = {
    "mqtt-qos1": (scenario_mqtt_qos1, 100), "mqtt-fixed": (scenario_mqtt_fixed, 1000), "mqtt-qos0": (scenario_mqtt_qos0, 100),
    "http": (scenario_http, 1000), "coap": (scenario_coap, 100), "mqtt-idle": (scenario_mqtt_idle, 10000),
    "overload": (scenario_overload, 1000),
}


def cpu_and_rss(run):
    server = run.get("gateway", run)
    return server.get("serverCpuSeconds"), server.get("serverPeakRssMiB")


def main():
    chosen = [s for s in os.environ.get("SCENARIOS", ",".join(SCENARIOS)).split(",") if s]
    results_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(results_dir, exist_ok=True)
    source = os.environ.get("FROM")
    if source:
        # The table again from recorded runs, without running anything.
        lines = [json.loads(line) for line in open(source) if line.strip()]
        first = lines[0]
        commit, dirty, machine = first["commit"], first["dirty"], first["machine"]
        stamp = datetime.datetime.fromisoformat(first["date"])
        duration, name = first["durationSeconds"], os.path.basename(source)[:-len(".jsonl")]
        recorded = {}
        for line in lines:
            recorded.setdefault(line["scenario"], []).append(line["result"])
        chosen = [s for s in SCENARIOS if s in recorded]
        runs_count = max(len(v) for v in recorded.values())
    else:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or "unknown"
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip())
        stamp = datetime.datetime.now(datetime.timezone.utc)
        machine = f"{os.cpu_count()} cores, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, {os.uname().machine}, {os.uname().release}"
        duration, name, runs_count = DURATION, f"{stamp:%Y-%m-%d}-{commit}", RUNS
        jsonl = open(os.path.join(results_dir, name + ".jsonl"), "w")
    registries = {}
    rows = []
    for scenario in chosen:
        if source:
            runs = recorded[scenario]
        else:
            function, devices = SCENARIOS[scenario]
            if devices not in registries:
                registries[devices] = provision(max(devices, 100))
            runs = []
            for number in range(1, RUNS + 1):
                log(f"bench: {scenario} run {number}/{RUNS}")
                result = function(registries[devices])
                runs.append(result)
                jsonl.write(json.dumps({"scenario": scenario, "run": number, "date": stamp.isoformat(timespec="seconds"), "commit": commit,
                                        "dirty": dirty, "machine": machine, "durationSeconds": DURATION, "result": result}) + "\n")
                jsonl.flush()
        cpus = [c for c, _ in map(cpu_and_rss, runs) if c is not None]
        rsss = [r for _, r in map(cpu_and_rss, runs) if r is not None]
        for label, get, budget in FIGURES[scenario]:
            values = [get(r) for r in runs]
            value = median(values)
            verdict = ""
            if budget:
                op, bound = budget
                ok = {">=": value >= bound, "<": value < bound, "<=": value <= bound}[op]
                verdict = f"{op} {bound:g}: {'met' if ok else 'MISSED'}"
            rows.append((scenario, label, value, values, verdict, median(cpus), median(rsss)))
            log(f"bench: {label}: {value:.2f} {verdict}")
    if not source:
        jsonl.close()
    for path in registries.values():
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    table = [f"Measured {stamp:%Y-%m-%d %H:%M} UTC on {machine}, commit {commit}{' (uncommitted changes)' if dirty else ''}; "
             f"median of {runs_count} runs of {duration:g} s, release build, embedded Kafka, 100-byte-class JSON "
             f"(raw runs: bench/results/{name}.jsonl).", "",
             "| scenario | figure | median | runs | budget | gateway CPU s | gateway peak RSS MiB |",
             "|---|---|---:|---|---|---:|---:|"]
    for scenario, label, value, values, verdict, cpu, rss in rows:
        def number(v):
            return f"{v:,.2f}" if abs(v) < 10 else f"{v:,.1f}"
        runs = ", ".join(number(v) for v in values)
        table.append(f"| {scenario} | {label} | {number(value)} | {runs} | {verdict} | {cpu:.1f} | {rss:.0f} |")
    text = "\n".join(table) + "\n"
    open(os.path.join(results_dir, name + ".md"), "w").write(text)
    open(os.path.join(results_dir, "latest.md"), "w").write(text)
    if not os.environ.get("NO_README"):
        readme = os.path.join(ROOT, "README.md")
        content = open(readme).read()
        begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
        if begin in content and end in content:
            head, rest = content.split(begin, 1)
            _, tail = rest.split(end, 1)
            open(readme, "w").write(head + begin + "\n" + text + end + tail)
    print(text)


if __name__ == "__main__":
    main()

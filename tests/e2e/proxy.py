"""A loopback HTTP proxy in front of moto_server that adds fixed latency per request and
injects AWS errors moto never returns (IAM propagation, DependencyViolation, throttling).

    python proxy.py --upstream http://127.0.0.1:5000 [--latency-ms 50]
                    [--fault ACTION:STATUS:CODE:COUNT[:MESSAGE]] ...

Prints "PORT <n>" on stdout once listening on 127.0.0.1:<n>. A fault answers the first COUNT
requests whose Action (query protocol: EC2, IAM, RDS) equals ACTION with the given HTTP
status and error code, then forwards as usual. GET /__proxy/stats returns counts per action.

    --capture FIELD         records the value of the form field FIELD of every query-protocol
                            request (e.g. MasterUserPassword), listed by GET /__proxy/captured.

    --drop ACTION:COUNT     forward the first COUNT requests of ACTION, then drop their responses
                            (close the connection): the call took effect, the client never knows.
    --chaos RATE --seed N   each request, with probability RATE (seeded: reproducible for the
                            same sequence of requests), gets one fault out of three: throttled,
                            a 5xx, or forwarded and then its response dropped (the connection is
                            closed after the call took effect). Counts under /__proxy/stats
                            as "chaos:throttle", "chaos:5xx", "chaos:drop".

AWS's delays, which moto does not have (moto itself is unchanged; the proxy rewrites its
answers):

    --db-creating N         an RDS cluster or DB instance reads "creating" in DescribeDBClusters
                            / DescribeDBInstances for N s after its Create call.
    --instance-pending M    an EC2 instance reads "pending" in DescribeInstances for M s after
                            the RunInstances that launched it.
    --profile-propagation P RunInstances naming an instance profile created less than P s ago
                            fails as AWS fails it while the profile propagates
                            (InvalidParameterValue: Invalid IAM Instance Profile name).
"""

import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


class Delays:
    """Simulated AWS delays: creation times by kind and name, and the rewriting they imply."""

    def __init__(self, db_creating=0.0, instance_pending=0.0, profile_propagation=0.0):
        self.db_creating = db_creating
        self.instance_pending = instance_pending
        self.profile_propagation = profile_propagation
        self.born = {}  # (kind, name) -> time.monotonic() of its Create call
        self.lock = threading.Lock()

    def young(self, kind, name, seconds):
        with self.lock:
            t = self.born.get((kind, name))
        return t is not None and time.monotonic() - t < seconds

    def note(self, kind, name):
        with self.lock:
            self.born.setdefault((kind, name), time.monotonic())

    def before(self, action, form):
        """An error (status, code, message) to answer instead of forwarding, or None."""
        if action == "CreateInstanceProfile" and self.profile_propagation:
            self.note("profile", form.get("InstanceProfileName", [""])[0])
        if action == "RunInstances" and self.profile_propagation:
            ref = (form.get("IamInstanceProfile.Name") or form.get("IamInstanceProfile.Arn") or [""])[0]
            name = ref.rsplit("/", 1)[-1]
            if name and self.young("profile", name, self.profile_propagation):
                return (400, "InvalidParameterValue",
                        f"Value ({name}) for parameter iamInstanceProfile.name is invalid. "
                        "Invalid IAM Instance Profile name")
        if action == "CreateDBCluster" and self.db_creating:
            self.note("cluster", form.get("DBClusterIdentifier", [""])[0])
        if action == "CreateDBInstance" and self.db_creating:
            self.note("db", form.get("DBInstanceIdentifier", [""])[0])
        return None

    def after(self, action, data):
        """The upstream answer, rewritten for resources still being created."""
        if action == "RunInstances" and self.instance_pending:
            for iid in re.findall(rb"<instanceId>(i-[0-9a-f]+)</instanceId>", data):
                self.note("instance", iid.decode())
        if action == "DescribeInstances" and self.instance_pending:
            def pend(m):
                if not self.young("instance", m.group(2).decode(), self.instance_pending):
                    return m.group(0)
                return re.sub(rb"<instanceState>.*?</instanceState>",
                              b"<instanceState><code>0</code><name>pending</name></instanceState>",
                              m.group(0), count=1, flags=re.S)
            data = re.sub(rb"(<instanceId>(i-[0-9a-f]+)</instanceId>.*?</instanceState>)", pend, data,
                          flags=re.S)
        if action in ("DescribeDBClusters", "DescribeDBInstances") and self.db_creating:
            kind, block, ident, status = (
                ("cluster", b"DBCluster", b"DBClusterIdentifier", b"Status")
                if action == "DescribeDBClusters"
                else ("db", b"DBInstance", b"DBInstanceIdentifier", b"DBInstanceStatus"))

            def creating(m):
                name = re.search(rb"<%s>([^<]*)</%s>" % (ident, ident), m.group(0))
                if not name or not self.young(kind, name.group(1).decode(), self.db_creating):
                    return m.group(0)
                return re.sub(rb"<%s>available</%s>" % (status, status),
                              b"<%s>creating</%s>" % (status, status), m.group(0), count=1)
            data = re.sub(rb"<%s>.*?</%s>" % (block, block), creating, data, flags=re.S)
        return data


class State:
    def __init__(self, upstream, latency, faults, chaos=0.0, seed=0, drops=(), delays=None):
        u = urllib.parse.urlparse(upstream)
        self.host, self.port = u.hostname, u.port or 80
        self.latency = latency
        self.faults = faults  # list of dicts with remaining counts
        self.lock = threading.Lock()
        self.counts = {}
        self.chaos = chaos
        self.drops = list(drops)
        self.rng = random.Random(seed)
        self.capture = []
        self.captured = []
        self.delays = delays or Delays()

    def roll(self):
        """None, or the chaos fault for the next request (call with the lock held)."""
        if not self.chaos or self.rng.random() >= self.chaos:
            return None
        return self.rng.choice(["throttle", "5xx", "drop"])


def parse_fault(s):
    parts = s.split(":", 4)
    action, status, code, count = parts[:4]
    msg = parts[4] if len(parts) > 4 else code
    return {"action": action, "status": int(status), "code": code, "left": int(count), "message": msg}


def service_of(headers):
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request", headers.get("Authorization", ""))
    return m.group(1) if m else ""


def error_body(service, code, message):
    message = message.replace("&", "&amp;").replace("<", "&lt;")
    if service == "s3":
        return f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    if service == "ec2":
        return (
            f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code>"
            f"<Message>{message}</Message></Error></Errors><RequestID>proxy-fault</RequestID></Response>"
        )
    return (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
        f"</Error><RequestId>proxy-fault</RequestId></ErrorResponse>"
    )


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path in ("/__proxy/stats", "/__proxy/captured"):
                data = json.dumps(state.counts if self.path.endswith("stats") else state.captured).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            action = ""
            chaos = None
            form = {}
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            if "Action" in q:
                action = q["Action"][0]
                form = q
            elif self.headers.get("X-Amz-Target"):
                # JSON protocol (Secrets Manager): "secretsmanager.ListSecrets".
                action = self.headers["X-Amz-Target"].rsplit(".", 1)[-1]
            elif body and b"Action=" in body:
                form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                action = form.get("Action", [""])[0]
                for name in state.capture:
                    for v in form.get(name, []):
                        with state.lock:
                            state.captured.append({"action": action, "field": name, "value": v})
            if not action:
                # REST (S3): METHOD plus the sub-resource (`PUT tagging`), else bucket/object.
                u = urllib.parse.urlparse(self.path)
                keys = [k for k, _ in urllib.parse.parse_qsl(u.query, keep_blank_values=True)]
                sub = next((k for k in keys if k and not k.startswith("x-")), "")
                depth = len([p for p in u.path.split("/") if p])
                action = f"{self.command} {sub or ('object' if depth > 1 else 'bucket')}"
            with state.lock:
                state.counts[action] = state.counts.get(action, 0) + 1
                fault = None
                for f in state.faults:
                    if f["action"] == action and f["left"] > 0:
                        f["left"] -= 1
                        fault = f
                        break
                for d in state.drops:
                    if d["action"] == action and d["left"] > 0 and not fault:
                        d["left"] -= 1
                        chaos = "drop"
                        break
                else:
                    chaos = None
                chaos = chaos or (None if fault else state.roll())
                if chaos:
                    key = f"chaos:{chaos}"
                    state.counts[key] = state.counts.get(key, 0) + 1
            if state.latency:
                time.sleep(state.latency)
            service = service_of(self.headers)
            delayed = None if fault or chaos else state.delays.before(action, form)
            if delayed:
                fault = {"status": delayed[0], "code": delayed[1], "message": delayed[2]}
            if chaos == "throttle":
                status, code = {"ec2": (503, "RequestLimitExceeded"), "s3": (503, "SlowDown")}.get(
                    service, (400, "Throttling"))
                fault = {"status": status, "code": code, "message": "Rate exceeded (chaos)"}
            elif chaos == "5xx":
                fault = {"status": 500, "code": "InternalError", "message": "internal error (chaos)"}
            if fault:
                data = error_body(service_of(self.headers), fault["code"], fault["message"]).encode()
                self.send_response(fault["status"])
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            conn = http.client.HTTPConnection(state.host, state.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = state.delays.after(action, resp.read())
            if chaos == "drop":
                # The call took effect upstream; the client never hears of it.
                conn.close()
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    return Handler


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A client killed mid-request (the chaos test's kill -9) is no proxy error.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--fault", action="append", default=[])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--chaos", type=float, default=0.0)
    ap.add_argument("--drop", action="append", default=[])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--capture", action="append", default=[])
    ap.add_argument("--db-creating", type=float, default=0)
    ap.add_argument("--instance-pending", type=float, default=0)
    ap.add_argument("--profile-propagation", type=float, default=0)
    a = ap.parse_args()
    state = State(a.upstream, a.latency_ms / 1000.0, [parse_fault(f) for f in a.fault], a.chaos, a.seed,
                  [{"action": d.rsplit(":", 1)[0], "left": int(d.rsplit(":", 1)[1])} for d in a.drop],
                  Delays(a.db_creating, a.instance_pending, a.profile_propagation))
    state.capture = a.capture
    srv = Server(("127.0.0.1", a.port), make_handler(state))
    srv.daemon_threads = True
    print(f"PORT {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())

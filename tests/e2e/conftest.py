"""Fixtures: the moto endpoint (started by run.sh), boto3 clients, the CLI runner, the proxy."""

import http.server
import json
import threading
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("DETSCRIPT_E2E_ROOT", HERE.parent.parent))
ENDPOINT = os.environ.get("DETSCRIPT_E2E_ENDPOINT", "")
BIN = os.environ.get("DETSCRIPT_BIN", str(ROOT / "target" / "debug" / "detscript"))
REGION = "us-west-2"
ACCOUNT = "123456789012"  # moto's
PASSWORD = "E2e-Secret-Pw-4242"
KEYPAIR = "e2e-key"
SCRIPT = ROOT / "scripts" / "deploy.rhai"

if not ENDPOINT:
    pytest.exit("DETSCRIPT_E2E_ENDPOINT is not set: run tests/e2e/run.sh", returncode=1)


def aws_env(endpoint=ENDPOINT, creds=True, region=True):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_CONFIG_FILE": "/nonexistent/detscript-e2e-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/detscript-e2e-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_COLOR": "1",
    }
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    if creds:
        env["AWS_ACCESS_KEY_ID"] = "testing"
        env["AWS_SECRET_ACCESS_KEY"] = "testing"
    if region:
        env["AWS_REGION"] = REGION
    return env


class Result:
    def __init__(self, p):
        self.code = p.returncode
        self.out = p.stdout
        self.err = p.stderr

    @property
    def all(self):
        return self.out + self.err

    def __repr__(self):
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def det_cmd(command, *extra, cluster="det-e2e", script=SCRIPT, params=None, yes=True):
    """The command line of the real CLI binary."""
    cmd = [BIN, command, str(script), "-p", f"cluster_id={cluster}", "-p", f"keypair={KEYPAIR}"]
    if "db_password" not in (params or {}):
        cmd += ["-p", f"db_password={PASSWORD}"]
    for k, v in (params or {}).items():
        cmd += ["-p", f"{k}={v}"]
    if yes and command in ("run", "apply", "destroy"):
        cmd.append("--yes")
    return cmd + list(extra)


def det(command, *extra, cluster="det-e2e", script=SCRIPT, endpoint=ENDPOINT, env=None,
        params=None, yes=True, timeout=600):
    """Runs the real CLI binary. Every call asserts that the secret never appears."""
    cmd = det_cmd(command, *extra, cluster=cluster, script=script, params=params, yes=yes)
    p = subprocess.run(cmd, env=env or aws_env(endpoint), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    r = Result(p)
    assert PASSWORD not in r.all, f"the secret leaked into the output of {command}"
    return r


def role_name(cluster, name, region=REGION):
    """The name of an IAM role or instance profile: the region is part of it."""
    return f"{cluster}-{name}-{region}"


def bucket_name(cluster, name="checkpoints", region=REGION):
    """The name of a bucket: region and account are part of it."""
    return f"{cluster}-{name}-{region}-{ACCOUNT}"


def owner_tags(cluster, rid, region=REGION):
    """The ownership tags of an account-wide resource (IAM, S3)."""
    return {"detscript:deployment": cluster, "detscript:id": rid, "detscript:region": region}


def region_free_script(tmp_path):
    """deploy.rhai without a region of its own (so that the environment or --region decides),
    with literal AMIs in place of determined_ami(), which needs one."""
    text = SCRIPT.read_text()
    assert ".region(p.region)" in text
    text = (text.replace(".region(p.region)", "")
            .replace('determined_ami("agent")', '"ami-015aabd7d10854b76"')
            .replace('determined_ami("master")', '"ami-0ceeab680f529cc36"'))
    path = tmp_path / "deploy-no-region.rhai"
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def reset_moto():
    req = urllib.request.Request(f"{ENDPOINT}/moto-api/reset", method="POST", data=b"")
    urllib.request.urlopen(req, timeout=10).read()
    yield


class Aws:
    def __init__(self, endpoint=ENDPOINT):
        s = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                  region_name=REGION)
        self.ec2 = s.client("ec2", endpoint_url=endpoint)
        self.iam = s.client("iam", endpoint_url=endpoint)
        self.rds = s.client("rds", endpoint_url=endpoint)
        self.s3 = s.client("s3", endpoint_url=endpoint)
        self.sm = s.client("secretsmanager", endpoint_url=endpoint)

    def default_vpc(self):
        return self.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]

    def sg(self, name):
        gs = self.ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
        assert len(gs) == 1, f"expected one group {name}, got {gs}"
        return gs[0]

    def rules(self, gid):
        """The group's rules as a set of (direction, protocol, from, to, peer)."""
        out = set()
        for r in self.ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]:
            peer = (r.get("ReferencedGroupInfo", {}).get("GroupId") or r.get("CidrIpv4")
                    or r.get("CidrIpv6"))
            out.add(("egress" if r["IsEgress"] else "ingress", r["IpProtocol"], r.get("FromPort"),
                     r.get("ToPort"), peer))
        return out

    def instances(self, filters):
        res = self.ec2.describe_instances(Filters=filters)["Reservations"]
        return [i for r in res for i in r["Instances"]]

    def live_instances(self, filters):
        return [i for i in self.instances(filters) if i["State"]["Name"] not in ("terminated", "shutting-down")]

    def owned(self, cluster):
        """Everything still carrying detscript:deployment=<cluster>, by service."""
        tag = [{"Name": "tag:detscript:deployment", "Values": [cluster]}]
        left = {}
        left["sgs"] = [g["GroupId"] for g in self.ec2.describe_security_groups(Filters=tag)["SecurityGroups"]]
        left["instances"] = [i["InstanceId"] for i in self.live_instances(tag)]
        left["roles"] = [r["RoleName"] for r in self.iam.list_roles()["Roles"]
                         if r["RoleName"].startswith(cluster + "-")]
        left["profiles"] = [p["InstanceProfileName"] for p in self.iam.list_instance_profiles()["InstanceProfiles"]
                            if p["InstanceProfileName"].startswith(cluster + "-")]
        left["buckets"] = [b["Name"] for b in self.s3.list_buckets().get("Buckets", [])
                           if b["Name"].startswith(cluster + "-")]
        left["clusters"] = [c["DBClusterIdentifier"] for c in self.rds.describe_db_clusters()["DBClusters"]
                            if c["DBClusterIdentifier"].startswith(cluster + "-")]
        left["dbs"] = [d["DBInstanceIdentifier"] for d in self.rds.describe_db_instances()["DBInstances"]
                       if d["DBInstanceIdentifier"].startswith(cluster + "-")]
        return {k: v for k, v in left.items() if v}


def fake_agents(aws, cluster, n=2, profile=True):
    """Instances "launched by the master": the default pool's tag, the agent group and (with
    `profile`) the deployment's agent instance profile. One call each: moto associates the
    profile with the first instance of a call only."""
    key, value = f"determined-{cluster}", f"determined-{cluster}-agent"
    agent_sg = aws.sg(f"{cluster}-agent")["GroupId"]
    extra = {}
    if profile:
        arn = aws.iam.get_instance_profile(InstanceProfileName=role_name(cluster, "agent"))["InstanceProfile"]["Arn"]
        extra["IamInstanceProfile"] = {"Arn": arn}
    return [i for _ in range(n) for i in aws.ec2.run_instances(
        ImageId="ami-0c55b159cbfafe1f0", MinCount=1, MaxCount=1, InstanceType="p3.8xlarge",
        SecurityGroupIds=[agent_sg], **extra,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": key, "Value": value}]}],
    )["Instances"]]


@pytest.fixture
def aws():
    a = Aws()
    a.ec2.create_key_pair(KeyName=KEYPAIR)
    return a


class Proxy:
    def __init__(self, *args):
        self.p = subprocess.Popen([sys.executable, str(HERE / "proxy.py"), "--upstream", ENDPOINT, *args],
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        assert line.startswith("PORT "), line
        self.url = f"http://127.0.0.1:{line.split()[1]}"

    def stats(self):
        return json.loads(urllib.request.urlopen(f"{self.url}/__proxy/stats", timeout=10).read())

    def close(self):
        self.p.terminate()
        self.p.wait(timeout=10)


@pytest.fixture
def proxy():
    made = []

    def start(*args):
        p = Proxy(*args)
        made.append(p)
        return p

    yield start
    for p in made:
        p.close()


MUTATING_PREFIXES = ("Create", "Put", "Authorize", "Revoke", "Delete", "Run", "Terminate", "Modify",
                     "Add", "Remove", "Attach", "Detach", "Update", "Tag", "Untag", "Cancel",
                     "PUT ", "DELETE ", "POST ")


def mutating(stats):
    return {k: v for k, v in stats.items() if k.startswith(MUTATING_PREFIXES)}


@pytest.fixture
def script_copy(tmp_path):
    """A copy of scripts/ that a test may edit."""
    dst = tmp_path / "scripts"
    shutil.copytree(ROOT / "scripts", dst)
    return dst / "deploy.rhai"


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler of the test stubs: answers JSON, logs nothing."""

    def reply_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class InfoStub:
    """A stand-in for the master's /info on 127.0.0.1: answers `status` (503 while
    `down_for` requests remain) with {"version": version}; counts the requests."""

    def __init__(self, version="0.38.1", down_for=0, status=200):
        self.version, self.down_for, self.status = version, down_for, status
        self.requests = 0
        stub = self

        class Handler(QuietHandler):
            def do_GET(self):
                stub.requests += 1
                up = stub.requests > stub.down_for and self.path == "/info"
                code = stub.status if up else 503
                self.reply_json(code, {"version": stub.version, "cluster_id": "stub"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/info"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self, **extra):
        """The CLI's environment, probing this stub (never an address moto hands out)."""
        env = aws_env()
        env["DETSCRIPT_HEALTH_URL"] = self.url
        env.update(extra)
        return env

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def info_stub():
    stubs = []

    def make(**kw):
        stubs.append(InfoStub(**kw))
        return stubs[-1]

    yield make
    for s in stubs:
        s.close()

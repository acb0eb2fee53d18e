"""Secrets off the instance (issue 11): the database and admin passwords live in Secrets
Manager, the master's user-data holds only their ARNs, its role may read exactly those, and
the boot script (run here in a harness that answers its AWS CLI calls from moto, as the
instance role would) writes master.yaml with the values RDS and Determined use."""

import base64
import json
import os
import re
import socket
import stat
import subprocess
import sys
import textwrap

import yaml

from conftest import ENDPOINT, PASSWORD, ROOT, det, role_name

CL = "det-e2e"


def run_ok(*extra, **kw):
    r = det("run", *extra, **kw)
    assert r.code == 0, r
    return r


def master(aws):
    tag = [{"Name": "tag:detscript:id", "Values": ["ec2_instance.master"]},
           {"Name": "instance-state-name", "Values": ["pending", "running"]}]
    found = aws.live_instances(tag)
    assert len(found) == 1, found
    return found[0]


def user_data(aws, iid):
    ud = aws.ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
    return base64.b64decode(ud["UserData"]["Value"]).decode()


def secrets(aws):
    """The deployment's secrets by name (those scheduled for deletion too)."""
    out = {}
    for s in aws.sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]:
        if s["Name"].startswith(f"{CL}/"):
            out[s["Name"]] = s
    return out


def value(aws, name):
    return aws.sm.get_secret_value(SecretId=name)["SecretString"]


def all_tags(aws):
    """Every tag of every resource the deployment made, as one text."""
    tags = []
    for r in aws.ec2.describe_instances()["Reservations"]:
        for i in r["Instances"]:
            tags += i.get("Tags", [])
    for g in aws.ec2.describe_security_groups()["SecurityGroups"]:
        tags += g.get("Tags", [])
    for c in aws.rds.describe_db_clusters()["DBClusters"]:
        tags += c.get("TagList", [])
    for d in aws.rds.describe_db_instances()["DBInstances"]:
        tags += d.get("TagList", [])
    for role in aws.iam.list_roles()["Roles"]:
        tags += aws.iam.list_role_tags(RoleName=role["RoleName"]).get("Tags", [])
    for s in secrets(aws).values():
        tags += s.get("Tags", [])
    return json.dumps(tags)


FAKE_DOCKER = textwrap.dedent("""\
    #!{python}
    # `docker` for the boot script under test: `docker run ... aws-cli secretsmanager
    # get-secret-value ...` answers from moto, as the AWS CLI in the real image would;
    # every other docker command succeeds and is logged.
    import json, sys
    import boto3
    args = sys.argv[1:]
    with open({log!r}, "a") as f:
        f.write(" ".join(args) + "\\n")
    if "get-secret-value" not in args:
        sys.exit(0)
    opt = lambda k: args[args.index(k) + 1] if k in args else None
    assert opt("--query") == "SecretString" and opt("--output") == "json", args
    sm = boto3.client("secretsmanager", endpoint_url={endpoint!r}, region_name=opt("--region"),
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    kw = {{"SecretId": opt("--secret-id")}}
    if opt("--version-id"):
        kw["VersionId"] = opt("--version-id")
    try:
        print(json.dumps(sm.get_secret_value(**kw)["SecretString"]))
    except Exception as e:
        print(f"An error occurred (ResourceNotFoundException): {{e}}", file=sys.stderr)
        sys.exit(254)
""")


def boot(tmp_path, script):
    """Runs the master's boot script with its absolute paths moved under tmp_path and a
    docker that answers secret reads from moto. Returns (exit code, log, etc dir)."""
    root = tmp_path / "root"
    bin_dir = tmp_path / "bin"
    for d in (root, bin_dir):
        d.mkdir(exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable, log=str(tmp_path / "docker.log"),
                                         endpoint=ENDPOINT))
    docker.chmod(0o755)
    for tool in ("systemctl",):
        t = bin_dir / tool
        t.write_text("#!/bin/sh\nexit 0\n")
        t.chmod(0o755)
    # The RDS CA bundle download (Aurora's verify-ca): the test machine has no internet, so a
    # curl that writes a placeholder where -o says.
    curl = bin_dir / "curl"
    curl.write_text('#!/bin/sh\nout=""\nwhile [ $# -gt 0 ]; do [ "$1" = "-o" ] && out="$2"; shift; done\n'
                    '[ -n "$out" ] && printf "placeholder CA bundle\\n" > "$out"\n')
    curl.chmod(0o755)
    for path in ("/usr/local/determined", "/run/detscript", "/var/log/"):
        script = script.replace(path, str(root) + path)
    # The database the master waits for: a listener on 127.0.0.1 stands in for the endpoint
    # moto hands out (never connect to an address moto makes up).
    db = socket.socket()
    db.bind(("127.0.0.1", 0))
    db.listen()
    script, waits = re.subn(r"^wait_for_database \S+ \d+$",
                            f"wait_for_database 127.0.0.1 {db.getsockname()[1]}", script, flags=re.M)
    assert waits == 1, "the boot script waits for the database once"
    (root / "var" / "log").mkdir(parents=True, exist_ok=True)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(tmp_path)}
    with db:
        p = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    log_file = root / "var" / "log" / "detscript-master.log"
    log = log_file.read_text() if log_file.exists() else ""
    return p.returncode, log + p.stdout + p.stderr, root / "usr" / "local" / "determined" / "etc"


def test_secrets_are_in_secrets_manager_and_never_on_the_instance(aws, tmp_path, proxy):
    # db_password empty: AWS generates both passwords.
    px = proxy("--capture", "MasterUserPassword")
    r = run_ok(params={"db_password": ""}, endpoint=px.url)
    made = secrets(aws)
    assert set(made) == {f"{CL}/db-password", f"{CL}/admin-password"}
    for s in made.values():
        tags = {t["Key"]: t["Value"] for t in s["Tags"]}
        assert tags["detscript:deployment"] == CL
        assert tags["detscript:id"] == "secretsmanager_secret." + s["Name"].split("/")[1]
    db_pw, admin_pw = value(aws, f"{CL}/db-password"), value(aws, f"{CL}/admin-password")
    for v in (db_pw, admin_pw):
        assert len(v) == 32 and v.isalnum() and v != v.lower() and v != v.upper()
        assert any(c.isdigit() for c in v)
        assert v not in r.all

    # Neither value is in the user-data (as DescribeInstanceAttribute and IMDS give it) or any tag.
    i = master(aws)
    ud = user_data(aws, i["InstanceId"])
    tags = all_tags(aws)
    for v in (db_pw, admin_pw, PASSWORD):
        assert v not in ud
        assert v not in tags
    arns = sorted(s["ARN"] for s in made.values())
    for arn in arns:
        assert arn in ud

    # The master role reads exactly these secrets, and nothing else of Secrets Manager.
    role = role_name(CL, "master")
    docs = {n: aws.iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"]
            for n in aws.iam.list_role_policies(RoleName=role)["PolicyNames"]}
    doc = docs["detscript-read-secrets"]
    assert doc["Statement"] == [{"Sid": "ReadTheMastersSecrets", "Effect": "Allow",
                                 "Action": "secretsmanager:GetSecretValue", "Resource": arns}]
    others = json.dumps({n: d for n, d in docs.items() if n != "detscript-read-secrets"})
    assert "secretsmanager" not in others
    agent_docs = json.dumps([aws.iam.get_role_policy(RoleName=role_name(CL, "agent"), PolicyName=n)["PolicyDocument"]
                             for n in aws.iam.list_role_policies(RoleName=role_name(CL, "agent"))["PolicyNames"]])
    assert "secretsmanager" not in agent_docs

    # The boot script, fed the secrets as the instance would read them, writes master.yaml
    # (0600) with the values RDS and Determined use.
    code, log, etc = boot(tmp_path, ud)
    assert code == 0, log
    assert re.search(r"detscript: the database at 127\.0\.0\.1:\d+ accepts connections after 0 s", log), log
    cfg_file = etc / "master.yaml"
    assert stat.S_IMODE(cfg_file.stat().st_mode) == 0o600
    cfg = yaml.safe_load(cfg_file.read_text())
    assert cfg["db"]["password"] == db_pw
    assert cfg["security"]["initial_user_password"] == admin_pw
    c = aws.rds.describe_db_clusters(DBClusterIdentifier=f"{CL}-db")["DBClusters"][0]
    assert cfg["db"]["host"] == c["Endpoint"] and cfg["db"]["user"] == c["MasterUsername"]
    assert rds_passwords(px) == [("CreateDBCluster", db_pw)]
    assert not any((tmp_path / "root" / "run" / "detscript").iterdir()), "fetched values are removed"
    assert "determined-master" in (tmp_path / "docker.log").read_text()

    # A secret that cannot be read stops the boot with a line naming it; no master starts.
    aws.sm.delete_secret(SecretId=f"{CL}/admin-password", ForceDeleteWithoutRecovery=True)
    again = tmp_path / "again"
    again.mkdir()
    code, log, _ = boot(again, ud)
    assert code != 0
    assert "detscript: cannot read secret arn:" in log and "admin-password" in log, log
    assert "the master is not started" in log


CERT = "-----BEGIN CERTIFICATE-----\nMIIBfake+cert/line==\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIEfake'key\"line\\==\n-----END PRIVATE KEY-----\n"


def test_tls_files_come_from_secrets_with_no_hand_step(aws, tmp_path):
    script = ROOT / "scripts" / "secure.rhai"
    r = run_ok(script=script, params={"tls_cert": CERT, "tls_key": KEY})
    assert "MIIE" not in r.all and "MIIB" not in r.all
    assert value(aws, f"{CL}/tls-cert") == CERT and value(aws, f"{CL}/tls-key") == KEY
    ud = user_data(aws, master(aws)["InstanceId"])
    assert "MIIE" not in ud and "MIIB" not in ud and PASSWORD not in ud
    code, log, etc = boot(tmp_path, ud)
    assert code == 0, log
    cfg = yaml.safe_load((etc / "master.yaml").read_text())
    assert cfg["security"]["tls"] == {"cert": "/etc/determined/tls/cert.pem",
                                      "key": "/etc/determined/tls/key.pem"}
    assert cfg["security"]["initial_user_password"] == value(aws, f"{CL}/admin-password")
    assert cfg["db"]["password"] == value(aws, f"{CL}/db-password")
    for name, want in (("cert.pem", CERT), ("key.pem", KEY)):
        f = etc / "tls" / name
        assert f.read_text() == want, name
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE((etc / "tls").stat().st_mode) == 0o700
    # Agents dial the master's private IP and verify the certificate's name.
    assert cfg["resource_pools"][0]["provider"]["master_cert_name"] == "determined-master"
    assert cfg["resource_pools"][0]["provider"]["master_url"] == "https://local-ipv4:8443"


def rds_passwords(p):
    """The master passwords detscript sent to RDS, by action, as the proxy saw them (RDS has
    no API that returns a password)."""
    import urllib.request
    got = json.loads(urllib.request.urlopen(f"{p.url}/__proxy/captured", timeout=10).read())
    return [(c["action"], c["value"]) for c in got if c["field"] == "MasterUserPassword"]


def test_a_given_password_is_stored_rotation_replaces_the_master_and_destroy_keeps_a_window(aws, proxy):
    px = proxy("--capture", "MasterUserPassword")
    run_ok(endpoint=px.url)
    assert value(aws, f"{CL}/db-password") == PASSWORD
    before = master(aws)["InstanceId"]
    assert rds_passwords(px) == [("CreateDBCluster", PASSWORD)]

    # A second run changes nothing.
    r = run_ok()
    assert master(aws)["InstanceId"] == before
    # Rotation: a new version of the admin password replaces the master (its user-data
    # names the version it reads), and the plan says so.
    aws.sm.put_secret_value(SecretId=f"{CL}/admin-password", SecretString="Rotated-Admin-Pw-99")
    p = det("plan", "--refresh")
    assert re.search(r"-/\+\s+ec2_instance\.master", p.out), p
    run_ok()
    after = master(aws)
    assert after["InstanceId"] != before
    assert "Rotated-Admin-Pw-99" not in user_data(aws, after["InstanceId"])

    # A parameter is the value of its secret: a version stored behind its back is replaced by
    # the parameter's. Without the parameter (AWS's or your own value in Secrets Manager), a
    # new version of the database password is set through the RDS API (and the master, which
    # reads it at boot, is replaced); a run after that changes nothing.
    own = {"db_password": ""}
    run_ok(params=own)
    aws.sm.put_secret_value(SecretId=f"{CL}/db-password", SecretString="Rotated-Db-Pw-77")
    p = det("plan", "--refresh", params=own)
    assert re.search(r"~\s+rds_cluster\.db", p.out) and "master password" in p.out, p
    assert "Rotated-Db-Pw-77" not in p.all
    px2 = proxy("--capture", "MasterUserPassword")
    r = run_ok(endpoint=px2.url, params=own)
    assert "Rotated-Db-Pw-77" not in r.all
    assert rds_passwords(px2) == [("ModifyDBCluster", "Rotated-Db-Pw-77")]
    assert master(aws)["InstanceId"] != after["InstanceId"]
    assert value(aws, f"{CL}/db-password") == "Rotated-Db-Pw-77"
    r = run_ok(params=own)
    assert "No changes" in r.out, r

    d = det("destroy", "--skip-final-snapshot", "--delete-secrets-now")
    assert d.code == 0, d
    assert secrets(aws) == {}


SECRETS_ONLY = """
let p = params(#{
    cluster_id:  #{ default: "det-e2e" },
    keypair:     #{ default: "" },
    db_password: #{ secret: true, default: "" },
});
deployment(p.cluster_id);
secret("db-password", p.db_password);
secret("admin-password", #{ length: 40, recovery_window_days: 10 });
"""


def test_destroy_keeps_a_recovery_window_and_run_restores(aws, tmp_path):
    script = tmp_path / "secrets.rhai"
    script.write_text(SECRETS_ONLY)
    run_ok(script=script)
    assert len(value(aws, f"{CL}/admin-password")) == 40
    admin = value(aws, f"{CL}/admin-password")
    # destroy schedules the secrets for deletion with their recovery window ...
    d = det("destroy", script=script)
    assert d.code == 0, d
    assert "scheduled for deletion in 10 days" in d.all and "in 7 days" in d.all, d
    left = secrets(aws)
    assert set(left) == {f"{CL}/db-password", f"{CL}/admin-password"}
    assert all("DeletedDate" in s for s in left.values())
    # ... a new run restores them (their names are taken until the window ends), values kept ...
    p = det("plan", "--refresh", script=script)
    assert "restore" in p.out, p
    run_ok(script=script)
    assert all("DeletedDate" not in s for s in secrets(aws).values())
    assert value(aws, f"{CL}/db-password") == PASSWORD
    assert value(aws, f"{CL}/admin-password") == admin
    # ... a changed parameter is stored as a new version ...
    run_ok(script=script, params={"db_password": "Another-Pw-123"})
    assert value(aws, f"{CL}/db-password") == "Another-Pw-123"
    # ... and --delete-secrets-now removes them at once.
    d = det("destroy", "--delete-secrets-now", script=script)
    assert d.code == 0, d
    assert secrets(aws) == {}


def test_a_foreign_secret_with_the_planned_name_is_never_touched(aws):
    aws.sm.create_secret(Name=f"{CL}/db-password", SecretString="someone-elses")
    r = det("run")
    assert r.code == 3, r
    assert f"{CL}/db-password" in r.err and "never modifies" in r.err
    assert value(aws, f"{CL}/db-password") == "someone-elses"

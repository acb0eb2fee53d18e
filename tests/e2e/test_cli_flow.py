"""The terraform-like flow against moto: a saved plan applied exactly (and refused once stale),
`outputs` and `status` read back from live AWS (the master's health probed on a stub on
127.0.0.1 only), the diff's property-level policy changes and replacement consequences, and
the heartbeat of `run` without a terminal."""

import json
import subprocess
import threading
from http.server import HTTPServer

import pytest

from conftest import BIN, PASSWORD, QuietHandler, Result, aws_env, det, role_name

CLUSTER = "det-flow"


def det_raw(*args, env_extra=None):
    """The CLI without the default parameters (a saved plan carries its own)."""
    env = aws_env()
    env.update(env_extra or {})
    p = subprocess.run([BIN, *args], env=env, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=600)
    r = Result(p)
    assert PASSWORD not in r.all
    return r


@pytest.fixture
def info_stub():
    """An HTTP server on 127.0.0.1 answering GET /info as a Determined master does."""
    class Info(QuietHandler):
        def do_GET(self):
            if self.path != "/info":
                self.send_response(404)
                self.end_headers()
                return
            self.reply_json(200, {"version": "0.38.0", "cluster_name": "stub"})

    srv = HTTPServer(("127.0.0.1", 0), Info)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_a_saved_plan_is_applied_exactly_and_refused_once_stale(aws, tmp_path):
    saved = tmp_path / "plan.json"
    r = det("plan", "--refresh", "-o", str(saved), cluster=CLUSTER)
    assert r.code == 0, r
    assert "Plan: 23 to add, 0 to change, 0 to destroy. 0 unchanged." in r.out, r
    doc = json.loads(saved.read_text())
    assert doc["secret_params"] == ["db_password"]
    assert "db_password" not in doc["params"] and doc["params"]["cluster_id"] == {"text": CLUSTER}
    assert PASSWORD not in saved.read_text()

    # The secret is not saved: without it (its default differs), nothing happens.
    r = det_raw("run", str(saved))
    assert r.code == 1 and "nothing was changed" in r.err, r
    assert aws.owned(CLUSTER) == {}

    secret = {"DETSCRIPT_PARAM_db_password": PASSWORD}
    r = det_raw("run", str(saved), env_extra=secret)
    assert r.code == 0, r
    assert "Applying the plan saved in" in r.err
    assert "run complete: 23 changes" in r.err, r
    assert set(aws.owned(CLUSTER)) == {"sgs", "instances", "roles", "profiles", "buckets", "clusters", "dbs"}

    # The same plan again: live AWS now differs from what it was planned against.
    r = det_raw("run", str(saved), env_extra=secret)
    assert r.code == 1, r
    assert "live AWS changed since the plan was saved" in r.err, r
    assert "creating" not in r.err

    # A fresh plan of no changes applies; one whose live state moves on is refused.
    r = det("plan", "--refresh", "-o", str(saved), cluster=CLUSTER)
    assert "Plan: 0 to add, 0 to change, 0 to destroy. 23 unchanged." in r.out, r
    r = det_raw("run", str(saved), env_extra=secret)
    assert r.code == 0 and "No changes" in r.out, r
    gid = aws.sg(f"{CLUSTER}-agent")["GroupId"]
    aws.ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 9999, "ToPort": 9999, "IpRanges": [{"CidrIp": "10.9.9.9/32"}]}])
    r = det_raw("run", str(saved), env_extra=secret)
    assert r.code == 1 and "live AWS changed since the plan was saved" in r.err, r
    assert "10.9.9.9/32" in r.out  # the diff it refused to apply
    assert ("ingress", "tcp", 9999, 9999, "10.9.9.9/32") in aws.rules(gid)


def test_a_saved_plan_of_an_edited_script_is_refused(aws, tmp_path, script_copy):
    saved = tmp_path / "plan.json"
    assert det("plan", "--refresh", "-o", str(saved), cluster=CLUSTER, script=script_copy).code == 0
    script_copy.write_text(script_copy.read_text() + "\n// edited after planning\n")
    r = det_raw("run", str(saved), env_extra={"DETSCRIPT_PARAM_db_password": PASSWORD})
    assert r.code == 1 and "changed since the plan" in r.err and "nothing was changed" in r.err, r
    assert aws.owned(CLUSTER) == {}


def test_outputs_and_status_read_the_live_deployment(aws, info_stub):
    r = det("status", cluster=CLUSTER)
    assert r.code == 0, r
    assert "Deployment det-flow: 0 of 23 resources exist." in r.out, r
    assert "ec2_instance.master" in r.out and "missing" in r.out
    assert "Master: not checked (no master is running)" in r.out, r

    r = det("run", "--format", "json", cluster=CLUSTER)
    assert r.code == 0, r
    run_outputs = [json.loads(l) for l in r.out.splitlines()][-1]["outputs"]

    r = det("outputs", "--format", "json", cluster=CLUSTER)
    assert r.code == 0, r
    assert json.loads(r.out) == run_outputs
    r = det("outputs", cluster=CLUSTER)
    assert f"master_url               = {run_outputs['master_url']}\n" in r.out, r
    bucket = aws.owned(CLUSTER)["buckets"][0]
    assert f"checkpoints_bucket       = {bucket}\n" in r.out

    # Health only at the stub: moto's addresses are never contacted.
    r = det("status", "--master-url", info_stub, cluster=CLUSTER)
    assert r.code == 0, r
    assert "Deployment det-flow: 23 of 23 resources exist." in r.out, r
    assert "Drift: none; live AWS matches the script." in r.out
    assert f"Master {info_stub}: healthy (GET /info answered, version 0.38.0)" in r.out, r
    r = det("status", cluster=CLUSTER)
    assert "not checked (AWS is a custom endpoint" in r.out, r
    report = json.loads(det("status", "--format", "json", "--master-url", info_stub + "/nothing",
                            cluster=CLUSTER).out)
    assert report["exists"] == 23 and report["pending"] == 0
    assert report["master"]["health"] == "unreachable", report

    # Drift: a policy edited out of band shows as drifted, and plan --refresh shows the lines.
    role = role_name(CLUSTER, "agent")
    name = aws.iam.list_role_policies(RoleName=role)["PolicyNames"][0]
    doc = aws.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(doc, str):
        doc = json.loads(doc)
    doc["Statement"][0]["Action"] = ["s3:DeleteBucket"]
    aws.iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(doc))
    r = det("status", cluster=CLUSTER)
    assert "Drift: 1 change pending" in r.out, r
    assert f"iam_role.agent" in r.out and "drifted" in r.out
    r = det("plan", "--refresh", cluster=CLUSTER)
    assert f"~ inline policy {name}" in r.out, r
    assert '-     "Action": "s3:DeleteBucket",' in r.out, r
    assert "Plan: 0 to add, 1 to change, 0 to destroy. 22 unchanged." in r.out, r


def test_replacing_the_master_says_what_it_costs(aws):
    assert det("run", cluster=CLUSTER).code == 0
    r = det("plan", "--refresh", cluster=CLUSTER, params={"max_idle_agent_period": "20m"})
    assert r.code == 0, r
    assert "-/+ ec2_instance.master" in r.out, r
    assert "its public and private IP and the master URL change; running experiments" in r.out, r
    assert "outputs that change: master_instance_id, master_private_ip, master_public_ip, master_url" in r.out
    assert "Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy. 22 unchanged." in r.out, r


def test_run_without_a_terminal_prints_a_heartbeat(aws):
    env = aws_env()
    env["DETSCRIPT_HEARTBEAT_SECONDS"] = "0.05"
    r = det("run", cluster=CLUSTER, env=env)
    assert r.code == 0, r
    beats = [l for l in r.err.splitlines() if l.startswith("  still in flight: ")]
    assert beats, r
    # Each names resources with their state and elapsed time.
    assert all(any(w in b for w in ("creating", "waiting", "updating", "revoking")) for b in beats), beats
    # The JSON event stream has no heartbeat.
    r = det("run", "--format", "json", cluster=CLUSTER, env=env)
    assert all(json.loads(l)["event"] for l in r.out.splitlines())
    assert "still in flight" not in r.all

"""What a cluster needs to behave like `det deploy aws`'s: preflight before anything is
created (key pair, region, vCPUs), and the aux/compute example on moto."""

from conftest import ROOT, aws_env, det, role_name

CL = "det-fid"


def errors(r):
    return [line for line in r.err.splitlines() if line.startswith("error")]


def test_a_missing_key_pair_stops_the_run_before_anything_is_created(aws):
    r = det("run", cluster=CL, params={"keypair": "no-such-key"})
    assert r.code == 3, r
    assert errors(r) == [
        'error: preflight: EC2 key pair "no-such-key" does not exist in us-west-2: '
        "create or import it there first"], r
    assert aws.owned(CL) == {}


def test_a_region_other_than_the_scripts_stops_the_run(aws):
    env = aws_env()
    r = det("run", "--region", "us-east-1", cluster=CL, env=env)
    assert r.code == 3, r
    errs = errors(r)
    assert ("error: preflight: the script deploys to us-west-2 (deployment(..).region(..)), "
            "but this run is in us-east-1: drop --region or change the script's region") in errs, r
    assert any("is Determined's AMI for us-west-2; AMIs are regional" in e for e in errs), r
    assert aws.owned(CL) == {}


def test_the_pools_vcpu_need_is_stated_with_its_quota_code(aws):
    script = ROOT / "scripts" / "aux-compute.rhai"
    r = det("run", cluster=CL, script=script, params={"max_compute": "3"})
    assert r.code == 0, r
    # aux-pool: 2 x m5.xlarge (4 vCPUs); compute-pool: 3 x g4dn.xlarge (4 vCPUs), spot.
    assert ("warning: preflight: the pools may run up to 12 vCPUs of spot G and VT "
            "(Service Quotas code L-3819A6DF): compute-pool: 3 × g4dn.xlarge (4 vCPUs)") in r.err, r
    assert ("up to 8 vCPUs of on-demand Standard (A, C, D, H, I, M, R, T, Z) "
            "(Service Quotas code L-1216C47A): aux-pool: 2 × m5.xlarge (4 vCPUs)") in r.err, r
    assert "reg-token-1" not in r.all
    # The master role may only terminate instances with the pools' tag.
    policy = aws.iam.get_role_policy(RoleName=role_name(CL, "master"), PolicyName="determined-agents")
    stmts = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert stmts["TerminateOwnAgents"]["Condition"] == {
        "StringEquals": {f"ec2:ResourceTag/determined-{CL}": [f"determined-{CL}-agent"]}}
    assert "SpotRequests" in stmts
    r = det("destroy", "--skip-final-snapshot", cluster=CL, script=script,
            params={})
    assert r.code == 0, r
    assert aws.owned(CL) == {}

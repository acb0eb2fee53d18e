"""What a cluster needs to behave like `det deploy aws`'s: preflight before anything is
created (key pair, region, vCPUs), and the aux/compute example on moto."""

import boto3

from conftest import ENDPOINT, REGION, ROOT, aws_env, det, role_name

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
    # moto's Service Quotas knows no EC2 quota (NoSuchResourceException) and has no
    # GetAWSDefaultServiceQuota: through the real SDK, both quotas end as a warning and the run
    # goes on.
    quota_lines = [line for line in r.err.splitlines() if "vCPUs of" in line]
    assert len(quota_lines) == 2, r
    for line in quota_lines:
        assert line.startswith("warning: preflight: the pools may run up to "), r
        assert "The account's quota in us-west-2 could not be read (" in line, r
        assert "check it in the Service Quotas console" in line, r
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


def ssm_script(tmp_path, name):
    text = (ROOT / "scripts" / "deploy.rhai").read_text()
    assert 'determined_ami("master")' in text
    path = tmp_path / "deploy-ssm.rhai"
    path.write_text(text.replace('determined_ami("master")', f'ssm_parameter("{name}")'))
    return path


def test_the_master_ami_is_read_from_ssm_at_apply_and_then_pinned(aws, tmp_path):
    # moto refuses writes under /aws/ (as AWS does) and preloads no Canonical parameter: the
    # test uses a parameter of its own, read through the same GetParameter.
    name = "/detscript-e2e/ubuntu/master-ami"
    script = ssm_script(tmp_path, name)
    ssm = boto3.client("ssm", endpoint_url=ENDPOINT, region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    plan = det("plan", cluster=CL, script=script, env=aws_env(endpoint="", creds=False))
    assert plan.code == 0, plan
    assert f"(known after apply: SSM parameter {name})" in plan.out, plan
    missing = det("run", cluster=CL, script=script)
    assert missing.code == 3, missing
    assert f"SSM parameter {name} does not exist in us-west-2" in missing.err, missing
    assert aws.owned(CL) == {}
    first, newer = "ami-0123456789abcdef0", "ami-0fedcba9876543210"
    ssm.put_parameter(Name=name, Value=first, Type="String")
    r = det("run", cluster=CL, script=script)
    assert r.code == 0, r
    tag = [{"Name": "tag:detscript:deployment", "Values": [CL]}]
    [master] = aws.live_instances(tag)
    assert master["ImageId"] == first
    # Canonical publishes a newer image: reported, never a replacement by itself.
    ssm.put_parameter(Name=name, Value=newer, Type="String", Overwrite=True)
    again = det("run", cluster=CL, script=script)
    assert again.code == 0, again
    assert "No changes: live AWS matches the script." in again.out, again
    assert (f"note: ec2_instance.master: SSM parameter {name} now names {newer}; the master keeps "
            f"{first}, the AMI it was created with") in again.out, again
    assert [i["InstanceId"] for i in aws.live_instances(tag)] == [master["InstanceId"]]
    # Not an AMI id: refused before anything changes.
    ssm.put_parameter(Name=name, Value="ubuntu-latest", Type="String", Overwrite=True)
    bad = det("run", cluster=CL, script=script)
    assert bad.code == 3, bad
    assert f'SSM parameter {name} holds "ubuntu-latest", which is not an AMI id' in bad.err, bad
    r = det("destroy", "--skip-final-snapshot", cluster=CL, script=script)
    assert r.code == 0, r
    assert aws.owned(CL) == {}

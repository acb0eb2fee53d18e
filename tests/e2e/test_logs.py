"""The deployment's CloudWatch log group (issue 13 item 3), on moto: created with its
retention and tags, written to by the master (awslogs driver) and the pool's agents
(master.yaml), with policies scoped to its ARN; a second run changes nothing, a new retention
is an in-place update, destroy removes it."""

import base64

import boto3

from conftest import ENDPOINT, REGION, det, mutating, role_name

CL = "det-e2e"
GROUP = f"{CL}-logs"


def logs_client():
    s = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                              region_name=REGION)
    return s.client("logs", endpoint_url=ENDPOINT)


def group(logs):
    found = [g for g in logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
             if g["logGroupName"] == GROUP]
    return found[0] if found else None


def with_logs(path, days):
    """deploy.rhai with a log group of `days` for the master and the pool."""
    src = path.read_text()
    new = (src.replace('let pool = aws_pool("default")',
                       f'let logs = log_group("logs", #{{ retention_days: {days} }});\n'
                       'let pool = aws_pool("default").log_group(logs)')
              .replace(".instance_profile(master_profile)",
                       ".instance_profile(master_profile).log_group(logs)"))
    assert new.count("log_group(logs)") == 2, "deploy.rhai changed: fix this test's edit"
    path.write_text(new)


def run_ok(script, **kw):
    r = det("run", script=script, **kw)
    assert r.code == 0, r
    return r


def test_the_log_group_is_created_kept_updated_in_place_and_destroyed(aws, proxy, script_copy):
    logs = logs_client()
    with_logs(script_copy, 365)
    r = run_ok(script_copy)
    assert "cloudwatch_log_group.logs" in r.out, r
    g = group(logs)
    assert g and g["retentionInDays"] == 365, g
    bare = g["arn"].removesuffix(":*")
    tags = logs.list_tags_for_resource(resourceArn=bare)["tags"]
    assert tags["detscript:deployment"] == CL and tags["detscript:id"] == "cloudwatch_log_group.logs"

    # The master's container logs into it; the pool's agents are told to.
    tag = [{"Name": "tag:detscript:id", "Values": ["ec2_instance.master"]},
           {"Name": "instance-state-name", "Values": ["pending", "running"]}]
    (master,) = aws.live_instances(tag)
    ud = base64.b64decode(aws.ec2.describe_instance_attribute(
        InstanceId=master["InstanceId"], Attribute="userData")["UserData"]["Value"]).decode()
    for opt in ("--log-driver awslogs", f"'awslogs-group='{GROUP}",
                f"'awslogs-region={REGION}'", "awslogs-stream=determined-master",
                "awslogs-create-group=false"):
        assert opt in ud, opt
    assert f"    log_group: {GROUP}\n    log_stream: determined-agent-default\n" in ud

    # Both roles may write to this group only, and put metrics in one namespace only.
    for role in (role_name(CL, "master"), role_name(CL, "agent")):
        doc = aws.iam.get_role_policy(RoleName=role, PolicyName="detscript-logs")["PolicyDocument"]
        stmts = {s["Sid"]: s for s in doc["Statement"]}
        assert stmts["WriteLogs"]["Resource"] == [g["arn"]], role
        assert stmts["WriteLogs"]["Action"] == [
            "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
        assert stmts["PutMetrics"]["Condition"] == {
            "StringEquals": {"cloudwatch:namespace": "Determined"}}

    # A second run: nothing to do, nothing written.
    p = proxy()
    r = run_ok(script_copy, endpoint=p.url)
    assert "No changes" in r.out, r
    assert mutating(p.stats()) == {}, mutating(p.stats())

    # A new retention: the same group, changed in place.
    script_copy.write_text(script_copy.read_text().replace("retention_days: 365", "retention_days: 30"))
    r = det("plan", "--refresh", script=script_copy)
    assert "~ retention 365 -> 30 days" in r.out, r
    p = proxy()
    run_ok(script_copy, endpoint=p.url)
    assert mutating(p.stats()) == {"PutRetentionPolicy": 1}, mutating(p.stats())
    after = group(logs)
    assert after["retentionInDays"] == 30 and after["creationTime"] == g["creationTime"], after

    # destroy removes it with everything else.
    r = det("destroy", "--skip-final-snapshot", script=script_copy)
    assert r.code == 0, r
    assert group(logs) is None
    assert aws.owned(CL) == {}


def test_a_retention_cloudwatch_refuses_is_an_error_at_its_line(aws, script_copy):
    with_logs(script_copy, 42)
    line = next(i for i, text in enumerate(script_copy.read_text().splitlines(), 1)
                if "log_group(\"logs\"" in text)
    r = det("plan", script=script_copy)
    assert r.code != 0, r
    assert f"{script_copy.name}:{line}" in r.err, r
    assert "retention_days must be one of the periods CloudWatch Logs accepts" in r.err, r
    assert group(logs_client()) is None

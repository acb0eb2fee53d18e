"""`detscript run` / `destroy` end to end against moto, checked with boto3 (issue 3, point 8)."""

import base64
import json
import re

import pytest

from conftest import (KEYPAIR, PASSWORD, ROOT, Aws, aws_env, bucket_name, det, fake_agents, mutating, owner_tags, role_name,
                      region_free_script)

CL = "det-e2e"
ANY = "0.0.0.0/0"


def errors(r):
    """Error lines on stderr (the script's warnings, e.g. about open CIDRs, are not errors)."""
    return [line for line in r.err.splitlines() if line.startswith("error")]


def run_ok(*extra, **kw):
    r = det("run", *extra, **kw)
    assert r.code == 0, r
    return r


def manual_snapshots(aws):
    snaps = aws.rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    return [s["DBClusterIdentifier"] for s in snaps if s.get("SnapshotType", "manual") == "manual"]


def ids(aws, cluster=CL):
    return {n: aws.sg(f"{cluster}-{n}")["GroupId"] for n in ("master", "agent", "db-sg")}


def test_run_creates_the_guide_deployment(aws):
    r = run_ok()
    g = ids(aws)
    m, a, d = g["master"], g["agent"], g["db-sg"]

    # Security groups: every rule exactly as the guide, and no default allow-all egress.
    assert aws.rules(m) == {
        ("egress", "tcp", 0, 65535, a),
        ("egress", "tcp", 0, 65535, ANY),
        ("ingress", "tcp", 8080, 8080, a),
        ("ingress", "tcp", 8080, 8080, ANY),
        ("ingress", "tcp", 22, 22, ANY),
    }
    assert aws.rules(a) == {
        ("egress", "tcp", 0, 65535, ANY),
        ("ingress", "tcp", 0, 65535, m),
        ("ingress", "tcp", 0, 65535, a),
        ("ingress", "tcp", 22, 22, ANY),
    }
    assert aws.rules(d) == {("ingress", "tcp", 5432, 5432, m)}
    for name, gid in g.items():
        tags = {t["Key"]: t["Value"] for t in aws.sg(f"{CL}-{name}")["Tags"]}
        assert tags["detscript:deployment"] == CL
        assert tags["detscript:id"] == f"security_group.{name}"

    # IAM roles, policies and the PassRole resource.
    ec2_trust = {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}
    roles = {}
    for name in ("master", "agent"):
        role = aws.iam.get_role(RoleName=role_name(CL, name))["Role"]
        roles[name] = role
        assert role["AssumeRolePolicyDocument"]["Statement"] == [ec2_trust]
        tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
        assert tags == owner_tags(CL, f"iam_role.{name}")
    pol = lambda role, name: aws.iam.get_role_policy(RoleName=role_name(CL, role), PolicyName=name)["PolicyDocument"]
    assert sorted(aws.iam.list_role_policies(RoleName=role_name(CL, "master"))["PolicyNames"]) == [
        "determined-agents", "detscript-read-secrets", "pass-role"]
    assert sorted(aws.iam.list_role_policies(RoleName=role_name(CL, "agent"))["PolicyNames"]) == [
        "agent-s3-policy", "determined-ec2"]
    # The master launches, tags and terminates only instances with the pool's tag.
    tag = {f"determined-{CL}": [f"determined-{CL}-agent"]}
    instance = "arn:aws:ec2:*:*:instance/*"
    agents = {st["Sid"]: st for st in pol("master", "determined-agents")["Statement"]}
    assert sorted(agents) == ["LaunchTaggedAgents", "LaunchWith", "ListAgents", "TerminateOwnAgents"]
    assert agents["ListAgents"]["Resource"] == "*"
    assert agents["LaunchTaggedAgents"]["Action"] == ["ec2:RunInstances", "ec2:CreateTags"]
    assert agents["LaunchTaggedAgents"]["Condition"] == {
        "StringEquals": {f"aws:RequestTag/{k}": v for k, v in tag.items()}}
    assert agents["TerminateOwnAgents"]["Resource"] == instance
    assert agents["TerminateOwnAgents"]["Condition"] == {
        "StringEquals": {f"ec2:ResourceTag/{k}": v for k, v in tag.items()}}
    assert all("*" != st["Resource"] for sid, st in agents.items() if sid != "ListAgents")
    assert pol("master", "pass-role")["Statement"] == [
        {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": roles["agent"]["Arn"]}]
    assert pol("agent", "agent-s3-policy")["Statement"] == [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}]
    assert pol("agent", "determined-ec2")["Statement"] == [
        {"Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"}]

    # Instance profiles linked to their roles.
    profiles = {}
    for name in ("master", "agent"):
        p = aws.iam.get_instance_profile(InstanceProfileName=role_name(CL, name))["InstanceProfile"]
        profiles[name] = p
        assert [x["RoleName"] for x in p["Roles"]] == [role_name(CL, name)]
        tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
        assert tags.get("detscript:deployment") == CL

    # Database.
    c = aws.rds.describe_db_clusters(DBClusterIdentifier=f"{CL}-db")["DBClusters"][0]
    assert c["Engine"] == "aurora-postgresql"
    assert c["DatabaseName"] == "determined"
    assert c["MasterUsername"] == "postgres"
    assert c["StorageEncrypted"] is True
    assert [s["VpcSecurityGroupId"] for s in c["VpcSecurityGroups"]] == [d]
    assert {t["Key"]: t["Value"] for t in c["TagList"]}["detscript:id"] == "rds_cluster.db"
    w = aws.rds.describe_db_instances(DBInstanceIdentifier=f"{CL}-db-writer")["DBInstances"][0]
    assert w["DBClusterIdentifier"] == f"{CL}-db"
    assert w["Engine"] == "aurora-postgresql"

    # Bucket.
    b = bucket_name(CL)
    tags = {t["Key"]: t["Value"] for t in aws.s3.get_bucket_tagging(Bucket=b)["TagSet"]}
    assert tags == owner_tags(CL, "s3_bucket.checkpoints")
    pab = aws.s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
    assert all(pab.values()) and len(pab) == 4
    enc = aws.s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    # Master instance.
    [i] = aws.live_instances([{"Name": "tag:detscript:id", "Values": ["ec2_instance.master"]}])
    assert i["State"]["Name"] == "running"
    assert i["IamInstanceProfile"]["Arn"] == profiles["master"]["Arn"]
    assert [s["GroupId"] for s in i["SecurityGroups"]] == [m]
    assert i["KeyName"] == KEYPAIR
    assert i["InstanceType"] == "m6i.xlarge"
    assert i["MetadataOptions"]["HttpTokens"] == "required"
    tags = {t["Key"]: t["Value"] for t in i["Tags"]}
    assert tags["Name"] == f"{CL}-master" and tags["detscript:deployment"] == CL
    [root] = [x for x in i["BlockDeviceMappings"] if x["DeviceName"] == "/dev/sda1"]
    vol = aws.ec2.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"][0]
    assert vol["Size"] == 200 and vol["Encrypted"] is True and vol["VolumeType"] == "gp3"
    ud = aws.ec2.describe_instance_attribute(InstanceId=i["InstanceId"], Attribute="userData")
    user_data = base64.b64decode(ud["UserData"]["Value"]).decode()
    yaml = user_data.split("<<'DETSCRIPT_MASTER_YAML_EOF'\n", 1)[1].split("\nDETSCRIPT_MASTER_YAML_EOF", 1)[0]
    assert f"bucket: {b}" in yaml
    assert f"host: {c['Endpoint']}" in yaml
    assert f"security_group_id: {a}" in yaml
    assert f"iam_instance_profile_arn: {profiles['agent']['Arn']}" in yaml
    assert f"ssh_key_name: {KEYPAIR}" in yaml
    assert PASSWORD not in user_data  # in Secrets Manager: the master reads it at boot
    assert "\ue000" not in user_data and "${" not in yaml

    # Outputs.
    assert f"master_url               = http://{i['PublicIpAddress']}:8080" in r.out
    assert f"master_private_ip        = {i['PrivateIpAddress']}" in r.out
    assert f"database_endpoint        = {c['Endpoint']}" in r.out
    assert f"agent_tag_default        = determined-{CL}=determined-{CL}-agent" in r.out
    assert f"master_security_group_id = {m}" in r.out
    assert f"checkpoints_bucket       = {b}" in r.out


def test_second_run_changes_nothing(aws, proxy):
    run_ok()
    p = proxy()
    r = run_ok(endpoint=p.url)
    assert "No changes" in r.out
    stats = p.stats()
    assert stats, "the run went through the proxy"
    assert mutating(stats) == {}, f"mutating calls on an unchanged script: {mutating(stats)}"
    # plan --refresh agrees, with terraform-like exit codes.
    r = det("plan", "--refresh", "--detailed-exitcode")
    assert r.code == 0, r
    assert "Plan: 0 to add, 0 to change, 0 to destroy. 23 unchanged." in r.out


def test_changed_rule_changes_only_that_rule(aws, proxy):
    run_ok()
    before = ids(aws)
    r = det("plan", "--refresh", "--detailed-exitcode", params={"inbound_cidr": "10.0.0.0/8"})
    assert r.code == 2, r
    assert "Plan: 3 to add, 0 to change, 3 to destroy. 20 unchanged." in r.out
    assert re.search(r"-   rule sgr-\S+ in sg-\S+: ingress tcp 22 from 0.0.0.0/0", r.out)
    p = proxy()
    run_ok(endpoint=p.url, params={"inbound_cidr": "10.0.0.0/8"})
    assert mutating(p.stats()) == {"AuthorizeSecurityGroupIngress": 3, "RevokeSecurityGroupIngress": 3}
    assert ids(aws) == before, "groups were not replaced"
    m, a = before["master"], before["agent"]
    assert ("ingress", "tcp", 22, 22, "10.0.0.0/8") in aws.rules(m)
    assert ("ingress", "tcp", 22, 22, ANY) not in aws.rules(m)
    assert ("ingress", "tcp", 8080, 8080, a) in aws.rules(m)
    assert ("ingress", "tcp", 22, 22, "10.0.0.0/8") in aws.rules(a)


def test_changed_inline_policy_updates_only_that_policy(aws, proxy, script_copy):
    run_ok()
    src = script_copy.read_text()
    new = src.replace('.allow("determined-ec2", ["ec2:DescribeInstances"], "*")',
                      '.allow("determined-ec2", ["ec2:DescribeInstances", "ec2:DescribeTags"], "*")')
    assert new != src
    script_copy.write_text(new)
    r = det("plan", "--refresh", script=script_copy)
    assert "~   iam_role.agent" in r.out and "~ inline policy determined-ec2" in r.out, r
    p = proxy()
    run_ok(script=script_copy, endpoint=p.url)
    assert mutating(p.stats()) == {"PutRolePolicy": 1}
    doc = aws.iam.get_role_policy(RoleName=role_name(CL, "agent"), PolicyName="determined-ec2")["PolicyDocument"]
    assert doc["Statement"][0]["Action"] == ["ec2:DescribeInstances", "ec2:DescribeTags"]


def test_foreign_resources_are_never_touched(aws):
    vpc = aws.default_vpc()
    foreign_sg = aws.ec2.create_security_group(GroupName=f"{CL}-master-old", Description="not ours",
                                               VpcId=vpc)["GroupId"]
    aws.ec2.authorize_security_group_ingress(GroupId=foreign_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": ANY}]}])
    foreign_rules = aws.rules(foreign_sg)
    [foreign_i] = aws.ec2.run_instances(
        ImageId="ami-0fc5d935ebf8bc3bc", MinCount=1, MaxCount=1, InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": f"{CL}-master-2"}]}],
    )["Instances"]
    run_ok()
    det("destroy", "--delete-data", "--skip-final-snapshot")
    assert aws.rules(foreign_sg) == foreign_rules
    assert aws.live_instances([{"Name": "instance-id", "Values": [foreign_i["InstanceId"]]}])
    assert aws.owned(CL) == {}


def test_same_named_foreign_resource_stops_run_before_any_change(aws):
    vpc = aws.default_vpc()
    gid = aws.ec2.create_security_group(GroupName=f"{CL}-agent", Description="someone else's",
                                        VpcId=vpc)["GroupId"]
    aws.iam.create_role(RoleName=role_name(CL, "master"), AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    r = det("run")
    assert r.code == 3, r
    assert f"security group {CL}-agent ({gid}) already exists without the tag" in r.err
    assert f"IAM role {role_name(CL, 'master')}" in r.err
    assert "Stopped before changing anything." in r.err
    assert aws.owned(CL) == {"roles": [role_name(CL, "master")], }
    assert aws.sg(f"{CL}-agent").get("Tags", []) == []
    # destroy does not touch them either.
    r = det("destroy")
    assert r.code == 0, r
    assert aws.sg(f"{CL}-agent")["GroupId"] == gid
    aws.iam.get_role(RoleName=role_name(CL, "master"))


def test_destroy_removes_agents_then_everything_owned(aws):
    r = run_ok()
    key, value = f"determined-{CL}", f"determined-{CL}-agent"
    profile = aws.iam.get_instance_profile(InstanceProfileName=role_name(CL, "agent"))["InstanceProfile"]["Arn"]
    # Agents "launched by the master": instances and a spot request carrying the pool's tag
    # and the pool's instance profile.
    agents = fake_agents(aws, CL)
    spot = aws.ec2.request_spot_instances(
        SpotPrice="1.0", InstanceCount=1,
        LaunchSpecification={"ImageId": "ami-0c55b159cbfafe1f0", "InstanceType": "p3.8xlarge",
                             "IamInstanceProfile": {"Arn": profile}},
        TagSpecifications=[{"ResourceType": "spot-instances-request", "Tags": [{"Key": key, "Value": value}]}],
    )["SpotInstanceRequests"][0]["SpotInstanceRequestId"]
    bucket = bucket_name(CL)
    aws.s3.put_object(Bucket=bucket, Key="checkpoints/1", Body=b"weights")

    # A bucket holding checkpoints stops destroy before anything is deleted.
    r = det("destroy")
    assert r.code == 3, r
    assert "--delete-data" in r.err and "Nothing was deleted" in r.err
    assert len(aws.live_instances([{"Name": f"tag:{key}", "Values": [value]}])) == 2
    assert aws.owned(CL)["buckets"] == [bucket]

    r = det("destroy", "--delete-data", "--skip-final-snapshot")
    assert r.code == 0, r
    assert "2 agent instances terminated" in r.out, r
    # moto leaves IamInstanceProfile out of a spot request's launch specification, so the
    # request cannot be told apart from someone else's: left alone, and said so. (On AWS it
    # carries the pool's profile and is cancelled.)
    assert f"not this deployment's (not the pool's instance profile {role_name(CL, 'agent')}): instances [], spot requests [{spot}]" in r.out, r
    assert "Nothing owned by this deployment is left behind." in r.out
    for i in agents:
        st = aws.instances([{"Name": "instance-id", "Values": [i["InstanceId"]]}])[0]["State"]["Name"]
        assert st == "terminated"
    assert aws.owned(CL) == {}
    assert manual_snapshots(aws) == []

    # Twice is harmless.
    r = det("destroy")
    assert r.code == 0, r
    assert "Nothing to destroy" in r.err


def test_destroy_takes_final_snapshot_by_default(aws):
    run_ok()
    r = det("destroy")
    assert r.code == 0, r
    assert manual_snapshots(aws) == [f"{CL}-db"]
    # The report says the snapshot stays, and where: not "nothing is left behind".
    assert f"except the database's final snapshot {CL}-db" in r.out, r
    assert "Nothing owned by this deployment is left behind." not in r.out, r
    assert f"final snapshot {CL}-db-final-" in r.out
    assert aws.owned(CL) == {}


def test_failed_run_reports_state_and_next_run_completes(aws, proxy):
    p = proxy("--fault", "CreateDBCluster:400:InvalidParameterCombination:99:The engine version is not available")
    r = det("run", endpoint=p.url)
    assert r.code == 3, r
    assert "run FAILED" in r.err
    assert "failed:      rds_cluster.db: CreateDBCluster det-e2e-db: InvalidParameterCombination" in r.err
    done = r.err.split("completed (these exist as the script says):", 1)[1].split("not done", 1)[0]
    not_done = r.err.split("not done (not changed in AWS):", 1)[1]
    assert "iam_role.agent" in done and "security_group.master" in done
    assert "rds_instance.db-writer (skipped: rds_cluster.db failed)" in not_done
    assert "ec2_instance.master (skipped" in not_done
    left = aws.owned(CL)
    assert "clusters" not in left and "instances" not in left and left["roles"]
    # Running again finishes the job and creates only what is missing.
    p2 = proxy()
    r = run_ok(endpoint=p2.url)
    m = mutating(p2.stats())
    assert m.get("CreateDBCluster") == 1 and m.get("RunInstances") == 1
    # Exactly what the failed run did not complete is created now (what a failure stops
    # depends on timing: jobs in flight finish, nothing new starts).
    completed = set(done.split())
    for kind, call in (("iam_role", "CreateRole"), ("security_group", "CreateSecurityGroup"),
                       ("instance_profile", "CreateInstanceProfile")):
        missing = [x for x in ("master", "agent", "db-sg") if f"{kind}.{x}" not in completed
                   and (kind == "security_group" or x != "db-sg")]
        assert m.get(call, 0) == len(missing), (call, m, completed)
    assert len(aws.live_instances([{"Name": "tag:detscript:deployment", "Values": [CL]}])) == 1
    assert run_ok().out.count("No changes") == 1


def test_iam_propagation_is_retried_without_a_second_master(aws, proxy):
    p = proxy("--fault", "RunInstances:400:InvalidParameterValue:2:Value (det-e2e-master) for parameter "
              "iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")
    r = run_ok(endpoint=p.url)
    assert "instance profile not usable yet" in r.err
    assert p.stats()["RunInstances"] == 3
    assert len(aws.live_instances([{"Name": "tag:detscript:deployment", "Values": [CL]}])) == 1


def test_throttling_and_5xx_are_retried_by_the_sdk(aws, proxy):
    p = proxy("--fault", "DescribeVpcs:503:RequestLimitExceeded:2",
              "--fault", "CreateRole:400:Throttling:2:Rate exceeded")
    run_ok(endpoint=p.url)
    assert p.stats()["CreateRole"] >= 4  # 2 throttled + 2 roles


def test_dependency_violation_on_group_delete_is_retried(aws, proxy):
    run_ok()
    p = proxy("--fault", "DeleteSecurityGroup:400:DependencyViolation:1:resource sg-x has a dependent object")
    r = det("destroy", "--skip-final-snapshot", endpoint=p.url)
    assert r.code == 0, r
    assert "still in use (resource sg-x has a dependent object); retrying in" in r.err, r.err
    assert aws.owned(CL) == {}


def test_iam_deleted_from_what_discovery_read_and_read_again_on_a_conflict(aws, proxy):
    # destroy deletes a role's policies and a profile's roles as discovery read them; when
    # IAM answers DeleteConflict (something attached since), it lists them again and retries.
    run_ok()
    p = proxy("--fault", "DeleteRole:409:DeleteConflict:1:Cannot delete entity, must detach all policies first.",
              "--fault", "DeleteInstanceProfile:409:DeleteConflict:1:Cannot delete entity, must remove roles from instance profile first.")
    r = det("destroy", "--skip-final-snapshot", endpoint=p.url)
    assert r.code == 0, r
    stats = p.stats()
    # Discovery reads each of the 2 roles and 2 profiles once; the conflicts add one read each.
    assert stats["ListRolePolicies"] == 3 and stats["ListAttachedRolePolicies"] == 3, stats
    assert stats["GetInstanceProfile"] == 3, stats
    assert stats["DeleteRole"] == 3 and stats["DeleteInstanceProfile"] == 3, stats
    assert aws.owned(CL) == {}


def test_repeated_run_never_makes_a_second_master(aws):
    run_ok()
    run_ok()
    assert len(aws.live_instances([{"Name": "tag:detscript:id", "Values": ["ec2_instance.master"]}])) == 1


def test_json_event_stream(aws):
    r = run_ok("--format", "json")
    events = [json.loads(line) for line in r.out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "diff" and "summary" in kinds and kinds[-1] == "outputs"
    done = {e["id"] for e in events if e["event"] == "resource" and e["state"] == "done"}
    assert "ec2_instance.master" in done and "rds_cluster.db" in done
    assert all("elapsed_s" in e for e in events if e["event"] == "resource" and e["state"] == "done")
    outputs = events[-1]["outputs"]
    assert outputs["master_url"].startswith("http://") and outputs["master_url"].endswith(":8080")


def test_run_requires_yes_without_a_terminal(aws):
    r = det("run", yes=False)
    assert r.code == 2, r
    assert "pass --yes" in r.err
    assert aws.owned(CL) == {}


def test_missing_credentials_and_region_are_one_clear_line(aws, tmp_path):
    r = det("run", env=aws_env(creds=False))
    assert r.code == 3, r
    assert errors(r) == [errors(r)[0]] and errors(r)[0].startswith("error: no AWS credentials found"), r
    assert "SdkError" not in r.err and "Response {" not in r.err
    r = det("run", env=aws_env(region=False), script=region_free_script(tmp_path))
    assert r.code == 3, r
    assert errors(r) == ["error: no AWS region: pass --region, set deployment(..).region(..) in the script, "
                         "or set AWS_REGION (or a region in your AWS profile)"], r
    # --region and --endpoint-url flags work without the environment variables.
    env = aws_env(endpoint=None, region=False)
    from conftest import ENDPOINT
    r = det("plan", "--refresh", "--region", "us-west-2", "--endpoint-url", ENDPOINT, env=env,
            script=region_free_script(tmp_path))
    assert r.code == 0, r
    assert "Plan: 23 to add" in r.out


def test_secret_never_printed(aws, proxy):
    # det() asserts on every call that the password is absent; exercise every output path.
    run_ok("--format", "json")
    det("plan", "--refresh")
    det("plan", "--refresh", "--format", "json")
    p = proxy("--fault", f"CreateDBInstance:400:InvalidParameterValue:1:bad password {PASSWORD}")
    det("run", endpoint=p.url)
    det("destroy", "--format", "json", "--skip-final-snapshot")
    # (another name: moto names its automated snapshot by the minute, so re-creating the same
    # cluster within a minute collides there, not on AWS)
    run_ok(cluster="det-e2e-2")
    det("destroy", "--skip-final-snapshot", cluster="det-e2e-2")


def test_foreign_instances_with_the_agent_tag_stop_the_first_run(aws):
    key, value = f"determined-{CL}", f"determined-{CL}-agent"
    aws.ec2.run_instances(
        ImageId="ami-0c55b159cbfafe1f0", MinCount=1, MaxCount=1, InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": key, "Value": value}]}])
    r = det("run")
    assert r.code == 3, r
    assert f"already carry the agent tag {key}={value}" in r.err
    assert aws.owned(CL) == {}


def test_profile_flag_reads_the_shared_config(aws, tmp_path):
    (tmp_path / "config").write_text("[profile e2e]\nregion = us-west-2\n")
    (tmp_path / "credentials").write_text("[e2e]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    env = aws_env(creds=False, region=False)
    env["AWS_CONFIG_FILE"] = str(tmp_path / "config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "credentials")
    r = det("plan", "--refresh", "--profile", "e2e", env=env, script=region_free_script(tmp_path))
    assert r.code == 0, r
    assert 'Reading live state of deployment "det-e2e" in us-west-2' in r.err
    r = det("plan", "--refresh", "--profile", "nope", env=env)
    assert r.code == 3, r
    assert len(errors(r)) == 1 and errors(r)[0].startswith("error: no AWS"), r


def test_bucket_that_cannot_be_tagged_is_removed_so_the_next_run_succeeds(aws, proxy):
    p = proxy("--fault", "PUT tagging:500:InternalError:99:We encountered an internal error")
    r = det("run", endpoint=p.url)
    assert r.code == 3, r
    assert "s3_bucket.checkpoints" in r.err and "created and deleted again" in r.err
    assert "buckets" not in aws.owned(CL)
    run_ok()
    assert aws.owned(CL)["buckets"] == [bucket_name(CL)]


def test_private_master_without_subnet_gets_no_public_ip(aws):
    """two-pools.rhai: public_ip(false) and no subnet_id, in the default VPC."""
    script = ROOT / "scripts" / "two-pools.rhai"
    run_ok(script=script, cluster="det-private")
    masters = aws.live_instances([{"Name": "tag:detscript:id", "Values": ["ec2_instance.master"]},
                                  {"Name": "tag:detscript:deployment", "Values": ["det-private"]}])
    assert len(masters) == 1
    m = masters[0]
    assert not m.get("PublicIpAddress"), m
    eni = m["NetworkInterfaces"][0]
    assert [g["GroupName"] for g in eni["Groups"]] == ["det-private-master"]
    # The live master matches the script: nothing to change.
    r = det("plan", "--refresh", "--detailed-exitcode", script=script, cluster="det-private")
    assert r.code == 0, r
    r = det("destroy", "--skip-final-snapshot", script=script, cluster="det-private")
    assert r.code == 0, r
    assert aws.owned("det-private") == {}

"""Ownership edge cases: a half-created bucket, duplicated resources, foreign instances that
carry the agent tag. Checked with boto3."""

import json

from conftest import REGION, bucket_name, det, owner_tags, role_name

CL = "det-e2e"
BUCKET = bucket_name(CL)
AMI = "ami-0c55b159cbfafe1f0"
AGENT_TAG = (f"determined-{CL}", f"determined-{CL}-agent")


def run_ok(*extra, **kw):
    r = det("run", *extra, **kw)
    assert r.code == 0, r
    return r


def bucket_tags(aws, name):
    try:
        return {t["Key"]: t["Value"] for t in aws.s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    except aws.s3.exceptions.ClientError as e:
        assert "NoSuchTagSet" in str(e), e
        return {}


def make_bucket(aws, name=BUCKET):
    aws.s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})


def test_empty_untagged_bucket_left_by_an_interrupted_run_is_claimed(aws):
    # What a run killed right after CreateBucket leaves behind: the bucket, without tags.
    make_bucket(aws)
    r = det("plan", "--refresh")
    assert r.code == 0, r
    assert "~   s3_bucket.checkpoints" in r.out and "claims this account's empty, untagged bucket" in r.out, r
    r = run_ok()
    assert f"bucket {BUCKET}: empty, untagged and this account's" in r.err, r
    assert bucket_tags(aws, BUCKET) == owner_tags(CL, "s3_bucket.checkpoints")
    enc = aws.s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert "No changes" in run_ok().out
    r = det("destroy", "--skip-final-snapshot")
    assert r.code == 0, r
    assert aws.owned(CL) == {}


def test_destroy_removes_an_empty_untagged_bucket_an_interrupted_run_left(aws):
    make_bucket(aws)
    r = det("destroy")
    assert r.code == 0, r
    assert f"s3_bucket.checkpoints  (S3 bucket {BUCKET}, untagged and empty: left by an interrupted run)" in r.out, r
    assert aws.owned(CL) == {}


def test_untagged_bucket_with_objects_stops_the_run_and_is_never_touched(aws):
    make_bucket(aws)
    aws.s3.put_object(Bucket=BUCKET, Key="someone/else", Body=b"data")
    r = det("run")
    assert r.code == 3, r
    assert f"S3 bucket {BUCKET} already exists without the tag detscript:deployment={CL} and holds objects" in r.err, r
    assert "Stopped before changing anything." in r.err
    assert aws.owned(CL) == {"buckets": [BUCKET]}
    assert bucket_tags(aws, BUCKET) == {}
    # destroy leaves it, and says so.
    r = det("destroy")
    assert r.code == 0, r
    assert "Left alone (not owned by this deployment):" in r.out and BUCKET in r.out, r
    assert aws.s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1


def test_bucket_tagged_by_someone_else_is_not_claimed(aws):
    make_bucket(aws)
    aws.s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "team", "Value": "ml"}]})
    r = det("run")
    assert r.code == 3, r
    assert f"S3 bucket {BUCKET} ({BUCKET}) already exists without the tag" in r.err, r
    assert bucket_tags(aws, BUCKET) == {"team": "ml"}


def master(aws):
    [i] = aws.live_instances([{"Name": "tag:detscript:id", "Values": ["ec2_instance.master"]},
                              {"Name": "tag:detscript:deployment", "Values": [CL]}])
    return i


def test_duplicated_master_stops_run_and_destroy_removes_every_copy(aws):
    run_ok()
    m = master(aws)
    # "Launch more like this": same image, type and tags.
    [copy] = aws.ec2.run_instances(
        ImageId=m["ImageId"], MinCount=1, MaxCount=1, InstanceType=m["InstanceType"],
        TagSpecifications=[{"ResourceType": "instance", "Tags": m["Tags"]}])["Instances"]
    both = sorted([m["InstanceId"], copy["InstanceId"]])
    for cmd in ("plan", "run"):
        extra = ("--refresh",) if cmd == "plan" else ()
        r = det(cmd, *extra)
        assert r.code == 3, r
        assert "2 live resources carry detscript:id=ec2_instance.master" in r.err, r
        assert all(i in r.err for i in both), r
    assert "Stopped before changing anything." in r.err
    live = [i["InstanceId"] for i in aws.live_instances([{"Name": "tag:detscript:deployment", "Values": [CL]}])]
    assert sorted(live) == both

    r = det("destroy", "--skip-final-snapshot")
    assert r.code == 0, r
    assert all(f"ec2_instance.master ({i})" in r.out for i in both), r
    assert "Nothing owned by this deployment is left behind." in r.out
    for i in both:
        st = aws.instances([{"Name": "instance-id", "Values": [i]}])[0]["State"]["Name"]
        assert st == "terminated", (i, st)
    assert aws.owned(CL) == {}


def test_duplicated_security_group_in_another_vpc_is_reported(aws):
    run_ok()
    g = aws.sg(f"{CL}-agent")
    vpc = aws.ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    gid = aws.ec2.create_security_group(
        GroupName=f"{CL}-agent", Description="copy", VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": g["Tags"]}])["GroupId"]
    r = det("plan", "--refresh")
    assert r.code == 3, r
    assert "2 live resources carry detscript:id=security_group.agent" in r.err and gid in r.err, r
    r = det("destroy", "--skip-final-snapshot")
    assert r.code == 0, r
    assert aws.owned(CL) == {}


def tagged_instance(aws, profile_arn=None, count=1):
    kw = {"IamInstanceProfile": {"Arn": profile_arn}} if profile_arn else {}
    out = aws.ec2.run_instances(
        ImageId=AMI, MinCount=count, MaxCount=count, InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": AGENT_TAG[0], "Value": AGENT_TAG[1]}]}],
        **kw)["Instances"]
    return [i["InstanceId"] for i in out]


def state(aws, iid):
    return aws.instances([{"Name": "instance-id", "Values": [iid]}])[0]["State"]["Name"]


def test_destroy_terminates_only_agents_with_the_tag_and_our_agent_profile(aws):
    run_ok()
    ours = aws.iam.get_instance_profile(InstanceProfileName=role_name(CL, "agent"))["InstanceProfile"]["Arn"]
    aws.iam.create_role(RoleName="other-team", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    other = aws.iam.create_instance_profile(InstanceProfileName="other-team")["InstanceProfile"]["Arn"]
    aws.iam.add_role_to_instance_profile(InstanceProfileName="other-team", RoleName="other-team")
    [agent] = tagged_instance(aws, ours)
    [foreign_other] = tagged_instance(aws, other)
    [foreign_none] = tagged_instance(aws)

    r = det("destroy", "--skip-final-snapshot")
    assert r.code == 0, r
    assert f"agents tagged {AGENT_TAG[0]}={AGENT_TAG[1]} with instance profile {role_name(CL, 'agent')}: instances [{agent}]" in r.out, r
    assert "1 agent instances terminated" in r.out, r
    assert f"2 with the agent tag {AGENT_TAG[0]}={AGENT_TAG[1]} but not this deployment's" in r.out, r
    assert foreign_other in r.out and foreign_none in r.out
    assert state(aws, agent) == "terminated"
    assert state(aws, foreign_other) == "running"
    assert state(aws, foreign_none) == "running"
    assert aws.owned(CL) == {}


def test_lost_create_bucket_response_is_claimed_in_the_same_run(aws, proxy):
    # CreateBucket takes effect, its response is lost; the SDK's retry hears
    # BucketAlreadyOwnedByYou: the bucket is empty and untagged, so it is ours.
    p = proxy("--drop", "PUT bucket:1")
    r = run_ok(endpoint=p.url)
    assert p.stats().get("chaos:drop") == 1
    assert f"bucket {BUCKET}: empty, untagged and this account's" in r.err, r
    assert bucket_tags(aws, BUCKET) == owner_tags(CL, "s3_bucket.checkpoints")
    assert "No changes" in run_ok().out


def test_lost_run_instances_response_makes_no_second_master(aws, proxy):
    # RunInstances takes effect, its response is lost. moto ignores ClientToken, so a blind
    # retry would launch a second master: detscript looks for the tagged instance first.
    p = proxy("--drop", "RunInstances:1")
    r = run_ok(endpoint=p.url)
    assert p.stats().get("chaos:drop") == 1
    assert p.stats()["RunInstances"] == 1, p.stats()
    assert "but launched i-" in r.err, r
    assert master(aws)["State"]["Name"] == "running"
    assert "No changes" in run_ok().out


def test_duplicated_iam_role_is_reported_and_destroy_removes_both(aws):
    run_ok()
    role = aws.iam.get_role(RoleName=role_name(CL, "agent"))["Role"]
    aws.iam.create_role(RoleName=f"{CL}-agent-copy", AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]),
                        Tags=role["Tags"])
    r = det("run")
    assert r.code == 3, r
    assert f"2 live resources carry detscript:id=iam_role.agent (IAM roles {CL}-agent-copy, {role_name(CL, 'agent')})" in r.err, r
    r = det("destroy", "--skip-final-snapshot")
    assert r.code == 0, r
    assert aws.owned(CL) == {}

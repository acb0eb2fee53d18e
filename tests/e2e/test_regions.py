"""One deployment name in two regions is two deployments: IAM and S3 are account-wide (in
moto as in AWS), so their names carry the region (and the bucket's the account id) and their
ownership tags name the region. Checked with boto3."""

import json

import boto3

from conftest import (ACCOUNT, ENDPOINT, KEYPAIR, REGION, bucket_name, det, owner_tags,
                      role_name)

CL = "det-e2e"
OTHER = "us-east-1"


def in_region(region):
    """det() arguments that run the deployment in `region` (the script's region parameter)."""
    return {"params": {"region": region}}


def ec2(region):
    return boto3.client("ec2", endpoint_url=ENDPOINT, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def global_resources(aws, region):
    """The roles, profiles and bucket of the deployment in `region`, with their tags."""
    out = {}
    for name in ("agent", "master"):
        role = aws.iam.get_role(RoleName=role_name(CL, name, region))["Role"]
        out[f"role {name}"] = {t["Key"]: t["Value"] for t in role["Tags"]}
        prof = aws.iam.get_instance_profile(InstanceProfileName=role_name(CL, name, region))["InstanceProfile"]
        assert [r["RoleName"] for r in prof["Roles"]] == [role_name(CL, name, region)]
        out[f"profile {name}"] = {t["Key"]: t["Value"] for t in prof.get("Tags", [])}
    tags = aws.s3.get_bucket_tagging(Bucket=bucket_name(CL, region=region))["TagSet"]
    out["bucket"] = {t["Key"]: t["Value"] for t in tags}
    return out


def master(region):
    res = ec2(region).describe_instances(Filters=[
        {"Name": "tag:detscript:deployment", "Values": [CL]},
        {"Name": "tag:detscript:id", "Values": ["ec2_instance.master"]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
    return [i for r in res for i in r["Instances"]]


def test_one_name_in_two_regions_is_two_deployments(aws):
    ec2(OTHER).create_key_pair(KeyName=KEYPAIR)
    for region in (REGION, OTHER):
        r = det("run", **in_region(region))
        assert r.code == 0, r
    for region in (REGION, OTHER):
        tags = global_resources(aws, region)
        assert tags["role master"] == owner_tags(CL, "iam_role.master", region), tags
        assert tags["bucket"] == owner_tags(CL, "s3_bucket.checkpoints", region), tags
        assert len(master(region)) == 1, region
    assert bucket_name(CL) == f"{CL}-checkpoints-{REGION}-{ACCOUNT}"
    west_master = master(REGION)[0]
    west_profile = west_master["IamInstanceProfile"]["Arn"]
    assert west_profile.endswith(f":instance-profile/{role_name(CL, 'master')}"), west_profile
    east_profile = master(OTHER)[0]["IamInstanceProfile"]["Arn"]
    assert east_profile.endswith(f":instance-profile/{role_name(CL, 'master', OTHER)}"), east_profile
    # The master's config names its own region's bucket.
    r = det("outputs", **in_region(OTHER))
    assert r.code == 0, r
    assert f"checkpoints_bucket       = {bucket_name(CL, region=OTHER)}\n" in r.out, r

    r = det("destroy", "--skip-final-snapshot", **in_region(OTHER))
    assert r.code == 0, r
    assert role_name(CL, "master") not in r.out and bucket_name(CL) not in r.out, r
    assert master(OTHER) == []
    names = [x["RoleName"] for x in aws.iam.list_roles()["Roles"]]
    assert role_name(CL, "master", OTHER) not in names and role_name(CL, "agent", OTHER) not in names
    buckets = [b["Name"] for b in aws.s3.list_buckets()["Buckets"]]
    assert bucket_name(CL, region=OTHER) not in buckets

    # us-west-2 is intact: roles, profiles, bucket and master, and a run there changes nothing.
    tags = global_resources(aws, REGION)
    assert tags["profile master"] == owner_tags(CL, "instance_profile.master"), tags
    [still] = master(REGION)
    assert still["InstanceId"] == west_master["InstanceId"]
    assert still["IamInstanceProfile"]["Arn"] == west_profile
    r = det("run", **in_region(REGION))
    assert r.code == 0, r
    assert "No changes" in r.out, r


def test_destroy_in_another_region_than_the_scripts_leaves_the_scripts_region_alone(aws):
    r = det("run")
    assert r.code == 0, r
    ec2(OTHER).create_key_pair(KeyName=KEYPAIR)
    r = det("destroy", "--region", OTHER)
    assert r.code == 0, r
    assert f"IAM role {role_name(CL, 'master')} already exists, owned by deployment \"{CL}\" in {REGION}" in r.out, r
    global_resources(aws, REGION)
    assert len(master(REGION)) == 1


def legacy_role(aws, name):
    """An IAM role as detscript made it before names carried the region: no region tag."""
    aws.iam.create_role(
        RoleName=f"{CL}-{name}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        Tags=[{"Key": "detscript:deployment", "Value": CL}, {"Key": "detscript:id", "Value": f"iam_role.{name}"}])


def test_a_deployment_of_an_earlier_version_stops_run_until_the_script_says_legacy_names(aws, script_copy):
    legacy_role(aws, "agent")
    for cmd in (("plan", "--refresh"), ("run",)):
        r = det(*cmd)
        assert r.code == 3, r
        assert (f"IAM role {CL}-agent carries detscript:deployment={CL} but no detscript:region: an earlier "
                "detscript made it") in r.err, r
        assert "add .legacy_names() to deployment(..)" in r.err, r
    assert "Stopped before changing anything." in r.err
    assert aws.owned(CL) == {"roles": [f"{CL}-agent"]}
    # destroy leaves it alone, and says so.
    r = det("destroy")
    assert r.code == 0, r
    assert "Left alone (not owned by this deployment):" in r.out and f"IAM role {CL}-agent" in r.out, r
    aws.iam.get_role(RoleName=f"{CL}-agent")

    # With legacy_names() the deployment keeps its names and adopts the role.
    text = script_copy.read_text()
    assert "deployment(p.cluster_id).region(p.region);" in text
    script_copy.write_text(text.replace("deployment(p.cluster_id).region(p.region);",
                                        "deployment(p.cluster_id).region(p.region).legacy_names();"))
    r = det("run", script=script_copy)
    assert r.code == 0, r
    roles = sorted(x["RoleName"] for x in aws.iam.list_roles()["Roles"])
    assert roles == [f"{CL}-agent", f"{CL}-master"], roles
    assert [b["Name"] for b in aws.s3.list_buckets()["Buckets"]] == [f"{CL}-checkpoints"]
    assert "No changes" in det("run", script=script_copy).out
    r = det("destroy", "--skip-final-snapshot", script=script_copy)
    assert r.code == 0, r
    assert aws.owned(CL) == {}

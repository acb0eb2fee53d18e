"""The script's own network (issue 12): scripts/production.rhai run, run again, destroyed on moto
and checked piece by piece with boto3; and a pre-existing VPC given by id, which is used but
never modified or deleted, in an account without a default VPC. Addresses moto hands out are
only read, never connected to."""

import base64
import re

from conftest import ENDPOINT, ROOT, aws_env, det, mutating

CL = "det-net"
SCRIPT = ROOT / "scripts" / "production.rhai"
TAG = "tag:detscript:deployment"
# Deletions wait for dependencies to drain; moto has none to wait for.
WAITS = {"DETSCRIPT_DEPENDENCY_WAIT_SECONDS": "20", "DETSCRIPT_EC2_WAIT_SECONDS": "60"}


def run(command, *extra, script=SCRIPT, endpoint=ENDPOINT):
    env = {**aws_env(endpoint), **WAITS}
    r = det(command, *extra, cluster=CL, script=script, env=env)
    assert r.code == 0, r
    return r


def one(items, what):
    assert len(items) == 1, f"expected one {what}, got {items}"
    return items[0]


def by_id(aws, kind, filters):
    """EC2 resources of one describe call, by their detscript:id tag."""
    call, key = {
        "subnet": (aws.ec2.describe_subnets, "Subnets"),
        "route_table": (aws.ec2.describe_route_tables, "RouteTables"),
        "internet_gateway": (aws.ec2.describe_internet_gateways, "InternetGateways"),
        "vpc": (aws.ec2.describe_vpcs, "Vpcs"),
        "vpc_endpoint": (aws.ec2.describe_vpc_endpoints, "VpcEndpoints"),
        "elastic_ip": (aws.ec2.describe_addresses, "Addresses"),
    }[kind]
    out = {}
    for item in call(Filters=filters)[key]:
        tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
        if item.get("State") in ("deleted", "deleting"):
            continue
        out[tags["detscript:id"]] = item
    return out


def owned_network(aws, cluster=CL):
    """Every network resource still tagged as the deployment's, and its DB subnet groups."""
    tag = [{"Name": TAG, "Values": [cluster]}]
    left = {k: sorted(by_id(aws, k, tag)) for k in
            ("vpc", "subnet", "route_table", "internet_gateway", "vpc_endpoint", "elastic_ip")}
    left["nat_gateway"] = [
        n["NatGatewayId"] for n in aws.ec2.describe_nat_gateways()["NatGateways"]
        if n["State"] not in ("deleted", "deleting")
        and {"Key": "detscript:deployment", "Value": cluster} in n.get("Tags", [])]
    left["db_subnet_group"] = [
        g["DBSubnetGroupName"] for g in aws.rds.describe_db_subnet_groups()["DBSubnetGroups"]
        if g["DBSubnetGroupName"].startswith(cluster + "-")]
    return {k: v for k, v in left.items() if v}


def zones(aws):
    """The region's available zones, by name (as `.zone(n)` counts them)."""
    return sorted(z["ZoneName"] for z in aws.ec2.describe_availability_zones()["AvailabilityZones"]
                  if z["State"] == "available")


def master_yaml(aws, instance_id):
    ud = aws.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    text = base64.b64decode(ud["UserData"]["Value"]).decode()
    return text.split("<<'DETSCRIPT_MASTER_YAML_EOF'\n", 1)[1].split("\nDETSCRIPT_MASTER_YAML_EOF", 1)[0]


def output(r, name):
    m = re.search(rf"^\s*{name}\s+= (\S+)$", r.out, re.M)
    assert m, f"no output {name} in {r.out}"
    return m.group(1)


def test_production_network_runs_reruns_and_is_destroyed(aws, proxy, tmp_path):
    r = run("run")
    tag = [{"Name": TAG, "Values": [CL]}]

    vpc = by_id(aws, "vpc", tag)["vpc.main"]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert not vpc.get("IsDefault")
    vpc_id = vpc["VpcId"]

    # Subnets: public and private, each pair in the region's first two zones.
    az = zones(aws)
    subnets = by_id(aws, "subnet", tag)
    want = {"subnet.public-a": ("10.0.0.0/24", az[0], True),
            "subnet.public-b": ("10.0.1.0/24", az[1], True),
            "subnet.private-a": ("10.0.10.0/24", az[0], False),
            "subnet.private-b": ("10.0.11.0/24", az[1], False)}
    assert {k: (s["CidrBlock"], s["AvailabilityZone"], s["MapPublicIpOnLaunch"])
            for k, s in subnets.items()} == want
    assert {s["VpcId"] for s in subnets.values()} == {vpc_id}
    sid = {k.split(".")[1]: s["SubnetId"] for k, s in subnets.items()}

    # Internet gateway attached; public routes through it, private through the NAT.
    igw = by_id(aws, "internet_gateway", tag)["internet_gateway.main"]
    assert [a["VpcId"] for a in igw["Attachments"]] == [vpc_id]
    nat = one([n for n in aws.ec2.describe_nat_gateways()["NatGateways"]
               if n["State"] == "available" and n["VpcId"] == vpc_id], "NAT gateway")
    assert nat["SubnetId"] == sid["public-a"]
    nat_eip = by_id(aws, "elastic_ip", tag)["elastic_ip.nat"]
    assert nat["NatGatewayAddresses"][0]["AllocationId"] == nat_eip["AllocationId"]
    tables = by_id(aws, "route_table", tag)

    def routes(t):
        return {(x.get("DestinationCidrBlock"), x.get("GatewayId") or x.get("NatGatewayId"))
                for x in t["Routes"] if x.get("DestinationCidrBlock")}

    def associated(t):
        return sorted(a["SubnetId"] for a in t["Associations"] if a.get("SubnetId"))

    pub, priv = tables["route_table.public"], tables["route_table.private"]
    assert ("0.0.0.0/0", igw["InternetGatewayId"]) in routes(pub)
    assert ("0.0.0.0/0", nat["NatGatewayId"]) in routes(priv)
    assert associated(pub) == sorted([sid["public-a"], sid["public-b"]])
    assert associated(priv) == sorted([sid["private-a"], sid["private-b"]])

    # The S3 gateway endpoint on both tables (agents reach checkpoints without the NAT).
    ep = by_id(aws, "vpc_endpoint", tag)["vpc_endpoint.s3"]
    assert ep["VpcEndpointType"] == "Gateway"
    assert ep["ServiceName"] == "com.amazonaws.us-west-2.s3"
    assert sorted(ep["RouteTableIds"]) == sorted([pub["RouteTableId"], priv["RouteTableId"]])

    # The database: its own subnet group over two zones, not publicly accessible.
    group = one(aws.rds.describe_db_subnet_groups(DBSubnetGroupName=f"{CL}-db")["DBSubnetGroups"],
                "DB subnet group")
    assert sorted(s["SubnetIdentifier"] for s in group["Subnets"]) == sorted(
        [sid["private-a"], sid["private-b"]])
    assert len({s["SubnetAvailabilityZone"]["Name"] for s in group["Subnets"]}) >= 2
    cluster = aws.rds.describe_db_clusters(DBClusterIdentifier=f"{CL}-db")["DBClusters"][0]
    assert cluster["DBSubnetGroup"] == f"{CL}-db"
    writer = aws.rds.describe_db_instances(DBInstanceIdentifier=f"{CL}-db-writer")["DBInstances"][0]
    assert writer["PubliclyAccessible"] is False

    # Security groups in the VPC.
    for name in ("master", "agent", "db-sg"):
        assert aws.sg(f"{CL}-{name}")["VpcId"] == vpc_id

    # The master: in the public subnet, its Elastic IP associated; the URL uses that address.
    master = one(aws.live_instances(tag), "master")
    assert master["SubnetId"] == sid["public-a"]
    eip = by_id(aws, "elastic_ip", tag)["elastic_ip.master"]
    assert eip["InstanceId"] == master["InstanceId"]
    assert output(r, "master_public_ip") == eip["PublicIp"]
    assert output(r, "master_url") == f"https://{eip['PublicIp']}:8443"

    # master.yaml: agents in the private subnet, without public IPs.
    yaml = master_yaml(aws, master["InstanceId"])
    assert f"subnet_id: {sid['private-a']}" in yaml
    assert "public_ip: false" in yaml

    # A second run changes nothing, and makes no mutating call.
    p = proxy()
    r2 = run("run", endpoint=p.url)
    assert "No changes" in r2.out, r2
    assert mutating(p.stats()) == {}, mutating(p.stats())

    # Replacing the master keeps its address: the Elastic IP moves to the new instance.
    bigger = tmp_path / "production.rhai"
    bigger.write_text(SCRIPT.read_text().replace('instance_type("m6i.xlarge")', 'instance_type("m6i.2xlarge")'))
    r3 = run("run", script=bigger)
    new = one(aws.live_instances(tag), "master")
    assert new["InstanceId"] != master["InstanceId"] and new["InstanceType"] == "m6i.2xlarge"
    moved = by_id(aws, "elastic_ip", tag)["elastic_ip.master"]
    assert (moved["AllocationId"], moved["PublicIp"]) == (eip["AllocationId"], eip["PublicIp"])
    assert moved["InstanceId"] == new["InstanceId"]
    assert output(r3, "master_url") == f"https://{eip['PublicIp']}:8443"

    # Stopping the master keeps its address, and the script sees nothing to change.
    aws.ec2.stop_instances(InstanceIds=[new["InstanceId"]])
    kept = by_id(aws, "elastic_ip", tag)["elastic_ip.master"]
    assert (kept["InstanceId"], kept["PublicIp"]) == (new["InstanceId"], eip["PublicIp"])
    assert "No changes" in run("plan", "--refresh", script=bigger).out

    # destroy leaves nothing owned: NAT and EIPs released, endpoint, routes, subnets, gateway,
    # VPC; the address of the master is released with it.
    d = run("destroy", "--skip-final-snapshot")
    assert "Nothing owned by this deployment is left behind" in d.out, d
    assert owned_network(aws) == {}
    assert aws.owned(CL) == {}
    assert not [v for v in aws.ec2.describe_vpcs()["Vpcs"] if v["VpcId"] == vpc_id]


def delete_default_vpc(aws):
    """An account without a default VPC (common in organizations)."""
    vpc = aws.default_vpc()
    for sn in aws.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:
        aws.ec2.delete_subnet(SubnetId=sn["SubnetId"])
    gws = aws.ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])["InternetGateways"]
    for g in gws:
        aws.ec2.detach_internet_gateway(InternetGatewayId=g["InternetGatewayId"], VpcId=vpc)
        aws.ec2.delete_internet_gateway(InternetGatewayId=g["InternetGatewayId"])
    aws.ec2.delete_vpc(VpcId=vpc)
    assert not aws.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]


def test_existing_vpc_is_used_and_never_touched(aws, tmp_path):
    # Without a default VPC the script's own network is all there is.
    delete_default_vpc(aws)
    vpc = aws.ec2.create_vpc(CidrBlock="10.1.0.0/16", TagSpecifications=[{
        "ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "theirs"}]}])["Vpc"]
    vpc_id = vpc["VpcId"]
    src = SCRIPT.read_text()
    assert 'vpc("main", "10.0.0.0/16")' in src
    src = src.replace('vpc("main", "10.0.0.0/16")', f'existing_vpc("{vpc_id}")')
    src = src.replace('"10.0.', '"10.1.')
    script = tmp_path / "existing.rhai"
    script.write_text(src)

    plan = run("plan", script=script)
    assert f"vpc.{vpc_id}" in plan.out
    # An id that is not there stops before anything is created.
    wrong = tmp_path / "wrong.rhai"
    wrong.write_text(src.replace(vpc_id, "vpc-0000ffff"))
    r = det("run", cluster=CL, script=wrong, env={**aws_env(), **WAITS})
    assert r.code != 0 and "the existing VPC vpc-0000ffff does not exist in us-west-2" in r.all, r
    assert owned_network(aws) == {}
    run("run", script=script)
    tag = [{"Name": TAG, "Values": [CL]}]
    subnets = by_id(aws, "subnet", tag)
    assert len(subnets) == 4 and {s["VpcId"] for s in subnets.values()} == {vpc_id}
    assert aws.sg(f"{CL}-master")["VpcId"] == vpc_id
    assert by_id(aws, "vpc", tag) == {}, "the existing VPC was tagged as owned"

    again = run("run", script=script)
    assert "No changes" in again.out, again
    # Moving a subnet to another zone is a replacement detscript does not do by itself.
    moved = tmp_path / "moved.rhai"
    moved.write_text(src.replace('"10.1.11.0/24").zone(1)', '"10.1.11.0/24").zone(2)'))
    r = det("plan", "--refresh", cluster=CL, script=moved, env={**aws_env(), **WAITS})
    assert r.code != 0 and "subnet.private-b would have to be replaced (zone" in r.all, r

    run("destroy", "--skip-final-snapshot", script=script)
    assert owned_network(aws) == {}
    left = aws.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert len(left) == 1 and left[0]["CidrBlock"] == "10.1.0.0/16"
    assert left[0]["Tags"] == [{"Key": "Name", "Value": "theirs"}]

"""Discovery reads the kinds the script does not use only when the census (one DescribeTags by
the deployment's tag) says the deployment owns one: whatever a previous version of the script
made, and the script no longer has, is still found, shown and removed by `run` and `destroy`."""

from conftest import SCRIPT, aws_env, det
from test_network import SCRIPT as PRODUCTION, TLS, WAITS, owned_network

CL = "det-census"
# Describes of kinds deploy.rhai does not use: those of a VPC and a subnet (with the subnet's
# route table associations), and those of kinds the deployment never owns in these tests.
NETWORK_READS = ("DescribeVpcs", "DescribeSubnets", "DescribeDBSubnetGroups")
NEVER_OWNED = ("DescribeNatGateways", "DescribeVpcEndpoints", "DescribeAddresses",
               "DescribeInternetGateways")


def tagged(kind, rid):
    return [{"ResourceType": kind, "Tags": [{"Key": "detscript:deployment", "Value": CL},
                                            {"Key": "detscript:id", "Value": rid}]}]


def test_a_network_left_by_an_earlier_script_is_found_and_removed_by_run(aws, proxy):
    r = det("run", cluster=CL)
    assert r.code == 0, r
    # What an earlier version of the script made: a VPC and a subnet, with the deployment's tags.
    vpc = aws.ec2.create_vpc(CidrBlock="10.9.0.0/16",
                             TagSpecifications=tagged("vpc", "vpc.old"))["Vpc"]["VpcId"]
    subnet = aws.ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24",
                                   TagSpecifications=tagged("subnet", "subnet.old"))["Subnet"]["SubnetId"]
    p = proxy()
    r = det("run", cluster=CL, endpoint=p.url, env={**aws_env(p.url), **WAITS})
    assert r.code == 0, r
    assert "vpc.old" in r.out and "subnet.old" in r.out, r
    stats = p.stats()
    # The census found them, so their kinds (and the DB subnet groups, whose subnets are the
    # deployment's) were read; kinds it owns none of were not.
    assert all(stats.get(k) for k in NETWORK_READS), stats
    assert {k: stats[k] for k in NEVER_OWNED if k in stats} == {}, stats
    assert not aws.ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["Subnets"]
    assert not [v for v in aws.ec2.describe_vpcs()["Vpcs"] if v["VpcId"] == vpc]
    # Once they are gone, nothing changes. (moto keeps the tags of a deleted VPC or subnet in
    # its tag store, so its census still names them and their kinds are read again: more
    # reads than AWS, whose tags go with the resource, never fewer.)
    p2 = proxy()
    r = det("run", cluster=CL, endpoint=p2.url)
    assert r.code == 0, r
    assert "No changes" in r.out, r
    again = p2.stats()
    assert {k: again[k] for k in NEVER_OWNED if k in again} == {}, again
    r = det("destroy", cluster=CL)
    assert r.code == 0, r
    assert aws.owned(CL) == {}


def test_destroy_with_a_script_without_the_network_removes_it(aws):
    # production.rhai makes a VPC, subnets, gateways, a NAT, addresses, an endpoint and a DB
    # subnet group; deploy.rhai has none of them.
    env = {**aws_env(), **WAITS}
    r = det("run", cluster=CL, script=PRODUCTION, env=env, params=TLS)
    assert r.code == 0, r
    assert owned_network(aws, CL), "production.rhai made no network?"
    d = det("destroy", "--skip-final-snapshot", cluster=CL, script=SCRIPT, env=env)
    assert d.code == 0, d
    assert "Nothing owned by this deployment is left behind" in d.out, d
    assert owned_network(aws, CL) == {}
    assert aws.owned(CL) == {}


def test_destroy_with_a_script_without_the_master_terminates_it(aws, tmp_path):
    r = det("run", cluster=CL)
    assert r.code == 0, r
    tag = [{"Name": "tag:detscript:deployment", "Values": [CL]}]
    [master] = aws.live_instances(tag)
    text = SCRIPT.read_text()
    start = text.index('master_instance("master")')
    end = text.index(".config(config);", start) + len(".config(config);")
    no_master = tmp_path / "no-master.rhai"
    no_master.write_text(text[:start] + text[end:])
    d = det("destroy", "--skip-final-snapshot", cluster=CL, script=no_master)
    assert d.code == 0, d
    assert master["InstanceId"] in d.out, d
    assert aws.live_instances(tag) == []
    assert aws.owned(CL) == {}

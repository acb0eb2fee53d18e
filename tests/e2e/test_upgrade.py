"""Upgrading a live cluster to a new Determined version (issue 16), against moto: the plan
shows the upgrade, `run` snapshots the database, stops the old agents (only this deployment's)
and replaces the master with the new image; downgrades are refused; a second run is a no-op."""

import base64
import json

from conftest import det, fake_agents, role_name

CL = "det-up"
OLD, NEW = "0.37.0", "0.38.1"


def at(version, *extra, command="run", **kw):
    return det(command, *extra, cluster=CL, params={"version": version}, **kw)


def master(aws):
    [i] = aws.live_instances([{"Name": "tag:detscript:deployment", "Values": [CL]},
                              {"Name": "tag:detscript:id", "Values": ["ec2_instance.master"]}])
    return i


def user_data(aws, iid):
    ud = aws.ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"]
    return base64.b64decode(ud).decode()


def upgrade_snapshots(aws):
    snaps = aws.rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    return [s for s in snaps if s["DBClusterSnapshotIdentifier"].startswith(f"{CL}-0-37-0-to-0-38-1-")]


def state(aws, i):
    return aws.instances([{"Name": "instance-id", "Values": [i]}])[0]["State"]["Name"]


def test_upgrade_snapshots_stops_our_agents_and_replaces_the_master(aws, info_stub):
    r = at(OLD)
    assert r.code == 0, r
    old = master(aws)
    assert f"determinedai/determined-master:{OLD}" in user_data(aws, old["InstanceId"])
    ours = [i["InstanceId"] for i in fake_agents(aws, CL, n=2)]
    [foreign] = [i["InstanceId"] for i in fake_agents(aws, CL, n=1, profile=False)]

    # The plan shows the upgrade: the steps, the agents to stop, the database kept.
    r = at(NEW, "--refresh", command="plan")
    assert r.code == 0, r
    assert f"Upgrade of Determined {OLD} -> {NEW}:" in r.out, r
    assert f"1. stop the master {old['InstanceId']}" in r.out
    assert f"snapshot the database (RDS cluster {CL}-db) as {CL}-0-37-0-to-0-38-1-<UTC time>" in r.out
    line = next(x for x in r.out.splitlines() if "agents tagged" in x)
    assert f"agents tagged determined-{CL}=determined-{CL}-agent with instance profile {role_name(CL, 'agent')}: now instances [" in line
    assert all(i in line for i in ours) and foreign not in line, line
    assert f"left alone: 1 with the tag but another instance profile [{foreign}]" in r.out
    assert "the database is kept" in r.out
    assert "Users will see:" in r.out and "running trials stop" in r.out
    assert "-/+ ec2_instance.master" in r.out
    assert upgrade_snapshots(aws) == [] and state(aws, old["InstanceId"]) == "running"

    # run: snapshot, agents, new master; the health wait sees the new version on the stub.
    stub = info_stub(version=NEW)
    r = at(NEW, env=stub.env())
    assert r.code == 0, r
    [snap] = upgrade_snapshots(aws)
    assert snap["DBClusterIdentifier"] == f"{CL}-db"
    assert f"Database snapshot: {snap['DBClusterSnapshotIdentifier']}" in r.err, r
    assert "2 agent instances terminated" in r.err
    for i in ours:
        assert state(aws, i) == "terminated"
    assert state(aws, foreign) == "running"
    assert state(aws, old["InstanceId"]) == "terminated"
    new = master(aws)
    assert new["InstanceId"] != old["InstanceId"]
    ud = user_data(aws, new["InstanceId"])
    assert f"determinedai/determined-master:{NEW}" in ud and f"determined-agent:{NEW}" in ud
    assert f"determined-master:{OLD}" not in ud
    assert stub.requests >= 1 and f"Determined {NEW} answers" in r.err
    # The database is the same cluster (kept, not replaced).
    assert aws.rds.describe_db_clusters(DBClusterIdentifier=f"{CL}-db")["DBClusters"]

    # A second run changes nothing, and takes no second snapshot.
    r = at(NEW)
    assert r.code == 0, r
    assert "No changes" in r.out and "Upgrade of" not in r.out
    assert len(upgrade_snapshots(aws)) == 1 and master(aws)["InstanceId"] == new["InstanceId"]


def test_downgrade_is_refused_unless_allowed(aws):
    assert at(NEW).code == 0
    before = master(aws)["InstanceId"]
    r = at(OLD, "--refresh", command="plan")
    assert r.code == 0, r
    assert f"DOWNGRADE of Determined {NEW} -> {OLD}" in r.out
    assert "refuses this unless --allow-downgrade" in r.out
    r = at(OLD)
    assert r.code == 3, r
    assert f"error: {NEW} -> {OLD} is a downgrade of Determined" in r.err, r
    assert "Stopped before changing anything." in r.err
    assert master(aws)["InstanceId"] == before and state(aws, before) == "running"
    # Allowed on request; --skip-db-snapshot takes none.
    r = at(OLD, "--allow-downgrade", "--skip-db-snapshot")
    assert r.code == 0, r
    assert "No database snapshot was taken." in r.err
    assert aws.rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"] == []
    assert f"determined-master:{OLD}" in user_data(aws, master(aws)["InstanceId"])


def events(r, kind):
    return [e for e in map(json.loads, r.out.splitlines()) if e.get("event") == kind]


def test_json_diff_and_events_name_the_upgrade(aws):
    assert at(OLD).code == 0
    r = at(NEW, "--refresh", "--format", "json", command="plan")
    assert r.code == 0, r
    [diff] = events(r, "diff")
    u = diff["upgrade"]
    assert (u["from"], u["to"], u["downgrade"]) == (OLD, NEW, False)
    assert u["database"] == {"kind": "RDS cluster", "name": f"{CL}-db"}
    assert u["agents"][0]["tag"] == f"determined-{CL}=determined-{CL}-agent"
    r = at(NEW, "--format", "json", "--no-wait")
    assert r.code == 0, r
    [done] = events(r, "upgrade")
    [snap] = upgrade_snapshots(aws)
    assert done["snapshot"] == snap["DBClusterSnapshotIdentifier"]
    assert (done["from"], done["to"]) == (OLD, NEW)

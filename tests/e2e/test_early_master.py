"""The master is launched as soon as the database's endpoint is known, while AWS still creates
the database (the proxy reports it `creating`, the instance `pending` and the new profile
unusable for a while, as AWS does); `run` still waits for every resource before it succeeds."""

import base64
import json

from conftest import det

CL = "det-e2e"


def test_master_launches_while_the_database_is_still_creating(aws, proxy):
    p = proxy("--db-creating", "6", "--instance-pending", "1", "--profile-propagation", "1")
    r = det("run", "--output", "json", endpoint=p.url)
    assert r.code == 0, r
    events = [json.loads(line) for line in r.out.splitlines()]
    order = [(e["id"], e["state"]) for e in events if e["event"] == "resource"]

    def first(id_, state):
        return order.index((id_, state))

    db_ready = max(first("rds_cluster.db", "done"), first("rds_instance.db-writer", "done"))
    # Launched (and running) before the database was available ...
    assert first("ec2_instance.master", "creating") < first("rds_cluster.db", "done")
    assert first("ec2_instance.master", "done") < db_ready
    # ... and the run reported success only after the database was.
    summary = next(e for e in events if e["event"] == "summary")
    assert summary["failed"] == [] and summary["not_done"] == []
    assert events.index(summary) > [i for i, e in enumerate(events) if e["event"] == "resource"][db_ready]
    assert p.stats()["DescribeDBClusters"] >= 2, "the database was awaited"
    # The boot script waits for the database's port before it starts the master container.
    ud = aws.ec2.describe_instance_attribute(
        InstanceId=aws.live_instances([{"Name": "tag:detscript:deployment", "Values": [CL]}])[0]["InstanceId"],
        Attribute="userData")["UserData"]["Value"]
    script = base64.b64decode(ud).decode()
    endpoint = aws.rds.describe_db_clusters()["DBClusters"][0]["Endpoint"]
    assert f"\nwait_for_database {endpoint} 5432\n" in script
    assert script.index("wait_for_database " + endpoint) < script.index("docker run -d")

"""The wait for the master's /info after `run` (issue 13, item 7). moto hands out addresses
that are not hosts, so every test points the wait at a stub on 127.0.0.1 through
DETSCRIPT_HEALTH_URL; without it, a custom endpoint means no wait."""

from conftest import aws_env, det

CL = "det-health"


def run(*extra, env=None):
    return det("run", *extra, cluster=CL, env=env)


def master_id(aws):
    [i] = aws.live_instances([{"Name": "tag:detscript:deployment", "Values": [CL]},
                              {"Name": "tag:detscript:id", "Values": ["ec2_instance.master"]}])
    return i["InstanceId"]


def test_run_waits_until_info_answers_with_a_heartbeat(aws, info_stub):
    stub = info_stub(version="0.38.0", down_for=3)
    r = run(env=stub.env(DETSCRIPT_HEALTH_HEARTBEAT_SECONDS="1"))
    assert r.code == 0, r
    assert stub.requests == 4, stub.requests
    assert f"{stub.url} to answer" in r.err, r
    assert "still waiting: HTTP 503" in r.err, r
    assert f"Determined 0.38.0 answers at {stub.url}" in r.err, r


def test_a_master_that_does_not_come_up_fails_the_run_and_names_the_boot_log(aws, info_stub):
    stub = info_stub(down_for=10**6)
    r = run("--wait-timeout", "3", env=stub.env())
    assert r.code == 3, r
    iid = master_id(aws)
    assert f"the master did not answer at {stub.url} within 3s (last: HTTP 503)" in r.err, r
    assert "/var/log/cloud-init-output.log" in r.err
    assert f"aws ec2 get-console-output --instance-id {iid} --region us-west-2" in r.err
    assert stub.requests >= 2
    # The resources exist: a second run changes nothing and waits again.
    stub.down_for = 0
    r = run(env=stub.env())
    assert r.code == 0, r
    assert "No changes" in r.out and "answers at" in r.err


def test_the_wrong_version_is_not_up(aws, info_stub):
    stub = info_stub(version="0.37.0")
    r = run("--wait-timeout", "2", env=stub.env())
    assert r.code == 3, r
    assert "answers with version 0.37.0, waiting for 0.38.0" in r.err, r


def test_no_wait_skips_it_and_a_custom_endpoint_needs_the_url(aws, info_stub):
    stub = info_stub()
    r = run("--no-wait", env=stub.env())
    assert r.code == 0, r
    assert stub.requests == 0 and "/info" not in r.err
    r = run(env=aws_env())
    assert r.code == 0, r
    assert "not waiting for the master's /info: AWS is a custom endpoint (set DETSCRIPT_HEALTH_URL" in r.err, r
    assert stub.requests == 0

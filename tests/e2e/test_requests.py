"""Request budget: `run` reports how many AWS requests it made (counted in the SDK clients'
pipeline), and the count is what the proxy saw; discovery is batched."""

import json

from conftest import det


def events(r):
    return [json.loads(line) for line in r.out.splitlines()]


def summary(r):
    return next(e for e in events(r) if e["event"] == "summary")


def test_the_reported_request_count_is_what_aws_received(aws, proxy):
    p = proxy()
    r = det("run", "--output", "json", endpoint=p.url)
    assert r.code == 0, r
    assert summary(r)["requests"] == sum(p.stats().values())
    # An unchanged script: only discovery, and the same count.
    before = sum(p.stats().values())
    r = det("run", endpoint=p.url)
    assert r.code == 0, r
    made = sum(p.stats().values()) - before
    assert f"run complete: 0 changes in 0.0s, {made} AWS requests." in r.err + r.out


def test_retries_are_counted(aws, proxy):
    p = proxy("--fault", "DescribeVpcs:503:RequestLimitExceeded:2")
    r = det("run", "--output", "json", endpoint=p.url)
    assert r.code == 0, r
    assert summary(r)["requests"] == sum(p.stats().values())

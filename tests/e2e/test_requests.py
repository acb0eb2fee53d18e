"""Request budget: `run` reports how many AWS requests it made (counted in the SDK clients'
pipeline), and the count is what the proxy saw; discovery reads a kind the script does not use
only when the census (one DescribeTags) says the deployment owns one, and preflight's key pair
and instance type reads are made for a launch only. The bounds are README's "Measured" row."""

import json
import re

from conftest import ROOT, det, mutating

CL_DEFAULT = "det-e2e"  # det()'s cluster


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


def readme_bounds():
    """The request counts README's "Measured" row states for deploy.rhai: the bounds the code
    must stay within (so that the README and the code cannot drift apart)."""
    row = next(line for line in (ROOT / "README.md").read_text().splitlines()
               if line.startswith("| AWS requests of `run`"))
    found = {k: int(m.group(1)) for k in ("first run", "unchanged run", "destroy")
             for m in [re.search(rf"\b{k} (\d+)\b", row)] if m}
    assert set(found) == {"first run", "unchanged run", "destroy"}, row
    return found


# Describes of kinds deploy.rhai does not use (it has no network of its own): an unchanged run
# of a deployment that owns none of them makes none; nor preflight's reads, made for a launch.
NOT_READ = ("DescribeVpcs", "DescribeSubnets", "DescribeRouteTables", "DescribeInternetGateways",
            "DescribeNatGateways", "DescribeAddresses", "DescribeVpcEndpoints",
            "DescribeDBSubnetGroups", "DescribeKeyPairs", "DescribeInstanceTypes")


def test_requests_stay_within_the_measured_bounds(aws, proxy):
    bounds = readme_bounds()
    p = proxy()
    r = det("run", endpoint=p.url)
    assert r.code == 0, r
    first = p.stats()
    assert sum(first.values()) <= bounds["first run"], first
    assert first.get("DescribeTags") == 1, first  # the census, once
    r = det("run", endpoint=p.url)
    assert r.code == 0, r
    again = delta(first, p.stats())
    assert sum(again.values()) <= bounds["unchanged run"], again
    assert again.get("DescribeTags") == 1, again
    assert {k: again[k] for k in NOT_READ if k in again} == {}, again
    assert mutating(again) == {}, again
    before = p.stats()
    r = det("destroy", endpoint=p.url)
    assert r.code == 0, r
    gone = delta(before, p.stats())
    assert sum(gone.values()) <= bounds["destroy"], gone
    assert aws.owned(CL_DEFAULT) == {}


def delta(before, after):
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_a_caller_without_describe_tags_reads_every_kind(aws, proxy):
    # No ec2:DescribeTags: no census, so discovery reads every kind, as it did without one.
    p = proxy("--fault", "DescribeTags:403:UnauthorizedOperation:100")
    r = det("run", endpoint=p.url)
    assert r.code == 0, r
    stats = p.stats()
    assert stats.get("DescribeTags") == 1, stats
    assert all(stats.get(k) for k in ("DescribeNatGateways", "DescribeVpcEndpoints",
                                      "DescribeDBSubnetGroups", "DescribeSubnets")), stats

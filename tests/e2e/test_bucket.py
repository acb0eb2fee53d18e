"""The checkpoint bucket's settings on moto: created with what the script asks for, and a
change of versioning applied in place (enabled, then suspended, then enabled again), each
checked with boto3."""

import boto3

from conftest import ENDPOINT, REGION, bucket_name, det

CL = "det-bkt"

SCRIPT = """
let p = params(#{
    cluster_id: #{ default: "det-demo" },
    keypair: #{ default: "" },
    db_password: #{ secret: true, default: "" },
    versioning: #{ default: "on" },
});
deployment(p.cluster_id).region("%s");
s3_bucket("checkpoints").versioning(p.versioning == "on");
""" % REGION


def s3():
    s = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                              region_name=REGION)
    return s.client("s3", endpoint_url=ENDPOINT)


def run(script, versioning):
    r = det("run", cluster=CL, script=script, params={"versioning": versioning})
    assert r.code == 0, r
    return r


def test_versioning_is_set_at_creation_and_changed_in_place(tmp_path):
    script = tmp_path / "bucket.rhai"
    script.write_text(SCRIPT)
    name = bucket_name(CL)
    client = s3()

    r = run(script, "on")
    assert "s3_bucket.checkpoints" in r.out, r
    assert client.get_bucket_versioning(Bucket=name).get("Status") == "Enabled"
    enc = client.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = client.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert all(block.values()), block

    r = run(script, "off")
    assert "~ versioning suspended" in r.out, r
    assert client.get_bucket_versioning(Bucket=name).get("Status") == "Suspended"

    r = run(script, "off")
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in r.out, r

    r = run(script, "on")
    assert "~ versioning enabled" in r.out, r
    assert client.get_bucket_versioning(Bucket=name).get("Status") == "Enabled"

    r = det("destroy", cluster=CL, script=script, params={"versioning": "on"})
    assert r.code == 0, r
    assert name not in [b["Name"] for b in client.list_buckets()["Buckets"]]

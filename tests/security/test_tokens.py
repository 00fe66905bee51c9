"""The tokens of disco.auth (pure functions)."""
from __future__ import annotations

import pytest

from disco import auth

pytestmark = [pytest.mark.timeout(30)]


def test_job_tokens_are_bound_to_their_job_and_secret():
    verifier = auth.Verifier("s3cret")
    token = auth.job_token("s3cret", "a@b:c")
    assert verifier.kind(token) == "job"
    assert verifier.kind(auth.client_token("s3cret")) == "client"
    assert verifier.kind(token.replace("a@b:c", "other@b:c")) is None
    assert verifier.kind(auth.job_token("other", "a@b:c")) is None
    assert verifier.kind("s3cret") is None  # the secret itself is not a token
    assert verifier.kind("") is None and verifier.kind(None) is None


def test_the_token_goes_beside_a_ddfs_token():
    assert auth.with_token({}, "T") == {"Authorization": "Bearer T"}
    ddfs = {"Authorization": "Basic dG9rZW46eA=="}
    assert auth.with_token(ddfs, "T") == {**ddfs, "X-Disco-Auth": "T"}
    assert auth.with_token(ddfs, None) == ddfs


def test_the_credential_only_goes_to_the_cluster():
    credential = auth.ClientCredential("T", "http://master:8989", {8989, 8990})
    assert credential.for_url("http://master:8989/disco/job/new") == "T"
    assert credential.for_url("http://node7:8990/ddfs/vol0/blob") == "T"
    assert credential.for_url("http://example.com/data.txt") is None
    assert credential.for_url("https://example.com:443/x") is None


def test_link_signatures_differ_by_role_host_and_nonce():
    macs = {auth.link_mac("s", role, host, nonce)
            for role in ("master", "node") for host in ("h1", "h2") for nonce in ("n1", "n2")}
    assert len(macs) == 8

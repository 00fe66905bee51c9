"""``s3://BUCKET/KEY``: an object in Amazon S3 (as Disco's scheme_s3). Needs ``boto3``; the
credentials come from ``params['aws_access_key_id']``/``params['aws_secret_access_key']``
when the job's params is a dict (Disco's convention), else from boto3's usual sources."""
from __future__ import annotations

from typing import Any

from disco.error import DataError, DiscoError
from disco.urls import schemesplit


def bucket_key(url: str) -> tuple[str, str]:
    _scheme, rest = schemesplit(url)
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise DataError("expected s3://BUCKET/KEY", url)
    return bucket, key


def credentials(params: Any) -> dict[str, str]:
    if isinstance(params, dict):
        return {name: params[name] for name in ("aws_access_key_id", "aws_secret_access_key")
                if name in params}
    return {}


def open(url: str, task: Any = None, params: Any = None) -> Any:
    """The S3 object's streaming body (with ``.url``)."""
    try:
        import boto3
    except ImportError:
        raise DiscoError(f"{url}: s3:// inputs need the 'boto3' package on every node") from None
    bucket, key = bucket_key(url)
    reply = boto3.client("s3", **credentials(params)).get_object(Bucket=bucket, Key=key)
    body = reply["Body"]
    body.url = url
    body.size = int(reply.get("ContentLength") or 0)
    return body


def input_stream(fd: Any, size: Any, url: str, params: Any) -> tuple[Any, int, str]:
    """Opens an s3:// URL with boto3; iterate the body's lines."""
    body = open(url, params=params)
    return body.iter_lines(), body.size, url

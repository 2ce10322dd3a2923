"""IAM policy statements the constructs share, as plain data (no CDKTF): a role's trust in one AWS service,
and KMS decrypts allowed only on behalf of named services."""

from __future__ import annotations


def assumed_by(service: str) -> list[dict]:
    """The trust policy statements of a role that ``service`` (e.g. ``ec2.amazonaws.com``) assumes."""
    return [{"actions": ["sts:AssumeRole"], "principals": [{"type": "Service", "identifiers": [service]}]}]


def decrypt_through(sid: str, key_arn: str, region: str, *services: str) -> dict:
    """``kms:Decrypt`` with ``key_arn`` only on behalf of ``services`` (e.g. ``secretsmanager``) in ``region``:
    never a direct decrypt of other ciphertext under the same key."""
    return {
        "sid": sid,
        "actions": ["kms:Decrypt"],
        "resources": [key_arn],
        "condition": [
            {
                "test": "StringEquals",
                "variable": "kms:ViaService",
                "values": [f"{service}.{region}.amazonaws.com" for service in services],
            }
        ],
    }

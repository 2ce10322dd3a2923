"""The app user secret: where ``migrate app-user`` keeps the application's own MySQL login.

Terraform creates the secret and nothing in it: no ``aws_secretsmanager_secret_version``, so the
password is never in Terraform state, plan or synthesized JSON. ``migrate app-user`` writes its
versions (``{engine, host, port, username, password, dbname}``, the shape RDS Proxy reads); the
instances and the proxy read it. Unlike the RDS-managed master secret it is not rotated by RDS every
7 days: ``migrate app-user --rotate`` rotates it, followed by an instance refresh.
"""

from __future__ import annotations

from constructs import Construct

from infra.engine.aws.secretsmanager_secret import SecretsmanagerSecret


class AppUserSecret(Construct):
    """Attributes: ``secret``, ``arn``, ``name``."""

    def __init__(self, scope: Construct, id_: str, *, name: str, kms_key_arn: str, recovery_days: int) -> None:
        """``name``: the secret's (``ResourceNames.app_user_secret``), encrypted with
        ``kms_key_arn`` (the data stack's secrets key, which the instance role may decrypt with)."""
        super().__init__(scope, id_)
        self.secret = SecretsmanagerSecret(
            self,
            "secret",
            name=name,
            description="the app's MySQL user; written by `migrate app-user`, read by the instances",
            kms_key_id=kms_key_arn,
            recovery_window_in_days=recovery_days,
        )
        self.arn = self.secret.arn
        self.name = self.secret.name

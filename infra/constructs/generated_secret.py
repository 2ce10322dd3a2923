"""A random string generated on the AWS side at apply time and kept in Secrets Manager.

Secrets Manager's GetRandomPassword (a data source) makes the value, so no secret is ever a literal in
config or synthesized JSON. The data source yields a new string on every plan; the secret version
ignores later ones, so the first value stays until the version is replaced on purpose (rotation).
The value does land in Terraform state (the version's ``secret_string``, marked sensitive).
"""

from __future__ import annotations

from constructs import Construct

from infra.engine import TerraformResourceLifecycle
from infra.engine.aws.data_aws_secretsmanager_random_password import DataAwsSecretsmanagerRandomPassword
from infra.engine.aws.secretsmanager_secret import SecretsmanagerSecret
from infra.engine.aws.secretsmanager_secret_version import SecretsmanagerSecretVersion


class GeneratedSecret(Construct):
    """Attributes: ``secret``, ``arn``, ``value`` (a reference to the string, for arguments that need it)."""

    def __init__(
        self, scope: Construct, id_: str, *, name: str, description: str, kms_key_arn: str, length: int
    ) -> None:
        super().__init__(scope, id_)
        generated = DataAwsSecretsmanagerRandomPassword(
            self, "source", password_length=length, exclude_punctuation=True, include_space=False
        )
        self.secret = SecretsmanagerSecret(
            self, "secret", name=name, description=description, kms_key_id=kms_key_arn, recovery_window_in_days=7
        )
        self.arn = self.secret.arn
        version = SecretsmanagerSecretVersion(
            self,
            "value",
            secret_id=self.secret.id,
            secret_string=generated.random_password,
            lifecycle=TerraformResourceLifecycle(ignore_changes=["secret_string"]),
        )
        self.value = version.secret_string

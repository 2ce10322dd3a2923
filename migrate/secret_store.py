"""The app user's secret in Secrets Manager: what it is, its current value, a new password, a new version.

Every AWS failure is one line and exit 2: the call that failed changed nothing. The value is JSON
``{engine, host, port, username, password, dbname}``, the shape RDS and RDS Proxy read.

botocore logs request and response bodies at DEBUG, and here they carry the password: its loggers are
held at INFO while this module is in use, whatever logging the caller set up.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from migrate.errors import BadInput, ConnectionFailed

#: Letters and digits only: safe in URLs, shells, dotenv files and RDS Proxy; 32 of them are ≈ 190 bits.
PASSWORD_LENGTH = 32
DOCUMENT_FIELDS = ("engine", "host", "port", "username", "password", "dbname")
_DENIED = ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation")


def quiet_aws_logs() -> None:
    for name in ("botocore", "boto3", "urllib3"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def region_of(arn: str, option: str) -> str:
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "secretsmanager" or not parts[3]:
        raise BadInput(f"{option}: not a Secrets Manager ARN: {arn}")
    return parts[3]


@dataclass(frozen=True)
class SecretFacts:
    name: str
    has_value: bool
    tags: dict[str, str]


class SecretStore:
    """One secret, named by ARN (its region is the ARN's)."""

    def __init__(self, arn: str, option: str = "--secret-arn") -> None:
        import boto3  # deferred: ~0.3 s, and only commands that talk to AWS need it

        self.arn, self.option = arn, option
        quiet_aws_logs()
        # A session of its own: the credentials of this call's environment, not ones a default session cached.
        self.client = boto3.session.Session().client("secretsmanager", region_name=region_of(arn, option))

    def describe(self) -> SecretFacts:
        """The secret exists and is ours to write: not a secret another AWS service owns (RDS's master secret)."""
        answer = self._call("DescribeSecret", SecretId=self.arn)
        if answer.get("OwningService"):
            raise BadInput(
                f"{self.option}: {self.arn} is managed by {answer['OwningService']} (the master secret?); "
                "pass the app user secret (the data stack's output app_user_secret_arn)"
            )
        stages = answer.get("VersionIdsToStages", {})
        tags = {tag["Key"]: tag["Value"] for tag in answer.get("Tags", [])}
        return SecretFacts(answer["Name"], any("AWSCURRENT" in s for s in stages.values()), tags)

    def current(self) -> dict[str, object]:
        """The current version's document; refused unless it is an app user document this tool wrote."""
        text = self._call("GetSecretValue", SecretId=self.arn).get("SecretString")
        try:
            document = json.loads(text) if text is not None else None
        except ValueError:
            document = None
        if not isinstance(document, dict) or sorted(document) != sorted(DOCUMENT_FIELDS):
            raise BadInput(
                f"{self.option}: {self.arn} holds something other than an app user document "
                f"({', '.join(DOCUMENT_FIELDS)}): refusing to overwrite it"
            )
        return document

    def random_password(self) -> str:
        answer = self._call(
            "GetRandomPassword",
            PasswordLength=PASSWORD_LENGTH,
            ExcludePunctuation=True,
            IncludeSpace=False,
            RequireEachIncludedType=True,
        )
        return answer["RandomPassword"]

    def put(self, document: dict[str, object]) -> str:
        """A new version, labelled AWSCURRENT (the one before becomes AWSPREVIOUS); its version id."""
        return self._call("PutSecretValue", SecretId=self.arn, SecretString=json.dumps(document))["VersionId"]

    def _call(self, action: str, **arguments):
        from botocore.exceptions import BotoCoreError, ClientError

        method = getattr(self.client, re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower())
        try:
            return method(**arguments)
        except ClientError as e:
            error = e.response.get("Error", {})
            code, message = error.get("Code", ""), _one_line(error.get("Message", "") or str(e))
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _DENIED or status == 403:
                raise BadInput(f"{self.option}: no permission to {action} on {self.arn}: {message}") from None
            if code == "ResourceNotFoundException" and action == "DescribeSecret":
                raise BadInput(f"{self.option}: no secret {self.arn} ({message})") from None
            raise ConnectionFailed(f"{self.option}: {action} failed: {code} {message}") from None
        except BotoCoreError as e:
            raise ConnectionFailed(f"{self.option}: {action} failed: {e}") from None


def _one_line(message: str) -> str:
    """AWS's message on one line (an emulator may answer with an XML body: its <Message>)."""
    found = re.search(r"<Message>(.*?)</Message>", message, re.S)
    return " ".join((found.group(1) if found else message).split())

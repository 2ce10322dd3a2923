"""What every stack of an environment shares: its name, the AWS provider with default tags, its backend."""

from __future__ import annotations

from constructs import Construct

from infra.config import EnvironmentConfig
from infra.engine import CloudBackend, LocalBackend, NamedCloudWorkspace, TerraformStack
from infra.engine.aws.provider import AwsProvider, AwsProviderDefaultTags


class EnvironmentStack(TerraformStack):
    """One Terraform workspace: ``<project>-<env>-<kind>``."""

    kind: str

    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        self.stack_name = config.stack_name(self.kind)
        super().__init__(scope, self.stack_name)
        self.config = config
        # Also what the Auto Scaling group propagates to its instances: provider default tags do not reach them.
        self.default_tags = {
            "Project": config.project,
            "Environment": config.name,
            "Stack": self.stack_name,
            "ManagedBy": "cdktf",
        }
        AwsProvider(self, "aws", region=config.region, default_tags=[AwsProviderDefaultTags(tags=self.default_tags)])
        self._init_backend()

    def aliased_provider(self, region: str) -> AwsProvider:
        """A second provider for ``region`` (CloudFront takes certificates from us-east-1 only), same tags."""
        return AwsProvider(
            self,
            f"aws-{region}",
            alias=region,
            region=region,
            default_tags=[AwsProviderDefaultTags(tags=self.default_tags)],
        )

    def _init_backend(self) -> None:
        cloud = self.config.terraform_cloud
        if cloud.organization:
            prefix = cloud.workspace_prefix or self.config.prefix
            CloudBackend(self, organization=cloud.organization, workspaces=NamedCloudWorkspace(f"{prefix}-{self.kind}"))
        else:
            # Relative, so the output does not depend on the checkout's location; and up three levels
            # (cdktf.out/stacks/<stack>/ → the project root) because terraform resolves it from the
            # stack's directory: the same string then names the same file for this stack's backend and
            # for the sibling stacks' cross-stack remote state, and the state lives outside cdktf.out,
            # which every synth replaces.
            LocalBackend(self, path=f"../../../terraform.{self.stack_name}.tfstate")

"""The app fleet: launch template, Auto Scaling group and its scaling policies.

- AMI: Canonical's public SSM parameter for the current Ubuntu LTS, so patched images arrive by
  plan rather than by editing an id; a new image is a new launch-template version, rolled out by
  instance refresh.
- IMDSv2 only, hop limit 1: nothing on the instance runs in a container, so no caller one hop
  further away (a container, or a request forwarded by the app) ever needs the instance's credentials.
  Instance tags are readable through IMDS: the bootstrap reads its references there.
- Terraform sets desired capacity once and then ignores it, so an apply never undoes the scaler.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import AppConfig
from infra.engine import TerraformResourceLifecycle, Token
from infra.engine.aws.autoscaling_group import (
    AutoscalingGroup,
    AutoscalingGroupInstanceRefresh,
    AutoscalingGroupInstanceRefreshPreferences,
    AutoscalingGroupLaunchTemplate,
    AutoscalingGroupTag,
)
from infra.engine.aws.autoscaling_policy import (
    AutoscalingPolicy,
    AutoscalingPolicyTargetTrackingConfiguration,
    AutoscalingPolicyTargetTrackingConfigurationPredefinedMetricSpecification,
)
from infra.engine.aws.data_aws_ssm_parameter import DataAwsSsmParameter
from infra.engine.aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateIamInstanceProfile,
    LaunchTemplateMetadataOptions,
    LaunchTemplateMonitoring,
    LaunchTemplateTagSpecifications,
)
from infra.engine.aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from infra.names import resource_names

UBUNTU_AMI_PARAMETER = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
#: Canonical's images boot from this device.
ROOT_DEVICE = "/dev/sda1"
GROUP_METRICS = (
    "GroupMinSize",
    "GroupMaxSize",
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
)
#: Outbound from the instances: AWS APIs, NodeSource, npm and git over HTTPS; Ubuntu's apt mirrors
#: serve plain HTTP (packages are signature-checked by apt). MySQL and Redis egress is the data stack's.
EGRESS = ((443, "HTTPS: AWS APIs, NodeSource, npm, git"), (80, "HTTP: Ubuntu apt mirrors (apt verifies signatures)"))


class Fleet(Construct):
    """Attributes: ``name`` (of the Auto Scaling group and its launch template), ``launch_template``, ``group``,
    ``policies`` (name → policy)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        config: AppConfig,
        subnet_ids: list[str],
        security_group_id: str,
        instance_profile_arn: str,
        user_data: str,
        instance_tags: dict[str, str],
        propagated_tags: dict[str, str],
        target_group_arn: str,
        request_count_label: str,
    ) -> None:
        super().__init__(scope, id_)
        self.name = resource_names(name).app
        self._config = config
        for port, description in EGRESS:
            VpcSecurityGroupEgressRule(
                self,
                f"egress-{port}",
                security_group_id=security_group_id,
                description=description,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4="0.0.0.0/0",
            )
        self.launch_template = self._init_launch_template(
            security_group_id, instance_profile_arn, user_data, instance_tags
        )
        self.group = self._init_group(subnet_ids, target_group_arn, propagated_tags)
        self.policies = self._init_policies(request_count_label)

    def _init_launch_template(
        self, security_group_id: str, profile_arn: str, user_data: str, tags: dict[str, str]
    ) -> LaunchTemplate:
        config = self._config
        ami = DataAwsSsmParameter(self, "ami", name=UBUNTU_AMI_PARAMETER)
        return LaunchTemplate(
            self,
            "launch-template",
            name=self.name,
            description="duewin app instance: Ubuntu LTS, bootstrapped by bootstrap/user_data.py",
            # An AMI id is no secret; `value` is marked sensitive and would hide which image a plan rolls out.
            image_id=ami.insecure_value,
            instance_type=config.instance_type,
            key_name=config.ssh_key_name,
            user_data=user_data,
            update_default_version=True,
            vpc_security_group_ids=[security_group_id],
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=profile_arn),
            metadata_options=LaunchTemplateMetadataOptions(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
                instance_metadata_tags="enabled",
            ),
            monitoring=LaunchTemplateMonitoring(enabled=True),
            block_device_mappings=[
                LaunchTemplateBlockDeviceMappings(
                    device_name=ROOT_DEVICE,
                    ebs=LaunchTemplateBlockDeviceMappingsEbs(
                        volume_size=config.root_volume_gb,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                LaunchTemplateTagSpecifications(resource_type="instance", tags={"Name": self.name, **tags}),
                LaunchTemplateTagSpecifications(resource_type="volume", tags={"Name": self.name}),
            ],
            tags={"Name": self.name},
        )

    def _init_group(
        self, subnet_ids: list[str], target_group_arn: str, propagated_tags: dict[str, str]
    ) -> AutoscalingGroup:
        config = self._config
        return AutoscalingGroup(
            self,
            "group",
            name=self.name,
            min_size=config.min_size,
            max_size=config.max_size,
            desired_capacity=config.desired_capacity,
            vpc_zone_identifier=subnet_ids,
            target_group_arns=[target_group_arn],
            health_check_type="ELB",
            health_check_grace_period=config.health_check_grace_seconds,
            default_instance_warmup=config.health_check_grace_seconds,
            launch_template=AutoscalingGroupLaunchTemplate(
                id=self.launch_template.id, version=Token.as_string(self.launch_template.latest_version)
            ),
            # Launch the replacement before terminating the old instance: capacity never drops during a rollout.
            instance_refresh=AutoscalingGroupInstanceRefresh(
                strategy="Rolling",
                preferences=AutoscalingGroupInstanceRefreshPreferences(
                    min_healthy_percentage=100, max_healthy_percentage=200
                ),
            ),
            enabled_metrics=list(GROUP_METRICS),
            metrics_granularity="1Minute",
            tag=[
                AutoscalingGroupTag(key=key, value=value, propagate_at_launch=True)
                for key, value in sorted(propagated_tags.items())
            ],
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_capacity"]),
        )

    def _init_policies(self, request_count_label: str) -> dict[str, AutoscalingPolicy]:
        config = self._config
        targets = {"cpu": ("ASGAverageCPUUtilization", None, config.cpu_target_percent)}
        if config.requests_per_target is not None:
            targets["requests"] = ("ALBRequestCountPerTarget", request_count_label, config.requests_per_target)
        return {
            kind: AutoscalingPolicy(
                self,
                f"{kind}-target",
                name=f"{self.name}-{kind}-target",
                autoscaling_group_name=self.group.name,
                policy_type="TargetTrackingScaling",
                target_tracking_configuration=AutoscalingPolicyTargetTrackingConfiguration(
                    predefined_metric_specification=AutoscalingPolicyTargetTrackingConfigurationPredefinedMetricSpecification(
                        predefined_metric_type=metric, resource_label=label
                    ),
                    target_value=target,
                ),
            )
            for kind, (metric, label, target) in targets.items()
        }

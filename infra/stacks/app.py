"""`<project>-<env>-app`: the load balancer, the fleet and what the instances may read.

Values flow one way: network and data → app. Nothing here changes a resource of the data stack
(CDKTF only adds an output there for each value read); the app instances' security group belongs
to the network stack, and this stack only adds rules to it.
"""

from __future__ import annotations

from constructs import Construct

from bootstrap.cutover_runner import DATABASE_TAGS, render_runner_script
from bootstrap.user_data import InstanceReferences, instance_tags, render_user_data
from infra.boot import app_boot
from infra.config import EnvironmentConfig
from infra.constructs.cutover_runner import CutoverRunner
from infra.constructs.fleet import Fleet
from infra.constructs.instance_role import InstanceRole
from infra.constructs.load_balancer import LoadBalancer
from infra.constructs.web_acl import WebAcl
from infra.engine import Token
from infra.engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from infra.stacks.base import EnvironmentStack
from infra.stacks.data import DataStack
from infra.stacks.network import NetworkStack
from infra.waf_rules import web_acl_rules


class AppStack(EnvironmentStack):
    """Attributes: ``load_balancer`` (LoadBalancer), ``fleet`` (Fleet), ``instance_role``, ``log_group``,
    ``web_acl`` (WebAcl on the load balancer; None without ``[waf]``), ``cutover_runner`` (CutoverRunner, or
    None unless ``[cutover] runner = true``)."""

    kind = "app"

    def __init__(self, scope: Construct, config: EnvironmentConfig, network: NetworkStack, data: DataStack) -> None:
        super().__init__(scope, config)
        name = config.prefix
        boot = app_boot(config)
        database, cache = data.database, data.cache
        app_sg = network.app_security_group
        self.load_balancer = LoadBalancer(
            self,
            "load-balancer",
            name=name,
            config=config.load_balancer,
            app=config.app,
            certificate_arn=config.dns.certificate_arn,
            vpc_id=network.vpc.vpc.id,
            subnet_ids=network.vpc.subnet_ids["public"],
            target_security_group_id=app_sg.id,
        )
        self.web_acl = self._init_web_acl(config, network) if config.waf.enabled else None
        self.log_group = CloudwatchLogGroup(
            self,
            "app-log-group",
            name=boot.log_group_name,
            retention_in_days=config.app.log_retention_days,
            kms_key_id=network.log_key.key.arn,
        )
        self.instance_role = InstanceRole(
            self,
            "instance-role",
            name=name,
            # The app user's secret, never the master's: RDS rotates that one every 7 days.
            secret_arns=[data.app_user_secret.arn, cache.auth_secret_arn],
            secrets_key_arn=data.secrets_key_arn,
            parameter_path=boot.parameter_path,
            log_group_arn=self.log_group.arn,
            artifact_url=config.app.artifact,
        )
        references = InstanceReferences(
            db_host=data.app_db_host,
            db_port=_text(database.port),
            db_name=database.db_name,
            db_secret_arn=data.app_user_secret.arn,
            redis_host=cache.primary_endpoint,
            redis_port=_text(cache.port),
            redis_auth_secret_arn=cache.auth_secret_arn,
        )
        self.fleet = Fleet(
            self,
            "fleet",
            name=name,
            config=config.app,
            subnet_ids=network.vpc.subnet_ids["app"],
            security_group_id=app_sg.id,
            instance_profile_arn=self.instance_role.profile.arn,
            user_data=render_user_data(boot),
            instance_tags=instance_tags(references),
            propagated_tags=self.default_tags,
            target_group_arn=self.load_balancer.target_group.arn,
            request_count_label=self.load_balancer.request_count_label,
        )
        self.cutover_runner = None
        if config.cutover.runner:
            values = {
                "DB_HOST": database.address,
                "DB_PORT": _text(database.port),
                "DB_NAME": database.db_name,
                "DB_SECRET_ARN": database.master_secret_arn,
            }
            self.cutover_runner = CutoverRunner(
                self,
                "cutover-runner",
                name=name,
                config=config.cutover,
                vpc_id=network.vpc.vpc.id,
                subnet_id=network.vpc.subnet_ids["app"][0],
                database_security_group_id=database.security_group.id,
                database_secret_arn=database.master_secret_arn,
                secrets_key_arn=data.secrets_key_arn,
                user_data=render_runner_script(region=config.region, dump_prefix=config.cutover.dump_prefix),
                database_tags={DATABASE_TAGS[variable]: value for variable, value in values.items()},
            )

    def _init_web_acl(self, config: EnvironmentConfig, network: NetworkStack) -> WebAcl:
        # Also with CloudFront in front: the ALB's DNS name is public, so the origin keeps its own web ACL.
        return WebAcl(
            self,
            "waf",
            name=self.load_balancer.name,
            rules=web_acl_rules(config.waf, behind_cloudfront=config.edge.create_cloudfront),
            log_retention_days=config.waf.log_retention_days,
            data_protection=not config.rehearsal.omit_waf_data_protection,
            kms_key_arn=network.log_key.key.arn,
            protected_resource_arn=self.load_balancer.alb.arn,
        )


def _text(value) -> str:
    """A port as a tag value: a plain number, or a number token from another stack's attribute."""
    return Token.as_string(value)

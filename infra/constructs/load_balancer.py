"""The internet-facing Application Load Balancer in front of the fleet, its target group and listeners.

With a certificate the ALB terminates TLS (a TLS 1.3 policy) and answers plain HTTP with a 301 to
HTTPS; without one (dev's default) it forwards plain HTTP. Its security group admits only the
listener ports from the internet and may only talk to the app instances' group on the app port,
and the matching ingress rule on that group is added here, so the two can never disagree.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import AppConfig, LoadBalancerConfig
from infra.constructs.access_logs_bucket import AccessLogsBucket
from infra.engine.aws.lb import Lb, LbAccessLogs
from infra.engine.aws.lb_listener import LbListener, LbListenerDefaultAction, LbListenerDefaultActionRedirect
from infra.engine.aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck, LbTargetGroupStickiness
from infra.engine.aws.security_group import SecurityGroup
from infra.engine.aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from infra.engine.aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from infra.names import resource_names

ANYWHERE = "0.0.0.0/0"


class LoadBalancer(Construct):
    """Attributes: ``name`` (the ALB's, known before apply), ``security_group``, ``alb``, ``target_group``,
    ``listeners`` (port → listener), ``access_logs``, ``request_count_label`` (what an ALBRequestCountPerTarget
    policy names)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        config: LoadBalancerConfig,
        app: AppConfig,
        certificate_arn: str | None,
        vpc_id: str,
        subnet_ids: list[str],
        target_security_group_id: str,
    ) -> None:
        super().__init__(scope, id_)
        self._names = resource_names(name)
        self.name = self._names.load_balancer
        self._config = config
        self._app = app
        self._https = certificate_arn is not None
        self.security_group = self._init_security_group(vpc_id, target_security_group_id)
        self.access_logs = AccessLogsBucket(
            self,
            "access-logs",
            name=name,
            retention_days=config.access_log_retention_days,
            # A protected ALB's logs are evidence too: only unprotected environments may destroy them with the bucket.
            force_destroy=not config.deletion_protection,
        )
        self.alb = Lb(
            self,
            "alb",
            name=self.name,
            internal=False,
            load_balancer_type="application",
            security_groups=[self.security_group.id],
            subnets=subnet_ids,
            idle_timeout=config.idle_timeout_seconds,
            drop_invalid_header_fields=True,
            enable_deletion_protection=config.deletion_protection,
            access_logs=LbAccessLogs(bucket=self.access_logs.bucket.id, prefix=self.access_logs.prefix, enabled=True),
            depends_on=[self.access_logs.policy],
            tags={"Name": self.name},
        )
        self.target_group = self._init_target_group(vpc_id)
        self.request_count_label = f"{self.alb.arn_suffix}/{self.target_group.arn_suffix}"
        self.listeners = self._init_listeners(certificate_arn)

    def _init_security_group(self, vpc_id: str, target_security_group_id: str) -> SecurityGroup:
        group = SecurityGroup(
            self,
            "sg",
            name=self.name,
            description="duewin ALB: HTTP(S) from the internet, the app port to the app instances only",
            vpc_id=vpc_id,
            tags={"Name": self.name},
        )
        # 443 only exists with a certificate; without one there is no listener to reach.
        for port in (80, 443) if self._https else (80,):
            VpcSecurityGroupIngressRule(
                self,
                f"ingress-{port}",
                security_group_id=group.id,
                description=f"{'HTTPS' if port == 443 else 'HTTP'} from the internet",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=ANYWHERE,
            )
        port = self._app.port
        VpcSecurityGroupEgressRule(
            self,
            "egress-app",
            security_group_id=group.id,
            description="To the app instances' port (traffic and health checks)",
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=target_security_group_id,
        )
        VpcSecurityGroupIngressRule(
            self,
            "app-ingress-from-alb",
            security_group_id=target_security_group_id,
            description="The app port, from the ALB only",
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=group.id,
        )
        return group

    def _init_target_group(self, vpc_id: str) -> LbTargetGroup:
        config = self._config
        return LbTargetGroup(
            self,
            "target-group",
            name=self._names.app,
            port=self._app.port,
            protocol="HTTP",
            target_type="instance",
            vpc_id=vpc_id,
            deregistration_delay=str(config.deregistration_delay_seconds),
            health_check=LbTargetGroupHealthCheck(
                enabled=True,
                protocol="HTTP",
                port="traffic-port",
                path=self._app.health_check_path,
                matcher=config.health_check_matcher,
                interval=config.health_check_interval_seconds,
                timeout=config.health_check_timeout_seconds,
                healthy_threshold=config.healthy_threshold,
                unhealthy_threshold=config.unhealthy_threshold,
            ),
            # Socket.IO's long-polling requests must reach the instance holding the session, unless the app
            # shares sessions through the Redis adapter; then stickiness only unbalances the fleet.
            stickiness=LbTargetGroupStickiness(
                type="lb_cookie", enabled=config.stickiness, cookie_duration=config.stickiness_duration_seconds
            ),
            tags={"Name": self._names.app},
        )

    def _init_listeners(self, certificate_arn: str | None) -> dict[int, LbListener]:
        forward = [LbListenerDefaultAction(type="forward", target_group_arn=self.target_group.arn)]
        if not self._https:
            return {
                80: LbListener(
                    self, "http", load_balancer_arn=self.alb.arn, port=80, protocol="HTTP", default_action=forward
                )
            }
        redirect = LbListenerDefaultAction(
            type="redirect",
            redirect=LbListenerDefaultActionRedirect(protocol="HTTPS", port="443", status_code="HTTP_301"),
        )
        return {
            443: LbListener(
                self,
                "https",
                load_balancer_arn=self.alb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=self._config.ssl_policy,
                certificate_arn=certificate_arn,
                default_action=forward,
            ),
            80: LbListener(
                self, "http", load_balancer_arn=self.alb.arn, port=80, protocol="HTTP", default_action=[redirect]
            ),
        }

"""The rehearsal profile: what every deploy rehearsal sets in the environment it rehearses, and why.

An overlay of dotted keys, each set to true, on the environment's values, validated again through the
config model. What the emulator cannot deploy is left out in config (the ``[rehearsal]`` section, which
no environment file may set), not cut out of the JSON, so what is rehearsed is exactly what an
environment with these values would deploy.
"""

from __future__ import annotations

from infra.config import EnvironmentConfig

#: Left out of every rehearsal: what moto 5.2.5 cannot deploy at all.
EMULATOR_GAPS: dict[str, str] = {
    "rehearsal.omit_replication_group": "ElastiCache: moto has no CreateCacheParameterGroup, and a replication "
    "group fails (CacheClusterNotFound for its member cluster)",
    "rehearsal.omit_waf_data_protection": "WAF data protection: moto ignores a web ACL's DataProtectionConfig, so "
    "every plan would add it again",
}
#: Left out as well in the lite run (the test suite's): what the emulator only does slowly.
LITE_GAPS: dict[str, str] = {
    "rehearsal.omit_database_instance": "RDS instance: ≈ 80 s create + 60 s delete of fixed waits in the provider",
}
#: Turned on in every rehearsal: what an environment may leave off to save money (dev) but must deploy
#: wherever it is on. The rest of the section (dev: every rule group in count mode) stays as configured.
REHEARSED_ON: dict[str, str] = {
    "waf.enabled": "AWS WAF (off in dev): the web ACL, its association with the ALB, its log group and logging",
}
#: Turned on in the lite run although off by default: optional parts the emulator deploys in seconds, so the
#: test suite proves they apply, re-plan clean and destroy. What they need from a part the lite run leaves
#: out is left out with it (RDS Proxy's target is the instance: a full run of an environment with the proxy
#: on rehearses it).
LITE_ON: dict[str, str] = {
    "database.proxy": "RDS Proxy: proxy, default target group, role, Secrets Manager endpoint and security groups",
}


def profile(*, lite: bool) -> dict[str, str]:
    """Dotted key → why, for every key a rehearsal (``lite``: the test suite's) sets to true."""
    return {**EMULATOR_GAPS, **REHEARSED_ON, **({**LITE_GAPS, **LITE_ON} if lite else {})}


def rehearsal_config(config: EnvironmentConfig, *, lite: bool) -> EnvironmentConfig:
    """``config`` with the profile overlaid, validated again through the model."""
    data = config.model_dump()
    for path in profile(lite=lite):
        section, key = path.split(".")
        data[section][key] = True
    return EnvironmentConfig.model_validate(data)

"""Thin stacks, one Terraform workspace each: they wire constructs and pass typed attributes along."""

from infra import engine

engine.prepare_provider_import()

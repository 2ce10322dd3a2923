"""Thin stacks, one Terraform workspace each: they wire constructs and pass typed attributes along."""

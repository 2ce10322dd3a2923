"""CDKTF infrastructure for duewin: config model, app builder, stacks, constructs, CLI."""

"""What a reviewer of an infrastructure change needs to see, computed offline from synthesized JSON.

Pure modules (no CDKTF import, millisecond tests; synth outputs are read through ``infra.synthesized``):
``diff`` (resource-by-resource changes), ``stateful`` (the replacement-forcing attribute table),
``risks`` (what must be flagged), ``report`` (Markdown / JSON), ``graph`` (Graphviz DOT),
``plans`` (Terraform Cloud speculative-plan order and summaries). ``checkout`` and ``cli`` are the
edge: git worktrees, synth subprocesses, checkov, click.
"""

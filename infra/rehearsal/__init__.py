"""Deploy rehearsal: apply, re-plan and destroy the synthesized stacks against moto on loopback.

``terraform validate`` proves the JSON is well-formed; only an apply proves that remote state,
cross-stack outputs, IAM policy ARNs and the dependency order work. No AWS account is reachable,
so the real terraform and the offline provider (5.100.0) talk to ``moto``'s server on 127.0.0.1.

The synthesized JSON is never edited: an override file next to each stack's ``cdk.tf.json`` swaps
in a local backend, points cross-stack ``terraform_remote_state`` at the sibling stacks' local
state, pins the provider to the mirror's version and gives it emulator settings. Endpoints come
only from ``AWS_ENDPOINT_URL`` — a per-service ``endpoints {}`` block would send any service left
off it to real AWS. As a second fence every terraform call gets ``HTTPS_PROXY``/``HTTP_PROXY``
pointing at a loopback port that is bound but never listens: Go never proxies loopback, so
requests to the emulator pass, and any request for another host is refused on the spot instead
of leaving the machine.

Modules: ``profile`` (what a rehearsal changes in the environment, and why), ``stack_files`` (the
override files and local state beside each stack), ``seeds`` (what a real account has before the
first deploy), ``diffs`` (second-plan diffs and the known emulator gaps), ``emulator`` (moto's
server and the fence), ``inventory`` (what the emulator holds), ``checks`` (facts asserted through
boto3 after apply), ``cycle`` (init → apply → re-plan → checks → destroy), ``report`` (what a run
found), ``command`` (``infra rehearse``).

No module imports CDKTF or moto at import time: ``infra rehearse`` synthesizes through ``infra.app``
only when asked to, and the test suite hands in a directory it synthesized already.
"""

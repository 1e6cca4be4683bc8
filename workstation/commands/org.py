"""The organisation's commands (docs/workstation.md "First day: the organisation")::

    testimony org init --server URL --setup-token T --intake-seed FILE [--quorum 2]
                       [--log-key KEY] [--workstation DIR] [--passphrase-file FILE]
    testimony reviewer invite  [--workstation DIR] [--passphrase-file FILE]
    testimony reviewer enrol   --server URL --invite CODE [--role reviewer|admin|auditor]
                               [--log-key KEY] [--workstation DIR] [--passphrase-file FILE]
    testimony reviewer approve ID   [--workstation DIR] [--passphrase-file FILE]
    testimony reviewer revoke ID    [--workstation DIR] [--passphrase-file FILE]
    testimony reviewer list         [--workstation DIR] [--passphrase-file FILE]

Codes the user copies (an invite code, a fingerprint to read out, a
proposal's id) are printed alone on their own line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import export, org
from ..home import fingerprint
from ..session import ReviewerClient
from ..sync import sync_log
from . import LogKeyOption, Opened, PassphraseFile, ServerOption, WorkstationDir, errors, opened

__all__ = ["register"]

org_app = typer.Typer(
    no_args_is_help=True,
    help="The organisation: founding it (docs/protocol.md §12.3).",
)


def register(app: typer.Typer, reviewer_app: typer.Typer) -> None:
    """Add ``org init`` to ``app`` and the enrolment commands to ``reviewer``."""
    app.add_typer(org_app, name="org")
    reviewer_app.command("invite")(reviewer_invite)
    reviewer_app.command("enrol")(reviewer_enrol)
    reviewer_app.command("approve")(reviewer_approve)
    reviewer_app.command("revoke")(reviewer_revoke)
    reviewer_app.command("list")(reviewer_list)


def _synced(workstation: Opened, client: ReviewerClient) -> org.Replay:
    """The log synced (verified) and replayed: the standing as the server has it now."""
    sync_log(workstation.cache, client)
    return org.replay(workstation.cache)


def _join(workstation: Opened, server: str, log_key: str | None) -> ReviewerClient:
    """A client for ``server``, whose log key is pinned in the cache (given, or
    the server's on first use)."""
    client = ReviewerClient(server, workstation.identity, log_key=log_key or None)
    pinned = workstation.cache.get("log_key")
    if (
        log_key is None
        and pinned is not None
        and workstation.cache.get("server") == client.server_url
    ):
        client.close()
        client = ReviewerClient(server, workstation.identity, log_key=str(pinned))
    client.check_log_key()
    org.bind(workstation.cache, client.server_url, client.log_key)
    return client


@org_app.command("init")
def org_init(
    server: ServerOption,
    setup_token: Annotated[
        str,
        typer.Option("--setup-token", help="The token `testimony init` printed for the operator."),
    ],
    intake_seed: Annotated[
        Path,
        typer.Option(
            "--intake-seed",
            help="The intake key's private seed (the file `testimony intake-key new --private` wrote).",
        ),
    ],
    quorum: Annotated[
        int,
        typer.Option(
            "--quorum",
            min=1,
            help="Admins who must approve each proposal (capped by how many there are).",
        ),
    ] = 2,
    log_key: LogKeyOption = None,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Found the organisation on its server, as its first admin.

    Sends the `org` entry naming your keys, the setup token's hash and the
    policy; keeps a fresh group secret (epoch 0) and the intake seed in this
    workstation's encrypted keyring. Run `testimony reviewer new` first.
    """
    with errors(), opened(workstation, passphrase_file) as ws:
        seed = org.read_intake_seed(intake_seed)
        with _join(ws, server, log_key) as client:
            sync_log(ws.cache, client)
            founded = org.found(
                ws.cache,
                client,
                ws.identity,
                setup_token=setup_token,
                quorum=quorum,
                intake_seed=seed,
            )
            sync_log(ws.cache, client)
    again = " (taken up again: the server had it already)" if founded.repeated else ""
    typer.echo(f"organisation founded{again}: org entry at log index {founded.index}")
    typer.echo(
        f"policy: each proposal needs {quorum} admin approval(s), "
        "or as many admins as there are when there are fewer"
    )
    typer.echo("your reviewer id (the founding admin):")
    typer.echo(fingerprint(ws.identity.id))
    typer.echo("Next: `testimony reviewer invite` for each colleague, then `testimony sync`.")


def reviewer_invite(
    workstation: WorkstationDir = None, passphrase_file: PassphraseFile = None
) -> None:
    """Make an invite code (admins): the log keeps only its hash.

    Give the code to the candidate over a channel you trust; it works once.
    """
    with (
        errors(),
        opened(workstation, passphrase_file) as ws,
        org.bound_client(ws.cache, ws.identity) as client,
    ):
        replayed = _synced(ws, client)
        code, receipt = org.invite(client, ws.identity, replayed.governance)
    typer.echo(f"invite logged at index {receipt['index']}.")
    typer.echo("Give this code to the candidate out of band (it is shown once and works once):")
    typer.echo(code)


def reviewer_enrol(
    server: ServerOption,
    invite: Annotated[str, typer.Option("--invite", help="The invite code an admin gave you.")],
    role: Annotated[
        str, typer.Option("--role", help="reviewer, admin or auditor (as agreed with the admins).")
    ] = "reviewer",
    log_key: LogKeyOption = None,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Ask to join the organisation (candidates): your keys, self-signed.

    The admins approve you once they have compared your fingerprint with you
    over a channel you both trust.
    """
    with (
        errors(),
        opened(workstation, passphrase_file) as ws,
        _join(ws, server, log_key) as client,
    ):
        replayed = _synced(ws, client)
        receipt = org.enrol(client, ws.identity, replayed.governance, invite_code=invite, role=role)
        sync_log(ws.cache, client)
    typer.echo(f"enrolment as {role} logged at index {receipt['index']}.")
    typer.echo("Read this fingerprint out to an admin, over a channel you both trust:")
    typer.echo(fingerprint(ws.identity.id))
    typer.echo("Once approved, a key holder grants you the keyring; then `testimony sync`.")


def _effect(replayed: org.Replay, proposal_id: str) -> str:
    governance = replayed.governance
    proposal = governance.proposals.get(proposal_id)
    if proposal is None:
        return "not in the synced log yet"
    if proposal.effective_at is not None:
        return "it has taken effect"
    needed = max(1, min(proposal.quorum, len(governance.admins())))
    return f"{len(proposal.approvals)} of {needed} approvals; it waits for {needed - len(proposal.approvals)} more"


def reviewer_approve(
    target: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="A candidate's fingerprint (reviewer id), or a proposal's entry id.",
        ),
    ],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Approve a proposal (admins): a candidate's enrolment, a revocation, a policy, an export.

    Compare the candidate's fingerprint with them out of band first.
    """
    with (
        errors(),
        opened(workstation, passphrase_file) as ws,
        org.bound_client(ws.cache, ws.identity) as client,
    ):
        replayed = _synced(ws, client)
        approved = org.approve(client, ws.identity, replayed.governance, target)
        after = _synced(ws, client)
        proposal = approved.proposal
        what = proposal.kind
        if proposal.kind == "export":
            what = export.describe(ws.cache, proposal)
    if proposal.kind == "enrol":
        entry = proposal.entry
        what = f"the enrolment of {fingerprint(entry.actor)} as {getattr(entry, 'role', '?')}"
    typer.echo(f"approved {what}: {_effect(after, proposal.id)}.")
    if (
        proposal.kind == "enrol"
        and after.governance.proposals[proposal.id].effective_at is not None
    ):
        typer.echo("Next: a key holder runs `testimony keys grant` with this id:")
        typer.echo(proposal.entry.actor)


def reviewer_revoke(
    target: Annotated[
        str, typer.Argument(metavar="ID", help="The reviewer's id (fingerprint, spaces allowed).")
    ],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Propose to revoke a reviewer (admins); it takes effect at its quorum.

    A revoked key never regains standing; the person comes back with new keys.
    """
    with (
        errors(),
        opened(workstation, passphrase_file) as ws,
        org.bound_client(ws.cache, ws.identity) as client,
    ):
        replayed = _synced(ws, client)
        receipt = org.revoke(client, ws.identity, replayed.governance, target)
        after = _synced(ws, client)
    typer.echo(f"revocation logged at index {receipt['index']}: {_effect(after, receipt['id'])}.")
    proposal = after.governance.proposals.get(receipt["id"])
    if proposal is not None and proposal.effective_at is None:
        typer.echo("Other admins approve it with `testimony reviewer approve` and this id:")
        typer.echo(receipt["id"])
    elif proposal is not None:
        typer.echo(
            "Note: rotating the group secret and the intake key after a revocation is not "
            "built yet; the revoked reviewer keeps what it held (docs/workstation.md)."
        )


def reviewer_list(
    workstation: WorkstationDir = None, passphrase_file: PassphraseFile = None
) -> None:
    """Everyone the organisation's log knows, with their standing (as of the last sync)."""
    with errors(), opened(workstation, passphrase_file) as ws:
        replayed = org.replay(ws.cache)
        members = org.standing_of(replayed.governance)
        me = ws.identity.id
    typer.echo(f"as of the last sync: {replayed.size} log entries")
    if replayed.ignored:
        typer.echo(
            f"warning: {len(replayed.ignored)} logged entries break §12's rules and were ignored"
        )
    for member in members:
        state = member.state
        if state == "candidate":
            state = f"candidate ({member.approvals} of {member.needed} approvals)"
        keys = "key holder" if member.key_holder else "-"
        you = "  (you)" if member.id == me else ""
        typer.echo(f"{member.role:<9} {state:<28} {keys:<10} {fingerprint(member.id)}{you}")

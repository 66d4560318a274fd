"""``careledger platform ...``: register platforms and rotate their keys (each a ledger entry)."""

from __future__ import annotations

import base64
from pathlib import Path

import click
import orjson

from supervisor.cli import CliContext
from supervisor.custody.key_files import write_secret
from supervisor.intake.platforms import (
    PlatformRegistry,
    generate_platform_key,
    key_id_of,
    parse_public_key,
)


@click.group()
def platform() -> None:
    """Platforms that submit records, and their Ed25519 keys."""


def _registry(context: CliContext) -> PlatformRegistry:
    return PlatformRegistry(context.ledger(signing=True))


@platform.command()
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True)
def keygen(out: Path) -> None:
    """Create a platform key pair: the private key in OUT (0600), the public key printed."""
    seed, public_key = generate_platform_key()
    write_secret(out, base64.b64encode(seed).decode() + "\n")
    encoded = base64.b64encode(public_key).decode()
    out.with_name(out.name + ".pub").write_text(encoded + "\n", encoding="ascii")
    click.echo(f"private key: {out} (mode 0600; keep it on the platform)", err=True)
    click.echo(f"key id: {key_id_of(public_key)}", err=True)
    click.echo(encoded)


@platform.command()
@click.option("--institution", required=True, help="The institution's code.")
@click.option("--name", required=True, help="The platform's name.")
@click.option("--public-key", required=True, help="Ed25519 public key, base64.")
@click.pass_obj
def register(context: CliContext, institution: str, name: str, public_key: str) -> None:
    """Register a platform and its first key; prints the platform id and key id."""
    platform_id, key_id = _registry(context).register(
        institution, name, parse_public_key(public_key), now=context.now()
    )
    click.echo(f"platform_id: {platform_id}")
    click.echo(f"key_id: {key_id}")


@platform.command("add-key")
@click.option("--platform", "platform_id", required=True)
@click.option("--public-key", required=True, help="Ed25519 public key, base64.")
@click.pass_obj
def add_key(context: CliContext, platform_id: str, public_key: str) -> None:
    """Add a key to a platform (rotate: add the new key, switch, then revoke the old one)."""
    key_id = _registry(context).add_key(
        platform_id, parse_public_key(public_key), now=context.now()
    )
    click.echo(f"key_id: {key_id}")


@platform.command("revoke-key")
@click.option("--platform", "platform_id", required=True)
@click.option("--key-id", required=True)
@click.option("--reason", default="rotation", show_default=True)
@click.pass_obj
def revoke_key(context: CliContext, platform_id: str, key_id: str, reason: str) -> None:
    """Revoke a platform key: batches signed with it are refused from now on."""
    _registry(context).revoke_key(platform_id, key_id, reason, now=context.now())
    click.echo(f"revoked: {key_id}")


@platform.command()
@click.option("--platform", "platform_id", required=True)
@click.option("--institution", required=True, help="The institution code it may submit for.")
@click.pass_obj
def authorise(context: CliContext, platform_id: str, institution: str) -> None:
    """Let a platform submit for another institution (a chain's store, a pharmacy a
    prescription circulation platform serves); a ledger entry."""
    index = _registry(context).authorise(platform_id, institution, now=context.now())
    click.echo(f"authorised: {platform_id} for {institution} (ledger index {index})")


@platform.command("revoke-authorisation")
@click.option("--platform", "platform_id", required=True)
@click.option("--institution", required=True)
@click.option("--reason", required=True, help="Why, for the ledger entry.")
@click.pass_obj
def revoke_authorisation(
    context: CliContext, platform_id: str, institution: str, reason: str
) -> None:
    """End an authorisation: batches with that institution's records are refused from now
    on (records already accepted stay); a ledger entry."""
    index = _registry(context).revoke_authorisation(
        platform_id, institution, reason, now=context.now()
    )
    click.echo(f"revoked: {platform_id} for {institution} (ledger index {index})")


platform.add_command(revoke_authorisation, name="deauthorise")


@platform.command()
@click.option("--platform", "platform_id", required=True)
@click.pass_obj
def authorisations(context: CliContext, platform_id: str) -> None:
    """Every institution a platform was authorised for, current and revoked (JSON lines)."""
    for row in _registry(context).authorisations(platform_id):
        click.echo(
            orjson.dumps(
                {
                    "institution_code": row.institution_code,
                    "authorised_index": row.authorised_index,
                    "revoked_index": row.revoked_index,
                    "active": row.revoked_index is None,
                }
            )
        )

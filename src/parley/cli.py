"""The `parley` command: serve, keys, doctor, models."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from parley.config import Settings, get_settings

app = typer.Typer(
    help="Parley: self-hosted real-time voice conversations with AI.", no_args_is_help=True
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
models_app = typer.Typer(help="Download optional models (needs network).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")


def _settings(data_dir: Path | None = None, database_url: str | None = None) -> Settings:
    base = get_settings()
    changes: dict[str, object] = {}
    if data_dir is not None:
        changes["data_dir"] = data_dir
    if database_url is not None:
        changes["database_url"] = database_url
    return base.model_copy(update=changes) if changes else base


async def _prepare_keys(settings: Settings) -> list[str]:
    """Migrate, register PARLEY_API_KEY; on a first run with no key at all, mint one."""
    from parley.store import Store

    store = await Store.open(settings.resolved_database_url())
    lines: list[str] = []
    try:
        if settings.api_key:
            await store.keys.ensure_bootstrap_key(settings.api_key)
            lines.append("API key: PARLEY_API_KEY (from the environment)")
        retired = await store.keys.revoke_stale_bootstrap(settings.api_key)
        if retired:
            lines.append(f"Revoked {retired} old PARLEY_API_KEY key(s) no longer configured")
        elif await store.keys.count() == 0:
            _account, key = await store.keys.create_account_with_key("first key")
            lines.append("No API key yet, so one was created (shown once, stored hashed):")
            lines.append(f"  {key}")
        else:
            lines.append("API keys: those stored in the database (add one: parley keys create)")
    finally:
        await store.close()
    return lines


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the SQLite file lives.")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the DB.")] = None,
) -> None:
    """Run the server (default 127.0.0.1:8000)."""
    import uvicorn

    from parley.api.app import create_app

    settings = _settings(data_dir, database_url)
    updates: dict[str, object] = {}
    if host is not None:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    settings = settings.model_copy(update=updates)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    key_lines = asyncio.run(_prepare_keys(settings))
    for warning in exposure_warnings(settings):
        typer.echo(f"WARNING: {warning}", err=True)
    base = f"http://{settings.host}:{settings.port}"
    typer.echo(f"Parley listening on {base}")
    typer.echo(f"  API docs:   {base}/docs")
    typer.echo(f"  Playground: {base}/playground")
    typer.echo(f"  Data dir:   {settings.data_dir}")
    typer.echo(f"  Database:   {_redact(settings.resolved_database_url())}")
    for line in key_lines:
        typer.echo(f"  {line}")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # X-Forwarded-* are applied by the app, from PARLEY_FORWARDED_ALLOW_IPS only
        # (api/proxy.py); uvicorn's own handling would trust its defaults.
        proxy_headers=False,
        # A WebSocket message larger than this closes the socket (1009); the app refuses
        # smaller ones over its own caps with an error event (README "Security").
        ws_max_size=max(settings.ws_max_text_bytes, settings.ws_max_audio_bytes) + 1024,
        # Audio frames barely compress and deflate cost ~4% of the CPU at 50 sessions.
        ws_per_message_deflate=False,
    )


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


WEAK_KEYS = {"dev-key-change-me", "changeme", "change-me", "secret", "test", "password"}


def exposure_warnings(settings: Settings) -> list[str]:
    """What is unsafe about listening where others can reach the server."""
    if settings.host in ("127.0.0.1", "localhost", "::1"):
        return []
    key = settings.api_key
    out: list[str] = []
    if key and (key in WEAK_KEYS or len(key) < 24):
        out.append(
            f"listening on {settings.host} with a weak PARLEY_API_KEY (the README's example "
            "or under 24 characters): anyone who guesses it controls the server. Use "
            "`parley keys create` or a long random value."
        )
    if settings.webhook_allow.strip():
        out.append(
            f"PARLEY_WEBHOOK_ALLOW={settings.webhook_allow!r}: webhook tools may call these "
            "internal addresses."
        )
    return out


Db = Annotated[Path | None, typer.Option("--data-dir", help="Where the SQLite file lives.")]
DbUrl = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL of the DB.")]


def _with_store(settings: Settings, work: Any) -> Any:
    from parley.store import Store

    async def run() -> Any:
        store = await Store.open(settings.resolved_database_url())
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A label for the new account and key.")] = "",
    account: Annotated[
        str | None, typer.Option(help="Add the key to this account instead of a new one.")
    ] = None,
    data_dir: Db = None,
    database_url: DbUrl = None,
) -> None:
    """Create an API key (for a new account, or --account); the key is the last line."""
    settings = _settings(data_dir, database_url)

    async def work(store: Any) -> tuple[str, str]:
        if account is None:
            created: tuple[str, str] = await store.keys.create_account_with_key(name)
            return created
        info, key = await store.keys.create_key(account, name)
        return info.account_id, key

    try:
        acct, key = _with_store(settings, work)
    except Exception as exc:  # e.g. an unknown --account (foreign key)
        typer.echo(f"Could not create the key: {type(exc).__name__}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Created a key for account {acct}{f' ({name})' if name else ''}.")
    typer.echo("Store this key now: it is kept only as a hash and cannot be shown again.")
    typer.echo(key)


@keys_app.command("list")
def keys_list(
    account: Annotated[str | None, typer.Option(help="Only this account's keys.")] = None,
    data_dir: Db = None,
    database_url: DbUrl = None,
) -> None:
    """List the keys that still work: id, account, first characters, name (never keys)."""
    settings = _settings(data_dir, database_url)
    keys = _with_store(settings, lambda store: store.keys.list(account))
    for k in keys:
        mark = " (PARLEY_API_KEY)" if k.bootstrap else ""
        typer.echo(f"{k.id}\t{k.account_id}\t{k.prefix}…\t{k.name}{mark}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, e.g. key_3 (see keys list).")],
    data_dir: Db = None,
    database_url: DbUrl = None,
) -> None:
    """Revoke a key: it stops working at once."""
    settings = _settings(data_dir, database_url)
    info = _with_store(settings, lambda store: store.keys.revoke(key_id))
    if info is None:
        typer.echo(f"No live key {key_id!r} (see `parley keys list`).", err=True)
        raise typer.Exit(1)
    typer.echo(f"Revoked {info.id} of {info.account_id}.")


@app.command()
def doctor(
    url: Annotated[
        str | None,
        typer.Option(help="Ask the server running at this URL (GET /v1/diagnostics)."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(help="API key for --url (default: PARLEY_API_KEY).", show_default=False),
    ] = None,
) -> None:
    """Say which providers and models were found, what is missing and how to get it: in
    this shell's configuration, or on the server at --url."""
    from parley.doctor import Check, fetch_server_checks, run_checks

    checks: list[Check]
    if url is None:
        typer.echo(
            "Reporting on this shell's configuration (its PARLEY_* variables and packages); "
            "for a running server: parley doctor --url http://127.0.0.1:8000"
        )
        checks = run_checks(get_settings())
    else:
        api_key = key or get_settings().api_key
        if not api_key:
            typer.echo("--url needs an API key: --key KEY or PARLEY_API_KEY", err=True)
            raise typer.Exit(2)
        try:
            version, checks = fetch_server_checks(url, api_key)
        except RuntimeError as exc:
            typer.echo(f"✗ server at {url}: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"Reporting on the server at {url} (Parley {version})")
    ok = True
    for check in checks:
        mark = {"ok": "✓", "missing": "✗", "info": "•"}.get(check.status, "?")
        typer.echo(f"{mark} {check.name}: {check.detail}")
        if check.fix:
            typer.echo(f"    → {check.fix}")
        ok = ok and check.status != "missing"
    raise typer.Exit(0 if ok else 1)


@models_app.command("pull")
def models_pull(
    name: Annotated[
        str, typer.Argument(help="whisper-<size> (e.g. whisper-base) or piper-<voice>")
    ],
) -> None:
    """Download a model into the data directory (needs access to its model hub)."""
    from parley.models_pull import pull

    path = pull(name, get_settings())
    typer.echo(f"Model ready at {path}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

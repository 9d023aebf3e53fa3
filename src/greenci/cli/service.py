"""``greenci serve``: the scheduler service under uvicorn (needs ``greenci[service]``)."""

from __future__ import annotations

from pathlib import Path

import typer

from greenci.cli.support import friendly as _friendly
from greenci.errors import ConfigError, InputError


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``token`` group to ``app``."""
    app.command("serve")(_friendly(serve))
    tokens = typer.Typer(no_args_is_help=True, help="API tokens of the scheduler service (per tenant, hashed).")
    tokens.command("create")(_friendly(token_create))
    tokens.command("list")(_friendly(token_list))
    tokens.command("revoke")(_friendly(token_revoke))
    app.add_typer(tokens, name="token")
    jobs = typer.Typer(no_args_is_help=True, help="Jobs kept by a running scheduler service (over its API).")
    jobs.command("list")(_friendly(jobs_list))
    jobs.command("show")(_friendly(jobs_show))
    jobs.command("cancel")(_friendly(jobs_cancel))
    app.add_typer(jobs, name="jobs")


_DATA = typer.Option(Path("greenci-data"), "--data-dir", help="The service's data folder (its SQLite store).")
_DB = typer.Option(None, "--db", help="SQLAlchemy URL of the store instead (e.g. PostgreSQL).")


def _store(data_dir: Path, db: str | None):  # type: ignore[no-untyped-def]  # noqa: ANN202 - optional extra
    try:
        from greenci.service.settings import ServiceSettings
        from greenci.service.store import JobStore
    except ImportError:
        raise ConfigError("the service needs its extra: pip install 'greenci[service]'") from None
    return JobStore(ServiceSettings(data_dir=data_dir, database_url=db).url)


def token_create(
    tenant: str = typer.Option(..., help="The tenant the token acts for (a-z, 0-9, -, _, .)."),
    scopes: str = typer.Option("submit,read", help="Comma-separated: submit, read, admin."),
    label: str = typer.Option("", help="A note to tell tokens apart (e.g. the CI that uses it)."),
    data_dir: Path = _DATA, db: str | None = _DB,
) -> None:
    """Create a token and print it (the only time it is shown: only its hash is stored)."""
    from greenci.service.auth import create_token

    store = _store(data_dir, db)
    try:
        token = create_token(store, tenant, tuple(x.strip() for x in scopes.split(",") if x.strip()), label)
    finally:
        store.close()
    typer.echo(token)


def token_list(data_dir: Path = _DATA, db: str | None = _DB) -> None:
    """Tokens by id, tenant, scopes and label (never their secrets)."""
    from greenci.service.auth import list_tokens

    store = _store(data_dir, db)
    try:
        for t in list_tokens(store):
            typer.echo(f"{t['id']}  {t['tenant']}  {','.join(t['scopes'])}  {'revoked' if t['revoked'] else 'active'}"
                       f"  {t['label']}")
    finally:
        store.close()


def token_revoke(token_id: str = typer.Argument(..., help="The token's id (the part after gci_)."),
                 data_dir: Path = _DATA, db: str | None = _DB) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from greenci.service.auth import revoke_token

    store = _store(data_dir, db)
    try:
        if not revoke_token(store, token_id):
            raise InputError(f"no active token {token_id!r}: see greenci token list")
    finally:
        store.close()
    typer.echo(f"revoked {token_id}")


def serve(
    data_dir: Path = typer.Option(Path("greenci-data"), help="Folder for the SQLite store and the forecast cache."),
    db: str | None = typer.Option(None, help="SQLAlchemy URL of the store (default: an SQLite file in --data-dir)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    regions: str = typer.Option("DE-LU,GB", help="Comma-separated grid zones jobs may be placed in."),
    intensity: list[Path] | None = typer.Option(None, help="Intensity files or folders the forecasts are fitted on."),
    source: str | None = typer.Option(None, help="Forecast API instead of files: electricitymaps, watttime, ..."),
    forecast: str = typer.Option("ridge", help="Forecast model over files: ridge, persistence, seasonal-naive."),
    buffer_h: float = typer.Option(6.0, "--buffer-h", help="The longest wait of the 'normal' priority class (jobs "
                                                            "without a deadline); 'critical' never waits, "
                                                            "'flexible' waits up to 24 h."),
    history: list[Path] | None = typer.Option(None, help="Trace files that seed the duration estimates."),
    no_auth: bool = typer.Option(False, "--no-auth", help="Serve without tokens (one tenant; local use only)."),
    workers: int = typer.Option(1, help="Worker processes (they share the store; each runs a dispatcher)."),
    capacity: list[str] | None = typer.Option(None, help="Runners of a region, REGION=N (repeatable); a region "
                                                         "not named has no limit."),
    pools: Path | None = typer.Option(None, "--pools", help="Runner pools per region (YAML or JSON, the file "
                                                            "simulate --pools reads); instead of --capacity."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request (off by default: at a "
                                                                "thousand decisions a second it is mostly noise)."),
    batch_ms: float = typer.Option(8.0, "--batch-ms", help="Under load, decision batches start at least this "
                                                           "far apart (a request waits up to that long; fewer, "
                                                           "larger batches cost less CPU). 0: as soon as possible."),
) -> None:
    """Serve the scheduler API: POST /v1/jobs for a decision; started/completed feed the history."""
    try:
        import uvicorn
    except ImportError:
        raise ConfigError("the service needs its extra: pip install 'greenci[service]'") from None
    from greenci.outputs import check_folder
    from greenci.service import ServiceSettings, create_app

    if not 0 < port < 65536:
        raise InputError(f"--port {port} must be between 1 and 65535")
    if not 1 <= workers <= 64:
        raise InputError(f"--workers {workers} must be between 1 and 64")
    names = tuple(r.strip() for r in regions.split(",") if r.strip())
    check_folder(data_dir, field="--data-dir")
    from greenci.bounds import check_range
    check_range(buffer_h, field="--buffer-h", low=0, high=7 * 24, unit="h")
    check_range(batch_ms, field="--batch-ms", low=0, high=1000, unit="ms")
    runners = service_capacity(capacity, pools)
    settings = ServiceSettings(data_dir=data_dir, database_url=db, regions=names, intensity=tuple(intensity or ()),
                               source=source, forecast=forecast, buffer_h=buffer_h, history=tuple(history or ()),
                               auth=not no_auth, capacity=runners, batch_interval_s=batch_ms / 1000)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=access_log)
        return
    import os

    from greenci.service.asgi import ENV, settings_to_json

    create_app(settings).state.store.close()  # migrate the store once, before the workers race to it
    os.environ[ENV] = settings_to_json(settings)
    uvicorn.run("greenci.service.asgi:app", factory=True, host=host, port=port, workers=workers, log_level="info",
                access_log=access_log)


# ------------------------------------------------------------------------------------------ jobs (a client)
_URL = typer.Option("http://127.0.0.1:8080", "--url", envvar="GREENCI_SERVICE_URL", help="The service's base URL.")
_TOKEN = typer.Option(None, "--token", envvar="GREENCI_SERVICE_TOKEN", show_default=False,
                      help="An API token (GREENCI_SERVICE_TOKEN).")


def _call(method: str, url: str, token: str | None, path: str, **kw: object) -> object:
    """One API call; an HTTP error is a clear message with the service's own reason, never a traceback."""
    import httpx

    from greenci.errors import SourceError

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = httpx.request(method, url.rstrip("/") + path, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise SourceError(f"cannot reach the service at {url} ({exc}): check --url and that it runs") from None
    if r.status_code >= 400:
        try:
            body = r.json()
            reason = body.get("error") or body.get("detail")
        except ValueError:
            reason = r.text[:200]
        error = InputError if r.status_code in (404, 409, 422) else SourceError
        raise error(f"the service answered HTTP {r.status_code}: {reason}")
    return r.json()


def _line(j: dict) -> str:
    d = j.get("decision") or {}
    return (f"{j['id']}  {j['status']:<10} {j['repo']}/{j['workflow']}/{j['job'] or '-'}  {d.get('region', '-')} "
            f"at {d.get('start', '-')}  {d.get('expected_g', 0):.1f} g (saves {d.get('saving_g', 0):.1f} g)")


def jobs_list(status: str | None = typer.Option(None, help="Only jobs in this status."),
              repo: str | None = typer.Option(None, help="Only jobs of this repository (owner/name)."),
              url: str = _URL, token: str | None = _TOKEN) -> None:
    """The latest jobs (newest first)."""
    params = {k: v for k, v in {"status": status, "repo": repo}.items() if v}
    for j in _call("GET", url, token, "/v1/jobs", params=params)["jobs"]:  # type: ignore[index]
        typer.echo(_line(j))


def jobs_show(job_id: str = typer.Argument(..., help="The job's id."), url: str = _URL,
              token: str | None = _TOKEN) -> None:
    """One job as JSON: its request, decision, dispatch and outcome."""
    from greenci.jsonsafe import dumps

    typer.echo(dumps(_call("GET", url, token, f"/v1/jobs/{job_id}")))


def jobs_cancel(job_id: str = typer.Argument(..., help="The job's id."), url: str = _URL,
                token: str | None = _TOKEN) -> None:
    """Cancel a scheduled job (one already dispatched or running cannot be)."""
    typer.echo(_line(_call("DELETE", url, token, f"/v1/jobs/{job_id}")))  # type: ignore[arg-type]


def service_capacity(capacity: list[str] | None, pools: Path | None) -> dict[str, int]:
    """Runners per region from ``--capacity REGION=N`` options or a ``--pools`` file (not both)."""
    if capacity and pools is not None:
        raise InputError("--capacity and --pools both size the runners: give --capacity REGION=N... or --pools FILE, "
                         "not both", field=("capacity", "pools"))
    if pools is not None:
        from greenci.scheduling.pools import read_pools

        return read_pools(pools).sizes()
    runners: dict[str, int] = {}
    for spec in capacity or []:
        region, eq, count = spec.partition("=")
        if not eq or not region.strip() or not count.strip().isdigit() or int(count) < 1:
            raise InputError(f"--capacity {spec!r} must be REGION=N with N >= 1, e.g. GB=4")
        runners[region.strip()] = int(count)
    return runners

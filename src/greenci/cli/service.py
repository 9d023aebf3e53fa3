"""``greenci serve``: the scheduler service under uvicorn (needs ``greenci[service]``)."""

from __future__ import annotations

from pathlib import Path

import typer

from greenci.cli.support import friendly as _friendly
from greenci.errors import ConfigError, InputError


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(_friendly(serve))


def serve(
    data_dir: Path = typer.Option(Path("greenci-data"), help="Folder for the SQLite store and the forecast cache."),
    db: str | None = typer.Option(None, help="SQLAlchemy URL of the store (default: an SQLite file in --data-dir)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    regions: str = typer.Option("DE-LU,GB", help="Comma-separated grid zones jobs may be placed in."),
    intensity: list[Path] | None = typer.Option(None, help="Intensity files or folders the forecasts are fitted on."),
    source: str | None = typer.Option(None, help="Forecast API instead of files: electricitymaps, watttime, ..."),
    forecast: str = typer.Option("ridge", help="Forecast model over files: ridge, persistence, seasonal-naive."),
    buffer_h: float = typer.Option(6.0, "--buffer-h", help="Allowed waiting when a job gives no deadline."),
    history: list[Path] | None = typer.Option(None, help="Trace files that seed the duration estimates."),
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
    names = tuple(r.strip() for r in regions.split(",") if r.strip())
    check_folder(data_dir, field="--data-dir")
    settings = ServiceSettings(data_dir=data_dir, database_url=db, regions=names, intensity=tuple(intensity or ()),
                               source=source, forecast=forecast, buffer_h=buffer_h, history=tuple(history or ()))
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")

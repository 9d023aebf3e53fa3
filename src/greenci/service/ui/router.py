"""The dashboard's routes: login and logout, the four pages, their CSV downloads, cancel, replay uploads.

Every page authenticates from the session cookie with the app's own ``authorize`` (the same token checks,
scopes, rate limit and tenant filter as the API): read scope to view, admin to act. A POST that acts also
needs the session's CSRF token. Nothing is loaded from the internet: the chart library is served from the
package, and the Content-Security-Policy allows this origin only.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from greenci.errors import GreenciError, InputError
from greenci.forecast import ForecastProvider
from greenci.service.auth import Caller
from greenci.service.settings import ServiceSettings
from greenci.service.store import JobStore
from greenci.service.ui import queries, views
from greenci.service.ui.session import COOKIE, cookie_options, csrf_for, csrf_ok
from greenci.service.ui.sources import sources_status
from greenci.timeutil import iso, to_datetime64

__all__ = ["ui_router"]

Authorize = Callable[[str | None, str], Awaitable[Caller]]
Cancel = Callable[[str, Caller], Any]

_STATIC = {  # the files served under /ui/static/ (nothing else: no path ever reaches the file system)
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
    "vendor/uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "vendor/uPlot.min.css": "text/css; charset=utf-8",
    "vendor/uPlot.LICENSE": "text/plain; charset=utf-8",
}
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
}
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_SUMMARY_MAX, _FIGURE_MAX = 20 * 2**20, 10 * 2**20
_PNG = b"\x89PNG\r\n\x1a\n"


class _Refused(Exception):
    """A page that cannot be shown to this caller: rendered as an HTML error page (or a redirect to login)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def ui_router(*, store: JobStore, settings: ServiceSettings, provider: ForecastProvider, lock: threading.Lock,
              authorize: Authorize, cancel: Cancel, metrics: Any = None, refresher: Any = None) -> APIRouter:
    """The dashboard over one app's store, forecast and metrics; ``authorize`` and ``cancel`` are the API's."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("greenci.service.ui", "templates"),
                             autoescape=jinja2.select_autoescape(("html",)), undefined=jinja2.StrictUndefined)
    env.filters.update(grams=_grams, duration=_duration, iso=lambda t: iso(int(t)))
    router = APIRouter(prefix="/ui", include_in_schema=False)
    replays_dir = settings.data_dir / "replays"

    def render(request: Request, name: str, status: int = 200, who: Caller | None = None,
               **context: Any) -> HTMLResponse:
        token = request.cookies.get(COOKIE, "")
        html = env.get_template(name).render(who=who, csrf=csrf_for(token) if who else "", page=name.split(".")[0],
                                             auth=settings.auth, **context)
        return HTMLResponse(html, status_code=status, headers={**_HEADERS, "Cache-Control": "no-store"})

    async def caller(request: Request, scope: str) -> Caller:
        """The session's caller if it may use ``scope``; raises :class:`_Refused` (401: to the login)."""
        token = request.cookies.get(COOKIE)
        if settings.auth and not token:
            raise _Refused(401, "sign in with an API token")
        try:
            return await authorize(f"Bearer {token}" if token else None, scope)
        except HTTPException as exc:
            if exc.status_code == 401:
                raise _Refused(401, "the session's token is not valid (revoked or mistyped): sign in again") from None
            if exc.status_code == 403:
                why = ("cancelling jobs and uploading replays need a token with the admin scope" if scope == "admin"
                       else f"this page needs a token with the {scope} scope")
                raise _Refused(403, f"{why}: {exc.detail}") from None
            raise _Refused(exc.status_code, str(exc.detail), dict(exc.headers or {})) from None

    async def acting(request: Request) -> tuple[Caller, Any]:
        """An admin's POST with the session's CSRF token: the caller and the form."""
        who = await caller(request, "admin")
        length = int(request.headers.get("content-length") or 0)
        if length > _SUMMARY_MAX + _FIGURE_MAX + 2**20:
            raise _Refused(413, f"the upload of {length:,} bytes is too large: summary.json up to 20 MiB, "
                                "figure2.png up to 10 MiB")
        form = await request.form(max_files=2, max_fields=10)
        if not csrf_ok(request.cookies.get(COOKIE, ""), form.get("csrf")):  # type: ignore[arg-type]
            raise _Refused(403, "the form's CSRF token is missing or stale: reload the page and try again")
        return who, form

    def page(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
        """Refusals become HTML pages (401: a redirect to the login), bad input a 422 page naming the field."""
        @functools.wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> Response:
            try:
                return await handler(request, *args, **kwargs)
            except _Refused as exc:
                if exc.status == 401:
                    back = request.url.path if request.method == "GET" else "/ui/now"
                    out = RedirectResponse(f"/ui/login?next={quote(back)}", status_code=303, headers=_HEADERS)
                    if request.cookies.get(COOKIE):
                        out.delete_cookie(COOKIE, path="/ui")
                    return out
                out = render(request, "error.html", exc.status, message=exc.message)
                out.headers.update(exc.headers)
                return out
            except GreenciError as exc:
                return render(request, "error.html", 422, message=str(exc))
        return wrapped

    # ------------------------------------------------------------------ session
    @router.get("")
    async def home() -> Response:
        return RedirectResponse("/ui/now", status_code=303)

    @router.get("/login")
    async def login_page(request: Request, next: str = "/ui/now") -> Response:  # noqa: A002 - the query name
        return render(request, "login.html", next=_local(next), error=None)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=5)
        token = str(form.get("token") or "").strip()
        target = _local(str(form.get("next") or "/ui/now"))
        if len(token) > 200 or not token.isascii():
            return render(request, "login.html", 422, next=target, error="that is not an API token (gci_...)")
        try:
            await authorize(f"Bearer {token}" if token else None, "read")
        except HTTPException as exc:
            error = ("the token was not accepted: paste a token from greenci token create" if exc.status_code == 401
                     else str(exc.detail))
            return render(request, "login.html", exc.status_code, next=target, error=error)
        out = RedirectResponse(target, status_code=303, headers=_HEADERS)
        if settings.auth:
            out.set_cookie(value=token, **cookie_options(request.url.scheme == "https"))  # type: ignore[arg-type]
        return out

    @router.post("/logout")
    async def logout() -> Response:
        out = RedirectResponse("/ui/login", status_code=303, headers=_HEADERS)
        out.delete_cookie(COOKIE, path="/ui")
        return out

    # ------------------------------------------------------------------ 1. now
    def now_data(who: Caller, at: str | None) -> tuple[dict[str, Any] | None, str | None, list, float]:
        at_s = int(time.time()) if at is None else int(to_datetime64(at, field="at").astype(np.int64))
        queue = queries.queued_jobs(store, _tenant(who))
        chart, error = None, None
        try:
            with lock:
                issued = provider.forecast(list(settings.regions), at_s, 48 * 3600)
            chart = views.forecast_chart(issued, 48, queue)
        except GreenciError as exc:  # the queue is still shown: the forecast's failure is said, not raised
            error = str(exc)
        return chart, error, queue, float(at_s)

    @router.get("/now")
    @page
    async def now_page(request: Request, at: str | None = None, done: str | None = None) -> Response:
        who = await caller(request, "read")
        chart, error, queue, at_s = await run_in_threadpool(now_data, who, at)
        return render(request, "now.html", who=who, chart=chart, error=error, at=at,
                      queue=views.queue_rows(queue, time.time()), admin="admin" in who.scopes,
                      done=done if done and _ID.fullmatch(done) else None, at_iso=iso(int(at_s)))

    @router.get("/now/forecast.csv")
    @page
    async def now_csv(request: Request, at: str | None = None) -> Response:
        who = await caller(request, "read")
        chart, error, _queue, _at = await run_in_threadpool(now_data, who, at)
        if chart is None:
            raise InputError(f"no forecast to download: {error}", field="at")
        rows = [[iso(t), *[row[i] for row in chart["y"]]] for i, t in enumerate(chart["x"])]
        label = " (SYNTHETIC)" if chart["synthetic"] else ""
        return _csv(views.csv_text(["time_utc", *[f"{r} gCO2eq/kWh{label}" for r in chart["regions"]]], rows),
                    "forecast.csv")

    @router.post("/jobs/{job_id}/cancel")
    @page
    async def cancel_job(request: Request, job_id: str) -> Response:
        who, _form = await acting(request)
        if not _ID.fullmatch(job_id):
            raise _Refused(404, f"no job {job_id[:64]}")
        try:
            await run_in_threadpool(cancel, job_id, who)
        except HTTPException as exc:
            raise _Refused(exc.status_code, str(exc.detail)) from None
        return RedirectResponse(f"/ui/now?done={job_id}", status_code=303, headers=_HEADERS)

    # ------------------------------------------------------------------ 2. outcomes
    def outcomes_data(who: Caller) -> dict[str, Any]:
        from greenci.service.priority import attainment

        cols = queries.job_columns(store, _tenant(who))
        classes = settings.classes_of(who.tenant)
        stats = store.stats(_tenant(who), {name: c.max_wait_s for name, c in classes.items()})
        return {"cols": cols, "decisions": views.decisions_over_time(cols),
                "saving": views.cumulative_saving(cols, list(classes)),
                "completed": views.predicted_vs_actual(cols),
                "repos": views.group_totals(cols, "repo"), "classes": views.group_totals(cols, "priority"),
                "attainment": attainment(stats["per_class"], classes), "stats": stats}

    @router.get("/outcomes")
    @page
    async def outcomes_page(request: Request) -> Response:
        who = await caller(request, "read")
        data = await run_in_threadpool(outcomes_data, who)
        cols = data.pop("cols")
        return render(request, "outcomes.html", who=who, n=cols.n, truncated=cols.truncated, **data)

    @router.get("/outcomes/{which}.csv")
    @page
    async def outcomes_csv(request: Request, which: str) -> Response:
        who = await caller(request, "read")
        data = await run_in_threadpool(outcomes_data, who)
        if which == "decisions":
            d = data["decisions"]
            text = views.csv_text(["bucket_start_utc", "bucket_s", "run_now", "shifted"],
                                  [[iso(t), d["bucket_s"], a, b] for t, a, b in zip(d["x"], d["now"], d["shifted"],
                                                                                   strict=True)])
        elif which == "saving":
            s = data["saving"]
            names = list(s["classes"])
            text = views.csv_text(["decision_utc", "cumulative_saving_g", *[f"cumulative_saving_g:{c}" for c in names]],
                                  [[iso(t), s["total"][i], *[s["classes"][c][i] for c in names]]
                                   for i, t in enumerate(s["x"])])
        elif which == "completed":
            rows = data["completed"]["rows"]
            text = views.csv_text(["job", "repo", "priority", "completed_utc", "predicted_g", "actual_g",
                                   "difference_g"], [[r["id"], r["repo"], r["priority"], r["completed"],
                                                      r["predicted_g"], r["actual_g"], r["difference_g"]]
                                                     for r in rows])
        else:
            raise _Refused(404, f"no download {which}.csv: use decisions.csv, saving.csv or completed.csv")
        return _csv(text, f"{which}.csv")

    # ------------------------------------------------------------------ 3. sources
    @router.get("/sources")
    @page
    async def sources_page(request: Request) -> Response:
        who = await caller(request, "read")
        status = await run_in_threadpool(sources_status, provider, settings.regions, lock, refresher, metrics)
        return render(request, "sources.html", who=who, s=status)

    # ------------------------------------------------------------------ 4. replays
    def replay_list(who: Caller) -> list[dict[str, Any]]:
        tenants = ([p.name for p in sorted(replays_dir.iterdir()) if p.is_dir() and _NAME.fullmatch(p.name)]
                   if replays_dir.is_dir() else [])
        if "admin" not in who.scopes:
            tenants = [t for t in tenants if t == who.tenant]
        found = []
        for t in tenants:
            for d in sorted((replays_dir / t).iterdir()):
                if d.is_dir() and _NAME.fullmatch(d.name) and (d / "summary.json").is_file():
                    found.append({"key": f"{t}/{d.name}", "tenant": t, "name": d.name,
                                  "figure": (d / "figure2.png").is_file(),
                                  "modified": iso(int((d / "summary.json").stat().st_mtime))})
        return sorted(found, key=lambda r: r["modified"], reverse=True)

    def replay_dir(who: Caller, tenant: str, name: str) -> Path:
        if not (_NAME.fullmatch(tenant) and _NAME.fullmatch(name)) or (
                "admin" not in who.scopes and tenant != who.tenant):
            raise _Refused(404, f"no replay {tenant[:64]}/{name[:64]}")
        d = replays_dir / tenant / name
        if not (d / "summary.json").is_file():
            raise _Refused(404, f"no replay {tenant}/{name}")
        return d

    def load_replay(d: Path) -> dict[str, Any]:
        try:
            doc = json.loads((d / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{d.name}/summary.json cannot be read ({exc}): replace it with greenci simulate's "
                             "summary.json", field="summary") from exc
        return views.replay_view(doc)

    @router.get("/replays")
    @page
    async def replays_page(request: Request, name: str | None = None, saved: str | None = None) -> Response:
        who = await caller(request, "read")
        listing = replay_list(who)
        chosen = next((r for r in listing if r["key"] == name), None) if name else (listing[0] if listing else None)
        view, error = None, None
        if chosen is not None:
            try:
                view = load_replay(replays_dir / chosen["tenant"] / chosen["name"])
            except GreenciError as exc:
                error = str(exc)
        return render(request, "replays.html", who=who, listing=listing, chosen=chosen, view=view, error=error,
                      admin="admin" in who.scopes, saved=saved if saved and len(saved) < 140 else None,
                      missing=name if name and chosen is None else None)

    @router.post("/replays")
    @page
    async def upload_replay(request: Request) -> Response:
        who, form = await acting(request)
        name = str(form.get("name") or "").strip().lower() or time.strftime("replay-%Y%m%d-%H%M%S", time.gmtime())
        if not _NAME.fullmatch(name):
            raise InputError(f"replay name {name[:80]!r} must be 1-64 characters of a-z, 0-9, '.', '_' or '-', "
                             "starting with a letter or digit", field="name")
        summary = form.get("summary")
        if summary is None or isinstance(summary, str):
            raise InputError("choose the summary.json that greenci simulate -o DIR wrote", field="summary")
        raw = await summary.read(_SUMMARY_MAX + 1)
        if len(raw) > _SUMMARY_MAX:
            raise InputError("summary.json is over 20 MiB: upload the summary.json of greenci simulate",
                             field="summary")
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"summary.json is not JSON ({exc}): upload the summary.json of greenci simulate -o DIR",
                             field="summary") from exc
        views.replay_view(doc)  # refuses what the page could not show
        figure = form.get("figure")
        png = b""
        if figure is not None and not isinstance(figure, str) and figure.filename:
            png = await figure.read(_FIGURE_MAX + 1)
            if len(png) > _FIGURE_MAX or not png.startswith(_PNG):
                raise InputError("figure2.png must be a PNG of at most 10 MiB (the figure2.png of simulate -o DIR)",
                                 field="figure")
        target = replays_dir / who.tenant / name
        await run_in_threadpool(_save_replay, target, raw, png)
        key = f"{who.tenant}/{name}"
        return RedirectResponse(f"/ui/replays?name={quote(key)}&saved={quote(key)}", status_code=303,
                                headers=_HEADERS)

    @router.get("/replays/{tenant}/{name}/figure2.png")
    @page
    async def replay_figure(request: Request, tenant: str, name: str) -> Response:
        who = await caller(request, "read")
        path = replay_dir(who, tenant, name) / "figure2.png"
        if not path.is_file():
            raise _Refused(404, f"replay {tenant}/{name} has no figure2.png")
        return Response(path.read_bytes(), media_type="image/png",
                        headers={**_HEADERS, "Cache-Control": "private, max-age=60"})

    @router.get("/replays/{tenant}/{name}/strategies.csv")
    @page
    async def replay_csv(request: Request, tenant: str, name: str) -> Response:
        who = await caller(request, "read")
        view = load_replay(replay_dir(who, tenant, name))
        keys = ["name", "emissions_g", "reduction_vs_round_robin", "deadline_misses", "wait_p50_s", "wait_p95_s",
                "wait_max_s", "shifted_jobs"]
        rows = [[s[k] for k in keys] + [view["synthetic"]] for s in view["strategies"]]
        return _csv(views.csv_text([*keys, "synthetic_input"], rows), "strategies.csv")

    # ------------------------------------------------------------------ static files of the package
    @router.get("/static/{path:path}")
    async def static(path: str) -> Response:
        media = _STATIC.get(path)
        if media is None:
            raise HTTPException(404, detail=f"no static file {path[:100]}")
        data = resources.files("greenci.service.ui").joinpath("static", *path.split("/")).read_bytes()
        return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=3600",
                                                         "X-Content-Type-Options": "nosniff"})

    return router


_ID = re.compile(r"[0-9a-f-]{1,64}")


def _tenant(who: Caller) -> str | None:
    """The tenant whose jobs a caller sees (None: every tenant's, for admin tokens), as the API's ``scope_of``."""
    return None if "admin" in who.scopes else who.tenant


def _local(target: str) -> str:
    """A redirect target inside the dashboard only (never another site: no open redirect)."""
    return target if target.startswith("/ui/") and not target.startswith("//") and "\\" not in target else "/ui/now"


def _csv(text: str, filename: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store",
                             "X-Content-Type-Options": "nosniff"})


def _save_replay(target: Path, summary: bytes, png: bytes) -> None:
    """Write the replay's files (each atomically: a reader never sees half a file); a new upload replaces them."""
    target.mkdir(parents=True, exist_ok=True)
    for name, data in (("summary.json", summary), ("figure2.png", png)):
        path = target / name
        if not data:
            if name == "figure2.png":
                path.unlink(missing_ok=True)  # the figure of an earlier upload is not this replay's
            continue
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)


def _grams(v: float | None) -> str:
    """gCO2eq for people: g below a kilogram, kg below a tonne, t above."""
    if v is None or not np.isfinite(v):
        return "-"
    a = abs(v)
    return f"{v:,.1f} g" if a < 1000 else f"{v / 1000:,.2f} kg" if a < 1e6 else f"{v / 1e6:,.2f} t"


def _duration(s: float | None) -> str:
    if s is None or not np.isfinite(s):
        return "-"
    sign, s = ("-" if s < 0 else ""), abs(float(s))
    if s < 60:
        return f"{sign}{s:.0f} s"
    if s < 3600:
        return f"{sign}{s / 60:.0f} min"
    if s < 86400:
        return f"{sign}{s // 3600:.0f} h {s % 3600 / 60:02.0f} min"
    return f"{sign}{s / 86400:.1f} d"

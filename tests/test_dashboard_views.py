"""The dashboard's numbers (views.py) against brute-force loops over the same jobs, and its CSRF/session rules."""

from __future__ import annotations

import numpy as np
import pytest

from greenci.errors import InputError
from greenci.service.ui import views
from greenci.service.ui.queries import Columns
from greenci.service.ui.session import cookie_options, csrf_for, csrf_ok


def _columns(n: int, seed: int) -> Columns:
    rng = np.random.default_rng(seed)
    submitted = np.sort(rng.integers(1_700_000_000, 1_700_000_000 + 5 * 86400, n)).astype(float)
    wait = np.where(rng.random(n) < 0.5, 0.0, rng.integers(1, 6, n) * 3600.0)
    status = rng.choice(np.array(["scheduled", "completed", "cancelled", "running"], dtype=object), n)
    done = status == "completed"
    expected = np.where(rng.random(n) < 0.1, np.nan, rng.random(n) * 500)
    return Columns(id=np.array([f"id{i}" for i in range(n)], dtype=object),
                   repo=rng.choice(np.array(["a/x", "b/y", "c/z"], dtype=object), n),
                   priority=rng.choice(np.array(["critical", "normal", "flexible"], dtype=object), n),
                   status=status, submitted_s=submitted, start_s=submitted + wait, started_s=np.full(n, np.nan),
                   completed_s=np.where(done, submitted + wait + 1800, np.nan), expected_g=expected,
                   saving_g=rng.random(n) * 100, actual_g=np.where(done, rng.random(n) * 500, np.nan), truncated=False)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_group_totals_match_a_loop_over_the_jobs(seed: int) -> None:
    cols = _columns(300, seed)
    for by in ("repo", "priority"):
        got = {g.key: g for g in views.group_totals(cols, by)}
        keys = getattr(cols, by)
        assert set(got) == set(keys)
        for key, g in got.items():
            rows = [i for i in range(cols.n) if keys[i] == key]
            live = [i for i in rows if cols.status[i] != "cancelled"]
            done = [i for i in rows if np.isfinite(cols.actual_g[i])]
            assert g.jobs == len(rows)
            assert g.shifted == sum(cols.start_s[i] > cols.submitted_s[i] for i in rows)
            assert g.saving_g == pytest.approx(sum(cols.saving_g[i] for i in live))
            known = [i for i in live if np.isfinite(cols.expected_g[i])]
            assert g.expected_g == pytest.approx(sum(cols.expected_g[i] for i in known))
            assert g.completed == len(done)
            assert g.actual_g == pytest.approx(sum(cols.actual_g[i] for i in done))
        savings = [g.saving_g for g in views.group_totals(cols, by)]
        assert savings == sorted(savings, reverse=True)
    with pytest.raises(InputError, match="repo or priority"):
        views.group_totals(cols, "region")


def test_decisions_over_time_count_every_job_once_in_its_bucket() -> None:
    cols = _columns(400, 5)
    d = views.decisions_over_time(cols)
    assert d["bucket_s"] == 86400  # five days of decisions: daily bars
    assert sum(d["now"]) + sum(d["shifted"]) == cols.n
    for k, start in enumerate(d["x"]):
        inside = [i for i in range(cols.n) if start <= cols.submitted_s[i] < start + d["bucket_s"]]
        assert d["shifted"][k] == sum(cols.start_s[i] > cols.submitted_s[i] for i in inside)
        assert d["now"][k] == len(inside) - d["shifted"][k]
    assert views.decisions_over_time(_columns(0, 1))["x"] == []
    assert views.bucket_for(3 * 86400) == 3600 and views.bucket_for(3 * 86400 + 1) == 86400


def test_cumulative_saving_per_class_adds_up_to_the_total() -> None:
    cols = _columns(250, 7)
    s = views.cumulative_saving(cols, ["critical", "normal", "flexible"])
    per = np.array([s["classes"][c] for c in ("critical", "normal", "flexible")])
    np.testing.assert_allclose(per.sum(axis=0), s["total"])
    want = sum(cols.saving_g[i] for i in range(cols.n) if cols.status[i] != "cancelled")
    assert s["total"][-1] == pytest.approx(want)
    assert np.all(np.diff(s["total"]) >= 0) and np.all(np.diff(s["x"]) > 0)  # one point per instant
    same = _columns(5, 1)
    same = Columns(**{**same.__dict__, "submitted_s": np.full(5, 1.7e9)})
    one = views.cumulative_saving(same, ["normal"])
    assert one["x"] == [1_700_000_000] and one["total"][0] == pytest.approx(
        sum(same.saving_g[i] for i in range(5) if same.status[i] != "cancelled"))


def test_predicted_vs_actual_lists_completed_jobs_by_completion() -> None:
    cols = _columns(200, 9)
    p = views.predicted_vs_actual(cols)
    done = np.flatnonzero(np.isfinite(cols.actual_g))
    assert len(p["rows"]) == done.size and p["x"] == sorted(p["x"])
    for r in p["rows"]:
        i = int(r["id"][2:])
        assert r["actual_g"] == cols.actual_g[i]
        assert (r["difference_g"] is None) == (not np.isfinite(cols.expected_g[i]))


def test_replay_view_refuses_what_is_not_a_simulate_summary() -> None:
    good = {"strategies": [{"name": "round-robin", "emissions_g": 10.0, "reduction_vs_round_robin": 0.0}],
            "synthetic_intensity": True, "notes": ["SYNTHETIC intensity"]}
    view = views.replay_view(good)
    assert view["synthetic"] and view["strategies"][0]["name"] == "round-robin"
    for bad in ([], {"strategies": []}, {"strategies": [{"emissions_g": 1}]},
                {"strategies": [{"name": "x", "emissions_g": "lots"}]}):
        with pytest.raises(InputError) as err:
            views.replay_view(bad)
        assert err.value.fields == ("summary",) or "summary" in str(err.value)


def test_csrf_is_bound_to_the_session_token_and_the_cookie_is_strict() -> None:
    assert csrf_for("gci_a_b") == csrf_for("gci_a_b") != csrf_for("gci_a_c")
    assert csrf_ok("gci_a_b", csrf_for("gci_a_b"))
    assert not csrf_ok("gci_a_b", csrf_for("gci_a_c")) and not csrf_ok("gci_a_b", None) and not csrf_ok("gci_a_b", "")
    opts = cookie_options(secure=True)
    assert opts["httponly"] is True and opts["samesite"] == "strict" and opts["secure"] is True
    assert cookie_options(secure=False)["secure"] is False

"""``greenci insights``: this project's own history, the impact demo, light imports, the run's own energy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from cli_shell import shell
from typer.testing import CliRunner

from greenci.cli.insights import register
from greenci.insights.selfenergy import SelfEnergy

runner = CliRunner()
HEAVY = ("sklearn", "shap", "lime", "vaderSentiment", "matplotlib")


def _app() -> typer.Typer:
    return shell(register)


def _own_checkout() -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=Path(__file__).parent, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip("the tests are not in a git checkout: no real history to read")
    return Path(proc.stdout.strip())


def test_health_on_this_projects_own_history() -> None:
    repo = _own_checkout()
    result = runner.invoke(_app(), ["insights", "health", str(repo), "--format", "json"])
    if result.exit_code == 2 and "no activity found" in result.output:
        pytest.skip("the checkout has no commits yet")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["people_count"] >= 1 and doc["weeks_count"] >= 1 and doc["pseudonymised"] is True
    assert all(re.fullmatch(r"[0-9a-f]{10}", p["person"]) for p in doc["people"])
    assert all(0.0 <= r["risk"] <= 1.0 for r in doc["person_weeks"])
    assert sum(r["commits"] for r in doc["person_weeks"]) >= 1
    emails = subprocess.run(["git", "log", "--format=%aE"], cwd=repo, capture_output=True, text=True).stdout.split()
    assert emails and not any(e in result.stdout for e in set(emails)), "no raw e-mail in the output by default"
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", result.stdout)
    assert doc["energy_of_this_run"]["energy_kwh"] >= 0


def test_health_table_reports_energy_and_pseudonyms(tmp_path: Path) -> None:
    repo = _own_checkout()
    result = runner.invoke(_app(), ["insights", "health", str(repo), "--no-sentiment", "-o", str(tmp_path)])
    if result.exit_code == 2 and "no activity found" in result.output:
        pytest.skip("the checkout has no commits yet")
    assert result.exit_code == 0, result.output
    assert "pseudonymised" in result.stdout and "Energy of this run" in result.stdout
    assert (tmp_path / "person_weeks.csv").is_file() and (tmp_path / "community.png").is_file()
    assert "@" not in (tmp_path / "person_weeks.csv").read_text(encoding="utf-8")


def test_impact_synthetic_demo_says_synthetic_everywhere(tmp_path: Path) -> None:
    result = runner.invoke(_app(), ["insights", "impact", "--synthetic-demo", "--demo-rows", "120", "-o",
                                    str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["synthetic"] is True and doc["shap_ranking"][0][0] == "cpu_seconds"
    assert {Path(f).name for f in doc["files"]} == {"correlation.png", "shap_global.png", "shap_local.png",
                                                    "lime_local.png", "report.md", "impact.json"}
    assert "SYNTHETIC" in (tmp_path / "report.md").read_text(encoding="utf-8")
    assert doc["energy_of_this_run"]["method"]


def test_impact_on_a_table_file(tmp_path: Path) -> None:
    from greenci.insights.impact import synthetic_runs

    table = tmp_path / "runs.csv"
    synthetic_runs(80, seed=2).drop(columns=["synthetic"]).to_csv(table, index=False)
    result = runner.invoke(_app(), ["insights", "impact", str(table), "--features", "cpu_seconds,tests,memory_gb",
                                    "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" not in result.stdout and "cpu_seconds" in result.stdout and "Energy of this run" in result.stdout


def test_impact_needs_a_table_or_the_demo() -> None:
    result = runner.invoke(_app(), ["insights", "impact"])
    assert result.exit_code == 2 and "--synthetic-demo" in result.output


def test_importing_greenci_and_the_insights_cli_stays_light() -> None:
    code = ("import sys, greenci, greenci.insights, greenci.cli.insights, greenci.insights.indicators, "
            "greenci.insights.burnout, greenci.insights.impact, greenci.insights.explain; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_self_energy_falls_back_to_a_labelled_cpu_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "greenci.energy", None)  # as if greenci.energy did not exist
    meter = SelfEnergy(w_per_core=10.0)
    with meter:
        sum(i * i for i in range(200_000))
    e = meter.result
    assert e is not None and not e.measured
    assert "estimated from CPU time, not measured" in e.method
    assert e.energy_kwh == pytest.approx(e.cpu_s * 10.0 / 3.6e6)


def test_self_energy_uses_greenci_energy_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    import types
    from contextlib import contextmanager

    class Result:
        energy_kwh = 0.5
        method = "rapl"
        method_note = "RAPL package counters"

    class Handle:
        result = None

    @contextmanager
    def measure():  # noqa: ANN202
        h = Handle()
        yield h
        h.result = Result()

    monkeypatch.setitem(sys.modules, "greenci.energy", types.SimpleNamespace(measure=measure))
    meter = SelfEnergy()
    with meter:
        pass
    assert meter.result is not None and meter.result.measured and meter.result.energy_kwh == 0.5
    assert "measured by greenci.energy" in meter.result.method


# ---------------------------------------------------------------------------------------------- bad inputs, outputs
def _noise_table(path: Path, n: int = 40) -> Path:
    """Runs whose energy is noise, independent of every feature: the model cannot explain it."""
    import numpy as np

    rng = np.random.default_rng(5)
    rows = [f"{rng.integers(10, 500)},{rng.uniform(10, 900):.1f},{rng.uniform(1, 16):.2f},"
            f"{rng.uniform(0.001, 0.01):.5f}" for _ in range(n)]
    path.write_text("tests,cpu_seconds,memory_gb,energy_kwh\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_impact_says_on_the_console_and_in_json_when_the_model_explains_nothing(tmp_path: Path) -> None:
    table = _noise_table(tmp_path / "runs.csv")
    result = runner.invoke(_app(), ["insights", "impact", str(table), "-o", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    assert "warning: the model does not explain energy_kwh" in result.stderr
    assert "NOT EXPLANATORY" in result.stdout and "warning: the model does not explain" in result.stdout
    result = runner.invoke(_app(), ["insights", "impact", str(table), "-o", str(tmp_path / "j"), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["cv_r2"] <= 0 and doc["shap_ranking_explanatory"] is False
    assert doc["warning"].startswith("the model does not explain energy_kwh")
    assert "warning: the model does not explain" in result.stderr


def test_impact_checks_the_output_folder_before_the_work(tmp_path: Path) -> None:
    table = _noise_table(tmp_path / "runs.csv")
    blocker = tmp_path / "taken"
    blocker.write_text("keep me", encoding="utf-8")
    result = runner.invoke(_app(), ["insights", "impact", str(table), "-o", str(blocker)])
    assert result.exit_code == 2 and "--out" in result.stderr and "is a file" in result.stderr
    assert blocker.read_text(encoding="utf-8") == "keep me"
    out = tmp_path / "out"
    (out / "report.md").mkdir(parents=True)
    result = runner.invoke(_app(), ["insights", "impact", str(table), "-o", str(out)])
    assert result.exit_code == 2 and "report.md is a folder" in result.stderr
    assert [p.name for p in out.iterdir()] == ["report.md"], "nothing written before the refusal"


def test_impact_refuses_a_bad_table_before_writing_anything(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    lines = _noise_table(table).read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0]  # row 4 lacks its energy cell
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(_app(), ["insights", "impact", str(table), "-o", str(out)])
    assert result.exit_code == 2 and f"{table} row 4: has 3 cells" in result.stderr
    assert not out.exists()


def test_impact_errors_name_the_option(tmp_path: Path) -> None:
    table = _noise_table(tmp_path / "runs.csv")
    result = runner.invoke(_app(), ["insights", "impact", str(table), "--target", "kwh", "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and result.stderr.startswith("error: --target 'kwh' is not a column")
    result = runner.invoke(_app(), ["insights", "impact", str(table), "--features", "tests,nope", "-o",
                                    str(tmp_path / "o")])
    assert result.exit_code == 2 and "error: --features 'nope'" in result.stderr
    result = runner.invoke(_app(), ["insights", "impact", str(table), "--row", "99", "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "error: --row 99 is not a complete run" in result.stderr
    result = runner.invoke(_app(), ["insights", "impact", str(table), "--seed", "-1", "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--seed -1" in result.stderr
    assert not (tmp_path / "o").exists()


def test_error_messages_print_user_text_as_written(tmp_path: Path) -> None:
    table = tmp_path / "[bold]runs.csv"
    table.write_text("tests,energy_kwh\n1,[/red]\n", encoding="utf-8")
    result = runner.invoke(_app(), ["insights", "impact", str(table), "-o", str(tmp_path / "o")])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2, result.output
    assert f"{table} row 2 column 'energy_kwh': '[/red]' is not a number" in result.stderr


def test_health_checks_the_output_folder_before_the_work(tmp_path: Path) -> None:
    repo = _own_checkout()
    blocker = tmp_path / "file"
    blocker.write_text("keep me", encoding="utf-8")
    result = runner.invoke(_app(), ["insights", "health", str(repo), "--no-sentiment", "-o", str(blocker)])
    assert result.exit_code == 2 and "error: --out" in result.stderr
    assert blocker.read_text(encoding="utf-8") == "keep me"
    out = tmp_path / "out"
    result = runner.invoke(_app(), ["insights", "health", str(repo), "--no-sentiment", "-o", str(out),
                                    "--labels", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2 and "error: --labels" in result.stderr and "no such file" in result.stderr
    assert not out.exists() or not any(out.iterdir()), "a refused run writes no file"


def test_health_json_is_valid_and_notes_its_nulls() -> None:
    repo = _own_checkout()
    result = runner.invoke(_app(), ["insights", "health", str(repo), "--no-sentiment", "--format", "json"])
    if result.exit_code == 2 and "no activity found" in result.output:
        pytest.skip("the checkout has no commits yet")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON output"))
    assert all(r["meeting_hours"] is None for r in doc["person_weeks"])
    assert any("null means no finite number" in n and "meeting_hours (no calendar given)" in n for n in doc["notes"])

"""``action.yml`` (the composite GitHub Action around ``greenci gate``) against the action metadata schema.

The schema below writes down the essential constraints of SchemaStore's ``github-action.json`` (GitHub's
"Metadata syntax for GitHub Actions") for a composite action: ``name``, ``description`` and ``runs``
required; input ids matching GitHub's pattern, each with a description; composite outputs with a
``value``; ``runs.using`` = ``composite`` with ``steps``, every ``run`` step with a ``shell``. It is checked
with ``jsonschema`` when installed, else with the small validator here (the keywords this schema uses).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ACTION = Path(__file__).resolve().parents[1] / "action.yml"
ID = r"^[_a-zA-Z][a-zA-Z0-9_-]*$"
EXPRESSION = r"^\$\{\{(.|[\r\n])*\}\}$"

STEP_RUN = {"type": "object", "required": ["run", "shell"],
            "properties": {"run": {"type": "string", "minLength": 1}, "shell": {"type": "string", "minLength": 1},
                           "name": {"type": "string"}, "id": {"type": "string", "pattern": ID},
                           "if": {"type": ["string", "boolean"]}, "env": {"type": "object"},
                           "working-directory": {"type": "string"},
                           "continue-on-error": {"type": ["boolean", "string"]}}, "additionalProperties": False}
STEP_USES = {"type": "object", "required": ["uses"],
             "properties": {"uses": {"type": "string", "pattern": r"^(\./|docker://|[\w.-]+/[\w./-]+@.+)"},
                            "with": {"type": "object"}, "name": {"type": "string"},
                            "id": {"type": "string", "pattern": ID}, "if": {"type": ["string", "boolean"]},
                            "env": {"type": "object"}, "continue-on-error": {"type": ["boolean", "string"]}},
             "additionalProperties": False}
SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["name", "description", "runs"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "author": {"type": "string"},
        "description": {"type": "string", "minLength": 1},
        "inputs": {"type": "object", "additionalProperties": False, "patternProperties": {ID: {
            "type": "object", "required": ["description"], "additionalProperties": False,
            "properties": {"description": {"type": "string", "minLength": 1}, "required": {"type": "boolean"},
                           "default": {"type": "string"}, "deprecationMessage": {"type": "string"}}}}},
        "outputs": {"type": "object", "additionalProperties": False, "patternProperties": {ID: {
            "type": "object", "required": ["description", "value"], "additionalProperties": False,
            "properties": {"description": {"type": "string", "minLength": 1},
                           "value": {"type": "string", "pattern": EXPRESSION}}}}},
        "runs": {"type": "object", "required": ["using", "steps"], "additionalProperties": False,
                 "properties": {"using": {"const": "composite"},
                                "steps": {"type": "array", "minItems": 1,
                                          "items": {"oneOf": [STEP_RUN, STEP_USES]}}}},
        "branding": {"type": "object", "additionalProperties": False,
                     "properties": {"icon": {"type": "string"},
                                    "color": {"enum": ["white", "yellow", "blue", "green", "orange", "red", "purple",
                                                       "gray-dark"]}}},
    },
}

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "number": (int, float), "integer": int}


def _errors(doc: Any, schema: dict[str, Any], at: str = "$") -> list[str]:
    """The keywords SCHEMA uses, as JSON Schema defines them (a stand-in when jsonschema is not installed)."""
    out: list[str] = []
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(isinstance(doc, _TYPES[k]) and not (k != "boolean" and isinstance(doc, bool)) for k in kinds):
            return [f"{at}: {doc!r} is not of type {kinds}"]
    if "const" in schema and doc != schema["const"]:
        out.append(f"{at}: {doc!r} is not {schema['const']!r}")
    if "enum" in schema and doc not in schema["enum"]:
        out.append(f"{at}: {doc!r} is not one of {schema['enum']}")
    if isinstance(doc, str):
        if len(doc) < schema.get("minLength", 0):
            out.append(f"{at}: too short")
        if "pattern" in schema and not re.search(schema["pattern"], doc):
            out.append(f"{at}: {doc!r} does not match {schema['pattern']}")
    if isinstance(doc, list):
        if len(doc) < schema.get("minItems", 0):
            out.append(f"{at}: fewer than {schema['minItems']} items")
        for i, item in enumerate(doc):
            out += _errors(item, schema.get("items", {}), f"{at}[{i}]")
    if isinstance(doc, dict):
        out += [f"{at}: {k!r} is required" for k in schema.get("required", []) if k not in doc]
        for key, value in doc.items():
            where = f"{at}.{key}"
            if key in schema.get("properties", {}):
                out += _errors(value, schema["properties"][key], where)
                continue
            matched = [s for p, s in schema.get("patternProperties", {}).items() if re.search(p, key)]
            for s in matched:
                out += _errors(value, s, where)
            if not matched and schema.get("additionalProperties") is False:
                out.append(f"{where}: additional property not allowed")
    if "oneOf" in schema:
        fits = [s for s in schema["oneOf"] if not _errors(doc, s, at)]
        if len(fits) != 1:
            out.append(f"{at}: matches {len(fits)} of the oneOf schemas, not exactly one: "
                       + "; ".join(e for s in schema["oneOf"] for e in _errors(doc, s, at)))
    return out


def validate(doc: Any) -> list[str]:
    try:
        import jsonschema
    except ImportError:
        return _errors(doc, SCHEMA)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(doc)]


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def test_action_yml_fits_the_metadata_schema(action: dict[str, Any]) -> None:
    assert validate(action) == []


def test_the_validator_catches_what_github_refuses(action: dict[str, Any]) -> None:
    broken = {**action, "runs": {**action["runs"], "steps": [{"run": "echo hi"}]}}
    assert any("shell" in e for e in _errors(broken, SCHEMA))
    assert any("using" in e for e in _errors({**action, "runs": {**action["runs"], "using": "node20"}}, SCHEMA))
    no_value = {**action, "outputs": {"outcome": {"description": "x"}}}
    assert any("value" in e for e in _errors(no_value, SCHEMA))
    assert any("description" in e for e in _errors({**action, "inputs": {"x": {"default": "1"}}}, SCHEMA))
    assert any("name" in e for e in _errors({k: v for k, v in action.items() if k != "name"}, SCHEMA))


def test_outputs_are_the_gate_step_outputs_and_inputs_reach_the_command(action: dict[str, Any]) -> None:
    from greenci.integrations.github_gate import GateResult

    steps = action["runs"]["steps"]
    (gate_step,) = [s for s in steps if s.get("id") == "gate"]
    names = set(GateResult("continue", "", "", "", "", 0.0, None, None).outputs())
    assert set(action["outputs"]) == names
    assert {k: v["value"] for k, v in action["outputs"].items()} == {
        n: "${{ steps.gate.outputs." + n + " }}" for n in names}
    for name in ("service-url", "token", "duration", "deadline", "max-wait", "idle-power-w", "dispatch-workflow",
                 "python-version", "greenci-job"):
        assert name in action["inputs"]
        if name != "python-version":
            assert "inputs." + name in str(gate_step["env"]), name
    assert "${{" not in gate_step["run"]  # inputs come in as environment variables, never spliced into bash
    assert "greenci_job" in action["inputs"]["greenci-job"]["default"]
    (install,) = [s for s in steps if "pip install" in s.get("run", "")]
    assert "github.action_path" in str(install["env"])


def test_the_gate_script_passes_only_the_inputs_given(tmp_path: Path, action: dict[str, Any]) -> None:
    """The step's bash under GitHub's ``bash -eo pipefail``, with a stub ``greenci`` that prints its arguments."""
    (gate_step,) = [s for s in action["runs"]["steps"] if s.get("id") == "gate"]
    stub = tmp_path / "greenci"
    stub.write_text('#!/bin/sh\nprintf "%s|" "$@"; echo "URL=${GREENCI_SERVICE_URL-unset}"\n', encoding="utf-8")
    stub.chmod(0o755)
    env = {k: "" for k in gate_step["env"]} | {"IN_MAX_WAIT": "15m", "IN_IDLE_POWER_W": "30", "IN_POWER_KW": "1",
                                              "IN_DEADLINE": "6h", "IN_DISPATCH_WORKFLOW": "nightly.yml",
                                              "PATH": f"{tmp_path}:/usr/bin:/bin"}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", gate_step["run"]], env=env,
                          capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("gate|--max-wait|15m|--idle-power-w|30|--power-kw|1|--deadline|6h|"
                                   "--dispatch-workflow|nightly.yml|URL=unset")

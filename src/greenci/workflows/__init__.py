"""CI configuration: GitHub Actions workflow files read into :class:`JobSpec` records.

:func:`read_workflow` reads one file (or YAML text); :func:`read_workflows` a file, a ``.github/workflows``
folder or a repository root. Errors name the file, line and column.
"""

from greenci.workflows.matrix import MAX_LEGS, Legs, matrix_legs
from greenci.workflows.reader import KEYS, MAX_WORKFLOW_BYTES, JobSpec, read_workflow, read_workflows, workflow_files
from greenci.workflows.skip import HistoryRow, SkipAdvice, SkipRule, learn_rules, read_filters, skip_advice
from greenci.workflows.triggers import Triggers, read_triggers

__all__ = ["KEYS", "MAX_LEGS", "MAX_WORKFLOW_BYTES", "JobSpec", "Legs", "Triggers", "matrix_legs", "read_triggers",
           "read_workflow", "read_workflows", "workflow_files",
           "HistoryRow", "SkipAdvice", "SkipRule", "learn_rules", "read_filters", "skip_advice"]

"""Use cases: what a person or a CI system asks of greenci, one function each, providers injected.

The CLI, the service and the CI integrations call these and nothing below them:
:mod:`~greenci.usecases.plan` (one job or a batch), :mod:`~greenci.usecases.replay` (a history through
strategies), :mod:`~greenci.usecases.footprint`, :mod:`~greenci.usecases.measure`,
:mod:`~greenci.usecases.intensity` (describe, evaluate forecasts, the demo) and
:mod:`~greenci.usecases.traces`; :mod:`~greenci.usecases.inputs` turns requests into records and builds
providers, :mod:`~greenci.usecases.ports` holds the protocols callers implement.
"""

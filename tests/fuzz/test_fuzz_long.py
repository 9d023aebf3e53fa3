"""The long fuzz run: every fuzz property of this folder with many more examples (``pytest -m fuzz_long``).

The default run keeps each property to a few examples so that the suite stays fast; this one raises
``GREENCI_FUZZ_EXAMPLES`` (default here: 200) and runs the same files in a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.fuzz_long
def test_long_fuzz_run() -> None:
    env = {**os.environ, "GREENCI_FUZZ_EXAMPLES": os.environ.get("GREENCI_FUZZ_EXAMPLES_LONG", "200")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not fuzz_long",
                           str(Path(__file__).parent)], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]

"""Fixtures shared by labkit's tests."""

import pytest

from labkit.testing import jupyter_environment


@pytest.fixture(scope="session")
def jupyter_env(tmp_path_factory):
    """Isolated Jupyter dirs plus a python3 kernel spec for this interpreter (the project venv)."""
    root = tmp_path_factory.mktemp("jupyter")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in jupyter_environment(root).items():
            mp.setenv(name, value)
        yield root

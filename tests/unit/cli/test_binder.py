"""Binder: the workshop link (``labkit binder-link``) and the files repo2docker builds from.

repo2docker (what mybinder.org runs) installs ``environment.yml`` before the repository is copied
into the image, then runs ``postBuild`` from the repository root; a ``binder/`` or ``.binder/``
folder would make it ignore both root files. These tests hold that layout and hold
``environment.yml`` equal to pyproject's dependencies plus its ``lab`` extra. Runtime: < 2 s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from labkit.course.runner import binder_url
from labkit.errors import LabkitError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[3]


def labkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


# ---------------------------------------------------------------------------- the link


def test_the_link_opens_the_notebook_in_jupyterlab():
    url = binder_url("my-org/labkit", "main", "notebooks/00-start-here.ipynb")
    assert url == "https://mybinder.org/v2/gh/my-org/labkit/main?urlpath=lab/tree/notebooks/00-start-here.ipynb"


@pytest.mark.parametrize("ref", ["feature/new-course", "v0.1.0", "0123456789abcdef0123456789abcdef01234567"])
def test_odd_refs_and_paths_survive_the_hub_decoding_them(ref):
    """BinderHub splits ``user/repo/ref`` at the first two '/', and decodes query values form-style
    ('+' is a space there): what it decodes must be exactly what was asked for."""
    notebook = "notebooks/day 1/a&b+c=d#e.ipynb"
    parts = urlsplit(binder_url("My-Org/lab.kit.git", ref, "./" + notebook, hub="https://binder.example.org/"))
    assert (parts.scheme, parts.netloc) == ("https", "binder.example.org")
    prefix, spec = parts.path.split("/v2/gh/")
    assert prefix == "" and spec.split("/", 2) == ["My-Org", "lab.kit", ref]
    assert parse_qs(parts.query) == {"urlpath": [f"lab/tree/{notebook}"]}
    assert parts.fragment == ""  # '#' was encoded, not taken as a fragment


def test_every_bad_option_is_named_with_its_expected_form():
    with pytest.raises(LabkitError) as info:
        binder_url("not a repo", "bad..ref", "/abs/notebook.py")
    message = str(info.value)
    assert "--repo 'not a repo': expected OWNER/NAME" in message
    assert "--ref 'bad..ref': expected a git branch, tag or commit" in message
    assert "--notebook '/abs/notebook.py': expected a notebook path relative to the repository root" in message
    with pytest.raises(LabkitError, match=r"give OWNER/NAME, not a URL \(here: --repo my-org/labkit\)"):
        binder_url("https://github.com/my-org/labkit.git", "main", "notebooks/00-start-here.ipynb")
    for ref in ["", "-x", "a b", "x/", "a:b", "topic.lock", "@"]:
        with pytest.raises(LabkitError, match="--ref"):
            binder_url("my-org/labkit", ref, "notebooks/00-start-here.ipynb")
    for notebook in ["notebooks/../x.ipynb", "notebooks//x.ipynb", "notebooks\\x.ipynb", "notebooks/x.py"]:
        with pytest.raises(LabkitError, match="--notebook"):
            binder_url("my-org/labkit", "main", notebook)
    for repo in ["-org/labkit", "org-/labkit", "org/", "org/lab/kit", "org/..", "a" * 40 + "/labkit"]:
        with pytest.raises(LabkitError, match="--repo"):
            binder_url(repo, "main", "notebooks/00-start-here.ipynb")


def test_the_command_prints_the_link_or_says_what_is_wrong():
    ok = labkit("binder-link", "--repo", "my-org/labkit", "--ref", "main", "--notebook",
                "notebooks/02-antrea-native-policies.ipynb")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == ("https://mybinder.org/v2/gh/my-org/labkit/main"
                                 "?urlpath=lab/tree/notebooks/02-antrea-native-policies.ipynb")
    assert ok.stderr == ""  # the notebook exists in this checkout: no warning
    typo = labkit("binder-link", "--repo", "my-org/labkit", "--ref", "main", "--notebook", "notebooks/99-nope.ipynb")
    assert typo.returncode == 0 and "warning: notebooks/99-nope.ipynb is not in the current directory" in typo.stderr
    bad = labkit("binder-link", "--repo", "my-org", "--ref", "main", "--notebook", "notebooks/00-start-here.ipynb")
    assert bad.returncode == 1 and bad.stdout == ""
    assert "error: cannot build the Binder link" in bad.stderr and "--repo 'my-org': expected OWNER/NAME" in bad.stderr
    missing = labkit("binder-link", "--repo", "my-org/labkit", "--ref", "main")
    assert missing.returncode == 2 and "--notebook" in missing.stderr


def test_the_readme_badge_is_what_the_command_prints():
    readme = (ROOT / "README.md").read_text()
    badge = re.search(r"\[!\[Binder\]\(https://mybinder\.org/badge_logo\.svg\)\]\((https://mybinder\.org/v2/gh/"
                      r"([^/]+/[^/]+)/([^?]+)\?urlpath=lab/tree/([^)]+))\)", readme)
    assert badge, "README.md needs a Binder badge linking to mybinder.org/v2/gh/OWNER/NAME/REF?urlpath=lab/tree/..."
    url, repo, ref, notebook = badge.groups()
    assert url == binder_url(repo, ref, notebook)
    assert (ROOT / notebook).is_file(), f"the badge opens {notebook}, which is not in the repository"
    assert "labkit binder-link" in readme


# ---------------------------------------------------------------------------- what repo2docker builds from


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def normalized(requirements: list[str]) -> dict[str, SpecifierSet]:
    parsed = [Requirement(r) for r in requirements]
    return {canonicalize_name(r.name): r.specifier for r in parsed}


def test_environment_yml_installs_the_lab_extra_exactly():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip_lists = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1 and "pip" in deps, "environment.yml: one pip: section, and pip itself"
    project = pyproject()["project"]
    wanted = normalized(project["dependencies"] + project["optional-dependencies"]["lab"])
    assert not [r for r in pip_lists[0] if r.lstrip().startswith(("-e", "."))], (
        "repo2docker installs environment.yml before the repository is copied in: install labkit in postBuild")
    assert normalized(pip_lists[0]) == wanted, "environment.yml's pip list must equal pyproject's dependencies + lab"
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    version = python.split("=", 1)[1]
    assert SpecifierSet(project["requires-python"]).contains(version + ".0"), (python, project["requires-python"])


def test_postbuild_installs_labkit_with_the_lab_extra():
    post = ROOT / "postBuild"
    assert post.is_file() and os.access(post, os.X_OK), "postBuild must exist and be executable"
    text = post.read_text()
    assert text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text  # repo2docker does not stop on a failing postBuild line by itself
    assert re.search(r'^python -m pip install .*-e "\.\[lab\]"$', text, re.M), text
    assert "lab" in pyproject()["project"]["optional-dependencies"]


def test_repo2docker_reads_the_root_files():
    for folder in ("binder", ".binder"):
        assert not (ROOT / folder).exists(), (f"{folder}/ exists: repo2docker would then ignore the root "
                                              "environment.yml and postBuild")

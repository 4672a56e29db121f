"""The NSX packages' shape: a standalone manager mock, an adapter, a light public ``labkit.nsx``.

import-linter (pyproject.toml) forbids the manager the adapter, the lab and the backends; these
tests hold the stricter rule that it imports nothing of labkit but ``labkit.errors``, that NSX has
no import cycle, and that the public names resolve.
"""

from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

import labkit.nsx
import labkit.nsx.manager


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("labkit")


def test_manager_imports_nothing_of_labkit_but_errors(graph):
    outside = sorted(
        f"{module} -> {imported}"
        for module in graph.find_descendants("labkit.nsx.manager") | {"labkit.nsx.manager"}
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith("labkit") and imported != "labkit.errors"
        and not imported.startswith("labkit.nsx.manager")
    )
    assert outside == []


def test_no_import_cycle_in_nsx(graph):
    nsx = {"labkit.nsx"} | graph.find_descendants("labkit.nsx")
    cycles = [
        (module, imported)
        for module in nsx
        for imported in graph.find_modules_directly_imported_by(module) & nsx
        if graph.find_shortest_chain(importer=imported, imported=module)
    ]
    assert cycles == []


@pytest.mark.parametrize("package", [labkit.nsx, labkit.nsx.manager], ids=lambda p: p.__name__)
def test_public_surface(package):
    assert package.__all__
    for name in package.__all__:
        assert hasattr(package, name), name


def test_start_nsx_is_public():
    from labkit.nsx import NSXSession, start_nsx
    from labkit.nsx.session import start_nsx as defined

    assert start_nsx is defined
    assert NSXSession.__module__ == "labkit.nsx.session"


def test_import_labkit_nsx_is_light():
    # `import labkit` itself loads the Lab facade (its public API); labkit.nsx adds no server,
    # no adapter, no cryptography.
    code = ("import sys, labkit; before = set(sys.modules); import labkit.nsx; "
            "print(','.join(sorted(m for m in set(sys.modules) - before if m != 'labkit.nsx')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'NSXLab'"):
        labkit.nsx.NSXLab  # noqa: B018

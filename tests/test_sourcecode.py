"""The source keeps the house rules (uvloop has a test_sourcecode.py too):
the library does not print, every C-level function states its exception
contract, every public name has a docstring and a stub."""
import ast
import importlib
import os
import re

import pytest

SRC = os.path.join(os.path.dirname(os.path.dirname(__file__)), "src", "cyreactor")
CYTHON_SOURCES = sorted(f for f in os.listdir(SRC) if f.endswith((".pyx", ".pxi", ".pxd")))
PYTHON_SOURCES = sorted(f for f in os.listdir(SRC) if f.endswith(".py"))
# Modules whose job is to talk to a terminal.
MAY_PRINT = {"__main__.py", "http_options.py"}

# cdef functions returning a C scalar: Cython 3 propagates exceptions from
# them with a check after every call unless told otherwise, so each one
# says what it does (except -1, except? -1, except *, noexcept).
C_SCALAR = r"(?:bint|int|long|long long|unsigned|size_t|Py_ssize_t|ssize_t|double|float|char|" \
           r"u?int\d+_t|uint32_t|uint64_t|void)"
CDEF_FUNCTION = re.compile(
    rf"^\s*c(?:p)?def\s+(?:inline\s+)?(?:const\s+)?{C_SCALAR}\s*\**\s+(\w+)\s*\(")


def _logical_lines(text):
    """Joins a signature spread over several lines."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        start = i + 1
        while line.count("(") > line.count(")") and i + 1 < len(lines):
            i += 1
            line += " " + lines[i].strip()
        yield start, line
        i += 1


@pytest.mark.parametrize("name", CYTHON_SOURCES)
def test_every_c_level_function_states_its_exception_contract(name):
    with open(os.path.join(SRC, name)) as f:
        text = f.read()
    missing = []
    for lineno, line in _logical_lines(text):
        code = line.split("#", 1)[0]
        match = CDEF_FUNCTION.match(code)
        if not match or "ctypedef" in code:
            continue
        tail = code[code.rindex(")"):]
        if "except" not in tail and "noexcept" not in tail:
            missing.append(f"{name}:{lineno}: {match.group(1)}")
    assert not missing, "cdef functions without an exception contract:\n" + "\n".join(missing)


@pytest.mark.parametrize("name", sorted(set(PYTHON_SOURCES) - MAY_PRINT))
def test_the_library_does_not_print(name):
    with open(os.path.join(SRC, name)) as f:
        tree = ast.parse(f.read())
    prints = [node.lineno for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"]
    assert not prints, f"{name} prints at lines {prints}: log instead"


@pytest.mark.parametrize("name", [n for n in CYTHON_SOURCES if n.endswith((".pyx", ".pxi"))])
def test_no_print_in_cython_sources(name):
    with open(os.path.join(SRC, name)) as f:
        text = f.read()
    prints = [i for i, line in enumerate(text.splitlines(), 1)
              if re.match(r"\s*print\(", line.split("#", 1)[0])]
    assert not prints, f"{name} prints at lines {prints}: log instead"


PUBLIC_MODULES = ["cyreactor", "cyreactor.http", "cyreactor.eventloop", "cyreactor.forwarded",
                  "cyreactor.supervisor", "cyreactor.tlsconfig"]


def _stub_names(module_name):
    module = importlib.import_module(module_name)
    path = module.__file__
    stub = os.path.splitext(path)[0].split(".cpython")[0] + ".pyi"
    if os.path.basename(path).startswith("__init__"):
        stub = os.path.join(os.path.dirname(path), "__init__.pyi")
    if not os.path.exists(stub):
        return None
    with open(stub) as f:
        tree = ast.parse(f.read())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_has_a_docstring_and_a_stub(module_name):
    pytest.importorskip(module_name)
    module = importlib.import_module(module_name)
    public = [name for name in getattr(module, "__all__", []) if not name.startswith("_")]
    assert public, f"{module_name} has no __all__"
    undocumented = [name for name in public
                    if callable(getattr(module, name)) and not (getattr(module, name).__doc__ or "").strip()]
    assert not undocumented, f"{module_name}: no docstring for {undocumented}"
    stubbed = _stub_names(module_name)
    assert stubbed is not None, f"{module_name} has no .pyi stub"
    unstubbed = sorted(set(public) - stubbed - {"__version__"})
    assert not unstubbed, f"{module_name}: no stub for {unstubbed}"

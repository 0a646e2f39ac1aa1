"""The import direction, for the whole code base: config < data < models < runs < train < eval <
the launcher's helpers, with the packer beside them on top of data. A module imports from layers
below its own, or from its own package; never upwards. The packer builds on mxdl's data contracts
(the manifest) and nothing in mxdl imports the packer."""
import ast
import glob
import os

from conftest import REPO

# (layer, packages) from the bottom up
LAYERS = [
    ("base", ("mxdl", "mxdl.errors", "mxdl.topology", "mxdl.fileio", "mxdl.log", "mxdl.seeding", "mxdl.cli_help")),
    ("config", ("mxdl.config", "mxdl.budget")),
    ("data", ("mxdl.data",)),
    ("pack", ("recordio_tools",)),
    ("models", ("mxdl.models",)),
    ("runs", ("mxdl.runs", "mxdl.dist")),
    ("train", ("mxdl.train",)),
    ("eval", ("mxdl.eval",)),
    ("launch", ("mxdl.preflight", "mxdl.launcher", "mxdl.cluster", "mxdl.joblog", "mxdl.srun", "mxdl.doctor")),
]
LEVEL = {pkg: (i, name) for i, (name, pkgs) in enumerate(LAYERS) for pkg in pkgs}


def _layer(module):
    """The layer of a dotted module name: its longest listed prefix (None: not mxdl's)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LEVEL:
            return LEVEL[".".join(parts[:n])]
    return None


def _module_of(path):
    rel = os.path.relpath(path, REPO)[: -len(".py")].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def _imports(path):
    """Dotted names a file imports, relative imports resolved."""
    module = _module_of(path)
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield from (f"{base}.{a.name}" for a in node.names)


def _level_of_pair(src, dst):
    (s_level, s_name), (d_level, d_name) = src, dst
    if s_name == d_name or (d_level < s_level and d_name != "pack"):
        return None
    return f"{s_name} imports {d_name}"


def test_imports_run_one_way():
    """Replaces the old rule that mxdl never imports recordio_tools, which it includes."""
    files = glob.glob(os.path.join(REPO, "mxdl", "**", "*.py"), recursive=True)
    files += glob.glob(os.path.join(REPO, "recordio_tools", "*.py"))
    offenders = []
    for path in files:
        src = _layer(_module_of(path))
        assert src is not None, f"{path} belongs to no layer: add it to LAYERS"
        for name in _imports(path):
            dst = _layer(name)
            problem = dst and _level_of_pair(src, dst)
            if problem:
                offenders.append(f"{os.path.relpath(path, REPO)}: {name} ({problem})")
    assert offenders == []


def test_the_rule_catches_an_upward_import():
    assert _level_of_pair(_layer("mxdl.models.pretrained"), _layer("mxdl.runs.checkpoint"))
    assert _level_of_pair(_layer("mxdl.data.recordio"), _layer("recordio_tools.pack"))
    assert _level_of_pair(_layer("mxdl.train.loop"), _layer("mxdl.eval.export"))
    assert _level_of_pair(_layer("mxdl.eval.cli"), _layer("mxdl.runs.checkpoint")) is None


FUNCTION_LINES = 40


def test_no_function_is_longer_than_a_screen():
    """Long functions were where the trainer's concerns tangled; 40 lines, docstring included."""
    long = []
    for path in glob.glob(os.path.join(REPO, "mxdl", "**", "*.py"), recursive=True) + \
            glob.glob(os.path.join(REPO, "recordio_tools", "*.py")):
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > FUNCTION_LINES:
                    long.append(f"{os.path.relpath(path, REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []

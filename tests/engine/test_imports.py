"""The import graph of engine/: no module imports itself back, and the lowest apps import nothing above them.

Imports inside functions count the same as those at the top of a module: a loop hidden in a
function is still a loop (it only fails later, at call time). Read with `ast`, nothing imported.
"""

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"
# What core, the lowest app, may read of another: the shipped taxonomy (a project's categories) and the
# curriculum over its groups, modules of intake that import nothing of engine/ but each other (checked
# below), so core reading them makes no loop.
CORE_READS = {"engine.intake.taxonomy", "engine.intake.curriculum"}


def _modules():
    modules = {}
    for path in ENGINE.rglob("*.py"):
        parts = ("engine", *path.relative_to(ENGINE).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _resolve(name):
    """The engine module an imported name lives in (`engine.x.y.Name` -> `engine.x.y`), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module, path):
    """Yield (imported engine module, line) for every import statement of the file, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target and target != module:
                yield target, node.lineno


GRAPH = {module: {target for target, _ in _imports(module, path)} for module, path in MODULES.items()}


def _cycles(graph):
    """The strongly connected groups of more than one node (Tarjan), each sorted."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in list(graph):
        if node not in index:
            visit(node)
    return groups


def _app(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (ENGINE / parts[-1]).is_dir() else None  # engine.settings etc.: no app


def _app_graph():
    graph = {}
    for module, targets in GRAPH.items():
        for target in targets - (CORE_READS if _app(module) == "core" else set()):
            source_app, target_app = _app(module), _app(target)
            if source_app and target_app and source_app != target_app:
                graph.setdefault(source_app, set()).add(target_app)
    return graph


def test_the_graph_is_read_from_the_real_files():
    assert GRAPH["engine.candidates.tasks"] >= {"engine.candidates.generation"}
    assert "engine.core.models" in GRAPH["engine.intake.models"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_of_engine_imports_itself_back_not_even_inside_a_function():
    assert _cycles(GRAPH) == []


def test_core_the_lowest_app_imports_no_other_app_but_the_taxonomy_it_holds_projects_to():
    above = sorted(f"{MODULES[m].relative_to(ENGINE.parent)} imports {t}" for m, targets in GRAPH.items()
                   if _app(m) == "core" for t in targets if _app(t) not in (None, "core") and t not in CORE_READS)
    assert above == []
    assert all(GRAPH[module] <= CORE_READS for module in CORE_READS if module in GRAPH)


def test_no_app_of_engine_imports_itself_back():
    # core's reading of the taxonomy (CORE_READS) is no app loop: that module imports nothing back.
    # The stages write the training records of engine.records, below them, and the flywheel reads both;
    # an accepted artist mesh reaches Stage 3 through artists.signals.mesh_submitted.
    assert _cycles(_app_graph()) == []

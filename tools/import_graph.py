"""Print the import graph of engine/, connectors/ and web/: its cycles and its depth.

Usage: python tools/import_graph.py [--packages] [--edges]

Modules are nodes (imports inside functions count too). A cycle is a strongly
connected component of more than one module; the depth ("floors") is the number of
modules on the longest chain of imports once each cycle is collapsed to one node.
With --packages the nodes are packages (engine.rules, engine.kyc, ...) instead.
Exits 1 when there is a cycle.
"""

from __future__ import annotations

import sys
from collections import defaultdict

import grimp

ROOTS = ("engine", "connectors", "web")


def module_graph() -> dict[str, set[str]]:
    """Return module -> modules it imports, within ROOTS."""
    # Imports under `if TYPE_CHECKING:` are for annotations only: no dependency at run time.
    graph = grimp.build_graph(*ROOTS, exclude_type_checking_imports=True)
    return {m: {i for i in graph.find_modules_directly_imported_by(m) if i != m} for m in sorted(graph.modules)}


def package_of(module: str) -> str:
    """engine.rules.compiler -> engine.rules; engine.facts -> engine.facts; web.api -> web."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "engine" else parts[0]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for module, imports in graph.items():
        out[package_of(module)].update(package_of(i) for i in imports if package_of(i) != package_of(module))
    return dict(out)


def components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    scc = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        scc.append(member)
                        if member == node:
                            break
                    result.append(sorted(scc))
    return result


def depth(graph: dict[str, set[str]], sccs: list[list[str]]) -> int:
    """Longest import chain, counted in nodes of the condensed graph."""
    owner = {m: i for i, scc in enumerate(sccs) for m in scc}
    memo: dict[int, int] = {}
    for i in range(len(sccs)):  # Tarjan emits components in reverse topological order
        below = {owner[c] for m in sccs[i] for c in graph.get(m, ()) if owner.get(c, i) != i}
        memo[i] = 1 + max((memo[b] for b in below), default=0)
    return max(memo.values(), default=0)


def main(argv: list[str]) -> int:
    graph = module_graph()
    if "--packages" in argv:
        graph = package_graph(graph)
    sccs = components(graph)
    cycles = [c for c in sccs if len(c) > 1]
    print(
        f"nodes {len(graph)}  edges {sum(len(v) for v in graph.values())}  "
        f"floors {depth(graph, sccs)}  cycles {len(cycles)}"
    )
    for cycle in sorted(cycles, key=len, reverse=True):
        print(f"  cycle of {len(cycle)}: {' '.join(cycle)}")
    if "--edges" in argv:
        for node, imports in sorted(graph.items()):
            print(f"{node} -> {' '.join(sorted(imports))}")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Import circles between fleetdeck's source files and between its top-level modules.

A file imports another when it names it (`crate::a::b`, `super::b`, `use crate::{a::b}`);
a file does not count as importing its own parent. Unit-test modules are left out: a test
may reach anywhere. Prints each circle; `--max N` exits 1 when there are more than N, so
CI can hold the line that ARCHITECTURE.md draws.
"""
import collections
import os
import re
import sys

ROOT = "src"


def load():
    files = {}
    for d, _, fs in os.walk(ROOT):
        for f in fs:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(d, f)
            name = path[len(ROOT) + 1 : -3]
            if name.endswith("/mod"):
                name = name[: -len("/mod")]
            if name in ("lib", "main"):
                continue
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            # Drop an in-file unit-test module and files that are one.
            text = re.split(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", text)[0]
            if re.search(r"^#!\[cfg\(test\)\]", text, re.M):
                continue
            files[name] = text
    # Modules declared `#[cfg(test)] mod name;` are tests too.
    for name, text in list(files.items()):
        folder = name if os.path.isdir(os.path.join(ROOT, name)) else name.rsplit("/", 1)[0]
        for child in re.findall(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod (\w+);", text):
            files.pop(folder + "/" + child, None)
    return files


def graph(files):
    mods = set(files)

    def resolve(segs):
        for n in range(len(segs), 0, -1):
            m = "/".join(segs[:n])
            if m in mods:
                return m
        return None

    edges = collections.defaultdict(set)
    for m, text in files.items():
        is_dir = os.path.isdir(os.path.join(ROOT, m))
        here = m if is_dir else (m.rsplit("/", 1)[0] if "/" in m else "")
        targets = []
        for mm in re.finditer(r"crate::((?:\w+::)*\w+)", text):
            targets.append(mm.group(1).split("::"))
        for mm in re.finditer(r"use crate::\{([^;]*)\};", text, re.S):
            for part in re.findall(r"\w+(?:::\w+)*", mm.group(1)):
                targets.append(part.split("::"))
        for mm in re.finditer(r"\b((?:super::)+)((?:\w+::)*\w+)", text):
            base = here.split("/") if here else []
            ups = mm.group(1).count("super::")
            # In a file module, `super` is the folder it sits in.
            base = base[: len(base) - (ups - (0 if is_dir else 1))] if ups else base
            targets.append(base + mm.group(2).split("::"))
        for segs in targets:
            t = resolve(segs)
            if t and t != m and not m.startswith(t + "/"):
                edges[m].add(t)
    return mods, edges


def circles(nodes, edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    limit = None
    if "--max" in sys.argv:
        limit = int(sys.argv[sys.argv.index("--max") + 1])
    files = load()
    mods, edges = graph(files)
    found = []
    for comp in circles(mods, edges):
        found.append(comp)
        print("files:  " + " <-> ".join(comp))
        for a in comp:
            print("          %s -> %s" % (a, ", ".join(sorted(x for x in edges[a] if x in comp))))
    top = collections.defaultdict(set)
    for a, bs in edges.items():
        for b in bs:
            ta, tb = a.split("/")[0], b.split("/")[0]
            if ta != tb:
                top[ta].add(tb)
    tops = {m.split("/")[0] for m in mods}
    for comp in circles(tops, top):
        found.append(comp)
        print("modules: " + " <-> ".join(comp))
        for a in comp:
            via = sorted(
                "%s -> %s" % (x, y)
                for x in edges
                for y in edges[x]
                if x.split("/")[0] == a and y.split("/")[0] in comp and y.split("/")[0] != a
            )
            print("          " + "; ".join(via))
    print("%d import circle(s)" % len(found))
    if limit is not None and len(found) > limit:
        print("more than the %d ARCHITECTURE.md allows" % limit, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

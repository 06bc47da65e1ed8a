#!/usr/bin/env python3
"""Derives a Collector component's configuration key tree from Go sources.

Usage: upstream-keys.py ROOT MODULE PKGDIR TYPE
  ROOT    a checkout of an upstream repository (e.g. opentelemetry-collector at v0.135.0)
  MODULE  the Go import path ROOT stands for (go.opentelemetry.io/collector)
  PKGDIR  the package directory inside ROOT (config/confighttp)
  TYPE    the struct to start from (ClientConfig)

Prints one key path a line, as resource-types/upstream/*.keys hold them: segments joined by
'.', '*' for a map key, '[]' after a segment whose value is a list of maps, and a final '**'
where the value is free-form (an interface, a type from outside ROOT, or a custom decoder).
Reads struct fields and their `mapstructure` tags only; a regex reader of gofmt'd code, not a
Go parser, so check what it prints against the component's testdata.
"""
import os
import re
import sys

STRUCT = re.compile(r"^type\s+(\w+)(?:\[[^\]]*\])?\s+struct\s*\{", re.M)
ALIAS = re.compile(r"^type\s+(\w+)\s+(?:=\s*)?([\w.\[\]*]+)\s*$", re.M)
IMPORT_BLOCK = re.compile(r"^import\s*\((.*?)^\)", re.M | re.S)
IMPORT_ONE = re.compile(r'^import\s+(?:(\w+)\s+)?"([^"]+)"', re.M)
FIELD = re.compile(r'^\s*(?:(\w+)\s+)?([\w.\[\]*]+(?:\[[\w.*]+\])?)\s*`([^`]*)`')
TAG = re.compile(r'mapstructure:"([^"]*)"')


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


class Package:
    def __init__(self, root, module, rel):
        self.dir = os.path.join(root, rel)
        self.structs, self.aliases, self.imports = {}, {}, {}
        if not os.path.isdir(self.dir):
            return
        for name in sorted(os.listdir(self.dir)):
            if not name.endswith(".go") or name.endswith("_test.go"):
                continue
            with open(os.path.join(self.dir, name), encoding="utf-8") as f:
                text = strip_comments(f.read())
            for block in IMPORT_BLOCK.findall(text):
                for line in block.splitlines():
                    m = re.match(r'\s*(?:(\w+)\s+)?"([^"]+)"', line)
                    if m:
                        self.imports[m.group(1) or m.group(2).rsplit("/", 1)[-1]] = m.group(2)
            for alias, path in IMPORT_ONE.findall(text):
                self.imports[alias or path.rsplit("/", 1)[-1]] = path
            for m in STRUCT.finditer(text):
                depth, i = 1, m.end()
                while depth and i < len(text):
                    depth += {"{": 1, "}": -1}.get(text[i], 0)
                    i += 1
                self.structs[m.group(1)] = text[m.end() : i - 1]
            for name_, target in ALIAS.findall(text):
                self.aliases[name_] = target


class Walker:
    def __init__(self, root, module):
        self.root, self.module, self.cache = root, module, {}

    def package(self, rel):
        if rel not in self.cache:
            self.cache[rel] = Package(self.root, self.module, rel)
        return self.cache[rel]

    def resolve(self, pkg, rel, typ):
        """(package, rel, struct name) for a type expression, or None when it is not a struct here."""
        typ = typ.lstrip("*")
        m = re.match(r"configoptional\.Optional\[(.+)\]$", typ)
        if m:
            return self.resolve(pkg, rel, m.group(1))
        typ = re.sub(r"\[.*\]$", "", typ)
        if "." in typ:
            alias, name = typ.split(".", 1)
            path = pkg.imports.get(alias, "")
            if not path.startswith(self.module + "/"):
                return None
            rel2 = path[len(self.module) + 1 :]
            pkg2 = self.package(rel2)
            return self.resolve(pkg2, rel2, name) if name in pkg2.structs or name in pkg2.aliases else None
        if typ in pkg.structs:
            return (pkg, rel, typ)
        if typ in pkg.aliases:
            return self.resolve(pkg, rel, pkg.aliases[typ])
        return None

    def walk(self, pkg, rel, name, prefix, out, seen):
        if (rel, name) in seen:
            out.add(prefix + ("." if prefix else "") + "**")
            return
        seen = seen | {(rel, name)}
        for line in pkg.structs[name].splitlines():
            m = FIELD.match(line)
            if not m:
                continue
            tag = TAG.search(m.group(3))
            if not tag:
                continue
            key = tag.group(1).split(",")[0]
            squash = ",squash" in tag.group(1)
            if key == "-":
                continue
            typ = m.group(2)
            self.field(pkg, rel, typ, prefix if squash else join(prefix, key), out, seen)

    def field(self, pkg, rel, typ, path, out, seen):
        typ = typ.lstrip("*")
        if typ.startswith("map["):
            inner = typ[typ.index("]") + 1 :]
            self.field(pkg, rel, inner, join(path, "*"), out, seen)
            return
        if typ.startswith("[]"):
            inner = typ[2:].lstrip("*")
            target = self.resolve(pkg, rel, inner)
            if target:
                self.walk(*target, path + "[]", out, seen)
            else:
                out.add(path)
            return
        target = self.resolve(pkg, rel, typ)
        if target:
            before = len(out)
            self.walk(*target, path, out, seen)
            if len(out) == before:
                out.add(path)
        elif typ in ("any", "interface{}") or typ.endswith("Config") and "." in typ:
            out.add(join(path, "**"))
        else:
            out.add(path)


def join(prefix, key):
    return f"{prefix}.{key}" if prefix else key


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    root, module, rel, name = sys.argv[1:]
    w = Walker(root, module)
    pkg = w.package(rel)
    if name not in pkg.structs:
        sys.exit(f"no struct {name} in {rel}")
    out = set()
    w.walk(pkg, rel, name, "", out, set())
    for p in sorted(out):
        print(p)


if __name__ == "__main__":
    main()

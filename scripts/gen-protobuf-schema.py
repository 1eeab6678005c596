#!/usr/bin/env python3
"""Generate crates/apimachinery/src/protobuf/schema.txt.

The protobuf wire schema of the built-in kinds comes from the prost-generated crate k8s-pb
(a machine-readable copy of upstream's generated.proto files); the JSON property names come
from our own OpenAPI v2 document (`cargo run -p registry --example dump_openapi`), so that a
decoded object carries exactly the names our JSON side uses.

Usage: scripts/gen-protobuf-schema.py [--k8s-pb DIR] [--openapi FILE] [--out FILE]

Output: one line per message, `DEFINITION TAG:JSON:KIND[:TYPE] ...`, where KIND is a scalar
(string, int32, int64, bool, bytes, double, float), `message`, a list `[]SCALAR` / `[]message`,
or a string-keyed map `map-string`, `map-bytes`, `map-message`; TYPE names the definition of a
message, list-of-message or map-of-message value. JSON `-` marks a Go struct embedded inline:
its fields belong to the enclosing JSON object.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "crates/apimachinery/src/protobuf/schema.txt")

# k8s-pb's top module names whose upstream package paths are spelled with dashes.
TOP_MODULES = {
    "api": "io.k8s.api",
    "apimachinery": "io.k8s.apimachinery",
    "apiextensions_apiserver": "io.k8s.apiextensions-apiserver",
    "kube_aggregator": "io.k8s.kube-aggregator",
}

# Messages the decoder maps by hand (their JSON form is not an object of their fields); they
# must be in the schema file even when the OpenAPI document has no definition of them.
SPECIAL = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.Duration",
}

# Messages the decoder maps by hand whatever their field names.
SPECIAL_JSON = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Duration",
    "io.k8s.api.authentication.v1.ExtraValue",
    "io.k8s.api.authorization.v1.ExtraValue",
    "io.k8s.api.certificates.v1.ExtraValue",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
}

# Field names whose JSON spelling does not normalize to the proto name: (definition, proto
# field) -> JSON name. Empty today; kept so an irregular name is a one-line fix.
IRREGULAR = {}

SCALARS = {"string", "int32", "int64", "uint32", "uint64", "bool", "bytes", "double", "float"}

ATTR_RE = re.compile(r"#\[prost\((.*)\)\]\s*$")
STRUCT_RE = re.compile(r"^pub struct (\w+) \{")
FIELD_RE = re.compile(r"^\s*pub (?:r#)?(\w+):\s*(.*)$")


def default_k8s_pb():
    hits = sorted(glob.glob(os.path.expanduser("~/.cargo/registry/src/*/k8s-pb-0.9.0/src")))
    if not hits:
        sys.exit("k8s-pb 0.9.0 not found in ~/.cargo/registry; pass --k8s-pb")
    return hits[-1]


def load_openapi(path):
    if path:
        with open(path) as f:
            return json.load(f)["definitions"]
    out = subprocess.run(
        ["cargo", "run", "-q", "-p", "registry", "--example", "dump_openapi"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)["definitions"]


def module_prefix(modpath):
    """api/core/v1 -> io.k8s.api.core.v1 (None for modules we do not serve)."""
    parts = modpath.split("/")
    top = TOP_MODULES.get(parts[0])
    if top is None:
        return None
    return ".".join([top] + parts[1:])


def innermost_type(rust_type):
    """The message type a field refers to: last path inside all the generic wrappers."""
    t = re.sub(r"\s+", "", rust_type).rstrip(",").replace(",>", ">")
    # BTreeMap<String, X>: the value type is after the top-level comma.
    m = re.search(r"BTreeMap<(.*)>$", t)
    if m:
        inner = m.group(1)
        depth = 0
        for i, c in enumerate(inner):
            if c == "<":
                depth += 1
            elif c == ">":
                depth -= 1
            elif c == "," and depth == 0:
                t = inner[i + 1:]
                break
    while True:
        m = re.match(r"^(?:::core::option::Option|::prost::alloc::vec::Vec|::prost::alloc::boxed::Box)<(.*)>$", t)
        if not m:
            break
        t = m.group(1)
    return t


def resolve(modpath, rust_path):
    """Resolve a Rust path relative to module `modpath` to (modpath, struct name)."""
    parts = rust_path.split("::")
    mod = modpath.split("/")
    while parts and parts[0] == "super":
        mod = mod[:-1]
        parts = parts[1:]
    return "/".join(mod + parts[:-1]), parts[-1]


def parse_k8s_pb(root):
    """{(modpath, struct): [(tag, proto_name, kind, rust_target or None)]}"""
    structs = {}
    for path in sorted(glob.glob(os.path.join(root, "**/mod.rs"), recursive=True)):
        modpath = os.path.relpath(os.path.dirname(path), root)
        with open(path) as f:
            lines = f.read().split("\n")
        current = None
        i = 0
        while i < len(lines):
            line = lines[i]
            sm = STRUCT_RE.match(line)
            if sm:
                current = []
                structs[(modpath, sm.group(1))] = current
                i += 1
                continue
            am = ATTR_RE.search(line.strip()) if current is not None else None
            if am:
                attr = am.group(1)
                # The declaration may span lines; it ends at a ',' outside any '<...>'.
                decl = ""
                i += 1
                while i < len(lines):
                    decl += lines[i].strip()
                    balanced = decl.count("<") == decl.count(">")
                    if balanced and decl.endswith(","):
                        break
                    i += 1
                fm = FIELD_RE.match(decl)
                if not fm:
                    sys.exit(f"cannot parse field after {attr!r} in {path}: {decl!r}")
                name, rust_type = fm.group(1), fm.group(2)
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                kind, target = field_kind(attr, rust_type, modpath)
                current.append((tag, name, kind, target))
            elif line.startswith("}"):
                current = None
            i += 1
    return structs


def field_kind(attr, rust_type, modpath):
    head = attr.split(",")[0].strip()
    repeated = re.search(r"\brepeated\b", attr) is not None
    m = re.match(r'btree_map = "string, (\w+)"', attr)
    if m:
        value = m.group(1)
        if value == "message":
            return "map-message", resolve(modpath, innermost_type(rust_type))
        if value not in ("string", "bytes"):
            sys.exit(f"unsupported map value {value!r}")
        return f"map-{value}", None
    if head.startswith("bytes"):
        head = "bytes"
    if head == "message":
        target = resolve(modpath, innermost_type(rust_type))
        return ("[]message" if repeated else "message"), target
    if head not in SCALARS:
        sys.exit(f"unsupported prost kind {attr!r}")
    return (f"[]{head}" if repeated else head), None


def is_inline(structs, target, parent_props):
    """A Go struct embedded with `json:",inline"`: its proto message is a field of the parent,
    but its JSON properties (and those of structs it embeds in turn) sit directly in the
    parent's object."""
    fields = structs[target]
    for (_, proto, kind, sub) in fields:
        if normalize(proto) in parent_props:
            continue
        if kind == "message" and is_inline(structs, sub, parent_props):
            continue
        return False
    return bool(fields)


def flat_names(structs, key, inline):
    """Normalized names of a message's fields, looking through inline-embedded structs."""
    names = set()
    for (tag, proto, _, target) in structs[key]:
        names.add(normalize(proto))
        if (key, tag) in inline or (target is not None and any(
                (target, t) in inline for (t, _, _, _) in structs[target])):
            names |= flat_names(structs, target, inline)
    return names


def normalize(name):
    return re.sub(r"[^a-z0-9]", "", name.lower())


def lower_camel(snake):
    first, *rest = snake.split("_")
    return first + "".join(p[:1].upper() + p[1:] for p in rest)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k8s-pb", default=None)
    ap.add_argument("--openapi", default=None, help="JSON dump of the v2 document")
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()

    structs = parse_k8s_pb(args.k8s_pb or default_k8s_pb())
    definitions = load_openapi(args.openapi)

    # Definition names per module, keyed by the normalized short name (prost renames
    # JSONSchemaProps to JsonSchemaProps).
    def_name = {}
    for (modpath, struct) in structs:
        prefix = module_prefix(modpath)
        if prefix is None:
            continue
        candidates = [d for d in definitions
                      if d.startswith(prefix + ".") and "." not in d[len(prefix) + 1:]
                      and normalize(d[len(prefix) + 1:]) == normalize(struct)]
        if candidates:
            def_name[(modpath, struct)] = candidates[0]
        elif prefix + "." + struct in SPECIAL:
            def_name[(modpath, struct)] = prefix + "." + struct

    # Every served message and everything it refers to.
    todo = [k for k in def_name]
    wanted = set()
    unnamed = []
    while todo:
        key = todo.pop()
        if key in wanted:
            continue
        wanted.add(key)
        for (_, _, _, target) in structs[key]:
            if target is None:
                continue
            if target not in structs:
                sys.exit(f"unresolved message type {target} referenced from {key}")
            if target not in def_name:
                prefix = module_prefix(target[0])
                def_name[target] = f"{prefix}.{target[1]}"
                unnamed.append((target, key))
            todo.append(target)

    # JSON property names per message, by normalized name. A struct embedded inline has no
    # definition of its own: it takes the names of the object(s) it is embedded in.
    props_of = {}
    for key in wanted:
        props = definitions.get(def_name[key], {}).get("properties")
        if props is not None:
            props_of[key] = {normalize(p): p for p in props}
    inline = set()
    changed = True
    while changed:
        changed = False
        for key in sorted(wanted):
            by_norm = props_of.get(key)
            if by_norm is None:
                continue
            for (tag, proto, kind, target) in structs[key]:
                if (kind != "message" or normalize(proto) in by_norm or (key, tag) in inline
                        or (def_name[key], proto) in IRREGULAR
                        or not is_inline(structs, target, by_norm)):
                    continue
                inline.add((key, tag))
                merged = props_of.setdefault(target, {})
                merged.update(by_norm)
                changed = True

    unmatched = []
    inlined = []
    guessed = []
    missing = []
    lines = []
    for key in sorted(wanted, key=lambda k: def_name[k]):
        name = def_name[key]
        by_norm = props_of.get(key)
        entries = []
        for (tag, proto, kind, target) in sorted(structs[key]):
            json_name = IRREGULAR.get((name, proto))
            if json_name is None and (key, tag) in inline:
                json_name = "-"
                inlined.append(f"{name}.{proto} -> {def_name[target]}")
            if json_name is None and by_norm is not None:
                json_name = by_norm.get(normalize(proto))
                if json_name is None:
                    unmatched.append(f"{name}.{proto} (tag {tag})")
            if json_name is None:
                json_name = lower_camel(proto)
                if name not in SPECIAL_JSON:
                    guessed.append(f"{name}.{proto} -> {json_name}")
            entry = f"{tag}:{json_name}:{kind}"
            if target is not None:
                entry += ":" + def_name[target]
            entries.append(entry)
        lines.append(" ".join([name] + entries))

        # Properties newer than k8s-pb's Kubernetes: the decoder cannot see them on the wire.
        props = definitions.get(name, {}).get("properties") or {}
        have = flat_names(structs, key, inline)
        for prop in props:
            if prop not in ("apiVersion", "kind") and normalize(prop) not in have:
                missing.append(f"{name}.{prop}")

    with open(args.out, "w") as f:
        f.write("# Generated by scripts/gen-protobuf-schema.py from k8s-pb 0.9.0 and our OpenAPI v2"
                " definitions. Do not edit.\n")
        f.write("\n".join(lines) + "\n")

    print(f"wrote {len(lines)} messages to {args.out}", file=sys.stderr)
    for (target, user) in sorted(set(unnamed)):
        print(f"no OpenAPI definition for {def_name[target]} (used by {def_name[user]})",
              file=sys.stderr)
    for g in guessed:
        print(f"JSON name guessed: {g}", file=sys.stderr)
    for m in missing:
        print(f"not in k8s-pb (newer field; not decodable): {m}", file=sys.stderr)
    for i in inlined:
        print(f"inline: {i}", file=sys.stderr)
    for u in unmatched:
        print(f"no JSON property for {u}; JSON name guessed", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Random file operations under one directory of a mount, with a model.

usage: crawl_safety.py DIR SEED OPS MODEL_OUT

Creates, rewrites, appends, renames (also over existing names), hard links,
unlinks (some of big files, which ghostfs defers to its crawler) and mkdirs,
all under DIR, keeping a model of what every path must hold. At the end it
checks every path against the model, then writes the model as JSON to
MODEL_OUT (path relative to DIR -> sha256 of the content, or "dir"), so
that the caller can check it again on another mount. Exits 1 on the first
mismatch, naming it.
"""
import hashlib
import json
import os
import random
import sys


def main():
    root, seed, ops, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rnd = random.Random(seed)
    files = {}  # relative path -> bytes
    dirs = ["."]
    inode_of = {}  # relative path -> a key shared by hard links
    next_key = [0]

    def content(n):
        return bytes(rnd.getrandbits(8) for _ in range(min(n, 256))) * (n // 256 + 1)

    def new_name(d):
        return os.path.normpath(os.path.join(d, "f%d" % rnd.randrange(60)))

    def write(p, data, mode="wb"):
        with open(os.path.join(root, p), mode) as f:
            f.write(data)

    def relink_content(p, data):
        key = inode_of[p]
        for q, k in inode_of.items():
            if k == key:
                files[q] = data

    for _ in range(ops):
        op = rnd.random()
        d = rnd.choice(dirs)
        if op < 0.25 or not files:
            p = new_name(d)
            data = content(rnd.choice([0, 100, 5000, 70000, 300000]))
            write(p, data)
            if p in files:
                relink_content(p, data)
            else:
                files[p] = data
                inode_of[p] = next_key[0]
                next_key[0] += 1
        elif op < 0.35:
            p = rnd.choice(sorted(files))
            data = content(rnd.choice([10, 3000]))
            write(p, data, "ab")
            relink_content(p, files[p] + data)
        elif op < 0.5:
            p = rnd.choice(sorted(files))
            q = new_name(rnd.choice(dirs))
            if p == q:
                continue
            os.rename(os.path.join(root, p), os.path.join(root, q))
            files[q] = files.pop(p)
            inode_of[q] = inode_of.pop(p)
        elif op < 0.6:
            p = rnd.choice(sorted(files))
            q = new_name(rnd.choice(dirs))
            if q in files:
                continue
            os.link(os.path.join(root, p), os.path.join(root, q))
            files[q] = files[p]
            inode_of[q] = inode_of[p]
        elif op < 0.8:
            p = rnd.choice(sorted(files))
            os.unlink(os.path.join(root, p))
            del files[p]
            del inode_of[p]
        elif op < 0.85 and len(dirs) < 6:
            d2 = os.path.join(d, "d%d" % len(dirs))
            os.mkdir(os.path.join(root, d2))
            dirs.append(os.path.normpath(d2))
        elif op < 0.87:
            # A big file, written and unlinked: its delete is deferred.
            p = new_name(d)
            if p in files:
                continue
            write(p, b"B" * (70 << 20))
            os.unlink(os.path.join(root, p))
    model = {}
    for p, data in sorted(files.items()):
        with open(os.path.join(root, p), "rb") as f:
            got = f.read()
        if got != data:
            print("mismatch: %s: %d bytes, want %d" % (p, len(got), len(data)))
            sys.exit(1)
        model[p] = hashlib.sha256(data).hexdigest()
    for d in dirs:
        model[d] = "dir"
    with open(out, "w") as f:
        json.dump(model, f)


if __name__ == "__main__":
    main()

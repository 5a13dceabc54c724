#!/usr/bin/python3
"""mutants.py - the workbook proves its tests: `make mutants` runs it.

Each exercise keeps, in harness/<exdir>/mutants, copies of its reference
broken in one plausible way each (the file's header says the format).  This
script grades every mutant with the real grader (timing and coverage off),
as a submission, and prints, per mutant, the rubric criteria that caught it
(a test that failed, or the memory check), and per rubric test, the mutants
it catches.  It exits 1 when a mutant survives (full marks) or a rubric
test catches none, 2 on a usage or setup error.

    scripts/mutants.py [--exercise ex01]... [--jobs N] [--out build/mutants]
                       [--quick N]   (only the first N mutants of each exercise,
                                      the memory check only for those no test catches)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))


def parse_mutants(path):
    """Returns [{name, file, why, find, replace}] from a mutants file."""
    mutants, cur, block = [], None, None
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if block is not None and (line.startswith("    ") or line == ""):
                if line == "" and block not in ("find", "replace"):
                    continue
                cur[block].append(line[4:])
                continue
            if line.startswith("#") or line.strip() == "":
                block = None
                continue
            if line.startswith("[") and line.endswith("]"):
                cur = {"name": line[1:-1], "file": None, "why": "", "find": [], "replace": [],
                       "line": lineno}
                mutants.append(cur)
                block = None
            elif cur is None:
                raise SystemExit(f"{path}:{lineno}: text before the first [mutant]")
            elif line in ("find:", "replace:"):
                block = line[:-1]
            elif line.startswith("file:"):
                cur["file"] = line[5:].strip()
            elif line.startswith("why:"):
                cur["why"] = line[4:].strip()
            else:
                raise SystemExit(f"{path}:{lineno}: unexpected line: {line}")
    for m in mutants:
        for k in ("find", "replace"):
            while m[k] and m[k][-1] == "":
                m[k].pop()
        if not m["file"] or not m["find"]:
            raise SystemExit(f"{path}:{m['line']}: mutant {m['name']} needs file: and find:")
    return mutants


def exercises():
    out = subprocess.run(["make", "-s", "--no-print-directory", "print-exercises"], cwd=TOP,
                         check=True, capture_output=True, text=True).stdout.split()
    dirs = {}
    for e in out:
        dirs[e] = subprocess.run(["make", "-s", "--no-print-directory", "print-dir",
                                  f"EXERCISE={e}"], cwd=TOP, check=True, capture_output=True,
                                 text=True).stdout.strip()
    return dirs


def dedent(lines):
    width = min((len(l) - len(l.lstrip(" ")) for l in lines if l.strip()), default=0)
    return [l[width:] for l in lines]


def prepare(ex, exdir, m, sub):
    """Writes the mutant's submission folder; returns an error or None.
    The find: lines match the file's lines whatever their common indentation;
    the replace: lines take the indentation of the match."""
    dest = os.path.join(sub, exdir)
    shutil.copytree(os.path.join(TOP, "solutions", exdir), dest)
    path = os.path.join(dest, m["file"])
    lines = open(path, encoding="utf-8").read().split("\n")
    find, repl = dedent(m["find"]), dedent(m["replace"])
    hits = []
    for i in range(len(lines) - len(find) + 1):
        base = lines[i][: len(lines[i]) - len(lines[i].lstrip(" "))]
        if all(lines[i + k] == (base + f if f else "") or (not f and not lines[i + k].strip())
               for k, f in enumerate(find)):
            hits.append((i, base))
    if len(hits) != 1:
        return f"its find: text occurs {len(hits)} times in solutions/{exdir}/{m['file']}"
    i, base = hits[0]
    lines[i:i + len(find)] = [base + r if r else "" for r in repl]
    open(path, "w", encoding="utf-8").write("\n".join(lines))
    return None


def caught_by(results_path, ex, rubric):
    """Criteria that lost points: failed tests (by rubric order: results.json
    numbers an exercise's tests "E.N" in that order), and the memory check."""
    r = json.load(open(results_path))
    names = [t["suite"] + "::" + t["test"] for t in rubric["tests"]]
    lost = []
    for t in r["tests"]:
        if ex not in t.get("tags", []) or t["score"] >= t["max_score"]:
            continue
        if "timing" in t["tags"]:
            continue
        if "memcheck" in t["tags"]:
            # Its points follow the tests that pass: it catches a mutant only
            # when the sanitizers found something in a test that passed.
            mc = t.get("memcheck", {})
            if mc.get("checked") and mc.get("tests_clean", 0) < mc.get("tests_run", 0):
                lost.append("memcheck")
            continue
        idx = int(t["number"].split(".")[1]) - 1
        if 0 <= idx < len(names):
            lost.append(names[idx])
    return lost


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exercise", action="append", default=[])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(TOP, "build", "mutants"))
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--markdown", help="also write the tables as Markdown to this file")
    args = ap.parse_args()

    dirs = exercises()
    chosen = args.exercise or list(dirs)
    for e in chosen:
        if e not in dirs:
            print(f"mutants: unknown exercise {e} (known: {' '.join(dirs)})", file=sys.stderr)
            return 2
    grader = os.path.join(TOP, "build", "bin", "grader")
    subprocess.run(["make", "-s", "--no-print-directory", "build/bin/grader", "kits"] +
                   [f"build/bin/test-{e}" for e in chosen], cwd=TOP, check=True)
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)

    jobs, todo = [], []
    for e in chosen:
        path = os.path.join(TOP, "harness", dirs[e], "mutants")
        if not os.path.exists(path):
            print(f"mutants: {e} has no mutant list ({path})", file=sys.stderr)
            return 1
        ms = parse_mutants(path)
        if args.quick:
            ms = ms[: args.quick]
        for m in ms:
            todo.append((e, dirs[e], m))

    t0 = time.time()
    running, done, slot_free = [], [], list(range(max(1, args.jobs)))
    # A quick run grades each mutant without the memory check first (the
    # slowest criterion), and again with it only when no test caught it.
    pending = [(e, exdir, m, bool(args.quick)) for e, exdir, m in todo]
    problems = 0
    while pending or running:
        while pending and slot_free:
            e, exdir, m, no_mc = pending.pop(0)
            slot = slot_free.pop(0)
            base = os.path.join(args.out, f"{e}-{m['name']}")
            sub = os.path.join(base, "sub")
            shutil.rmtree(base, ignore_errors=True)
            err = prepare(e, exdir, m, sub)
            if err:
                print(f"mutants: {e} {m['name']}: {err}", file=sys.stderr)
                problems += 1
                slot_free.append(slot)
                continue
            cmd = [grader, "--root", TOP, "--submission", sub, "--exercise", e,
                   "--no-timing", "--no-coverage", "--trusted-built", "--quiet",
                   "--out", os.path.join(base, "grade"),
                   "--subject-uid", str(64100 + slot),
                   "--ref-build", os.path.join(args.out, f"ref-build-{slot}")]
            if no_mc:
                cmd.append("--no-memcheck")
            log = open(os.path.join(base, "grader.log"), "w")
            p = subprocess.Popen(cmd, cwd=TOP, stdout=log, stderr=subprocess.STDOUT)
            running.append((p, slot, e, m, base, log, no_mc))
        time.sleep(0.05)
        for item in list(running):
            p, slot, e, m, base, log, no_mc = item
            if p.poll() is None:
                continue
            running.remove(item)
            log.close()
            slot_free.append(slot)
            res = os.path.join(base, "grade", "results.json")
            if p.returncode not in (0, 1) or not os.path.exists(res):
                print(f"mutants: {e} {m['name']}: the grader failed (see {base}/grader.log)",
                      file=sys.stderr)
                problems += 1
                continue
            rubric = json.load(open(os.path.join(TOP, "harness", dirs[e], "rubric.json")))
            lost = caught_by(res, e, rubric)
            if not lost and no_mc:
                pending.insert(0, (e, dirs[e], m, False))
                continue
            done.append((e, m, lost))

    # Per mutant.
    lines = []
    survivors = 0
    lines.append("| exercise | mutant | what it gets wrong | caught by |")
    lines.append("| --- | --- | --- | --- |")
    for e, m, lost in sorted(done, key=lambda x: (x[0], todo.index((x[0], dirs[x[0]], x[1])))):
        if not lost:
            survivors += 1
        lines.append(f"| {e} | `{m['name']}` | {m['why']} | "
                     f"{', '.join('`' + c + '`' for c in lost) or '**SURVIVES**'} |")
    print("\n".join(lines))

    # Per rubric test.
    uncaught = 0
    per = ["", "| exercise | rubric test | mutants it catches |", "| --- | --- | --- |"]
    for e in chosen:
        r = json.load(open(os.path.join(TOP, "harness", dirs[e], "rubric.json")))
        names = [t["suite"] + "::" + t["test"] for t in r["tests"]]
        if "memcheck" in r:
            names.append("memcheck")
        for n in names:
            by = [m["name"] for ee, m, lost in done if ee == e and n in lost]
            if not by and not args.quick:
                uncaught += 1
            per.append(f"| {e} | `{n}` | {', '.join(by) if by else ('**none**' if not args.quick else '(quick run)')} |")
    print("\n".join(per))
    took = time.time() - t0
    print(f"\nmutants: {len(done)} graded in {took:.0f} s; {survivors} survived; "
          f"{uncaught} rubric criteria caught none; {problems} could not be graded")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines + per) + "\n")
    return 1 if survivors or uncaught or problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""bench_report.py - the tables of `make bench` (scripts/bench.sh), and a helper
for the exercises' run.sh.

  bench_report.py aggregate --exercise ex01 --case "..." --impl "..." \\
      --primary wall_ms [--higher-is-better] [--metrics a,b,c] \\
      [--set name=number ...] [--derive name=metric/number ...] < runs.jsonl
      Reads one JSON object of metrics per line (one per run), prints the line
      run.sh must print: the median of each metric over the runs.  --metrics
      keeps these metrics, in this order (default: all, as first seen); --set
      adds a constant (e.g. the ideal time); --derive adds
      name = median(metric) / number (e.g. wall_ms over a limit).

  bench_report.py report --out build/bench --status build/bench/status.tsv \\
      --elapsed SECONDS
      Reads OUT/<exercise>.jsonl (run.sh's stdout) for each exercise listed in
      the status file (exercise, state, exit code, seconds, tab-separated),
      checks every line, prints one table per exercise, and writes
      OUT/results.json and OUT/results.md.  Exit status 1 when a line is
      invalid.

A result line (docs/en/benchmarks.md):
  {"exercise": "ex01", "case": "...", "impl": "C (reference)",
   "primary": "wall_ms", "higher_is_better": false,
   "metrics": {"wall_ms": 140.2, ...}, "runs": 5}
The ratio column compares the C row of each case (impl "C (reference)", or
else the first impl whose name starts with "C") with every other row, on the
primary metric, oriented so that a value above 1 means C is better.
"""
import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys

REQUIRED = {"exercise": str, "case": str, "impl": str, "primary": str,
            "higher_is_better": bool, "metrics": dict, "runs": int}


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ---- aggregate ----------------------------------------------------------------

def cmd_aggregate(args):
    runs = []
    for n, line in enumerate(sys.stdin, 1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            sys.exit(f"bench_report: run {n} is not JSON: {line[:80]}")
        runs.append(obj)
    if not runs:
        sys.exit("bench_report: no runs to aggregate")
    names = args.metrics.split(",") if args.metrics else \
        list(dict.fromkeys(k for r in runs for k in r))
    metrics = {}
    for name in names:
        values = [r[name] for r in runs if is_number(r.get(name))]
        if values:
            metrics[name] = round(statistics.median(values), 3)
    for spec in args.set or []:
        name, _, value = spec.partition("=")
        metrics[name] = float(value)
    for spec in args.derive or []:
        name, _, expr = spec.partition("=")
        metric, _, divisor = expr.partition("/")
        if metric in metrics and float(divisor) != 0:
            metrics[name] = round(metrics[metric] / float(divisor), 4)
    if args.metrics:   # derived metrics may be listed in --metrics: keep that order
        order = [m for m in names if m in metrics] + [m for m in metrics if m not in names]
        metrics = {m: metrics[m] for m in order}
    if args.primary not in metrics:
        sys.exit(f"bench_report: the primary metric {args.primary} is in no run")
    print(json.dumps({"exercise": args.exercise, "case": args.case, "impl": args.impl,
                      "primary": args.primary, "higher_is_better": args.higher_is_better,
                      "metrics": metrics, "runs": len(runs)}, ensure_ascii=False))


# ---- report -------------------------------------------------------------------

def validate(obj):
    """Returns None, or why obj is not a valid result line."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    for key, typ in REQUIRED.items():
        if key not in obj:
            return f"no '{key}'"
        if not isinstance(obj[key], typ) or (typ is int and isinstance(obj[key], bool)):
            return f"'{key}' is not a {typ.__name__}"
    if not obj["metrics"]:
        return "'metrics' is empty"
    for k, v in obj["metrics"].items():
        if not is_number(v):
            return f"metric '{k}' is not a number: {v!r}"
    if obj["primary"] not in obj["metrics"]:
        return f"the primary metric '{obj['primary']}' is not in metrics"
    if obj["runs"] < 1:
        return "'runs' is below 1"
    return None


def fmt(v):
    if v is None:
        return ""
    if isinstance(v, int) or (abs(v) >= 10000 and float(v).is_integer()):
        return str(int(v))
    a = abs(v)
    if a >= 10000:
        return f"{v:.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def baseline(rows):
    for r in rows:
        if r["impl"] == "C (reference)":
            return r
    for r in rows:
        if r["impl"] == "C" or r["impl"].startswith(("C ", "C(")):
            return r
    return None


def ratio(c_row, row):
    """The C row against this row on the primary metric, > 1 when C is better."""
    if c_row is None or row is c_row:
        return None
    m = c_row["primary"]
    a, b = c_row["metrics"].get(m), row["metrics"].get(m)
    if a is None or b is None or a == 0 or b == 0:
        return None
    return a / b if c_row["higher_is_better"] else b / a


def table(lines):
    """Header and rows (lists of strings) of one exercise's table."""
    metrics = list(dict.fromkeys(k for l in lines for k in l["metrics"]))
    primary = lines[0]["primary"]
    better = "higher" if lines[0]["higher_is_better"] else "lower"
    head = ["case", "implementation"] + metrics + ["runs", f"C ratio ({primary})"]
    rows = []
    cases = list(dict.fromkeys(l["case"] for l in lines))
    for case in cases:
        group = [l for l in lines if l["case"] == case]
        c_row = baseline(group)
        for l in group:
            r = ratio(c_row, l)
            rows.append([case, l["impl"]] + [fmt(l["metrics"].get(m)) for m in metrics] +
                        [str(l["runs"]), "baseline" if l is c_row else
                         (f"{r:.2f}x" if r is not None else "n/a")])
    note = (f"primary metric: {primary} ({better} is better); C ratio > 1 means C "
            f"is better (peer / C for a lower-is-better metric, C / peer otherwise)")
    return head, rows, note


def text_table(head, rows):
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    numeric = [i >= 2 for i in range(len(head))]

    def line(cells):
        return "  ".join(c.rjust(w) if numeric[i] else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    out = [line(head), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def md_table(head, rows):
    esc = lambda s: s.replace("|", "\\|")
    out = ["| " + " | ".join(esc(h) for h in head) + " |",
           "|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|"]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def machine_info():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def run(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu_model": cpu or "unknown",
            "python": platform.python_version(),
            "libevent": run("pkg-config", "--modversion", "libevent")}


def cmd_report(args):
    status = []
    with open(args.status) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 4:
                status.append({"exercise": parts[0], "state": parts[1],
                               "exit_code": int(parts[2]), "seconds": float(parts[3])})
    machine = machine_info()
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    results, bad = [], 0
    for st in status:
        st["errors"], st["lines"] = [], 0
        path = os.path.join(args.out, st["exercise"] + ".jsonl")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, raw in enumerate(f, 1):
                raw = raw.strip()
                if not raw:
                    continue
                try:
                    obj = json.loads(raw)
                    why = validate(obj)
                except ValueError:
                    why = "not JSON"
                if why is None and obj["exercise"] != st["exercise"]:
                    why = f"'exercise' is {obj['exercise']!r}, from harness/peers/{st['exercise']}/"
                if why is not None:
                    st["errors"].append(f"line {n}: {why}: {raw[:100]}")
                    bad += 1
                    continue
                st["lines"] += 1
                results.append(obj)

    header = (f"{machine['nproc']} cores, {machine['cpu_model']}, Linux {machine['kernel']}, "
              f"Python {machine['python']}, libevent {machine['libevent']}, {date}")
    txt, md = [f"make bench: {header}"], ["# make bench results", "", header, ""]
    for st in status:
        e = st["exercise"]
        lines = [r for r in results if r["exercise"] == e]
        title = f"{e} ({st['state']}, {st['seconds']:.0f} s)"
        txt += ["", f"== {title} =="]
        md += [f"## {title}", ""]
        if lines:
            head, rows, note = table(lines)
            txt += [text_table(head, rows), note]
            md += [md_table(head, rows), "", note, ""]
        else:
            txt.append("no results")
            md += ["no results", ""]
        for err in st["errors"]:
            txt.append(f"invalid {err}")
            md.append(f"- invalid {err}")
        if st["errors"]:
            md.append("")
    total = f"total wall time: {args.elapsed:.0f} s"
    txt += ["", total]
    md += [total, ""]
    print("\n".join(txt))
    with open(os.path.join(args.out, "results.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"date": date, "machine": machine, "total_seconds": round(args.elapsed, 1),
                   "exercises": status, "results": results}, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("aggregate")
    a.add_argument("--exercise", required=True)
    a.add_argument("--case", required=True)
    a.add_argument("--impl", required=True)
    a.add_argument("--primary", required=True)
    a.add_argument("--higher-is-better", action="store_true")
    a.add_argument("--metrics")
    a.add_argument("--set", action="append")
    a.add_argument("--derive", action="append")
    r = sub.add_parser("report")
    r.add_argument("--out", required=True)
    r.add_argument("--status", required=True)
    r.add_argument("--elapsed", type=float, default=0.0)
    args = p.parse_args()
    if args.cmd == "aggregate":
        cmd_aggregate(args)
        return 0
    return cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())

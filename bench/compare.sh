#!/usr/bin/env bash
# shootdown side by side with SPIN and Stateright on the mail race (issue 9
# item 7).  BENCHMARKS.md ("Against SPIN and Stateright") records a run.
#
#   bench/compare.sh            # every cell, best of 3 runs each
#   REPEAT=1 bench/compare.sh   # one run each
#
# Installs SPIN from Debian's packages if it is missing (and gcc and GNU
# time), builds shootdown and bench/stateright with the `checked` profile
# (into $CARGO_TARGET_DIR if set), then checks each cell with
#   - shootdown: `check mail-race --json`, the tree store (the default) and
#     --fingerprint;
#   - SPIN: bench/spin/mail_race.pml, pan built five ways: depth-first with
#     SPIN's partial-order reduction (the default), without it
#     (-DNOREDUCE), with -DCOLLAPSE (POR on), with -DHC4 (hash compaction:
#     lossy, like shootdown's --fingerprint and Stateright's visited set),
#     and breadth-first (-DBFS, shortest counterexamples); all -DSAFETY,
#     run with -m100000 (the search depth allowed: a run that reaches it
#     fails here) and -w sized to shootdown's state count;
#   - Stateright (BFS checker, one thread): bench/stateright, on
#     shootdown's own model (`--model shootdown`: the same transition
#     function, so this compares the checkers) and on the configuration
#     written for Stateright (`--model own`: a compact port of the Promela);
# and prints a Markdown table of verdict, states, transitions,
# counterexample steps, wall and CPU time (of the whole process, start-up
# included), states per CPU second, peak RSS (/usr/bin/time -v) and bytes
# per state, then the ratios shootdown/SPIN and shootdown/Stateright.  Every run is
# single-threaded.  It exits non-zero if the tools disagree on a verdict,
# or, on a cell explored exhaustively, on the state count (SPIN also
# stores the states of the init process that starts the actors; see
# bench/spin/mail_race.pml); SPIN -DHC4, whose 32-bit hash compaction may
# merge states, may store fewer, and the script says how many fewer.
#
# Cells: kernels 2.4.18 (racy) and 2.4.20 (safe) on profiles 2 (split) and
# 4 (speculative), all properties of the scenario checked; and 2.4.18 with
# only properties 5, 6 and 8 checked, which no execution violates, so that
# every tool explores the racy kernel's whole state space.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
REPEAT=${REPEAT:-3}

need() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get install -y "$@" || { $SUDO apt-get update && $SUDO apt-get install -y "$@"; }
}
need spin || apt_install spin
need gcc || apt_install gcc
[ -x /usr/bin/time ] || apt_install time

echo "building shootdown and bench/stateright (cargo build --profile checked)..." >&2
cargo build --profile checked --quiet
(cd bench/stateright && cargo build --profile checked --quiet)
SD=${CARGO_TARGET_DIR:-$ROOT/target}/checked/shootdown
SR=${CARGO_TARGET_DIR:-$ROOT/bench/stateright/target}/checked/mail-race-stateright

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

export ROOT REPEAT SD SR WORK
exec python3 - <<'PY'
import json, math, os, re, subprocess, sys, time

ROOT, SD, SR, WORK = (os.environ[k] for k in ("ROOT", "SD", "SR", "WORK"))
REPEAT = int(os.environ["REPEAT"])
PML = os.path.join(ROOT, "bench", "spin", "mail_race.pml")

# (kernel, profile, properties or None for the scenario's 1-8)
CELLS = [
    ("2.4.18", 2, None),
    ("2.4.18", 4, None),
    ("2.4.20", 2, None),
    ("2.4.20", 4, None),
    ("2.4.18", 2, [5, 6, 8]),
    ("2.4.18", 4, [5, 6, 8]),
]
HW = {2: "split", 4: "speculative"}
SPIN_INIT_STATES = 2  # the init process's states before the actors run


def spin_bfs_init_states(hw):
    """pan -DBFS also stores the states between init's `run`s: one fewer
    than the actors (two CPUs and the other allocators, plus two MMUs with
    speculation)."""
    actors = 5 if hw == 4 else 3
    return SPIN_INIT_STATES + actors - 1


def timed(cmd, cwd=None):
    """Best of REPEAT runs (least CPU time): (output, exit code, wall
    seconds, CPU seconds, peak RSS bytes).  The wall time is the process's,
    start to exit, as Python measures it (/usr/bin/time -v prints it to
    10 ms only); CPU time (user + system) and RSS are time's.  On a shared
    machine the CPU time is the steadier of the two."""
    best = None
    tf = os.path.join(WORK, "time.txt")
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-v", "-o", tf] + cmd, cwd=cwd,
                           capture_output=True, text=True)
        wall = time.perf_counter() - t0
        t = open(tf).read()
        cpu = sum(float(re.search(r"%s time \(seconds\): ([\d.]+)" % k, t).group(1))
                  for k in ("User", "System"))
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) * 1024
        if best is None or (cpu, wall) < (best[3], best[2]):
            best = (p.stdout + p.stderr, p.returncode, wall, cpu, rss)
    return best


def shootdown(kernel, hw, props, extra):
    cmd = [SD, "check", "mail-race", "--variant", kernel, "--hw", str(hw), "--json"] + extra
    for p in props or []:
        cmd += ["--property", str(p)]
    out, rc, wall, cpu, rss = timed(cmd)
    j = json.loads(out[out.index("{"):out.rindex("}") + 1])
    st = j["stats"]
    cex = j.get("counterexample")
    if j["verdict"] == "safe":
        verdict, steps = "safe", None
    else:
        steps = len(cex["actions"])
        verdict = "violation P%d" % cex["property"]
    return dict(verdict=verdict, states=st["states"], transitions=st["transitions"],
                steps=steps, wall=wall, cpu=cpu, rss=rss, table_bps=st["bytes_per_state"])


def spin_defs(kernel, hw, props):
    d = ["-DHW=%d" % hw]
    if kernel == "2.4.20":
        d.append("-DV2420")
    if props:
        for p in (1, 2, 3, 4, 5, 6, 8):
            if p not in props:
                d.append("-DNO_P%d" % p)
    return d


def spin_build(kernel, hw, props):
    """Generates and compiles pan five ways; returns (dir, seconds of
    spin -a plus one gcc -O2 build).  The BFS build has a pan.c of its own,
    generated with -DSPIN_BFS (see bench/spin/mail_race.pml)."""
    d = os.path.join(WORK, "spin-%s-%d-%s" % (kernel, hw, "-".join(map(str, props or []))))
    b = os.path.join(d, "bfs")
    os.makedirs(b, exist_ok=True)
    for where, extra in ((d, []), (b, ["-DSPIN_BFS"])):
        subprocess.run(["cp", PML, where], check=True)
        t0 = time.time()
        subprocess.run(["spin", "-a"] + extra + spin_defs(kernel, hw, props) + ["mail_race.pml"],
                       cwd=where, check=True, capture_output=True)
        gen = time.time() - t0
    builds = {}
    for where, name, flags in ((d, "pan-por", []), (d, "pan-noreduce", ["-DNOREDUCE"]),
                               (d, "pan-collapse", ["-DCOLLAPSE"]), (d, "pan-hc4", ["-DHC4"]),
                               (b, "pan-bfs", ["-DBFS"])):
        t0 = time.time()
        subprocess.run(["gcc", "-O2", "-DSAFETY"] + flags + ["-o", name, "pan.c"],
                       cwd=where, check=True)
        builds[name] = time.time() - t0
    return d, gen + builds["pan-por"]


def spin(d, binary, kernel, hw, props, wbits):
    extra = []
    if binary == "pan-bfs":
        d, extra = os.path.join(d, "bfs"), ["-DSPIN_BFS"]
    for f in os.listdir(d):
        if f.endswith(".trail"):
            os.remove(os.path.join(d, f))
    out, rc, wall, cpu, rss = timed(["./" + binary, "-m100000", "-w%d" % wbits], cwd=d)
    if "max search depth too small" in out:
        sys.exit("SPIN: -m100000 is too small for this cell")
    num = lambda pat: float(re.search(pat, out).group(1))
    states = int(num(r"(\d+) states, stored"))
    transitions = int(num(r"(\d+) transitions \(= stored\+matched\)"))
    mem = num(r"([\d.]+)\s+actual memory usage for states")
    table = num(r"([\d.]+)\s+memory used for hash table")
    errors = int(num(r"errors: (\d+)"))
    steps = None
    if errors == 0:
        verdict = "safe"
    else:
        # Replay the trail: the failed assertion's line names its property.
        rp = subprocess.run(["spin", "-t", "-p"] + extra + spin_defs(kernel, hw, props) + ["mail_race.pml"],
                            cwd=d, capture_output=True, text=True).stdout
        line = int(re.search(r"mail_race\.pml:(\d+), Error: assertion violated", rp).group(1))
        text = open(PML).read().splitlines()[line - 1]
        m = re.search(r"property (\d)", text)
        verdict = "violation P%s" % (m.group(1) if m else "?")
        seen = []
        for l in rp.splitlines():
            m = re.match(r"\s*(\d+):\s+proc\s+\d+ \((\w+):", l)
            if m and m.group(2) != "init" and (not seen or seen[-1] != m.group(1)):
                seen.append(m.group(1))
        steps = len(seen)
    return dict(verdict=verdict, states=states, transitions=transitions, steps=steps,
                wall=wall, cpu=cpu, rss=rss, table_bps=(mem + table) * 1048576 / states)


def stateright(kernel, hw, props, model):
    cmd = [SR, "--model", model, "--variant", kernel, "--hw", str(hw)]
    for p in props or []:
        cmd += ["--property", str(p)]
    out, rc, wall, cpu, rss = timed(cmd)
    kv = dict(x.split("=", 1) for x in out.split() if "=" in x)
    v = kv["verdict"]
    steps = None
    if v.startswith("violation"):
        m = re.match(r"violation:property(\d):steps=(\d+)", v)
        v, steps = ("violation P%s" % m.group(1), int(m.group(2))) if m else ("violation", None)
    return dict(verdict=v, states=int(kv["states"]), transitions=int(kv["generated"]) - 1,
                steps=steps, wall=wall, cpu=cpu, rss=rss, table_bps=None)


def rate(r):
    """States per CPU second (None when the run took less than the 10 ms
    GNU time can see)."""
    return r["states"] / r["cpu"] if r["cpu"] >= 0.01 else None


def rate_text(r):
    x = rate(r)
    return "-" if x is None else fmt_int(round(x))


def fmt_int(n):
    return "{:,}".format(n)


def machine():
    cpu = ""
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
    mem = int(open("/proc/meminfo").readline().split()[1]) / 1048576
    first = lambda cmd: subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
    return "%d CPUs (%s), %.0f GiB RAM, %s; %s; %s; %s" % (
        os.cpu_count(), cpu, mem, first(["uname", "-sr"]), first(["rustc", "-V"]),
        first(["spin", "-V"]), first(["gcc", "--version"]))


print("machine: " + machine())
print("runs: best of %d (least CPU time), one thread each; wall time measured around the process,"
      " CPU time (user + system) and peak RSS from /usr/bin/time -v; states/s per CPU second\n" % REPEAT)
header = ("| cell | tool | verdict | states | transitions | cex steps | wall | CPU | states/s "
          "| peak RSS | B/state (tables) | B/state (RSS) |")
print(header)
print("|" + "|".join(["---"] * (header.count("|") - 1)) + "|")

problems = []
notes = []
ratios = []
for kernel, hw, props in CELLS:
    cell = "%s %s%s" % (kernel, HW[hw], "" if props is None else " (P%s)" % ",".join(map(str, props)))
    rows = []
    sd = shootdown(kernel, hw, props, [])
    rows.append(("shootdown (tree)", sd))
    rows.append(("shootdown --fingerprint", shootdown(kernel, hw, props, ["--fingerprint"])))
    d, build = spin_build(kernel, hw, props)
    wbits = max(12, sd["states"].bit_length() + 1)
    sp = spin(d, "pan-por", kernel, hw, props, wbits)
    rows.append(("SPIN (POR)", sp))
    rows.append(("SPIN -DNOREDUCE", spin(d, "pan-noreduce", kernel, hw, props, wbits)))
    rows.append(("SPIN -DCOLLAPSE", spin(d, "pan-collapse", kernel, hw, props, wbits)))
    rows.append(("SPIN -DHC4", spin(d, "pan-hc4", kernel, hw, props, wbits)))
    rows.append(("SPIN -DBFS", spin(d, "pan-bfs", kernel, hw, props, wbits)))
    sr = stateright(kernel, hw, props, "shootdown")
    rows.append(("Stateright, shootdown's model", sr))
    so = stateright(kernel, hw, props, "own")
    rows.append(("Stateright, own model", so))
    for tool, r in rows:
        print("| %s | %s | %s | %s | %s | %s | %.3f s | %.2f s | %s | %.1f MiB | %s | %.0f |" % (
            cell, tool, r["verdict"], fmt_int(r["states"]), fmt_int(r["transitions"]),
            "-" if r["steps"] is None else r["steps"], r["wall"], r["cpu"], rate_text(r),
            r["rss"] / 1048576, "-" if r["table_bps"] is None else "%.1f" % r["table_bps"],
            r["rss"] / r["states"]))
    # Agreement.
    kinds = {tool: r["verdict"].split()[0] for tool, r in rows}
    if len(set(kinds.values())) != 1:
        problems.append("%s: verdicts differ: %s" % (cell, kinds))
    if sd["verdict"] == "safe":
        for tool, r in rows:
            want = sd["states"]
            if tool == "SPIN -DBFS":
                want += spin_bfs_init_states(hw)
            elif tool.startswith("SPIN"):
                want += SPIN_INIT_STATES
            if tool == "SPIN -DHC4" and r["states"] <= want:
                # 32-bit hash compaction: two states with one hash are taken
                # for one (about n^2 / 2^33 of them), so it may store fewer.
                if r["states"] < want:
                    notes.append("%s: SPIN -DHC4 lost %d of %d states to hash collisions (lossy)"
                                 % (cell, want - r["states"], want))
            elif r["states"] != want:
                problems.append("%s: %s stores %d states, shootdown %d" % (cell, tool, r["states"], sd["states"]))
    ratios.append((cell, sd, [("SPIN (POR)", sp), ("SPIN -DBFS", dict(rows)["SPIN -DBFS"]),
                              ("Stateright, shootdown's model", sr),
                              ("Stateright, own model", so)], build))

print("\nRatios, shootdown (tree store) / other (above 1: shootdown has more of it;"
      " states/s per CPU second, '-' where a run took under 10 ms of CPU):\n")
print("| cell | vs | states | wall | CPU | states/s | peak RSS |")
print("|---|---|---|---|---|---|---|")
for cell, sd, others, build in ratios:
    for name, o in others:
        rr = "-" if rate(sd) is None or rate(o) is None else "%.2f" % (rate(sd) / rate(o))
        cr = "-" if sd["cpu"] < 0.01 or o["cpu"] < 0.01 else "%.2f" % (sd["cpu"] / o["cpu"])
        print("| %s | %s | %.2f | %.2f | %s | %s | %.2f |" % (
            cell, name, sd["states"] / o["states"], sd["wall"] / o["wall"], cr, rr,
            sd["rss"] / o["rss"]))
print("\nSPIN's time above is pan's run alone; generating and compiling pan (spin -a and one gcc -O2 build) takes:")
for cell, sd, others, build in ratios:
    print("  %s: %.1f s" % (cell, build))

for n in notes:
    print("\nnote: " + n)
if problems:
    print("\nDISAGREEMENT:\n  " + "\n  ".join(problems))
    sys.exit(1)
print("\nagreement: every tool gives every cell the same verdict, and every exhaustive cell the same states")
PY

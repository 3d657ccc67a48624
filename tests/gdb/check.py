# check.py - checks scripts/costack-gdb.py's commands against what
# tests/gdb/coroutines.c set up (its header lists it), in a gdb stopped at
# gdbt_checkpoint, live or in a core dump.  Sourced by
# scripts/gdb-coroutines.sh after costack-gdb.py:
#
#     gdb -batch -x scripts/costack-gdb.py -x tests/gdb/check.py ...
#
# Every check compares names and numbers in the commands' output with the
# program's own (its globals: the coroutines' addresses, the main and worker
# threads' LWPs, costack_stack_high_water() of A).  Prints one line per
# failure and, last, "gdb-coroutines check: ok (N checks)" or
# "gdb-coroutines check: FAILED (F of N checks)"; a failure also ends with a
# gdb error, so that gdb -batch exits non-zero.

import re

import gdb

checks = 0
failures = []


def check(ok, what):
    global checks
    checks += 1
    if not ok:
        failures.append(what)
        print("FAIL: " + what)


def run(command):
    """The command's output, or the text of the error it raised."""
    try:
        return gdb.execute(command, to_string=True)
    except gdb.error as e:
        return "ERROR: %s" % e


def value(expr):
    return int(gdb.parse_and_eval(expr))


PAGE = 4096
ROW = re.compile(
    r"^(0x[0-9a-f]+)\s+(\w+)\s+(0x[0-9a-f]+)-(0x[0-9a-f]+)\s+(\d+)\s+(\d+|-)"
    r"\s+(\S+)\s*(.*)$")


def parse_list(text):
    rows = []
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            rows.append({
                "addr": int(m.group(1), 16), "state": m.group(2),
                "lo": int(m.group(3), 16), "hi": int(m.group(4), 16),
                "size": int(m.group(5)), "used": m.group(6),
                "entry": m.group(7), "thread": m.group(8)})
    return rows


main_lwp = value("gdbt_main_tid")
worker_lwp = value("gdbt_worker_tid")
backend = gdb.parse_and_eval("(const char *)&costack__backend_name").string()
print("gdb-coroutines check: backend %s, main LWP %d, worker LWP %d"
      % (backend, main_lwp, worker_lwp))

# ---- costack list ----------------------------------------------------------

# entry -> (program's variable, state, LWP it runs on if active, "running"
# or the variable of the coroutine it entered)
EXPECTED = {
    "gdbt_entry_a": ("gdbt_a", "suspended", None, None),
    "gdbt_entry_b": ("gdbt_b", "suspended", None, None),
    "gdbt_entry_c": ("gdbt_c", "suspended", None, None),
    "gdbt_entry_new": ("gdbt_n", "new", None, None),
    "gdbt_entry_d": ("gdbt_d", "active", main_lwp, "gdbt_e"),
    "gdbt_entry_e": ("gdbt_e", "active", main_lwp, "running"),
    "gdbt_entry_f": ("gdbt_f", "suspended", None, None),
    "gdbt_entry_g": ("gdbt_g", "suspended", None, None),
    "gdbt_entry_h": ("gdbt_h", "suspended", None, None),
    "gdbt_entry_w": ("gdbt_w", "active", worker_lwp, "running"),
    "gdbt_entry_m": ("gdbt_m", "suspended", None, None),
    "gdbt_entry_o": ("gdbt_o", "suspended", None, None),
}

listing = run("costack list")
print(listing)
rows = parse_list(listing)
by_entry = {}
for r in rows:
    by_entry.setdefault(r["entry"], []).append(r)
check(len(rows) == len(EXPECTED),
      "costack list: %d rows, expected %d" % (len(rows), len(EXPECTED)))
for entry, (var, state, lwp, detail) in sorted(EXPECTED.items()):
    found = by_entry.get(entry, [])
    check(len(found) == 1, "costack list: %d rows with entry %s, expected 1"
          % (len(found), entry))
    if len(found) != 1:
        continue
    r = found[0]
    check(r["addr"] == value(var), "%s: address %#x, but %s is %#x"
          % (entry, r["addr"], var, value(var)))
    check(r["state"] == state, "%s: state %s, expected %s"
          % (entry, r["state"], state))
    check(r["hi"] - r["lo"] == r["size"] and r["lo"] % PAGE == 0,
          "%s: stack %#x-%#x does not match size %d"
          % (entry, r["lo"], r["hi"], r["size"]))
    if lwp is None:
        check(r["thread"] == "", "%s: not active, but thread column says %r"
              % (entry, r["thread"]))
    else:
        check(("LWP %d)" % lwp) in r["thread"],
              "%s: thread column %r, expected LWP %d"
              % (entry, r["thread"], lwp))
        if detail == "running":
            check(r["thread"].endswith(", running"),
                  "%s: thread column %r, expected running"
                  % (entry, r["thread"]))
        else:
            check(r["thread"].endswith(", entered %#x" % value(detail)),
                  "%s: thread column %r, expected entered %s"
                  % (entry, r["thread"], detail))
for gone in ("gdbt_entry_x", "gdbt_entry_y", "gdbt_entry_done"):
    check(gone not in listing, "costack list shows %s, which ended" % gone)

# A's stack: 64 KiB, of which gdbt_park_a wrote 16 KiB and more.
a = by_entry.get("gdbt_entry_a", [None])[0]
if a is not None:
    hw_c = value("gdbt_hw_a")
    check(a["size"] == 64 << 10, "A: size %d, expected 65536" % a["size"])
    used = int(a["used"]) if a["used"] != "-" else -1
    check(16 << 10 < used <= hw_c and used > hw_c - PAGE,
          "A: high-water %d, expected 16 KiB < it <= %d (the C API's "
          "resident-page count) and within a page of it" % (used, hw_c))

listing_all = run("costack list -a")
pooled = [r for r in parse_list(listing_all) if r["state"] == "pooled"]
check(any(r["size"] == 128 << 10 for r in pooled),
      "costack list -a: no pooled coroutine with a 128 KiB stack: %r"
      % pooled)
check(len(parse_list(listing_all)) == len(rows) + len(pooled),
      "costack list -a: not the live rows plus the pooled ones")
check(all(r["state"] != "pooled" for r in rows),
      "costack list shows pooled coroutines without -a")

# ---- costack bt --------------------------------------------------------------

# variable -> the functions its backtrace must show, innermost first
BT = {
    "gdbt_a": ["gdbt_park_a", "gdbt_entry_a"],
    "gdbt_b": ["gdbt_park_b", "gdbt_entry_b"],
    "gdbt_c": ["gdbt_park_c", "gdbt_entry_c"],
    "gdbt_d": ["gdbt_nest_d", "gdbt_entry_d"],
    "gdbt_f": ["gdbt_park_f", "gdbt_entry_f"],
    "gdbt_g": ["gdbt_park_g", "gdbt_entry_g"],
    "gdbt_h": ["gdbt_park_h", "gdbt_entry_h"],
    "gdbt_m": ["gdbt_park_m", "gdbt_entry_m"],
    "gdbt_o": ["gdbt_park_o", "gdbt_entry_o"],
}
FRAME = re.compile(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+) \(")
for var, functions in sorted(BT.items()):
    out = run("costack bt %s" % var)
    frames = []
    for line in out.splitlines():
        m = FRAME.match(line)
        if m:
            frames.append((int(m.group(1)), m.group(2)))
    names = [f for _, f in frames]
    want = functions + ["costack__coroutine_main"]
    check([n for n, _ in frames] == list(range(len(frames))) and frames,
          "costack bt %s: frames not numbered from 0:\n%s" % (var, out))
    at = [names.index(f) if f in names else -1 for f in want]
    check(-1 not in at and at == sorted(at) and at[0] <= 2,
          "costack bt %s: expected %s in this order, the first among the "
          "innermost three frames:\n%s" % (var, " > ".join(want), out))
    if "costack__coroutine_main" in names:
        inner = names[:names.index("costack__coroutine_main")]
        check("??" not in inner and "gdbt_checkpoint" not in names,
              "costack bt %s: a frame that is not the coroutine's:\n%s"
              % (var, out))
    if backend == "asm":
        # (gdb shows clang's name for the .S file's symbol as
        # costack.asm_trampoline.)
        check(names and names[-1].endswith("asm_trampoline")
              and "Backtrace stopped" not in out,
              "costack bt %s: does not end cleanly at the trampoline:\n%s"
              % (var, out))
    if var == "gdbt_a":
        print(out)

check("is running" in run("costack bt gdbt_e"),
      "costack bt of the running coroutine E does not say it is running")
check("has not run yet" in run("costack bt gdbt_n"),
      "costack bt of the new coroutine N does not say it has not run")
check("not a coroutine" in run("costack bt &gdbt_main_tid"),
      "costack bt of an address that is no coroutine does not refuse it")

# The main thread's own backtrace is untouched afterwards.
for th in gdb.selected_inferior().threads():
    if th.ptid[1] == main_lwp:
        th.switch()
own = run("bt")
check("gdbt_checkpoint" in own.splitlines()[0] if own else False,
      "bt after costack bt no longer starts at gdbt_checkpoint:\n%s" % own)

if failures:
    print("gdb-coroutines check: FAILED (%d of %d checks)"
          % (len(failures), checks))
    raise gdb.GdbError("gdb-coroutines check failed")
print("gdb-coroutines check: ok (%d checks)" % checks)

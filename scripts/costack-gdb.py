# costack-gdb.py - gdb commands that understand costack's coroutines.
#
# Load it into gdb (13 or later, with Python) with
#
#     (gdb) source scripts/costack-gdb.py
#
# in a live process or a core dump of a program that links the costack C
# core (C, or Rust through the costack crate) built with debug information
# (-g: the commands read costack's own structures by their types).  Then:
#
#   costack list [-a] [-n]
#       Every live coroutine: its address, state (new, active, suspended;
#       "terminated" for one caught between its end and its release), the
#       usable part of its stack [lo, hi), the stack's size, its high-water
#       mark (bytes from the top of the stack down to the deepest byte
#       written), its entry function, and for an active coroutine the thread
#       it runs on (gdb's thread number and LWP) and whether it is running
#       or waiting for a coroutine it entered.
#       -a  also list pooled coroutines (finished, their stacks kept for
#           reuse; they have no entry function).
#       -n  skip the high-water marks (they read every stack: slow for
#           very many coroutines).
#
#   costack bt ADDR [BT-ARGS...]
#       The backtrace of the coroutine at ADDR (an address, or any
#       expression: `costack bt co`), from where it suspended down to the
#       bottom of its stack (costack__coroutine_main, then the backend's
#       first frame).  ADDR may also be an active coroutine that is waiting
#       for one it entered; the running one is the thread's own backtrace
#       (`thread N`, `bt`).  BT-ARGS go to gdb's bt (`full`, `-frame-
#       arguments all`, a frame count, ...).
#
# Good to know:
#   - The sigaltstack backend starts every new stack with a SIGUSR2, on
#     which gdb stops by default: `handle SIGUSR2 nostop noprint pass`.
#   - gdb's gcore stops saving a mapping at the first page it cannot read,
#     and the guard pages inside costack's stack slabs (Linux 6.13 and
#     later) cannot be read: a gcore core dump of such a process lacks the
#     coroutines' stacks (`costack bt` says so).  Run the program with
#     COSTACK_NO_MADV_GUARD=1 (a mapping per stack) when you mean to gcore
#     it; a core dump written by the kernel has the stacks either way.
#   - A Rust program built in release mode has no debug information for
#     the C core unless it asks for it (profile.release.debug).
#
# How it finds the coroutines.  The C core keeps a registry for debuggers
# (csrc/coroutine.c): each thread that created coroutines has a circular
# list of them in its thread state (CostackThread.coroutines), the
# registered threads are chained from the core's process-wide state (the
# static `g` in coroutine.c, g.threads), and the lists of threads that have
# exited are moved to g.orphans.  A coroutine is on the list of the thread
# that mapped its stack, and stays there while the stack is pooled and
# reused (marked pooled meanwhile), whichever thread runs it: list
# membership says nothing about threads.  An active coroutine's thread is
# found from its caller chain, which ends at a thread's leader, inside that
# thread's state, and that state is matched to a gdb thread by the address
# of the thread-local costack__tls in each thread (or, where gdb cannot
# read thread-locals, by which thread's stack pointer lies in the running
# coroutine's stack).
#
# High-water mark: measured by reading the stack's memory from its lowest
# address up, looking for the first non-zero 8-byte word: a new stack is
# all zeros, so everything from that word up has been written.  This works
# on a core dump as well as on a live process (the alternative, asking the
# kernel which pages are resident as costack_stack_high_water() does, needs
# the live process).  It differs from costack_stack_high_water() in two
# ways: a page that was touched but only ever holds zeros does not count,
# and the result is to the 8 bytes instead of the page.  A stack reused
# from the pool shows the deepest use by any coroutine that ran on it.
#
# How `costack bt` unwinds a suspended coroutine.  A suspended coroutine's
# registers are saved on its stack (asm backend: co->ctx is the saved
# stack pointer, and the frame it points at is laid out at the top of
# csrc/switch_asm_<arch>.S) or in a glibc jmp_buf (ucontext and
# sigaltstack: co->ctx->env, where glibc mangles the stack pointer, the
# return address and, on x86-64, the frame pointer with its pointer guard,
# which this script undoes with the guard read from the thread control
# block (x86-64: fs:0x30) or __pointer_chk_guard (aarch64)).  QEMU's
# scripts/qemugdb/coroutine.py unwinds by writing those values into the
# registers of the selected frame, running bt and writing the old values
# back; that cannot work on a core dump, whose registers gdb will not
# write.  Here a Python frame unwinder (gdb.unwinder) does it instead: for
# the length of one bt it claims the innermost frame of the selected
# thread and reports the coroutine's saved registers as that frame's
# caller's, so gdb's own unwinder (DWARF call-frame information) walks the
# coroutine's stack from there.  (The claimed frame's id says it lies just
# below the coroutine's stack pointer, so that gdb's check that each caller
# is outer to its callee holds wherever the two stacks are.)  Nothing in
# the inferior is written, so it works the same live and on a core dump.
# The claimed frame (#0, the thread's real innermost frame) is left out of
# the output and the frames are renumbered from 0.
#
# scripts/gdb-coroutines.sh checks all of this in CI for the asm, ucontext
# and sigaltstack backends, natively live and on a core dump made with
# gcore, and for aarch64 live under qemu-user.

import re

import gdb
import gdb.unwinder

# ---- reading costack's structures ----------------------------------------

# enum CostackState (csrc/internal.h), should the enum's debug information
# be missing.
_STATE_NAMES = {
    0: "new",
    1: "active",
    2: "suspended",
    3: "terminated",
    4: "pooled",
    5: "leader",
}

# Walks stop after this many links, and at a link seen before: a list
# caught half-linked (a thread stopped inside a change) must not loop.
_WALK_LIMIT = 10000000


class CostackError(gdb.GdbError):
    pass


# Types and enum values, looked up once per command (another program may be
# loaded between two commands).
_cache = {}


def _type(name):
    if name not in _cache:
        try:
            _cache[name] = gdb.lookup_type(name)
        except gdb.error:
            raise CostackError(
                "costack: no debug information for %s: is costack linked "
                "into this program, built with -g?" % name)
    return _cache[name]


def _field_offset(struct_type, field):
    for f in struct_type.strip_typedefs().fields():
        if f.name == field:
            return f.bitpos // 8
    raise CostackError(
        "costack: %s has no field %s: does this script match the "
        "program's costack?" % (struct_type, field))


def _static_in_coroutine_c(name):
    """The symbol of the file-scope static NAME of csrc/coroutine.c."""
    for sym in gdb.lookup_static_symbols(name):
        if sym.symtab and sym.symtab.filename.endswith("coroutine.c"):
            return sym
    raise CostackError(
        "costack: no symbol %s of costack's coroutine.c: is costack linked "
        "into this program, built with -g?" % name)


def _state_name(value):
    if "states" not in _cache:
        try:
            _cache["states"] = {
                f.enumval: f.name[len("COSTACK_"):].lower()
                for f in _type("enum CostackState").fields()}
        except CostackError:
            _cache["states"] = _STATE_NAMES
    return _cache["states"].get(value, "state %d" % value)


def _addr(value):
    return int(value.cast(_type("unsigned long")))


class Registry:
    """A snapshot of every coroutine costack holds, and of its threads."""

    def __init__(self):
        _cache.clear()
        self.co_type = _type("struct CostackCoroutine")
        self.co_ptr = self.co_type.pointer()
        self.thread_type = _type("CostackThread")
        self.link_offset = _field_offset(self.co_type, "registry")
        self.leader_offset = _field_offset(self.thread_type, "leader")
        g = _static_in_coroutine_c("g").value()
        self.threads = []  # the registered threads' CostackThread values
        seen = set()
        t = g["threads"]
        while _addr(t) and _addr(t) not in seen:
            seen.add(_addr(t))
            self.threads.append(t.dereference())
            t = t["next_thread"]
        self.coroutines = []  # CostackCoroutine values
        for t in self.threads:
            self._walk(t["coroutines"])
        self._walk(g["orphans"])

    def _walk(self, sentinel):
        head = _addr(sentinel.address)
        seen = set()
        link = sentinel["next"]
        while (_addr(link) and _addr(link) != head
               and _addr(link) not in seen and len(seen) < _WALK_LIMIT):
            seen.add(_addr(link))
            co = gdb.Value(_addr(link) - self.link_offset).cast(self.co_ptr)
            self.coroutines.append(co.dereference())
            link = link["next"]

    def thread_of(self, co):
        """The CostackThread (value) whose caller chain holds the active
        coroutine co, or None."""
        seen = set()
        while _addr(co.address) and _addr(co.address) not in seen:
            seen.add(_addr(co.address))
            if _state_name(int(co["state"])) == "leader":
                t = gdb.Value(_addr(co.address) - self.leader_offset)
                return t.cast(self.thread_type.pointer()).dereference()
            co = co["caller"].dereference()
        return None

    def entered_by(self, co):
        """The coroutine that the active coroutine co entered (whose caller
        it is), or None."""
        for other in self.coroutines:
            if _addr(other["caller"]) == _addr(co.address):
                return other
        return None


def _stack_range(co):
    lo = _addr(co["stack"]["lo"])
    return lo, lo + int(co["stack"]["size"])


def _gdb_threads(registry):
    """Map CostackThread address -> gdb.InferiorThread."""
    found = {}
    inferior = gdb.selected_inferior()
    selected = gdb.selected_thread()
    try:
        level = gdb.selected_frame().level()
    except gdb.error:
        level = None
    try:
        tls = _static_in_coroutine_c("costack__tls")
    except CostackError:
        tls = None
    try:
        for th in inferior.threads():
            if not th.is_valid():
                continue
            th.switch()
            try:
                if tls is not None:
                    where = tls.value(gdb.newest_frame()).address
                    if where is not None:
                        found[_addr(where)] = th
                        continue
            except gdb.error:
                pass
            # No thread-locals here (gdb without libthread_db): the thread
            # whose stack pointer lies in some thread's running coroutine's
            # stack runs it.
            try:
                sp = _addr(gdb.parse_and_eval("$sp"))
            except gdb.error:
                continue
            for t in registry.threads:
                cur = t["current"]
                if not _addr(cur):
                    continue
                lo, hi = _stack_range(cur.dereference())
                if lo <= sp < hi:
                    found[_addr(t.address)] = th
    finally:
        if selected is not None and selected.is_valid():
            selected.switch()
            if level:
                _select_frame(level)
    return found


def _select_frame(level):
    try:
        gdb.execute("select-frame %d" % level, to_string=True)
    except gdb.error:
        pass


def _symbol(pc):
    if not pc:
        return "-"
    try:
        # The outermost function block: code inlined at the function's
        # first instruction has a block (and a function) of its own inside.
        block = gdb.block_for_pc(pc)
        function = None
        while block is not None and not block.is_static:
            if block.function is not None:
                function = block.function
            block = block.superblock
        if function is not None:
            return function.print_name
    except RuntimeError:
        pass
    try:
        out = gdb.execute("info symbol %#x" % pc, to_string=True).strip()
        if not out.startswith("No symbol"):
            return out.split(" in section ")[0]
    except gdb.error:
        pass
    return "%#x" % pc


def _high_water(lo, hi):
    """Bytes from hi down to the lowest non-zero 8-byte word of [lo, hi)."""
    inferior = gdb.selected_inferior()
    chunk = 64 << 10
    at = lo
    while at < hi:
        n = min(chunk, hi - at)
        try:
            data = bytes(inferior.read_memory(at, n))
        except gdb.MemoryError:
            # Not in the core dump (never touched), or unreadable: page by
            # page, counting what cannot be read as zeros.
            data = bytearray(n)
            page = 4096
            for off in range(0, n, page):
                try:
                    data[off:off + page] = bytes(
                        inferior.read_memory(at + off, min(page, n - off)))
                except gdb.MemoryError:
                    pass
            data = bytes(data)
        rest = data.lstrip(b"\0")
        if rest:
            first = (at + n - len(rest)) & ~7
            return hi - first
        at += n
    return 0


def _command(invoke):
    """Report a failed memory read or expression as a gdb error."""
    def wrapped(self, arg, from_tty):
        try:
            return invoke(self, arg, from_tty)
        except gdb.GdbError:
            raise
        except (gdb.MemoryError, gdb.error) as e:
            raise gdb.GdbError("costack: %s" % e)
    wrapped.__doc__ = invoke.__doc__
    return wrapped


# ---- costack list --------------------------------------------------------


class CostackPrefix(gdb.Command):
    """Commands for costack's coroutines: costack list, costack bt.
See scripts/costack-gdb.py for what they show and how."""

    def __init__(self):
        super().__init__("costack", gdb.COMMAND_STACK, prefix=True)


class CostackList(gdb.Command):
    """List costack's live coroutines: costack list [-a] [-n]
Address, state (new, active, suspended), the usable stack [lo, hi), its
size, its high-water mark in bytes (found by reading the stack: the lowest
non-zero word), the entry function, and for an active coroutine the
thread it runs on.
  -a  also list pooled coroutines (finished, stacks kept for reuse)
  -n  do not compute high-water marks (faster with very many coroutines)"""

    def __init__(self):
        super().__init__("costack list", gdb.COMMAND_STACK)

    @_command
    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        show_pooled = "-a" in args
        high_water = "-n" not in args
        for a in args:
            if a not in ("-a", "-n"):
                raise gdb.GdbError("costack list: unknown option %s" % a)
        reg = Registry()
        threads = _gdb_threads(reg)
        counts = {}
        rows = []
        for co in reg.coroutines:
            state = _state_name(int(co["state"]))
            counts[state] = counts.get(state, 0) + 1
            if state == "pooled" and not show_pooled:
                continue
            lo, hi = _stack_range(co)
            where = ""
            if state == "active":
                t = reg.thread_of(co)
                th = threads.get(_addr(t.address)) if t is not None else None
                if th is not None:
                    where = "thread %d (LWP %d)" % (th.num, th.ptid[1])
                else:
                    where = "thread ?"
                if t is not None and _addr(t["current"]) == _addr(co.address):
                    where += ", running"
                else:
                    inner = reg.entered_by(co)
                    if inner is not None:
                        where += ", entered %#x" % _addr(inner.address)
            hw = "-"
            if high_water and state != "pooled":
                used = _high_water(lo, hi)
                # Every stack costack started has a frame at its top: all
                # zeros means its memory is not there to read (_absent).
                hw = str(used) if used else "?"
            entry = _symbol(_addr(co["entry"])) if state != "pooled" else "-"
            rows.append((
                "%#x" % _addr(co.address), state,
                "%#x-%#x" % (lo, hi), str(hi - lo), hw, entry, where))
        header = ("coroutine", "state", "stack", "size", "used", "entry",
                  "thread")
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(6)]
        for r in [header] + rows:
            line = "  ".join(
                r[i].rjust(widths[i]) if i in (3, 4) else r[i].ljust(widths[i])
                for i in range(6))
            print((line + "  " + r[6]).rstrip())
        summary = ", ".join(
            "%d %s" % (counts[s], s) for s in
            ("new", "active", "suspended", "terminated", "pooled")
            if counts.get(s))
        print("%d coroutines%s" % (
            sum(c for s, c in counts.items() if s != "pooled" or show_pooled),
            " (%s)" % summary if summary else ""))


# ---- costack bt ------------------------------------------------------------


def _arch():
    name = gdb.selected_inferior().architecture().name()
    if "x86-64" in name or "x86_64" in name:
        return "x86_64"
    if "aarch64" in name:
        return "aarch64"
    raise CostackError("costack bt: architecture %s is not supported "
                       "(x86-64 and aarch64 are)" % name)


def _backend():
    """The backend's name, as costack_backend_name() returns it."""
    try:
        return gdb.parse_and_eval(
            "(const char *)&costack__backend_name").string()
    except gdb.error:
        raise CostackError("costack bt: cannot read costack__backend_name")


def _u64(addr):
    data = bytes(gdb.selected_inferior().read_memory(addr, 8))
    return int.from_bytes(data, "little")


def _pointer_guard(arch):
    """glibc's pointer guard, which mangles jmp_buf's sp, pc (and rbp)."""
    if arch == "x86_64":
        # tcbhead_t.pointer_guard, at fs:0x30; the same in every thread.
        try:
            fs_base = _addr(gdb.parse_and_eval("$fs_base"))
        except gdb.error:
            fs_base = 0
        if not fs_base:
            raise CostackError("costack bt: cannot read $fs_base, where "
                               "glibc's pointer guard is")
        return _u64(fs_base + 0x30)
    for name in ("__pointer_chk_guard", "__pointer_chk_guard_local"):
        try:
            return _addr(gdb.parse_and_eval("*(unsigned long *)&%s" % name))
        except gdb.error:
            pass
    raise CostackError("costack bt: cannot find glibc's pointer guard "
                       "(__pointer_chk_guard)")


def _demangle(arch, value, guard):
    if arch == "x86_64":
        # PTR_MANGLE: xor with the guard, then rotate left by 0x11.
        value = ((value >> 0x11) | (value << (64 - 0x11))) & (2**64 - 1)
    return value ^ guard


def _absent(co):
    """Why co's stack cannot be read, or None.  A stack that has run holds
    frames at its top; one that reads as all zeros there is not in this
    core dump, most likely because gdb's gcore could not save it."""
    lo, hi = _stack_range(co)
    start = max(lo, hi - 4096)
    try:
        data = bytes(gdb.selected_inferior().read_memory(start, hi - start))
    except gdb.MemoryError:
        data = b""
    if data.strip(b"\0"):
        return None
    return ("the memory of its stack %#x-%#x is not in this core dump "
            "(gdb's gcore stops saving a mapping at the first page it "
            "cannot read, and the guards in costack's stack slabs cannot be "
            "read: make the core with COSTACK_NO_MADV_GUARD=1 in the "
            "program's environment, or let the kernel write it)" % (lo, hi))


def _saved_registers(reg, co):
    """The registers co's stack resumes with: {register name: value}."""
    arch = _arch()
    backend = _backend()
    state = _state_name(int(co["state"]))
    holder = co
    if state == "active":
        inner = reg.entered_by(co)
        t = reg.thread_of(co)
        if inner is None or (t is not None and
                             _addr(t["current"]) == _addr(co.address)):
            raise CostackError(
                "costack bt: %#x is running: its backtrace is its thread's "
                "(costack list says which; `thread N`, then `bt`)"
                % _addr(co.address))
        if backend == "asm":
            # The asm switch saves the resumer's stack pointer in the ctx
            # of the coroutine it entered.
            holder = inner
    elif state == "new":
        raise CostackError("costack bt: %#x has not run yet (entry %s): it "
                           "has no frames" % (_addr(co.address),
                                              _symbol(_addr(co["entry"]))))
    elif state != "suspended":
        raise CostackError("costack bt: %#x is %s: no stack to show"
                           % (_addr(co.address), state))
    why = _absent(co)
    if why:
        raise CostackError("costack bt: %#x: %s" % (_addr(co.address), why))

    if backend == "asm":
        s = _addr(holder["ctx"])
        if arch == "x86_64":
            # csrc/switch_asm_x86_64.S: S+8 r15 .. S+40 rbx, S+48 rbp,
            # S+56 the return address; the frame is 64 bytes.
            regs = {"r15": _u64(s + 8), "r14": _u64(s + 16),
                    "r13": _u64(s + 24), "r12": _u64(s + 32),
                    "rbx": _u64(s + 40), "rbp": _u64(s + 48),
                    "rip": _u64(s + 56), "rsp": s + 64}
        else:
            # csrc/switch_asm_aarch64.S: x19..x28 at S+0..S+72, x29 at
            # S+80, x30 at S+88; the frame is 160 bytes.
            regs = {"x%d" % (19 + i): _u64(s + 8 * i) for i in range(10)}
            regs.update({"x29": _u64(s + 80), "x30": _u64(s + 88),
                         "pc": _u64(s + 88), "sp": s + 160})
    elif backend in ("ucontext", "sigaltstack"):
        env = _addr(holder["ctx"].dereference()["env"].address)
        guard = _pointer_guard(arch)
        if arch == "x86_64":
            # glibc's x86-64 jmp_buf: rbx, rbp, r12, r13, r14, r15, rsp,
            # pc; rbp, rsp and pc mangled.
            regs = {"rbx": _u64(env), "r12": _u64(env + 16),
                    "r13": _u64(env + 24), "r14": _u64(env + 32),
                    "r15": _u64(env + 40),
                    "rbp": _demangle(arch, _u64(env + 8), guard),
                    "rsp": _demangle(arch, _u64(env + 48), guard),
                    "rip": _demangle(arch, _u64(env + 56), guard)}
        else:
            # glibc's aarch64 jmp_buf: x19..x28, x29, x30 (lr), -, sp;
            # lr and sp mangled.
            regs = {"x%d" % (19 + i): _u64(env + 8 * i) for i in range(10)}
            lr = _demangle(arch, _u64(env + 88), guard)
            regs.update({"x29": _u64(env + 80), "x30": lr, "pc": lr,
                         "sp": _demangle(arch, _u64(env + 104), guard)})
    else:
        raise CostackError("costack bt: backend %s is not supported "
                           "(asm, ucontext and sigaltstack are)" % backend)

    sp = regs["rsp" if arch == "x86_64" else "sp"]
    lo, hi = _stack_range(co)
    if not lo <= sp <= hi:
        raise CostackError(
            "costack bt: the saved stack pointer %#x is outside the "
            "coroutine's stack %#x-%#x (a wrong pointer guard, or not a "
            "coroutine)" % (sp, lo, hi))
    return arch, regs


class _CoroutineUnwinder(gdb.unwinder.Unwinder):
    """While regs is set: claims the innermost frame and gives it the
    coroutine's saved registers as its caller's."""

    def __init__(self):
        super().__init__("costack-coroutine")
        self.regs = None
        self.sp_name = None
        self.pc_name = None

    def __call__(self, pending_frame):
        if self.regs is None or pending_frame.level() != 0:
            return None

        class FrameId:
            pass

        ulong = _type("unsigned long")
        fid = FrameId()
        # The innermost frame's id: just below the coroutine's saved stack
        # pointer, so that gdb sees the coroutine's frames as its callers
        # (outer, at higher addresses) wherever the two stacks lie.
        fid.sp = gdb.Value(self.regs[self.sp_name] - 16).cast(ulong)
        fid.pc = pending_frame.read_register(self.pc_name).cast(ulong)
        info = pending_frame.create_unwind_info(fid)
        for name, value in self.regs.items():
            rtype = pending_frame.read_register(name).type
            info.add_saved_register(name, gdb.Value(value).cast(ulong)
                                    .cast(rtype))
        return info


_unwinder = _CoroutineUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


def _renumber(text):
    """Drop frame #0 (the thread's own, claimed) and renumber from 0."""
    lines = text.splitlines()
    out = []
    started = False
    for line in lines:
        m = re.match(r"#(\d+)(\s+)", line)
        if m:
            n = int(m.group(1))
            if n == 0:
                continue
            started = True
            num = "#%d" % (n - 1)
            width = len(m.group(0))
            line = num.ljust(max(width, len(num) + 1)) + line[width:]
        elif not started:
            continue
        out.append(line)
    return "\n".join(out)


class CostackBt(gdb.Command):
    """Backtrace of a costack coroutine: costack bt ADDR [BT-ARGS...]
ADDR is a suspended coroutine, or an active one waiting for a coroutine it
entered (an address or an expression).  BT-ARGS are passed to bt (full,
a frame count, ...).  Works live and on a core dump."""

    def __init__(self):
        super().__init__("costack bt", gdb.COMMAND_STACK)

    @_command
    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        if not argv:
            raise gdb.GdbError("usage: costack bt ADDR [BT-ARGS...]")
        reg = Registry()
        ptr = _addr(gdb.parse_and_eval(argv[0]))
        co = None
        for c in reg.coroutines:
            if _addr(c.address) == ptr:
                co = c
        if co is None:
            raise gdb.GdbError("costack bt: %#x is not a coroutine costack "
                               "holds (costack list shows them)" % ptr)
        arch, regs = _saved_registers(reg, co)
        try:
            selected = gdb.selected_frame().level()
        except gdb.error:
            raise gdb.GdbError("costack bt: no registers to unwind from "
                               "(start the program, or load a core dump)")
        _unwinder.sp_name = "rsp" if arch == "x86_64" else "sp"
        _unwinder.pc_name = "rip" if arch == "x86_64" else "pc"
        _unwinder.regs = regs
        gdb.invalidate_cached_frames()
        # A frame count counts the coroutine's frames, not the claimed one.
        bt_args = [str(int(a) + 1) if re.fullmatch(r"[1-9]\d*", a) else a
                   for a in argv[1:]]
        try:
            text = gdb.execute(" ".join(["bt"] + bt_args), to_string=True)
        finally:
            _unwinder.regs = None
            gdb.invalidate_cached_frames()
            _select_frame(selected)
        print("coroutine %#x (%s, entry %s):" % (
            ptr, _state_name(int(co["state"])), _symbol(_addr(co["entry"]))))
        print(_renumber(text))


CostackPrefix()
CostackList()
CostackBt()

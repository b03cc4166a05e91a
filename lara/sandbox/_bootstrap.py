"""The first code that runs inside the sandbox; passed as ``python -I -c``, never imported by lara.

It must run on any CPython >= 3.10 with the standard library only (the sandbox interpreter is
Debian's python3). argv after ``-c``:

    run   CPU AS FSIZE NPROC NOFILE CODE
    check CPU AS FSIZE NPROC NOFILE STATUS_FD NONCE_FD CODE TESTS_JSON

``run`` lowers the rlimits (RLIMIT_NPROC must be set inside the user namespace, where the count
starts at zero) and executes CODE as ``__main__``; the exit status is the result.

``check`` is the protocol of ``lara.sandbox.verdict``: a pass means the tests ran to their end and
held, shown by a per-run nonce the candidate's code cannot know. The nonce arrives on NONCE_FD and
lives only in a local of the worker thread's frame, which the candidate cannot reach because,
before any candidate code runs, an audit hook (which cannot be removed) refuses the ways Python
offers to reach frames, objects or memory (``sys._getframe``, ``tb_frame``/``gi_frame``...,
``gc.get_objects``/``get_referrers``, trace/profile hooks, new audit hooks, ``ctypes``), and the
interpreter runs from an execute-only copy so the kernel marks it non-dumpable (no
``/proc/self/mem``; ptrace and process_vm_readv are denied by seccomp). The candidate runs in a
worker thread, so it cannot install signal handlers (they receive frames). Everything the worker
uses after the candidate started is bound to a local before it did: rebinding builtins, module
globals, ``print``, ``sys.stdout`` or ``os._exit`` cannot redirect it. The tests run with a
pristine copy of the builtins; names from the answer that shadow builtins are dropped from the
tests' namespace unless the task defines them (KEEP: the reference's top-level names); modules and
attributes the tests name (``math.isclose``) are checked unchanged before and after every test;
threads left running by the answer fail the run. The worker reports its stage on STATUS_FD
(``stage candidate``, ``stage tests``, ``step test N``, ``done``, or ``fail STAGE KIND`` then
``msg ...``),
writes the nonce as the last line of stdout and ``_exit(0)``s, so exit hooks never run.
"""

import os
import resource
import sys


def _limits(cpu, mem, fsize, nproc, nofile):
    for res, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, mem), (resource.RLIMIT_FSIZE, fsize),
                       (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_NOFILE, nofile)):
        if value > 0:
            resource.setrlimit(res, (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _run(path):
    src = _read(path)
    sys.argv = [path]
    exec(compile(src, path, "exec"), {"__name__": "__main__", "__file__": path, "__builtins__": __builtins__})


def _make_guard():
    """The audit hook: refuses every audited way to frames, the object graph, tracing or memory."""
    deny_value = frozenset({"sys._getframe"})  # ValueError: what namedtuple/enum/logging expect
    deny = frozenset({
        "sys._current_frames", "sys._current_exceptions", "sys.settrace", "sys.setprofile",
        "sys.addaudithook", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    })
    frame_attrs = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})
    bad_imports = frozenset({"ctypes", "_ctypes", "_testcapi", "_testinternalcapi", "_testbuffer",
                             "_xxsubinterpreters", "_xxinterpchannels", "_xxtestfuzz"})

    def guard(event, args, _VE=ValueError, _RE=RuntimeError, _AE=AttributeError, _IE=ImportError,
              _dv=deny_value, _d=deny, _fa=frame_attrs, _bi=bad_imports):
        if event in _dv:
            raise _VE("call stack is not available in the lara sandbox")
        if event in _d:
            raise _RE(event + " is not available in the lara sandbox")
        if event == "object.__getattr__" and args[1] in _fa:
            raise _AE(args[1] + " is not available in the lara sandbox")
        if event == "import" and args[0].partition(".")[0] in _bi:
            raise _IE("module " + args[0] + " is not available in the lara sandbox")
        if event.startswith("ctypes."):
            raise _RE(event + " is not available in the lara sandbox")

    return guard


def _watch_list(texts):
    """(module, attribute) pairs the tests name, for standard-library modules only."""
    import re

    names = getattr(sys, "stdlib_module_names", frozenset({"math", "cmath", "re", "collections", "heapq",
                                                           "itertools", "functools", "operator", "string"}))
    pairs = set()
    for text in texts:
        for mod, attr in re.findall(r"(?<![\w.])([A-Za-z_]\w*)\.([A-Za-z_]\w*)", text):
            if mod in names:
                pairs.add((mod, attr))
    return tuple(sorted(pairs))


def _worker(status_fd, nonce_fd, cand_code, cand_path, steps, keep, watch):
    # Bind everything used after the candidate starts, before it does (see the module docstring).
    import time

    write, exit_, exec_, listdir, read, close = os.write, os._exit, exec, os.listdir, os.read, os.close
    sleep = time.sleep
    BaseExc, AssertErr, exits = BaseException, AssertionError, (SystemExit, KeyboardInterrupt)
    type_, str_, len_, dict_, list_, isinst, vars_ = type, str, len, dict, list, isinstance, vars
    modules, missing, builtins_mod = sys.modules, object(), sys.modules["builtins"]
    out, err = sys.stdout, sys.stderr
    pristine = dict_(vars_(builtins_mod))
    watched = []
    for mod, attr in watch:
        m = modules.get(mod)
        if m is not None:
            watched.append((mod, m, attr, vars_(m).get(attr, missing)))
    nonce = read(nonce_fd, 256)
    close(nonce_fd)

    def say(line, _write=write, _fd=status_fd, _OSError=OSError):
        try:
            _write(_fd, line)
        except _OSError:
            pass

    stage = b"candidate"
    ns = {"__name__": "__main__", "__file__": cand_path, "__builtins__": builtins_mod}
    try:
        say(b"stage candidate\n")
        exec_(cand_code, ns)
        stage = b"tests"
        say(b"stage tests\n")
        tns = dict_(ns)
        for name in list_(tns):
            if name in pristine and name not in keep and not name.startswith("__"):
                del tns[name]
        tns["__builtins__"] = dict_(pristine)
        tns["__name__"] = "__main__"
        for label, step in steps:  # the setup code, then each test statement
            say(b"step " + label + b"\n")
            exec_(step, tns)
            tampered = b""
            for mod, m, attr, value in watched:
                if modules.get(mod) is not m or tns.get(mod, m) is not m:
                    tampered = b"module " + mod.encode() + b" was replaced"
                elif vars_(m).get(attr, missing) is not value:
                    tampered = (mod + "." + attr).encode() + b" was changed"
            waited = 0  # a joined thread can stay listed for a moment while the kernel reaps it
            while not tampered and len_(listdir("/proc/self/task")) > 2:
                if waited >= 50:
                    tampered = b"the answer left threads running during the tests"
                sleep(0.01)
                waited += 1
            if tampered:
                say(b"fail tests tampered\nmsg " + tampered + b"\n")
                exit_(1)
        say(b"done\n")
        for stream in (out, err):
            try:
                stream.flush()
            except BaseExc:
                pass
        write(1, b"\n" + nonce + b"\n")
        exit_(0)
    except BaseExc as exc:
        if isinst(exc, exits):
            kind = b"exit"
        elif stage == b"tests" and isinst(exc, AssertErr):
            kind = b"assertion"
        else:
            kind = b"error"
        say(b"fail " + stage + b" " + kind + b"\n")  # the verdict is out before any answer code runs again
        try:
            msg = type_(exc).__name__ + ": " + str_(exc)
            say(b"msg " + msg.encode("utf-8", "replace")[:300].replace(b"\n", b" ") + b"\n")
        except BaseExc:
            pass
        exit_(1)


def _check(status_fd, nonce_fd, cand_path, tests_path):
    import json
    import threading

    spec = json.loads(_read(tests_path))
    setup, tests = spec.get("setup") or "", list(spec.get("tests") or [])
    try:
        setup_code = compile(setup, "<setup>", "exec", dont_inherit=True, optimize=0) if setup.strip() else None
        test_codes = tuple(compile(t, "<test %d>" % (i + 1), "exec", dont_inherit=True, optimize=0)
                           for i, t in enumerate(tests))
    except SyntaxError as exc:
        os.write(status_fd, b"fail harness error\nmsg tests do not compile: " + str(exc).encode()[:200] + b"\n")
        os._exit(1)
    try:
        cand_code = compile(_read(cand_path), cand_path, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError) as exc:
        os.write(status_fd, b"fail candidate error\nmsg " + (type(exc).__name__ + ": " + str(exc)).encode()[:300]
                 + b"\n")
        os._exit(1)
    steps = (((b"setup", setup_code),) if setup_code else ()) + tuple(
        (b"test %d" % (i + 1), c) for i, c in enumerate(test_codes))
    watch = _watch_list([setup] + tests)
    for mod in {m for m, _ in watch}:
        try:
            __import__(mod)
        except Exception:
            pass
    keep = frozenset(spec.get("keep") or ())
    sys.addaudithook(_make_guard())
    worker = threading.Thread(target=_worker, daemon=True, args=(
        status_fd, nonce_fd, cand_code, cand_path, steps, keep, watch))
    worker.start()
    worker.join()
    os._exit(3)  # the worker always exits the process itself


def _main():
    argv = sys.argv[1:]
    mode, nums = argv[0], [int(x) for x in argv[1:6]]
    _limits(*nums)
    if mode == "run":
        _run(argv[6])
    elif mode == "check":
        _check(int(argv[6]), int(argv[7]), argv[8], argv[9])
    else:
        raise SystemExit("lara sandbox bootstrap: unknown mode " + mode)


if __name__ == "__main__":
    _main()

"""Notebook kernels forked from one process that has imported their libraries.

Every kernel of a report imports the same libraries before its first cell
runs: IPython and the kernel machinery, pandas, matplotlib, seaborn and
partnerkit, about a second and a half of CPU each. A :class:`KernelTemplate`
is one process that imports them once; every kernel is then a fork of it, and
starts with those modules already in ``sys.modules``, as if its own warm-up
had imported them. Nothing else is shared: a forked kernel has its own
namespace, execution count, history, connection file and environment, and it
reads its notebook's parameters and data like any other kernel.

How a kernel is asked for. jupyter_client starts a kernel by running its
kernel spec's command (``python -m ipykernel_launcher -f <connection file>``).
:class:`ForkedKernelManager` runs a small launcher in its place::

    python -m partnerkit.kernels launch <template socket> -- <the kernel's command>

The launcher hands the template its arguments, working directory, environment
and standard streams; the template forks a child that becomes the kernel. The
launcher stays the process jupyter_client knows: it relays every signal
(interrupts included) to the kernel and exits with the kernel's status. The
kernel ends with its launcher: when the launcher is killed (an immediate
shutdown), the kernel sees its connection close and exits at once. When the
template cannot be reached, the launcher runs the kernel's own command
instead, so a kernel always starts.

Only a kernel spec that runs ``-m ipykernel_launcher`` with the template's
own interpreter and flags is forked; any other kernel starts as usual.

Examples
--------
>>> with KernelTemplate(["json"]) as template:  # doctest: +SKIP
...     km = ForkedKernelManager(template=template.address, kernel_name="python3")
"""

from __future__ import annotations

import functools
import json
import os
import selectors
import signal
import socket
import struct
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

__all__ = [
    "INLINE_BACKEND",
    "ForkedKernelManager",
    "KernelTemplate",
    "TemplateCallError",
    "call",
    "exit_now",
    "forkable",
    "kernel_command_prefix",
    "shared_templates",
    "use_shared_templates",
]

#: The module every kernel spec of a Python kernel runs; a command running it can be forked.
LAUNCHER_MODULE = "ipykernel_launcher"
#: The matplotlib backend a kernel picks when none is set; matplotlib reads ``MPLBACKEND``
#: when it is imported, so the template sets it first, as the kernel would have.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: How much the template (and so every kernel forked from it) yields the CPU to its owner.
TEMPLATE_NICENESS = 5
#: Prefix of the private folders holding a template's socket.
SOCKETS_PREFIX = "partnerkit-kernel-"

_HEADER = struct.Struct("!I")
_STREAMS = (0, 1, 2)
# signals jupyter_client (or a person) may send a kernel; the launcher passes each on
_RELAYED = tuple(getattr(signal, name) for name in
                 ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
                 if hasattr(signal, name))

_shared: dict[str, str | None] = {"kernels": None, "calls": None}


#: Set to ``0`` to start every kernel as jupyter_client does (no template, no forks).
FORK_VARIABLE = "PARTNERKIT_FORK_KERNELS"


def forkable() -> bool:
    """Whether kernels are forked here.

    Forking needs a POSIX system with ``fork`` and descriptor passing; the
    environment variable ``PARTNERKIT_FORK_KERNELS=0`` turns it off (for a
    library that misbehaves when its importer is forked, say).

    Examples
    --------
    >>> forkable() == (os.name == "posix" and os.environ.get(FORK_VARIABLE) != "0")
    True
    """
    return (os.environ.get(FORK_VARIABLE, "1") != "0" and hasattr(os, "fork")
            and hasattr(socket, "send_fds") and hasattr(socket, "AF_UNIX"))


def use_shared_templates(kernels: str | None, calls: str | None = None) -> None:
    """Make every notebook run of this process use the templates at these addresses.

    A backfill starts one template for the kernels and one for the calls
    (HTML pages) of all its quarters; each quarter's process calls this first.
    ``None`` goes back to templates of each run's own.
    """
    _shared["kernels"], _shared["calls"] = kernels, calls


def shared_templates() -> tuple[str | None, str | None]:
    """The addresses set by :func:`use_shared_templates` (kernels, calls)."""
    return _shared["kernels"], _shared["calls"]


def kernel_command_prefix(command) -> list[str] | None:
    """The interpreter and its flags of a kernel command that runs ``ipykernel_launcher``.

    Parameters
    ----------
    command : list of str
        A kernel spec's ``argv``.

    Returns
    -------
    list of str or None
        Everything before ``-m ipykernel_launcher``; None when the command does
        not run it (such a kernel is never forked).

    Examples
    --------
    >>> kernel_command_prefix(["/v/bin/python", "-Xfrozen_modules=off", "-m",
    ...                        "ipykernel_launcher", "-f", "{connection_file}"])
    ['/v/bin/python', '-Xfrozen_modules=off']
    >>> kernel_command_prefix(["R", "--slave", "-e", "IRkernel::main()"]) is None
    True
    """
    command = list(command)
    for i in range(1, len(command) - 1):
        if command[i] == "-m" and command[i + 1] == LAUNCHER_MODULE:
            return command[:i]
    return None


def _kernel_arguments(command: list[str]) -> list[str]:
    prefix = kernel_command_prefix(command)
    return command[len(prefix) + 2:]


# ---------------------------------------------------------------------------- messages


def _send(conn: socket.socket, message: dict, fds=()) -> None:
    payload = json.dumps(message).encode()
    data = _HEADER.pack(len(payload)) + payload
    if fds:
        # the descriptors travel with the first bytes; the rest follows as plain data
        sent = socket.send_fds(conn, [data], list(fds))
        data = data[sent:]
    if data:
        conn.sendall(data)


def _receive(conn: socket.socket, fds: bool = False) -> tuple[dict | None, list[int]]:
    """One message (None at end of stream) and the descriptors that came with it."""
    received: list[int] = []
    buffer = b""
    while len(buffer) < _HEADER.size or len(buffer) < _HEADER.size + _HEADER.unpack(
            buffer[:_HEADER.size])[0]:
        if fds and not received:
            chunk, got, _, _ = socket.recv_fds(conn, 65536, len(_STREAMS))
            received.extend(got)
        else:
            chunk = conn.recv(65536)
        if not chunk:
            for fd in received:
                os.close(fd)
            return None, []
        buffer += chunk
    size = _HEADER.unpack(buffer[:_HEADER.size])[0]
    return json.loads(buffer[_HEADER.size:_HEADER.size + size]), received


# ---------------------------------------------------------------------------- the owner's side


class KernelTemplate:
    """A process that imports ``modules`` once and forks a kernel for each launcher.

    Parameters
    ----------
    modules : iterable of str
        What the kernels will import (a module that fails to import is skipped:
        the notebook's own import then reports the error).
    kernel_name : str
        The kernel spec whose interpreter and flags the template runs with.
    skip_iri_grammars : bool
        Apply :func:`partnerkit.execute.skip_iri_grammars` before importing
        (for a template that serves :func:`call` only: kernels forked from it
        would lack those format checks).
    warm_up : str, optional
        ``"module:function"`` the template calls once after its imports, to
        fill the caches its calls will use (compiled templates, say); an
        error there is ignored.

    Attributes
    ----------
    address : str or None
        The template's socket, for :class:`ForkedKernelManager`; None when
        kernels cannot be forked here (every kernel then starts as usual).

    Notes
    -----
    The socket listens before the template has imported anything, so kernels
    may be asked for at once; they are forked when the imports are done. The
    template ends when :meth:`close` is called or its owner's process ends.
    """

    def __init__(self, modules=(), kernel_name: str = "python3",
                 skip_iri_grammars: bool = False, warm_up: str | None = None):
        self.modules = list(dict.fromkeys(modules))
        self.kernel_name = kernel_name
        self.skip_iri_grammars = skip_iri_grammars
        self.warm_up = warm_up
        self.address: str | None = None
        self._process = None
        self._folder: str | None = None

    def __enter__(self) -> KernelTemplate:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def start(self) -> KernelTemplate:
        """Start the template process (returns at once; no-op where forking is not possible)."""
        import subprocess

        if self._process is not None or not forkable():
            return self
        prefix = self._prefix()
        if prefix is None:
            return self
        self._folder = tempfile.mkdtemp(prefix=SOCKETS_PREFIX)
        address = os.path.join(self._folder, "template")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(address)
            listener.listen(64)
            self._process = subprocess.Popen(
                [*prefix, "-m", "partnerkit.kernels", "serve", str(listener.fileno()),
                 *(["--skip-iri-grammars"] if self.skip_iri_grammars else []),
                 *([f"--warm-up={self.warm_up}"] if self.warm_up else []), *self.modules],
                stdin=subprocess.PIPE, pass_fds=[listener.fileno()],
                # like a kernel: not in the terminal's process group, so Ctrl-C reaches the
                # report, which shuts its kernels down in order
                start_new_session=True, preexec_fn=_lower_priority)
        except OSError:
            self._remove_folder()
            return self
        finally:
            # the template holds the only listening socket now: if it dies, launchers are
            # refused at once (and start their kernel as usual) instead of waiting forever
            listener.close()
        self.address = address
        return self

    def _prefix(self) -> list[str] | None:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        try:
            argv = KernelSpecManager().get_kernel_spec(self.kernel_name).argv
        except NoSuchKernel:
            return None
        return kernel_command_prefix(_python_resolved(argv))

    def close(self) -> None:
        """End the template; kernels forked from it live on until their own shutdown."""
        process, self._process = self._process, None
        self.address = None
        if process is not None:
            # end of its standard input is the template's signal to stop
            try:
                process.stdin.close()
            except OSError:
                pass
            try:
                process.wait(timeout=5)
            except Exception:
                process.kill()
                process.wait()
        self._remove_folder()

    def _remove_folder(self) -> None:
        import shutil

        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def _lower_priority() -> None:
    try:
        os.nice(TEMPLATE_NICENESS)
    except OSError:
        pass


def _python_resolved(argv) -> list[str]:
    # jupyter_client runs a spec's bare "python" with its own interpreter
    argv = list(argv)
    if argv and argv[0] in {"python", f"python{sys.version_info[0]}",
                            "python{}.{}".format(*sys.version_info[:2])}:
        argv[0] = sys.executable
    return argv


@functools.lru_cache(maxsize=None)
def _forked_manager_class():
    # built on first use: jupyter_client is imported only when a kernel is asked for
    from jupyter_client.manager import AsyncKernelManager

    class _ForkedKernelManager(AsyncKernelManager):
        """An ``AsyncKernelManager`` whose kernel is forked from a :class:`KernelTemplate`."""

        def __init__(self, *args, template: str | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            self.template = template

        def format_kernel_cmd(self, extra_arguments=None):
            command = super().format_kernel_cmd(extra_arguments)
            prefix = kernel_command_prefix(command)
            if self.template is None or prefix is None:
                return command
            return [prefix[0], "-m", "partnerkit.kernels", "launch", self.template, "--",
                    *command]

    return _ForkedKernelManager


def ForkedKernelManager(*args, template: str | None = None, **kwargs):  # noqa: N802
    """A jupyter_client ``AsyncKernelManager`` that asks ``template`` for its kernel.

    Parameters
    ----------
    template : str or None
        A :attr:`KernelTemplate.address`; with None the kernel starts as usual.
    *args, **kwargs
        As for ``jupyter_client.AsyncKernelManager``.
    """
    return _forked_manager_class()(*args, template=template, **kwargs)


# ---------------------------------------------------------------------------- the template


def serve(listen_fd: int, modules, skip_iri_grammars: bool = False,
          warm_up: str | None = None) -> None:
    """The template process: import ``modules``, then fork a kernel for each launcher.

    Ends the process when its owner closes its standard input.
    """
    if skip_iri_grammars:
        from partnerkit.execute import skip_iri_grammars as skip

        skip()
    # as ipykernel_launcher does: the working directory is not an import path while loading
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]
    listener = socket.socket(fileno=listen_fd)
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    for module in (*modules, "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell"):
        try:
            __import__(module)
        except Exception:
            pass
    if warm_up:
        import importlib

        module, _, name = warm_up.partition(":")
        try:
            getattr(importlib.import_module(module), name)()
        except Exception:
            pass

    # a child ending wakes the loop through this pipe (no polling)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "launcher")
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "owner")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    children: dict[int, socket.socket] = {}
    while True:
        for key, _ in selector.select():
            if key.data == "owner":
                if not os.read(key.fd, 4096):
                    # the owner closed our standard input, or ended. The kernels are processes
                    # of their own; a teardown of the imported libraries would only keep the
                    # owner waiting
                    exit_now(0)
            elif key.data == "child":
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
            else:
                conn, _ = listener.accept()
                pid = _fork(conn, [listener, selector, wake_r, wake_w, *children.values()])
                if pid is None:
                    conn.close()
                else:
                    children[pid] = conn
        _report_ended(children)


def _report_ended(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is not None:
            try:
                _send(conn, {"status": os.waitstatus_to_exitcode(status)})
            except OSError:
                pass  # the launcher is gone already
            conn.close()


def _fork(conn: socket.socket, inherited) -> int | None:
    """Fork a kernel (a launcher's request) or a call (see :func:`call`) for ``conn``."""
    request, fds = _receive(conn, fds=True)
    if request is None or len(fds) != len(_STREAMS):
        for fd in fds:
            os.close(fd)
        return None
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for thing in inherited:
                if isinstance(thing, int):
                    os.close(thing)
                else:
                    thing.close()
            if "call" in request:
                code = _run_call(request, fds, conn)
            else:
                code = _become_kernel(request, fds, conn)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            exit_now(code)
    for fd in fds:
        os.close(fd)
    if "call" not in request:
        # a launcher relays signals to this pid; a call's child answers by itself, and alone,
        # so that its result and then its status arrive in order
        try:
            _send(conn, {"pid": pid})
        except OSError:
            pass  # the launcher gave up; its kernel sees that and exits
    return pid


def _become_kernel(request: dict, fds: list[int], conn: socket.socket) -> int:
    """In the forked child: take the launcher's place and run ipykernel as its command would."""
    import threading

    _child_signals()
    os.setsid()
    _take_streams(fds)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if "numpy" in sys.modules:
        # every kernel gets its own unseeded random state, as a fresh interpreter would
        sys.modules["numpy"].random.seed()
    threading.Thread(target=_exit_with_launcher, args=(conn,), daemon=True,
                     name="launcher-watch").start()
    import importlib.util

    # what ``python -m ipykernel_launcher`` would have in sys.argv[0]: the module's file
    sys.argv = [importlib.util.find_spec(LAUNCHER_MODULE).origin, *_kernel_arguments(request["command"]),
                *_import_time_settings(request["env"])]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
    return 0


def _child_signals() -> None:
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _take_streams(fds: list[int]) -> None:
    for target, fd in zip(_STREAMS, fds):
        os.dup2(fd, target)
        os.close(fd)


def _run_call(request: dict, fds: list[int], conn: socket.socket) -> int:
    """In the forked child: run ``module:function(*args)`` and send back its result."""
    import importlib
    import traceback

    _child_signals()
    _take_streams(fds)
    os.chdir(request["cwd"])
    module, _, name = request["call"].partition(":")
    try:
        result = getattr(importlib.import_module(module), name)(*request["args"])
    except Exception as exc:
        _send(conn, {"error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc()})
        return 1
    _send(conn, {"result": json.loads(json.dumps(result, default=str))})
    return 0


def _import_time_settings(env: dict) -> list[str]:
    """Settings ipykernel reads from the environment when imported, read from the kernel's.

    ``IPKernelApp`` takes its parent's pid (``JPY_PARENT_PID``) as a class
    default, which the template evaluated with its own environment.
    """
    settings = []
    for trait, variable in (("parent_handle", "JPY_PARENT_PID"),
                            ("interrupt", "JPY_INTERRUPT_EVENT")):
        if env.get(variable):
            settings.append(f"--IPKernelApp.{trait}={int(env[variable])}")
    return settings


def _exit_with_launcher(conn: socket.socket) -> None:
    # the launcher sends nothing after its request: end of stream means it was killed
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass
    os._exit(1)


def exit_now(code: int) -> NoReturn:
    """End this process with ``code`` without tearing down what it imported.

    The exit handlers run (a kernel's own clean-up, its connection file, runs
    as it would at interpreter exit) and the standard streams are flushed;
    freeing every object of pandas, matplotlib and the like one by one is left
    to the operating system, which does it at once.
    """
    import atexit

    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass  # a closed pipe (``partnerkit ... | head``): nothing more to say there
        os._exit(code)


# ---------------------------------------------------------------------------- calls


class TemplateCallError(RuntimeError):
    """A function run by :func:`call` in a fork of the template raised; the message is its."""

    def __init__(self, message: str, traceback: str = ""):
        super().__init__(message)
        self.traceback = traceback


def call(address: str | None, target: str, *args):
    """``target(*args)`` run in a fork of the template at ``address``; its result.

    The template has imported what the function needs, so the call does not
    pay for the imports, and it runs in a process of its own, beside the
    caller. Arguments and result travel as JSON (a result that is not JSON
    comes back as its ``str``). Without a template (``address`` None or
    gone), the function runs here.

    Parameters
    ----------
    address : str or None
        A :attr:`KernelTemplate.address`.
    target : str
        ``"module:function"``.

    Raises
    ------
    TemplateCallError
        The function raised in the fork (the message and traceback are its).

    Examples
    --------
    >>> call(None, "os.path:join", "reports", "2026Q3")
    'reports/2026Q3'
    """
    if address is not None:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(address)
            _send(conn, {"call": target, "args": list(args), "cwd": os.getcwd()},
                  fds=_STREAMS)
        except OSError:
            conn.close()
        else:
            with conn:
                answer: dict = {}
                while "status" not in answer:
                    message, _ = _receive(conn)
                    if message is None:
                        break
                    answer.update(message)
            if "error" in answer:
                raise TemplateCallError(answer["error"], answer.get("traceback", ""))
            if "result" in answer:
                return answer["result"]
            raise TemplateCallError(f"{target} ended without an answer "
                                    f"(exit status {answer.get('status')})")
    import importlib

    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(*args)


# ---------------------------------------------------------------------------- the launcher


def launch(address: str, command: list[str]) -> int:
    """The launcher: have the template fork the kernel, then stand in for it until it ends."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(address)
        _send(conn, {"command": command, "cwd": os.getcwd(), "env": dict(os.environ)},
              fds=_STREAMS)
        reply, _ = _receive(conn)
    except OSError:
        reply = None
    if reply is None:
        conn.close()
        # no template (it ended, or failed to start): the kernel starts as it would have
        os.execv(command[0], command)
    pid = reply["pid"]

    def relay(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in _RELAYED:
        signal.signal(signum, relay)
    while True:
        try:
            ended, _ = _receive(conn)
            break
        except InterruptedError:
            continue
    return 1 if ended is None else int(ended["status"])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:
        options = [a for a in argv[2:] if a.startswith("--")]
        warm_up = [a.split("=", 1)[1] for a in options if a.startswith("--warm-up=")]
        serve(int(argv[1]), [a for a in argv[2:] if not a.startswith("--")],
              skip_iri_grammars="--skip-iri-grammars" in options,
              warm_up=warm_up[0] if warm_up else None)
        return 0
    if argv[:1] == ["launch"] and "--" in argv:
        split = argv.index("--")
        return launch(argv[1], argv[split + 1:])
    print("usage: python -m partnerkit.kernels serve FD [--skip-iri-grammars] "
          "[--warm-up=MODULE:FUNCTION] [MODULE ...]\n"
          "       python -m partnerkit.kernels launch ADDRESS -- KERNEL COMMAND ...",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Kernels forked from a template: what they inherit, what they do not, and how they end."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from partnerkit import kernels
from partnerkit.kernels import ForkedKernelManager, KernelTemplate, kernel_command_prefix

pytestmark = pytest.mark.skipif(not kernels.forkable(), reason="kernels are forked on POSIX only")


def run_sync(coroutine_function):
    from jupyter_core.utils import run_sync as wrap

    return wrap(coroutine_function)


def start(template, tmp_path, name, **kwargs):
    km = ForkedKernelManager(kernel_name="python3", template=template, transport="ipc",
                             ip=str(tmp_path / name))
    run_sync(km.start_kernel)(**kwargs)
    kc = km.client()
    kc.start_channels()
    run_sync(kc.wait_for_ready)(timeout=60)
    return km, kc


def evaluate(kc, expression: str, timeout: float = 30):
    """The repr of ``expression`` as the kernel printed it."""
    printed = []

    def keep(msg):
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])

    reply = run_sync(kc.execute_interactive)(f"print(repr({expression}))", timeout=timeout,
                                             output_hook=keep)
    return reply["content"], "".join(printed).strip()


def parent_command(pid: int) -> str:
    ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return Path(f"/proc/{ppid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def template():
    with KernelTemplate(["wave"]) as started:
        assert started.address is not None
        yield started


def test_kernel_command_prefix_finds_the_interpreter_and_its_flags():
    assert kernel_command_prefix([sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"]) \
        == [sys.executable]
    assert kernel_command_prefix(["python", "-m", "other_kernel"]) is None
    assert kernel_command_prefix(["-m", "ipykernel_launcher"]) is None  # no interpreter


def test_forked_kernel_has_the_imports_but_its_own_process_namespace_and_randomness(
        template, tmp_path):
    first, kc1 = start(template.address, tmp_path, "one")
    second, kc2 = start(template.address, tmp_path, "two")
    try:
        _, pid1 = evaluate(kc1, "__import__('os').getpid()")
        _, pid2 = evaluate(kc2, "__import__('os').getpid()")
        assert pid1 != pid2
        # a fork of the template, which imported wave before either kernel was asked for
        assert "partnerkit.kernels serve" in parent_command(int(pid1))
        assert evaluate(kc1, "'wave' in __import__('sys').modules")[1] == "True"
        # what one kernel binds the other does not see
        run_sync(kc1.execute_interactive)("planted = 41", timeout=30)
        assert evaluate(kc1, "planted + 1")[1] == "42"
        reply, _ = evaluate(kc2, "planted")
        assert reply["status"] == "error" and reply["ename"] == "NameError"
        # numpy's global random state is drawn afresh in each kernel
        draw = "__import__('numpy').random.randint(0, 2**62)"
        assert evaluate(kc1, draw)[1] != evaluate(kc2, draw)[1]
        # the kernel runs in the working directory and environment its launcher had
        assert evaluate(kc1, "__import__('os').getcwd()")[1] == repr(os.getcwd())
        assert evaluate(kc1, "__import__('os').environ['JPY_PARENT_PID']")[1] \
            == repr(str(os.getpid()))
        # read by ipykernel from the environment at import: the kernel's own value, not the
        # template's (which had no JPY_PARENT_PID, and would print the Ctrl-C notice)
        assert evaluate(kc1, "get_ipython().kernel.parent.parent_handle")[1] == str(os.getpid())
    finally:
        for km, kc in ((first, kc1), (second, kc2)):
            kc.stop_channels()
            run_sync(km.shutdown_kernel)(now=True)


def test_an_interrupt_reaches_the_forked_kernel(template, tmp_path):
    km, kc = start(template.address, tmp_path, "k")
    try:
        kc.execute("import time; time.sleep(60)")
        time.sleep(0.5)
        began = time.monotonic()
        run_sync(km.interrupt_kernel)()
        reply = run_sync(kc.get_shell_msg)(timeout=20)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - began < 20
    finally:
        kc.stop_channels()
        run_sync(km.shutdown_kernel)(now=True)


def test_killing_the_launcher_ends_the_kernel(template, tmp_path):
    km, kc = start(template.address, tmp_path, "k")
    _, pid = evaluate(kc, "__import__('os').getpid()")
    kc.stop_channels()
    run_sync(km.shutdown_kernel)(now=True)  # SIGKILL to the launcher, the process jupyter knows
    assert gone(int(pid))


def test_a_graceful_shutdown_ends_kernel_and_launcher(template, tmp_path):
    km, kc = start(template.address, tmp_path, "k")
    _, pid = evaluate(kc, "__import__('os').getpid()")
    launcher = km.provisioner.process
    kc.stop_channels()
    run_sync(km.shutdown_kernel)(now=False)
    assert gone(int(pid))
    assert launcher.poll() == 0  # the launcher exits with the kernel's status


def test_without_a_template_the_launcher_starts_the_kernel_itself(tmp_path):
    with KernelTemplate() as template:
        address = template.address
    assert not Path(address).exists()  # ended: nothing listens there any more
    km, kc = start(address, tmp_path, "k")
    try:
        _, pid = evaluate(kc, "__import__('os').getpid()")
        assert "partnerkit.kernels" not in parent_command(int(pid))
        assert evaluate(kc, "6 * 7")[1] == "42"
    finally:
        kc.stop_channels()
        run_sync(km.shutdown_kernel)(now=True)


def test_the_template_ends_with_its_owner(tmp_path):
    code = ("import sys, time\n"
            "from partnerkit.kernels import KernelTemplate\n"
            "t = KernelTemplate(['wave']).start()\n"
            "print(t._process.pid, flush=True)\n"
            "time.sleep(60)\n")
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(owner.stdout.readline())
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert gone(pid)
    finally:
        owner.kill()


def test_an_unforkable_kernel_spec_starts_as_usual():
    template = KernelTemplate(kernel_name="no-such-kernel-spec")
    assert template.start().address is None
    template.close()


# ---------------------------------------------------------------------------- calls


def test_a_call_runs_in_a_fork_of_the_template_and_returns_its_result():
    with KernelTemplate(["wave"]) as template:
        pid = kernels.call(template.address, "os:getpid")
        assert pid != os.getpid()
        assert gone(pid)  # a fork of its own, ended with the call
        assert kernels.call(template.address, "os.path:join", "reports", "2026Q3") \
            == os.path.join("reports", "2026Q3")
        # the fork's working directory is the caller's
        assert kernels.call(template.address, "os:getcwd") == os.getcwd()
        # a value JSON cannot hold comes back as its str
        assert kernels.call(template.address, "pathlib:Path", "a", "b") == "a/b"


def test_a_failing_call_raises_with_the_forks_message_and_traceback():
    with KernelTemplate() as template:
        with pytest.raises(kernels.TemplateCallError, match="ValueError: invalid literal") as err:
            kernels.call(template.address, "builtins:int", "not a number")
        assert "Traceback" in err.value.traceback


def test_without_a_template_a_call_runs_here():
    with KernelTemplate() as template:
        address = template.address
    assert kernels.call(address, "os:getpid") == os.getpid()
    assert kernels.call(None, "os:getpid") == os.getpid()


def test_the_template_warms_up_once_before_serving(tmp_path, monkeypatch):
    marker = tmp_path / "warmed"
    monkeypatch.setenv("PK_TEST_WARM_MARKER", str(marker))
    module = tmp_path / "pk_warm_fixture.py"
    module.write_text("import os\n"
                      "def warm():\n"
                      "    open(os.environ['PK_TEST_WARM_MARKER'], 'a').write('x')\n"
                      "def marker():\n"
                      "    return open(os.environ['PK_TEST_WARM_MARKER']).read()\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with KernelTemplate(["pk_warm_fixture"], warm_up="pk_warm_fixture:warm") as template:
        assert kernels.call(template.address, "pk_warm_fixture:marker") == "x"
        assert kernels.call(template.address, "pk_warm_fixture:marker") == "x"


def test_forking_can_be_turned_off(monkeypatch):
    monkeypatch.setenv(kernels.FORK_VARIABLE, "0")
    assert not kernels.forkable()
    with KernelTemplate(["wave"]) as template:
        assert template.address is None

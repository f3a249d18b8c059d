"""The "Rust (catsdogs)" kernel driven headless through jupyter_client, as JupyterLab drives it.

`python kernel.py warm` is environment/setup's warm-up: it runs the first code cell of
notebooks/00-prepare-data.ipynb (`:dep catsdogs = ...`, `use`, `Notebook::start`, the banner) in a
kernel that builds in the ready build folder (CATSDOGS_KERNEL_SLOT=ready, see catsdogs-kernel),
from which every kernel's build slot then starts. cargo's "Compiling" lines show the progress on
stderr. Exits 1, with the cell's error, if the cell fails.

`python kernel.py first-cell NOTEBOOK...` times each notebook's first cell in a new kernel.

`python kernel.py live-cost [ROUNDS]` times what the live curves cost (BENCHMARKS.md): notebook
02's cells up to its training cell in sample mode, then its model trained for 30 epochs from
scratch with `LiveCurves::new(true)` and with `LiveCurves::new(false)`, alternating, ROUNDS times
each (default 2), after one run unmeasured that fills the feature cache.

Usage: python kernel.py warm | first-cell NOTEBOOK... | live-cost [ROUNDS]
"""

import json
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from jupyter_client.manager import KernelManager

KERNEL = "catsdogs-rust"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "notebooks")


def first_cell(notebook):
    """The source of a notebook's first code cell."""
    with open(notebook, encoding="utf-8") as f:
        cells = json.load(f)["cells"]
    return next("".join(c["source"]) for c in cells if c["cell_type"] == "code")


class Reply:
    """What a cell gave back: its status ("ok", "error" or "aborted"), its streams and error, its
    displays, and when."""

    def __init__(self, content, stdout, stderr, seconds, displays=()):
        self.status = content["status"]
        self.stdout = stdout
        self.stderr = stderr
        self.error = "\n".join(filter(None, [content.get("ename"), content.get("evalue")]))
        self.seconds = seconds
        # (message type, display id, MIME bundle, whether the cell's reply had come already)
        self.displays = list(displays)

    def __str__(self):
        displays = "".join(f"\n  {kind} {display_id} {sorted(data)}" for kind, display_id, data, _ in self.displays)
        return (f"status {self.status}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}\nerror: {self.error}"
                f"\ndisplays:{displays}")


class Cell:
    """A cell sent to the kernel, while its messages come in."""

    def __init__(self):
        self.streams = {"stdout": "", "stderr": ""}
        self.displays = []
        self.reply = None
        self.idle = False


class Kernel:
    """A kernel started in notebooks/, as a notebook's is, with `env` added to its environment."""

    def __init__(self, env=None, startup_timeout=120, sigint_ignored=False):
        """`sigint_ignored` starts the kernel as a Jupyter started from a background job or under
        nohup does: with SIGINT ignored, which its processes inherit."""
        self.manager = KernelManager(kernel_name=KERNEL)
        before = signal.signal(signal.SIGINT, signal.SIG_IGN) if sigint_ignored else None
        try:
            self.manager.start_kernel(cwd=NOTEBOOKS, env={**os.environ, **(env or {})})
        finally:
            if before is not None:
                signal.signal(signal.SIGINT, before)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=startup_timeout)

    def run(self, code, timeout, on_output=None):
        """Runs a cell and returns its Reply; `on_output(stdout_so_far)` sees stdout as it comes."""
        return self.run_all([code], timeout, on_output)[0]

    def run_all(self, cells, timeout, on_output=None, stop_on_error=True):
        """Sends the cells at once, as JupyterLab's Run All does, and returns their Replies once
        every one has its reply and its idle status; `on_output(stdout_so_far)` sees the first
        cell's stdout as it comes."""
        start = time.monotonic()
        ids = [self.client.execute(code, allow_stdin=False, stop_on_error=stop_on_error) for code in cells]
        sent = {msg_id: Cell() for msg_id in ids}
        while not all(cell.reply and cell.idle for cell in sent.values()):
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"the cells did not finish within {timeout} s")
            try:
                msg = self.client.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                msg = None
            cell = msg and sent.get(msg["parent_header"].get("msg_id"))
            if cell:
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    cell.streams[content["name"]] += content["text"]
                    if on_output and cell is sent[ids[0]] and content["name"] == "stdout":
                        on_output(cell.streams["stdout"])
                elif kind == "error":
                    cell.streams["stderr"] += "\n".join(content.get("traceback", []))
                elif kind in ("display_data", "update_display_data"):
                    display_id = content.get("transient", {}).get("display_id")
                    cell.displays.append((kind, display_id, content["data"], cell.reply is not None))
                elif kind == "status" and content["execution_state"] == "idle":
                    cell.idle = True
            while True:
                try:
                    reply = self.client.get_shell_msg(timeout=0)
                except queue.Empty:
                    break
                cell = sent.get(reply["parent_header"].get("msg_id"))
                if cell:
                    cell.reply = reply["content"]
        seconds = time.monotonic() - start
        return [Reply(sent[i].reply, sent[i].streams["stdout"], sent[i].streams["stderr"], seconds, sent[i].displays)
                for i in ids]

    def interrupt(self):
        """What JupyterLab's stop button does."""
        self.manager.interrupt_kernel()

    def alive(self):
        """Whether the kernel's process still runs."""
        return self.manager.is_alive()

    def close(self):
        """Shuts the kernel down, as JupyterLab does."""
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=False)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


class LabServer:
    """`environment/lab` as a person starts it, on a free port of 127.0.0.1 with a token of its
    own and `extra` arguments for `jupyter lab`; `log` collects what it prints. Leaving the
    `with` block asks it to shut down (its kernels too), and kills it if it does not."""

    def __init__(self, within, extra=(), env=None):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [os.path.join(ROOT, "environment", "lab"), "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            env=None if env is None else {**os.environ, **env})
        self.log = []
        self.reader = threading.Thread(target=lambda: self.log.extend(self.process.stdout), daemon=True)
        self.reader.start()
        until("the server answers", lambda: self.request("/api/status"), within)

    def request(self, path, method="GET", body=None):
        """A call of the server's REST API; its answer, read as JSON."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None

    def stop(self):
        """Asks the server to shut down, as File > Shut Down does; its exit status."""
        self.request("/api/shutdown", "POST")
        self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *_):
        # After a failure too: the server shuts its kernels down (they have sessions of their own).
        if self.process.poll() is None:
            try:
                self.stop()
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.process.pid, 9)


def until(what, probe, within):
    """Calls probe() until it returns something true, at most `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            found = probe()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(0.5)
    sys.exit(f"FAILED: {what} within {within} s")


def warm():
    code = first_cell(os.path.join(NOTEBOOKS, "00-prepare-data.ipynb"))
    with Kernel(env={"CATSDOGS_KERNEL_SLOT": "ready"}) as kernel:
        reply = kernel.run(code, timeout=3600)
    if reply.status != "ok":
        print(f"the first cell of 00-prepare-data failed in the warm-up kernel:\n{reply}", file=sys.stderr)
        sys.exit(1)
    print(f"the kernel's ready build is compiled ({reply.seconds:.0f} s)", file=sys.stderr)


def time_first_cells(notebooks):
    for notebook in notebooks:
        start = time.monotonic()
        with Kernel() as kernel:
            started = time.monotonic() - start
            reply = kernel.run(first_cell(notebook), timeout=3600)
        print(f"{os.path.basename(notebook)}: kernel started in {started:.1f} s, first cell "
              f"{reply.status} in {reply.seconds:.1f} s", flush=True)


# Notebook 02's model trained from scratch for 30 epochs, the live curves on or off; the cell
# prints how long fit took.
LIVE_COST = """
let mut m = Sequential::new(&conv_base).flatten().dropout(0.5)
    .dense(256, Activation::Relu).dense(1, Activation::Sigmoid);
m.freeze_base();
m.set_precision(precision);
m.compile(RMSprop::new(lr), Loss::BinaryCrossentropy);
let start = std::time::Instant::now();
m.fit_with(&train, 30, &validation, FitOptions::default().seed(seed).callback(LiveCurves::new(LIVE)))?;
println!("FIT_SECONDS {}", start.elapsed().as_secs_f64());
"""


def live_cost(rounds):
    os.environ["CATSDOGS_MODE"] = "sample"
    with open(os.path.join(NOTEBOOKS, "02-feature-extraction.ipynb"), encoding="utf-8") as f:
        cells = ["".join(c["source"]) for c in json.load(f)["cells"] if c["cell_type"] == "code"]
    with Kernel() as kernel:
        for code in cells[:cells.index(next(c for c in cells if ".compile(" in c))]:
            reply = kernel.run(code, timeout=3600)
            if reply.status != "ok":
                sys.exit(f"a cell of notebook 02 failed:\n{reply}")
        times = {"true": [], "false": []}
        for live in ["true"] + ["true", "false"] * rounds:
            reply = kernel.run(LIVE_COST.replace("LIVE", live), timeout=3600)
            seconds = [float(line.split()[1]) for line in reply.stdout.splitlines() if line.startswith("FIT_SECONDS ")]
            if reply.status != "ok" or not seconds:
                sys.exit(f"the timed fit failed:\n{reply}")
            times[live].append(seconds[0])
        times["true"].pop(0)  # the run that filled the feature cache
        for live, label in [("true", "with the live curves"), ("false", "without")]:
            print(f"30 epochs {label}: {', '.join(f'{t:.1f}' for t in times[live])} s "
                  f"(mean {sum(times[live]) / len(times[live]):.1f} s)", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["warm"]:
        warm()
    elif sys.argv[1:2] == ["first-cell"] and sys.argv[2:]:
        time_first_cells(sys.argv[2:])
    elif sys.argv[1:2] == ["live-cost"]:
        live_cost(int(sys.argv[2]) if sys.argv[2:] else 2)
    else:
        sys.exit(__doc__)

"""The "Rust (catsdogs)" kernel driven headless through jupyter_client, as JupyterLab drives it.

`python kernel.py warm` is environment/setup's warm-up: it runs the first code cell of
notebooks/00-prepare-data.ipynb (`:dep catsdogs = ...`, `use`, `Notebook::start`, the banner) in a
kernel that builds in the ready build folder (CATSDOGS_KERNEL_SLOT=ready, see catsdogs-kernel),
from which every kernel's build slot then starts. cargo's "Compiling" lines show the progress on
stderr. Exits 1, with the cell's error, if the cell fails.

`python kernel.py first-cell NOTEBOOK...` times each notebook's first cell in a new kernel.

Usage: python kernel.py warm | first-cell NOTEBOOK...
"""

import json
import os
import queue
import sys
import time

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

    def __init__(self, env=None, startup_timeout=120):
        self.manager = KernelManager(kernel_name=KERNEL)
        self.manager.start_kernel(cwd=NOTEBOOKS, env={**os.environ, **(env or {})})
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


if __name__ == "__main__":
    if sys.argv[1:2] == ["warm"]:
        warm()
    elif sys.argv[1:2] == ["first-cell"] and sys.argv[2:]:
        time_first_cells(sys.argv[2:])
    else:
        sys.exit(__doc__)

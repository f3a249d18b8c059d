"""Tests of the "Rust (catsdogs)" kernel as JupyterLab uses it, headless (environment/test runs them).

interrupts: JupyterLab's stop button (jupyter_client's interrupt_kernel) while the kernel is idle,
  during a sleep loop, and during `fit` on the built-in sample. The kernel must stay alive and the
  cell reply at once; what survives is what catsdogs-kernel's header says: everything when idle or
  in `fit` (which returns the History of its finished epochs, the last of them checkpointed), no
  variable after code that cannot stop on request.
lab: `environment/lab` as a person starts it: the server answers its REST API, lists the kernel,
  opens a session of it on a notebook, runs the notebook's first cell through the server's
  websocket as JupyterLab does, and stops when asked; as root it says once that it passed
  --allow-root.

Usage: python kernel_tests.py interrupts | lab
"""

import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

from tornado.websocket import websocket_connect

from kernel import KERNEL, NOTEBOOKS, ROOT, Kernel, first_cell

# Bounds that only a hang reaches: the cells interrupted here would otherwise run for minutes.
REPLY_WITHIN = 30
START_WITHIN = 120


def check(condition, what, reply=None):
    if not condition:
        sys.exit(f"FAILED: {what}" + (f"\n{reply}" if reply else ""))
    print(f"ok: {what}", flush=True)


def run_ok(kernel, code, timeout=600):
    reply = kernel.run(code, timeout)
    check(reply.status == "ok" and " panicked at " not in reply.stderr, f"cell runs: {code.strip().splitlines()[0]}", reply)
    return reply


def interrupted(kernel, code, when, delay, timeout):
    """Runs `code`, which prints as it goes, interrupts it `delay` seconds after
    `when(stdout_so_far)` first holds, and returns (reply, seconds from the interrupt to the
    reply)."""
    seen, sent = [], []

    def on_output(stdout):
        if not seen and when(stdout):
            seen.append(time.monotonic())
        if seen and not sent and time.monotonic() >= seen[0] + delay:
            sent.append(time.monotonic())
            kernel.interrupt()

    reply = kernel.run(code, timeout, on_output)
    check(bool(sent), "the cell was interrupted while it ran", reply)
    return reply, time.monotonic() - sent[0]


def interrupts():
    checkpoints = os.path.join(ROOT, "runs", "test-kernel", "checkpoints")
    shutil.rmtree(checkpoints, ignore_errors=True)
    with Kernel() as kernel:
        run_ok(kernel, first_cell(os.path.join(NOTEBOOKS, "00-prepare-data.ipynb")))
        run_ok(kernel, "let keep = 42;")

        kernel.interrupt()
        time.sleep(2)
        reply = run_ok(kernel, 'println!("{keep}");')
        check(kernel.alive() and reply.stdout.strip() == "42", "an interrupt while idle changes nothing", reply)

        # A loop of 2 minutes, interrupted after 5 s.
        loop = 'for i in 0..1200 { println!("{i}"); std::thread::sleep(std::time::Duration::from_millis(100)); }'
        reply, after = interrupted(kernel, loop, lambda out: out, 5, 300)
        check(kernel.alive(), "the kernel survives an interrupted sleep loop")
        check(after < REPLY_WITHIN and reply.status == "error", f"the loop's cell ends with an error {after:.1f} s after the interrupt", reply)
        check("cannot stop on request" in reply.stderr, "the cell says why its variables are gone", reply)
        reply = kernel.run('println!("{keep}");', 600)
        check(reply.status == "error" and "keep" in reply.stderr + reply.error, "variables are gone after an interrupted loop", reply)
        run_ok(kernel, "println!(\"{}\", 1 + 1);")

        run_ok(kernel, first_cell(os.path.join(NOTEBOOKS, "02-feature-extraction.ipynb")))
        run_ok(kernel, "let keep = 42;")
        run_ok(kernel, f"""
let data = nb.split_dir()?;
let options = FlowOptions::default().target_size(32, 32).batch_size(10);
let datagen = ImageDataGenerator::new(Preprocess::Vgg16);
let train = datagen.flow_from_directory(data.join("train"), options.clone())?;
let validation = datagen.flow_from_directory(data.join("validation"), options)?;
let base = Backbone::Vgg16.application(false).input_size(32, 32).build(device())?;
let mut model = Sequential::new(&base)
    .flatten()
    .dense(1, Activation::Sigmoid);
model.freeze_base();
model.compile(RMSprop::new(1e-4), Loss::BinaryCrossentropy);
let options = FitOptions::default().cache(false).checkpoints({json.dumps(checkpoints)});""")
        # 100 epochs would take many minutes: the interrupt comes during the second.
        fit = "model.fit_with(&train, 100, &validation, options)?;"
        reply, after = interrupted(kernel, fit, lambda out: "Epoch 2/100" in out, 0, 900)
        check(kernel.alive(), "the kernel survives an interrupted fit")
        said = reply.stdout + reply.stderr + reply.error
        check(after < REPLY_WITHIN and reply.status == "error", f"fit stops at the next step, {after:.1f} s after the interrupt", reply)
        check("interrupted at epoch 2/100" in said and "epoch 1 is saved in" in said,
              "the cell says where fit stopped and what is saved", reply)
        check(sorted(os.listdir(checkpoints)) == ["epoch-0001"], "the finished epoch's checkpoint is on disk")
        reply = run_ok(kernel, 'println!("{keep} {}", model.history().loss().len());')
        check(reply.stdout.strip() == "42 1", "the variables survive and the model keeps the first epoch's History", reply)
        reply = run_ok(kernel, 'println!("{:?}", model.evaluate(&validation).map(|_| ()));')
        check("Ok(())" in reply.stdout, "the model works on after the interrupt", reply)


def request(url, token, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else None


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


async def execute_over_websocket(url, code):
    """Runs `code` through the server's websocket to the kernel, as JupyterLab does, and returns
    the reply's status and the text the cell showed."""
    channel = await websocket_connect(url)
    msg_id = uuid.uuid4().hex
    channel.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    shown = ""
    while True:
        text = await asyncio.wait_for(channel.read_message(), START_WITHIN)
        if text is None:
            return "closed", shown
        msg = json.loads(text)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] in ("execute_result", "display_data"):
            shown += msg["content"]["data"].get("text/plain", "")
        elif msg["msg_type"] == "execute_reply":
            channel.close()
            return msg["content"]["status"], shown


def lab():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    server = subprocess.Popen(
        [os.path.join(ROOT, "environment", "lab"), "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    log = []
    reader = threading.Thread(target=lambda: log.extend(server.stdout), daemon=True)
    reader.start()
    api = f"http://127.0.0.1:{port}/api"
    try:
        until("the server answers", lambda: request(f"{api}/status", token), START_WITHIN)
        specs = request(f"{api}/kernelspecs", token)["kernelspecs"]
        check(KERNEL in specs, f"the server lists the kernel {KERNEL}")
        session = request(f"{api}/sessions", token, "POST", {
            "path": "00-prepare-data.ipynb", "name": "00-prepare-data.ipynb", "type": "notebook",
            "kernel": {"name": KERNEL}})
        channels = f"ws://127.0.0.1:{port}/api/kernels/{session['kernel']['id']}/channels?token={token}"
        status, shown = asyncio.run(execute_over_websocket(
            channels, first_cell(os.path.join(NOTEBOOKS, "00-prepare-data.ipynb"))))
        check(status == "ok" and "00-prepare-data:" in shown,
              "a session of the kernel on 00-prepare-data.ipynb runs its first cell, as JupyterLab does", shown)
        request(f"{api}/sessions/{session['id']}", token, "DELETE")
        request(f"{api}/shutdown", token, "POST")
        server.wait(timeout=60)
        reader.join(timeout=10)
        check(server.returncode == 0, "the server stops when asked")
    finally:
        # After a failure too: the server shuts its kernels down (they have sessions of their own).
        if server.poll() is None:
            try:
                request(f"{api}/shutdown", token, "POST")
                server.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(server.pid, 9)
    said = sum("--allow-root" in line for line in log)
    if os.geteuid() == 0:
        check(said == 1, "as root, environment/lab says once that it passes --allow-root", "".join(log))


if __name__ == "__main__":
    tests = {"interrupts": interrupts, "lab": lab}
    if len(sys.argv) != 2 or sys.argv[1] not in tests:
        sys.exit(__doc__)
    tests[sys.argv[1]]()

"""Tests of the "Rust (catsdogs)" kernel as JupyterLab uses it, headless (environment/test runs them).

interrupts: JupyterLab's stop button (jupyter_client's interrupt_kernel) while the kernel is idle,
  during a sleep loop, and during `fit` on the built-in sample, each with a cell queued behind it
  as Run All queues them, in a kernel started with SIGINT ignored (as a Jupyter started from a
  background job or under nohup starts it). The kernel must stay alive, the cell reply at once and the queued cell
  be answered `aborted` without running; what survives is what catsdogs-kernel's header says:
  everything when idle or in `fit` (which returns the History of its finished epochs, the last of
  them checkpointed), no variable after code that cannot stop on request.
proxy: what environment/kernel_proxy.py adds to evcxr: a cell queued behind one that fails is
  answered `aborted` (but runs when the failing cell's request sets stop_on_error to false); a
  cell that updates a DisplayHandle gets display_data with an id, then update_display_data for it
  (an image/png among them) before its reply, and no marked line in its stdout; the executed
  notebook that nbclient saves keeps the last state of the display; an interrupt_request message
  stops a cell as the stop button does; the heartbeat answers; a second stop ends the process
  running the cells, and the cell says that the variables are gone. A training cell as notebooks
  02/03 have it shows Keras's bar as a display redrawn in place (ended by the epoch's line with
  val_loss and val_acc) and the LiveCurves figure as a display with an id, updated in place at
  least twice before the cell's reply.
lab: `environment/lab` as a person starts it: the server answers its REST API, lists the kernel,
  opens a session of it on a notebook, runs the notebook's first cell through the server's
  websocket as JupyterLab does, and stops when asked; as root it says once that it passed
  --allow-root.

Usage: python kernel_tests.py interrupts | proxy | lab
"""

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid

import nbformat
from tornado.websocket import websocket_connect

from kernel import KERNEL, NOTEBOOKS, ROOT, Kernel, LabServer, first_cell
from run_notebooks import execute

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


def interrupted(kernel, cells, when, delay, timeout, interrupt=None):
    """Runs `cells` as Run All does, the first of which prints as it goes, interrupts it `delay`
    seconds after `when(stdout_so_far)` first holds (with `interrupt`, the stop button by
    default), and returns (replies, seconds from the interrupt to the replies)."""
    seen, sent = [], []

    def on_output(stdout):
        if not seen and when(stdout):
            seen.append(time.monotonic())
        if seen and not sent and time.monotonic() >= seen[0] + delay:
            sent.append(time.monotonic())
            (interrupt or kernel.interrupt)()

    replies = kernel.run_all(cells, timeout, on_output)
    check(bool(sent), "the cell was interrupted while it ran", replies[0])
    return replies, time.monotonic() - sent[0]


def aborted(reply, what):
    check(reply.status == "aborted" and not reply.stdout and not reply.stderr,
          f"the cell queued behind {what} is answered aborted and does not run", reply)


def interrupts():
    checkpoints = os.path.join(ROOT, "runs", "test-kernel", "checkpoints")
    shutil.rmtree(checkpoints, ignore_errors=True)
    # Started as from a background job (SIGINT ignored), which the launcher must undo; the proxy
    # test starts its kernel as a terminal does.
    with Kernel(sigint_ignored=True) as kernel:
        run_ok(kernel, first_cell(os.path.join(NOTEBOOKS, "00-prepare-data.ipynb")))
        run_ok(kernel, "let keep = 42;")

        kernel.interrupt()
        time.sleep(2)
        reply = run_ok(kernel, 'println!("{keep}");')
        check(kernel.alive() and reply.stdout.strip() == "42", "an interrupt while idle changes nothing", reply)

        # A loop of 2 minutes, interrupted after 5 s.
        (reply, queued), after = interrupted(kernel, [LOOP, QUEUED], lambda out: out, 5, 300)
        check(kernel.alive(), "the kernel survives an interrupted sleep loop")
        check(after < REPLY_WITHIN and reply.status == "error", f"the loop's cell ends with an error {after:.1f} s after the interrupt", reply)
        check("cannot stop on request" in reply.stderr and VARIABLES_GONE in reply.stderr,
              "the cell says why its variables are gone", reply)
        aborted(queued, "the interrupted loop")
        reply = kernel.run('println!("{keep}");', 600)
        check(reply.status == "error" and "keep" in reply.stderr + reply.error, "variables are gone after an interrupted loop", reply)
        run_ok(kernel, "println!(\"{}\", 1 + 1);")

        run_ok(kernel, first_cell(os.path.join(NOTEBOOKS, "02-feature-extraction.ipynb")))
        run_ok(kernel, "let keep = 42;")
        run_ok(kernel, small_model(10) + f"""
let options = FitOptions::default().cache(false).checkpoints({json.dumps(checkpoints)});""")
        # 100 epochs would take many minutes: the interrupt comes during the second.
        fit = "model.fit_with(&train, 100, &validation, options)?;"
        (reply, queued), after = interrupted(kernel, [fit, QUEUED], lambda out: "Epoch 2/100" in out, 0, 900)
        aborted(queued, "the interrupted fit")
        check(kernel.alive(), "the kernel survives an interrupted fit")
        said = reply.stdout + reply.stderr + reply.error
        # evcxr answers a cell whose `?` returned an error with the error on stderr, its status
        # "ok" (the proxy still aborts the queued cells, as checked above).
        check(after < REPLY_WITHIN and "interrupted at epoch 2/100" in said,
              f"fit stops at the next step, {after:.1f} s after the interrupt", reply)
        check("interrupted at epoch 2/100" in said and "epoch 1 is saved in" in said,
              "the cell says where fit stopped and what is saved", reply)
        check(sorted(os.listdir(checkpoints)) == ["epoch-0001"], "the finished epoch's checkpoint is on disk")
        reply = run_ok(kernel, 'println!("{keep} {}", model.history().loss().len());')
        check(reply.stdout.strip() == "42 1", "the variables survive and the model keeps the first epoch's History", reply)
        reply = run_ok(kernel, 'println!("{:?}", model.evaluate(&validation).map(|_| ()));')
        check("Ok(())" in reply.stdout, "the model works on after the interrupt", reply)


# A loop of 2 minutes that prints as it goes, and a cell to queue behind another.
LOOP = 'for i in 0..1200 { println!("{i}"); std::thread::sleep(std::time::Duration::from_millis(100)); }'
QUEUED = 'println!("the queued cell ran");'
# What a cell says when the process running the cells has ended (kernel_proxy.py).
VARIABLES_GONE = "so the notebook's variables are gone: run the notebook again from the top"

# A cell that shows a live display: two texts, then a figure, in place.
LIVE = """
let live = catsdogs::display::DisplayHandle::new();
for step in 1..=2 {
    live.update(&catsdogs::display::Html::new(format!("<b>step {step}/2</b>"), format!("step {step}/2")));
    std::thread::sleep(std::time::Duration::from_millis(300));
}
live.update(&catsdogs::plot::history_curves(&catsdogs::History::default(), "live"));
println!("the loop is done");
"""

def small_model(batch_size):
    """Notebook 02's model, small: the sample's flows at 32x32 in batches of `batch_size`, VGG16's
    conv base frozen under one sigmoid unit, compiled."""
    return f"""
let data = nb.split_dir()?;
let options = FlowOptions::default().target_size(32, 32).batch_size({batch_size});
let datagen = ImageDataGenerator::new(Preprocess::Vgg16);
let train = datagen.flow_from_directory(data.join("train"), options.clone())?;
let validation = datagen.flow_from_directory(data.join("validation"), options)?;
let base = Backbone::Vgg16.application(false).input_size(32, 32).build(device())?;
let mut model = Sequential::new(&base).flatten().dense(1, Activation::Sigmoid);
model.freeze_base();
model.compile(RMSprop::new(1e-4), Loss::BinaryCrossentropy);
"""


# A training cell as notebooks 02/03 have it, small: 2 epochs with the live curves.
TRAINING = small_model(50) + """model.fit_with(&train, 2, &validation, FitOptions::default().callback(LiveCurves::new(true)))?;
"""


def live_training(kernel):
    """The training cell's displays: the bar of each epoch and the curves, redrawn in place."""
    reply = run_ok(kernel, TRAINING)
    by_id = {}
    for kind, display_id, data, after_reply in reply.displays:
        by_id.setdefault(display_id, []).append((kind, data, after_reply))
    check(None not in by_id, "every display of the training cell has an id", reply)
    figures = [shown for shown in by_id.values() if any("image/png" in data for _, data, _ in shown)]
    check(len(figures) == 1 and figures[0][0][0] == "display_data"
          and sum(kind == "update_display_data" and not late for kind, _, late in figures[0]) >= 2
          and all("image/png" in data for _, data, _ in figures[0]),
          "the live curves are one display, updated in place at least twice before the cell's reply", reply)
    bars = [shown for shown in by_id.values() if all(set(data) == {"text/plain"} for _, data, _ in shown)]
    epochs = [shown[-1][1]["text/plain"] for shown in bars if "val_acc: " in shown[-1][1]["text/plain"]]
    check(bars and all(shown[0][0] == "display_data" for shown in bars) and len(epochs) == 2
          and all(text.startswith("8/8 [" + "=" * 30 + "]") and "val_loss: " in text for text in epochs),
          "each epoch's bar is one display that ends as Keras's line with val_loss and val_acc", reply)
    check("CATSDOGS_LIVE_DISPLAY" not in reply.stdout and "Epoch 2/2" in reply.stdout,
          "the cell's stdout keeps its lines (Epoch 2/2) and no marked line", reply)


def proxy():
    with Kernel() as kernel:
        setup = first_cell(os.path.join(NOTEBOOKS, "00-prepare-data.ipynb"))
        run_ok(kernel, setup)
        check(kernel.client.hb_channel.is_beating(), "the heartbeat passes through the proxy")

        failing, queued = kernel.run_all(['let x: u32 = "not a number";', QUEUED], 600)
        check(failing.status == "error", "a cell that does not compile fails", failing)
        aborted(queued, "a failing cell")
        reply = run_ok(kernel, QUEUED)
        check("the queued cell ran" in reply.stdout, "a cell sent after the aborted ones runs", reply)
        failing, queued = kernel.run_all(['let x: u32 = "not a number";', QUEUED], 600, stop_on_error=False)
        check(failing.status == "error" and queued.status == "ok" and "the queued cell ran" in queued.stdout,
              "with stop_on_error false, the cell queued behind a failing one runs", queued)

        reply = run_ok(kernel, LIVE)
        kinds = [kind for kind, _, _, _ in reply.displays]
        ids = {display_id for _, display_id, _, _ in reply.displays}
        early = [d for d in reply.displays if d[0] == "update_display_data" and not d[3]]
        check(kinds[:1] == ["display_data"] and kinds.count("update_display_data") == 2 and len(ids) == 1
              and None not in ids, "a live display is shown once with an id, then updated twice in place", reply)
        check(len(early) >= 2 and any("image/png" in data for _, _, data, _ in reply.displays)
              and reply.displays[0][2] == {"text/html": "<b>step 1/2</b>", "text/plain": "step 1/2"},
              "its updates (the last an image/png) come before the cell's reply", reply)
        check(reply.stdout == "the loop is done\n", "the marked lines leave the cell's stdout", reply)

        live_training(kernel)

        # An interrupt_request message (a kernelspec's "message" interrupt mode) does what the
        # stop button does: the launcher ends the loop, which cannot stop on request, also after
        # a fit (which catches SIGINT only while it runs).
        def interrupt_request():
            kernel.client.control_channel.send(kernel.client.session.msg("interrupt_request", {}))

        (reply, queued), after = interrupted(kernel, [LOOP, QUEUED], lambda out: out, 2, 300, interrupt_request)
        check(after < REPLY_WITHIN and "cannot stop on request" in reply.stderr,
              "an interrupt_request stops the cell through the launcher", reply)
        aborted(queued, "a cell stopped by an interrupt_request")
        answer = kernel.client.control_channel.get_msg(timeout=REPLY_WITHIN)
        check(answer["msg_type"] == "interrupt_reply" and answer["content"]["status"] == "ok",
              "the interrupt_request gets its reply")


        # A second stop while the crate's handler waits for the next step ends the process.
        stubborn = "catsdogs::interrupt::stop_on_ctrl_c();\n" + LOOP
        stops = []

        def twice():
            stops.append(time.monotonic())
            kernel.interrupt()
            time.sleep(1)
            kernel.interrupt()

        (reply, queued), _ = interrupted(kernel, [stubborn, QUEUED], lambda out: out, 2, 300, twice)
        check(kernel.alive() and reply.status == "error" and VARIABLES_GONE in reply.stderr
              and "exit status: 130" in reply.stderr,
              "a second stop ends the cell's process, and the cell says the variables are gone", reply)
        aborted(queued, "a cell stopped twice")

    # nbclient, as run_notebooks.py and `lab --headless` use it, keeps the display's last state.
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup), nbformat.v4.new_code_cell(LIVE)])
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Rust (catsdogs)", "language": "rust"}
    with tempfile.TemporaryDirectory() as out:
        path = os.path.join(out, "live.ipynb")
        nbformat.write(nb, path)
        _, failure = execute(path, os.path.join(out, "executed"), cwd=NOTEBOOKS)
        saved = nbformat.read(os.path.join(out, "executed", "live.ipynb"), as_version=4)
    check(failure is None, "a notebook with a live display runs headless", failure)
    outputs = saved.cells[1].outputs
    shown = [o for o in outputs if o.output_type == "display_data"]
    check(len(shown) == 1 and set(shown[0].data) == {"image/png"}
          and [o.text for o in outputs if o.output_type == "stream"] == ["the loop is done\n"],
          "the saved notebook keeps the live display's last state (the figure) and no marked line",
          "\n".join(str(o)[:200] for o in outputs))


async def execute_over_websocket(url, code):
    """Runs `code` through the server's websocket to the kernel, as JupyterLab does, and returns
    the reply's status, the text the cell showed and what it wrote (stdout, stderr, errors)."""
    channel = await websocket_connect(url)
    msg_id = uuid.uuid4().hex
    channel.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    shown, written = "", ""
    while True:
        try:
            text = await asyncio.wait_for(channel.read_message(), START_WITHIN)
        except asyncio.TimeoutError:
            return f"silent for {START_WITHIN} s", shown, written
        if text is None:
            return "closed", shown, written
        msg = json.loads(text)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        content = msg["content"]
        if msg["msg_type"] in ("execute_result", "display_data"):
            shown += content["data"].get("text/plain", "")
        elif msg["msg_type"] == "stream":
            written += content["text"]
        elif msg["msg_type"] == "error":
            written += f"{content['ename']}: {content['evalue']}\n"
        elif msg["msg_type"] == "execute_reply":
            channel.close()
            return content["status"], shown, written


def lab():
    with LabServer(START_WITHIN) as server:
        specs = server.request("/api/kernelspecs")["kernelspecs"]
        check(KERNEL in specs, f"the server lists the kernel {KERNEL}")
        session = server.request("/api/sessions", "POST", {
            "path": "00-prepare-data.ipynb", "name": "00-prepare-data.ipynb", "type": "notebook",
            "kernel": {"name": KERNEL}})
        channels = (f"ws://127.0.0.1:{server.port}/api/kernels/{session['kernel']['id']}/channels"
                    f"?token={server.token}")
        status, shown, written = asyncio.run(execute_over_websocket(
            channels, first_cell(os.path.join(NOTEBOOKS, "00-prepare-data.ipynb"))))
        check(status == "ok" and "00-prepare-data:" in shown,
              "a session of the kernel on 00-prepare-data.ipynb runs its first cell, as JupyterLab does",
              f"reply: {status}\nshown: {shown}\nwritten: {written}\nthe server's log:\n" + "".join(server.log[-40:]))
        server.request(f"/api/sessions/{session['id']}", "DELETE")
        check(server.stop() == 0, "the server stops when asked")
    said = sum("--allow-root" in line for line in server.log)
    if os.geteuid() == 0:
        check(said == 1, "as root, environment/lab says once that it passes --allow-root", "".join(server.log))


if __name__ == "__main__":
    tests = {"interrupts": interrupts, "proxy": proxy, "lab": lab}
    if len(sys.argv) != 2 or sys.argv[1] not in tests:
        sys.exit(__doc__)
    tests[sys.argv[1]]()

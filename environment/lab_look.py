"""A look at live training in JupyterLab, in a real browser, as a person sees it.

Starts `environment/lab` (sample mode, JupyterLab's app exposed to the page), opens a notebook of
its own (notebooks/zz-lab-look.ipynb: notebook 02's cells up to its curves, run as "lab-look",
EPOCHS epochs without the feature cache so that each epoch takes seconds), runs all its cells as
Run > Run All Cells does, and while the training cell runs records what its output area shows:
the Keras bar of each epoch and the live figure, sampled every half second. It saves a screenshot
mid-training (OUT/mid-training.png, with the third epoch's bar part of the way) and one at the end (OUT/end.png), prints
what it saw, and exits 1 unless the figure was one image redrawn in place at least twice while
the cell ran and the bar counted steps within an epoch. It removes its notebook when it ends (it
refuses to start if that file exists).

Needs Chromium, its driver and selenium, which environment/setup does not install:
    apt-get install chromium chromium-driver
    pip install --target /some/folder selenium   # then PYTHONPATH=/some/folder

Usage: python environment/lab_look.py OUT [EPOCHS]   (default 6 epochs)
"""

import json
import os
import re
import sys
import time

import nbformat

from kernel import NOTEBOOKS, LabServer, until

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
except ImportError:
    sys.exit("lab_look needs selenium: pip install --target FOLDER selenium, and put FOLDER on PYTHONPATH")

NAME = "zz-lab-look.ipynb"
# The training cell's outputs: the texts of its stream and display outputs, and its images.
OUTPUTS = """
const panel = window.jupyterapp.shell.currentWidget;
const cell = panel.content.widgets[arguments[0]];
const images = [...cell.node.querySelectorAll('.jp-OutputArea-output img')].map(i => i.src);
const texts = [...cell.node.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText);
return {images: images, texts: texts, running: cell.promptNode.innerText.includes('*')};
"""
KERNEL_IDLE = """
const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
const kernel = panel && panel.sessionContext && panel.sessionContext.session
  && panel.sessionContext.session.kernel;
return kernel ? kernel.status === 'idle' : false;
"""


def look_notebook():
    """Notebook 02's code cells up to its curves, with a run folder of their own."""
    with open(os.path.join(NOTEBOOKS, "02-feature-extraction.ipynb"), encoding="utf-8") as f:
        cells = ["".join(c["source"]) for c in json.load(f)["cells"] if c["cell_type"] == "code"]
    cells = cells[:1 + cells.index(next(c for c in cells if "history.plot()" in c))]
    cells[0] = cells[0].replace('Notebook::start("02-feature-extraction")', 'Notebook::start("lab-look")')
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "catsdogs-rust", "display_name": "Rust (catsdogs)", "language": "rust"}
    return nb, next(i for i, c in enumerate(cells) if ".fit_with(" in c)


def main(out, epochs):
    os.makedirs(out, exist_ok=True)
    nb, training = look_notebook()
    path = os.path.join(NOTEBOOKS, NAME)
    with open(path, "x", encoding="utf-8") as f:  # never over a file of someone else's
        nbformat.write(nb, f)
    checkpoint = os.path.join(NOTEBOOKS, ".ipynb_checkpoints", NAME.replace(".ipynb", "-checkpoint.ipynb"))
    had_checkpoint, had_checkpoints = os.path.exists(checkpoint), os.path.isdir(os.path.dirname(checkpoint))
    env = {"CATSDOGS_MODE": "sample", "CATSDOGS_EPOCHS": str(epochs), "CATSDOGS_FEATURE_CACHE": "false",
           "CATSDOGS_FRESH": "true"}
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1300"]:
        options.add_argument(argument)
    try:
        with LabServer(120, ["--LabApp.expose_app_in_browser=True"], env) as server:
            driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
            try:
                seen = watch(driver, server, training, out)
            finally:
                driver.quit()
    finally:
        os.remove(path)
        if not had_checkpoint and os.path.exists(checkpoint):
            os.remove(checkpoint)
        if not had_checkpoints and os.path.isdir(os.path.dirname(checkpoint)):
            os.rmdir(os.path.dirname(checkpoint))  # Jupyter made it for our notebook; only if empty
    report(seen, out)


def watch(driver, server, training, out):
    """Runs all cells and samples the training cell's outputs until the last cell is done."""
    driver.get(f"{server.url}/lab/tree/{NAME}?token={server.token}")
    until("the notebook's kernel is idle in JupyterLab", lambda: driver.execute_script(KERNEL_IDLE), 600)
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    seen = {"samples": [], "mid": None}
    started = time.monotonic()
    while time.monotonic() - started < 1800:
        sample = driver.execute_script(OUTPUTS, training)
        seen["samples"].append(sample)
        text = "\n".join(sample["texts"])
        if seen["mid"] is None and sample["images"] and (mid_epoch(text, 3) or "Epoch 4/" in text):
            driver.execute_script(
                "window.jupyterapp.shell.currentWidget.content.widgets[arguments[0]].node.scrollIntoView();",
                training)
            time.sleep(0.3)
            driver.save_screenshot(os.path.join(out, "mid-training.png"))
            seen["mid"] = text
        if seen["mid"] and not sample["running"] and driver.execute_script(KERNEL_IDLE):
            break
        time.sleep(0.5)
    time.sleep(2)
    driver.save_screenshot(os.path.join(out, "end.png"))
    seen["final"] = driver.execute_script(OUTPUTS, training)
    return seen


def mid_epoch(text, epoch):
    """Whether the bar of epoch `epoch` shows, part of the way through its steps."""
    _, found, rest = text.partition(f"Epoch {epoch}/")
    steps = [m.groups() for m in re.finditer(r"^(\d+)/(\d+) \[", rest, re.M)]
    return bool(found and steps and int(steps[-1][0]) < int(steps[-1][1]))


def report(seen, out):
    running = [s for s in seen["samples"] if s["running"]]
    figures = {src for s in running for src in s["images"]}
    most_images = max((len(s["images"]) for s in running), default=0)
    bars = {line for s in running for t in s["texts"] for line in t.splitlines() if "/" in line and "[" in line}
    print(f"samples while the training cell ran: {len(running)}")
    print(f"images in its output at once: at most {most_images}; distinct figures shown: {len(figures)}")
    print(f"distinct bar states shown: {len(bars)}")
    print("its output mid-training:\n" + (seen["mid"] or "(never reached)"))
    print("its output at the end:\n" + "\n".join(seen["final"]["texts"]))
    print(f"screenshots: {os.path.join(out, 'mid-training.png')}, {os.path.join(out, 'end.png')}")
    if not (seen["mid"] and most_images == 1 and len(figures) >= 2 and len(bars) >= 2):
        sys.exit("FAILED: the training cell did not show one figure redrawn in place and a bar that moves")


if __name__ == "__main__":
    if not 2 <= len(sys.argv) <= 3:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 6)

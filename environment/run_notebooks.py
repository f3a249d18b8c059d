"""Executes notebooks headless through the "Rust (catsdogs)" kernel and fails on any cell error.

A cell fails when it produces an error output (a Rust compile error, a `?` error) or when Rust code
panics: evcxr reports a panic only as text on stderr ("thread ... panicked at ...") and runs the
next cells, so the stderr stream is checked too. Execution stops at the first failing cell, whose
message is printed. Executed copies, outputs included, go to --out.

A notebook must carry the kernel's own `language_info` in its metadata (what the kernel's
kernel_info_reply gives), or JupyterLab marks it modified as soon as it is opened.

--expect NOTEBOOK=KIND[,KIND] asserts that the executed notebook shows figures of those kinds. Every
notebook must show at least one image. A figure's kind is read from the `catsdogs-figure` tEXt
chunk that the crate's plot module writes into each PNG; a PNG without one counts as "image".

Usage: python run_notebooks.py --out DIR [--expect NB=KIND ...] NOTEBOOK...
"""

import argparse
import base64
import json
import os
import struct
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

KERNEL = "catsdogs-rust"


def cell_failure(cell):
    """The error text of an executed code cell, or None if it ran cleanly."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return "\n".join([f"{out.get('ename')}: {out.get('evalue')}", *out.get("traceback", [])])
        if out.get("output_type") == "stream" and out.get("name") == "stderr" and " panicked at " in out.get("text", ""):
            return out["text"]
    return None


def figure_kind(png_b64):
    """The value of the PNG's `catsdogs-figure` tEXt chunk, or "image" if it has none."""
    data = base64.b64decode(png_b64)
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"tEXt" and body.startswith(b"catsdogs-figure\0"):
            return body.split(b"\0", 1)[1].decode()
        pos += 12 + length
    return "image"


def figures(nb):
    return [figure_kind(out["data"]["image/png"])
            for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]


def question_mark_trap(nb):
    """Why evcxr would show a cell's last value as text instead of calling its `evcxr_display`, or None.

    evcxr wraps cells in a function that allows `?` only after a first cell needed it; in that first
    cell, a `?` in the last expression is taken for a failed `.evcxr_display()` call, and evcxr falls
    back to printing the value's Debug text (an image shows as `Png(224x224, ...)`).
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = [line.split("//", 1)[0].rstrip() for line in cell.source.splitlines()]
        lines = [line for line in lines if line and not line.lstrip().startswith(":")]
        if not any("?" in line for line in lines):
            continue
        last = lines[-1]
        if "?" in last and not last.endswith((";", "}")):
            return (f"cell {cell.source!r}: the notebook's first `?` is in the cell's last expression, "
                    "which evcxr then shows as text; use `?` in an earlier line or cell first")
        return None
    return None


class StopAtFailure(Exception):
    pass


def execute(path, out_dir, cwd=None):
    """Executes the notebook at `path` in `cwd` (its own folder by default), writes the executed
    copy to `out_dir`, and returns it with the first failure (None if every cell ran)."""
    nb = nbformat.read(path, as_version=4)
    trap = question_mark_trap(nb)
    if trap:
        return nb, trap
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=None, allow_errors=True,
                            resources={"metadata": {"path": cwd or os.path.dirname(os.path.abspath(path))}})

    def on_cell_executed(cell, **_):
        failure = cell_failure(cell)
        if failure:
            raise StopAtFailure(f"cell {cell.get('execution_count')}:\n{cell.source}\n---\n{failure}")

    client.on_cell_executed = on_cell_executed
    failure = None
    try:
        client.execute()
    except StopAtFailure as e:
        failure = str(e)
    except (CellExecutionError, DeadKernelError) as e:
        failure = f"the kernel died or refused a cell: {e}"
    finally:
        os.makedirs(out_dir, exist_ok=True)
        nbformat.write(nb, os.path.join(out_dir, os.path.basename(path)))
    return nb, failure


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--expect", action="append", default=[])
    parser.add_argument("notebooks", nargs="+")
    args = parser.parse_args()
    expected = {}
    for item in args.expect:
        name, kinds = item.split("=", 1)
        expected[name] = kinds.split(",")

    failed = []
    for path in args.notebooks:
        name = os.path.basename(path)
        start = time.time()
        print(f"notebook {name}: running", flush=True)
        committed = nbformat.read(path, as_version=4).metadata.get("language_info")
        nb, failure = execute(path, args.out)
        shown = figures(nb)
        kernels = nb.metadata.get("language_info")
        if failure is None and kernels != committed:
            failure = (f"its metadata's language_info is {json.dumps(committed, sort_keys=True)}, the "
                       f"kernel's is {json.dumps(kernels, sort_keys=True)}: commit the kernel's, or "
                       "JupyterLab marks the notebook modified as soon as it opens it")
        if failure is None and not shown:
            failure = "it shows no image"
        missing = [k for k in expected.get(name, []) if k not in shown]
        if failure is None and missing:
            failure = f"it shows no {', '.join(missing)} figure (it shows: {', '.join(shown)})"
        status = "ok" if failure is None else "FAILED"
        print(f"notebook {name}: {status} in {time.time() - start:.0f}s, figures: {', '.join(shown) or 'none'}", flush=True)
        if failure:
            print(failure, flush=True)
            failed.append(name)
    print(f"executed notebooks are in {args.out}")
    if failed:
        print(f"failed notebooks: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

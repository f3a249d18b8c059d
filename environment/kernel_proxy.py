"""Between Jupyter and evcxr_jupyter: the stop button ends Run All, and cells show live displays.

catsdogs-kernel starts this proxy on Jupyter's connection file, and evcxr_jupyter on a second one
that the proxy writes (the same key, ports of its own). Every message passes through as it is,
except for these:

- execute_request: evcxr_jupyter 0.22 ignores `stop_on_error` and runs every queued cell, even
  after one failed or was stopped. The proxy holds the requests and forwards one at a time. When
  a cell ends in an error, or an interrupt came while it ran (the launcher sends SIGUSR1 on every
  interrupt, see catsdogs-kernel), the requests queued behind it are answered `aborted` and do
  not run, as ipykernel does; a cell whose request sets `stop_on_error` to false aborts nothing.
- interrupt_request (control): evcxr would kill the process that runs the cells. The proxy
  interrupts as the kernelspec's signal mode does (SIGINT to the kernel's process group), so
  the launcher decides, and replies.
- stdout lines that catsdogs::display::DisplayHandle marks (`CATSDOGS_LIVE_DISPLAY ID JSON`,
  the JSON a MIME bundle) become display_data with transient.display_id ID the first time,
  update_display_data after, and leave the stream.
- evcxr's error "Subprocess terminated with status: ..." (the process running the cells ended:
  a second stop, a crash) says that the notebook's variables are gone and to run it again from
  the top.
- A cell's `idle` status waits until evcxr's output has been quiet for a moment: evcxr sends a
  cell's last lines from another thread, sometimes after the idle, and Jupyter files output that
  comes after a cell's idle nowhere (the last state of a live display would be lost).

The proxy ends with its parent (the launcher), or after it passed on evcxr's shutdown_reply.

Usage: python kernel_proxy.py JUPYTER_CONNECTION_FILE EVCXR_CONNECTION_FILE
"""

import collections
import datetime
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import sys
import time
import uuid

import zmq

DELIMITER = b"<IDS|MSG>"
# What catsdogs::display::DisplayHandle writes before a display's id and MIME bundle.
DISPLAY_MARK = "CATSDOGS_LIVE_DISPLAY "
# How evcxr says that the process running the cells ended.
ENDED = "Subprocess terminated with status: "
# Seconds of silence on evcxr's iopub before a finished cell's idle status is passed on, and the
# longest a reply waits for its idle.
QUIET = 0.05
IDLE_WITHIN = 2.0
# Seconds between two kernel_info requests while evcxr starts.
PROBE_EVERY = 0.25


class Message:
    """A message as it came off a socket: its frames, routing identities and parsed parts."""

    def __init__(self, frames):
        self.frames = frames
        self.at = frames.index(DELIMITER)
        self.idents = frames[:self.at]
        self.header = self.part(0)

    def part(self, n):
        """0 header, 1 parent header, 2 metadata, 3 content."""
        return json.loads(self.frames[self.at + 2 + n])

    @property
    def type(self):
        return self.header.get("msg_type", "")

    @property
    def id(self):
        return self.header.get("msg_id")

    def parent_id(self):
        return self.part(1).get("msg_id")


class Wire:
    """Jupyter's wire protocol: new messages signed with the connection's key."""

    def __init__(self, connection):
        self.key = connection["key"].encode()
        scheme = connection.get("signature_scheme", "hmac-sha256")
        self.digest = getattr(hashlib, scheme.split("-", 1)[1])
        self.session = uuid.uuid4().hex

    def frames(self, msg_type, content, parent, idents=(), metadata=None):
        header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "kernel",
                  "session": self.session, "version": "5.3",
                  "date": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        parts = [json.dumps(part).encode() for part in (header, parent, metadata or {}, content)]
        signature = b""
        if self.key:
            mac = hmac.new(self.key, digestmod=self.digest)
            for part in parts:
                mac.update(part)
            signature = mac.hexdigest().encode()
        return [*idents, DELIMITER, signature, *parts]


def free_ports(count):
    """Ports that nothing listens on now, for evcxr to bind a moment later. They are drawn below the
    range from which the system takes the source ports of outgoing connections: in that moment
    the proxy's own sockets already try to connect to them, and one of those tries, given one of
    evcxr's ports as its source port, made evcxr fail ("Address already in use")."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            ephemeral = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768  # Linux's default
    low = 10000 if ephemeral > 20000 else 1024
    draw = random.SystemRandom()
    ports = []
    for _ in range(1000):
        if len(ports) == count:
            return ports
        port = draw.randrange(low, ephemeral)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    sys.exit(f"catsdogs-kernel: no {count} free ports between {low} and {ephemeral} for evcxr_jupyter")


def write_evcxr_connection(path, jupyter):
    """Writes evcxr's connection file (readable by its owner only, as it holds the key)."""
    ports = dict(zip(["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"], free_ports(5)))
    connection = {**ports, "ip": "127.0.0.1", "transport": "tcp", "key": jupyter["key"],
                  "signature_scheme": jupyter.get("signature_scheme", "hmac-sha256")}
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(connection, f)
    os.replace(tmp, path)
    return connection


class Proxy:
    def __init__(self, jupyter, evcxr):
        self.wire = Wire(jupyter)
        self.context = zmq.Context()
        outer = f"{jupyter['transport']}://{jupyter['ip']}:"
        inner = "tcp://127.0.0.1:"
        # evcxr sends a cell's input_request on its stdin socket to the identity that sent the
        # cell on its shell socket: the proxy's two sockets there share one identity.
        identity = f"catsdogs-proxy-{os.getpid()}".encode()
        self.shell = self.bind(zmq.ROUTER, outer, jupyter["shell_port"])
        self.control = self.bind(zmq.ROUTER, outer, jupyter["control_port"])
        self.stdin = self.bind(zmq.ROUTER, outer, jupyter["stdin_port"])
        self.hb = self.bind(zmq.ROUTER, outer, jupyter["hb_port"])
        self.iopub = self.bind(zmq.PUB, outer, jupyter["iopub_port"])
        self.evcxr_shell = self.connect(zmq.DEALER, inner, evcxr["shell_port"], identity)
        self.evcxr_control = self.connect(zmq.DEALER, inner, evcxr["control_port"])
        self.evcxr_stdin = self.connect(zmq.DEALER, inner, evcxr["stdin_port"], identity)
        self.evcxr_hb = self.connect(zmq.DEALER, inner, evcxr["hb_port"])
        self.evcxr_iopub = self.connect(zmq.SUB, inner, evcxr["iopub_port"])
        self.evcxr_iopub.setsockopt(zmq.SUBSCRIBE, b"")
        # Both ways, as they are.
        self.passing = {self.stdin: self.evcxr_stdin, self.evcxr_stdin: self.stdin,
                        self.hb: self.evcxr_hb, self.evcxr_hb: self.hb}
        self.poller = zmq.Poller()
        for sock in [self.evcxr_shell, self.evcxr_control, self.evcxr_iopub, *self.passing]:
            self.poller.register(sock, zmq.POLLIN)

        self.queue = collections.deque()  # execute_requests that wait for evcxr
        self.current = None  # the request evcxr runs
        self.status = None  # its execute_reply's status, once there
        self.replied_at = 0.0
        self.idle = None  # evcxr's idle status after it, held back
        self.interrupted = False  # an interrupt came while it ran
        self.last_output = 0.0  # when evcxr last published something
        self.displays = set()  # the ids of the live displays shown so far
        self.probes = set()  # kernel_info requests of the proxy's own, while evcxr starts
        self.ready = False
        self.parent = os.getppid()

    def bind(self, kind, address, port):
        sock = self.context.socket(kind)
        sock.linger = 1000
        sock.bind(f"{address}{port}")
        return sock

    def connect(self, kind, address, port, identity=None):
        sock = self.context.socket(kind)
        sock.linger = 1000
        if identity:
            sock.identity = identity
        if kind == zmq.SUB:
            sock.rcvhwm = 0  # a cell that prints fast loses no line here
        sock.connect(f"{address}{port}")
        return sock

    def on_interrupt(self, *_):
        if self.current is not None:
            self.interrupted = True

    def run(self):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launcher decides what an interrupt does
        signal.signal(signal.SIGUSR1, self.on_interrupt)
        probed = 0.0
        while True:
            now = time.monotonic()
            if not self.ready and now - probed >= PROBE_EVERY:
                self.probe()
                probed = now
            timeout = 1000 if self.ready else PROBE_EVERY * 1000
            if self.idle is not None or self.status is not None:
                timeout = QUIET * 1000
            for sock, _ in self.poller.poll(timeout):
                self.receive(sock)
            self.settle()
            self.start_next()
            if os.getppid() != self.parent:
                return  # the launcher is gone

    def probe(self):
        """Asks evcxr for its kernel_info: the first of its status messages that arrives shows
        that the proxy hears evcxr's iopub, and Jupyter's requests start passing."""
        frames = self.wire.frames("kernel_info_request", {}, {})
        self.probes.add(Message(frames).id)
        self.evcxr_shell.send_multipart(frames)

    def receive(self, sock):
        frames = sock.recv_multipart()
        if sock in self.passing:
            self.passing[sock].send_multipart(frames)
            return
        try:
            self.route(sock, frames)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            # Not a Jupyter message (json's errors are ValueErrors): dropped, the proxy goes on.
            print(f"catsdogs-kernel: the proxy dropped a message it could not read ({e!r})", file=sys.stderr)

    def route(self, sock, frames):
        if sock is self.shell:
            self.from_jupyter_shell(Message(frames))
        elif sock is self.control:
            self.from_jupyter_control(Message(frames))
        elif sock is self.evcxr_shell:
            self.from_evcxr_shell(Message(frames))
        elif sock is self.evcxr_control:
            self.from_evcxr_control(Message(frames))
        elif sock is self.evcxr_iopub:
            self.from_evcxr_iopub(Message(frames))

    def from_jupyter_shell(self, msg):
        if msg.type == "execute_request":
            self.queue.append(msg)
        else:
            self.evcxr_shell.send_multipart(msg.frames)

    def from_jupyter_control(self, msg):
        if msg.type != "interrupt_request":
            self.evcxr_control.send_multipart(msg.frames)
            return
        launcher = os.getppid()
        try:
            if os.getpgid(0) == launcher:
                os.killpg(launcher, signal.SIGINT)  # as Jupyter's signal mode does
            else:
                os.kill(launcher, signal.SIGINT)
            status = "ok"
        except OSError:
            status = "error"
        self.control.send_multipart(self.wire.frames("interrupt_reply", {"status": status}, msg.header, msg.idents))

    def from_evcxr_shell(self, msg):
        parent = msg.parent_id()
        if parent in self.probes:
            return
        if self.current is not None and parent == self.current.id and msg.type == "execute_reply":
            self.status = msg.part(3).get("status")
            self.replied_at = time.monotonic()
        self.shell.send_multipart(msg.frames)

    def from_evcxr_control(self, msg):
        self.control.send_multipart(msg.frames)
        if msg.type == "shutdown_reply":
            self.context.destroy(linger=1000)  # sends what is queued, then closes
            sys.exit(0)

    def from_evcxr_iopub(self, msg):
        self.last_output = time.monotonic()
        parent = msg.parent_id()
        if parent in self.probes:
            if not self.ready:
                self.ready = True
                self.poller.register(self.shell, zmq.POLLIN)
                self.poller.register(self.control, zmq.POLLIN)
            return
        if msg.type == "status" and self.current is not None and parent == self.current.id:
            if msg.part(3).get("execution_state") == "idle":
                self.idle = msg.frames
                return
        elif msg.type == "stream":
            content = msg.part(3)
            if content.get("name") == "stdout" and DISPLAY_MARK in content.get("text", ""):
                self.split_stream(content, msg.part(1))
                return
        elif msg.type == "error":
            content = msg.part(3)
            evalue = content.get("evalue", "")
            if ENDED in evalue:
                before, status = evalue.split(ENDED, 1)
                said = (f"{before}The process running the cells has ended ({status.strip()}), so the "
                        "notebook's variables are gone: run the notebook again from the top.")
                content = {**content, "evalue": said, "traceback": said.splitlines()}
                self.iopub.send_multipart(self.wire.frames("error", content, msg.part(1)))
                return
        self.iopub.send_multipart(msg.frames)

    def split_stream(self, content, parent):
        """Publishes the stdout text `content` with its marked lines as displays, in order (evcxr
        sends one line per message, other kernels several)."""
        text = ""
        for line in content["text"].splitlines(keepends=True):
            if line.startswith(DISPLAY_MARK):
                if text:
                    self.iopub.send_multipart(self.wire.frames("stream", {**content, "text": text}, parent))
                    text = ""
                if self.show(line, parent):
                    continue
            text += line
        if text:
            self.iopub.send_multipart(self.wire.frames("stream", {**content, "text": text}, parent))

    def show(self, line, parent):
        """Publishes a marked line as a display (first time) or its update; False if the line
        is not one."""
        try:
            display_id, bundle = line[len(DISPLAY_MARK):].rstrip("\n").split(" ", 1)
            data = json.loads(bundle)
        except ValueError:
            return False
        if not isinstance(data, dict) or not display_id:
            return False
        kind = "update_display_data" if display_id in self.displays else "display_data"
        self.displays.add(display_id)
        content = {"data": data, "metadata": {}, "transient": {"display_id": display_id}}
        self.iopub.send_multipart(self.wire.frames(kind, content, parent))
        return True

    def settle(self):
        """Ends the current cell once its reply is there and evcxr has gone quiet after its
        idle; then aborts the queued cells if it failed or was interrupted."""
        if self.current is None or self.status is None:
            return
        now = time.monotonic()
        if self.idle is None:
            if now - self.replied_at < IDLE_WITHIN:
                return
            self.idle = self.wire.frames("status", {"execution_state": "idle"}, self.current.header)
        elif now - self.last_output < QUIET:
            return
        self.iopub.send_multipart(self.idle)
        cell, failed = self.current, self.status == "error" or self.interrupted
        self.current, self.status, self.idle, self.interrupted = None, None, None, False
        if failed and cell.part(3).get("stop_on_error", True):
            self.abort_queue()

    def abort_queue(self):
        """Answers every queued execute_request `aborted`, as ipykernel does after an error:
        what has arrived until now, not what comes later."""
        while self.shell.poll(0):
            self.receive(self.shell)
        while self.queue:
            msg = self.queue.popleft()
            self.publish_status("busy", msg)
            aborted = {"status": "aborted"}
            self.shell.send_multipart(self.wire.frames("execute_reply", aborted, msg.header, msg.idents, aborted))
            self.publish_status("idle", msg)

    def publish_status(self, state, msg):
        self.iopub.send_multipart(self.wire.frames("status", {"execution_state": state}, msg.header))

    def start_next(self):
        if self.ready and self.current is None and self.queue:
            self.current = self.queue.popleft()
            self.evcxr_shell.send_multipart(self.current.frames)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        jupyter = json.load(f)
    evcxr = write_evcxr_connection(sys.argv[2], jupyter)
    Proxy(jupyter, evcxr).run()


if __name__ == "__main__":
    main()

"""Local stand-in for Azure ML's parallel run (a pipeline step of `type: parallel`, `task.type: run_function`).

    python parallel_driver.py --entry-script prepare.py --input-data DIR [settings] -- <program arguments>

Run in the step's code folder, as Azure ML runs the entry script. What it does, the way the service does it:
  - lists every file under --input-data (recursively, sorted) and splits the list into mini-batches of
    --mini-batch-size files, in order;
  - starts --workers worker processes; each imports the entry script, sets sys.argv to the program arguments
    and calls init() once, then run(mini_batch) for each mini-batch it is handed (a list of absolute file
    paths), and shutdown() at the end if the script has one;
  - a mini-batch fails when run() raises, returns fewer results than it was given files, or takes longer than
    --timeout seconds (the worker is then killed and a new one started); a failed mini-batch is retried up to
    --max-retries times, then counted: when more than --mini-batch-error-threshold mini-batches have failed
    (-1: never) the step stops;
  - each worker's output and the driver's events for that worker go to <--log-dir>/worker-<i>.log, and
    everything the workers print is also passed on to this process's stdout/stderr.

Exit codes, as the steps' own CLI mode: 0 done; 2 bad input (the failure was the entry script's InputError,
its message names the file, column, row and value); 1 anything else; 130 interrupted (SIGINT/SIGTERM).
Each worker's library thread pools (OMP/OpenBLAS/MKL/numexpr) get cpu_count // workers threads unless the
environment already sets them. Simulation only (bench/parallel.ts): --cpu-share F (or HEART_PARALLEL_CPU_SHARE)
pauses and resumes every worker so each gets at most a share F of one CPU (SIGSTOP/SIGCONT duty cycle over
100 ms periods), to stand in for smaller nodes.
Standard library only: the worker processes import the entry script's own dependencies.
"""
from __future__ import annotations

import sys

sys.dont_write_bytecode = True  # nothing written into the step's code folder

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections import deque  # noqa: E402

INPUT_ERROR = "InputError"  # the entry scripts' bad-input exception (csvfolder.InputError), by class name
LOGGING_LEVELS = ("DEBUG", "INFO", "WARNING")
EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
CPU_SHARE_VARIABLE = "HEART_PARALLEL_CPU_SHARE"  # the bench's stand-in for smaller nodes (same as --cpu-share)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    program = []
    if "--" in argv:
        cut = argv.index("--")
        argv, program = argv[:cut], argv[cut + 1:]
    p = argparse.ArgumentParser(prog="parallel_driver.py", description="Run an Azure ML parallel entry script locally.")
    p.add_argument("--entry-script", required=True, help="file in the current (code) folder defining init() and run()")
    p.add_argument("--input-data", help="folder whose files are split into mini-batches (driver mode)")
    p.add_argument("--mini-batch-size", type=int, default=1, help="files per mini-batch (default 1)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: the CPUs)")
    p.add_argument("--max-retries", type=int, default=2, help="retries of a failed mini-batch (default 2)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a run() call may take (default 60)")
    p.add_argument("--mini-batch-error-threshold", type=int, default=-1,
                   help="failed mini-batches tolerated; -1 tolerates all (default -1)")
    p.add_argument("--logging-level", default="INFO", choices=LOGGING_LEVELS)
    p.add_argument("--log-dir", help="folder for the per-worker logs (default: no log files)")
    p.add_argument("--cpu-share", type=float, default=None, help=argparse.SUPPRESS)
    # Worker mode (started by the driver itself).
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result-fd", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cpu_share is None and os.environ.get(CPU_SHARE_VARIABLE):
        try:
            args.cpu_share = float(os.environ[CPU_SHARE_VARIABLE])
        except ValueError:
            p.error(f"{CPU_SHARE_VARIABLE} must be a number in (0, 1]")
    problems = []
    if not args.worker and not args.input_data:
        problems.append("--input-data is required")
    if args.mini_batch_size < 1:
        problems.append("--mini-batch-size must be at least 1")
    if args.workers < 1:
        problems.append("--workers must be at least 1")
    if args.max_retries < 0:
        problems.append("--max-retries must be 0 or more")
    if not args.timeout > 0:
        problems.append("--timeout must be more than 0 seconds")
    if args.mini_batch_error_threshold < -1:
        problems.append("--mini-batch-error-threshold must be -1 or more")
    if args.cpu_share is not None and not 0 < args.cpu_share <= 1:
        problems.append("--cpu-share must be in (0, 1]")
    if problems:
        p.error("; ".join(problems))
    return args, program


def step_name(entry_script: str) -> str:
    return os.path.splitext(os.path.basename(entry_script))[0]


# --------------------------------------------------------------------------------------------- worker side

def load_entry_script(path: str):
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the entry script imports its neighbours (csvfolder, ...)
    spec = importlib.util.spec_from_file_location(step_name(path), path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    for name in ("init", "run"):
        if not callable(getattr(module, name, None)):
            raise AttributeError(f"{path} defines no {name}() function (a parallel entry script needs init() and run(mini_batch))")
    return module


def worker_main(args: argparse.Namespace, program: list[str]) -> int:
    results = os.fdopen(args.result_fd, "w", buffering=1, encoding="utf-8")

    def send(message: dict) -> None:
        results.write(json.dumps(message) + "\n")
        results.flush()

    def interrupt(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupt)
    logging.basicConfig(level=args.logging_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    entry = os.path.abspath(args.entry_script)
    sys.argv = [entry, *program]
    try:
        started, cpu = time.monotonic(), time.process_time()
        module = load_entry_script(entry)
        module.init()
        send({"ready": True, "seconds": round(time.monotonic() - started, 3), "cpu": round(time.process_time() - cpu, 3)})
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BaseException as error:  # noqa: BLE001 - reported to the driver, which decides
        kind = type(error).__name__
        if kind != INPUT_ERROR:
            traceback.print_exc()
        send({"init_error": str(error) or kind, "kind": kind})
        return EXIT_INPUT if kind == INPUT_ERROR else EXIT_INTERNAL
    try:
        for line in sys.stdin:
            task = json.loads(line)
            started, cpu = time.monotonic(), time.process_time()
            try:
                returned = module.run(list(task["items"]))
            except KeyboardInterrupt:
                raise
            except Exception as error:  # noqa: BLE001 - a failed mini-batch, retried by the driver
                kind = type(error).__name__
                if kind != INPUT_ERROR:
                    traceback.print_exc()
                sys.stderr.flush()
                send({"id": task["id"], "ok": False, "error": str(error) or kind, "kind": kind,
                      "seconds": round(time.monotonic() - started, 3)})
                continue
            count = len(returned) if returned is not None else 0
            sys.stdout.flush()
            sys.stderr.flush()
            send({"id": task["id"], "ok": True, "returned": count, "seconds": round(time.monotonic() - started, 3),
                  "cpu": round(time.process_time() - cpu, 3)})
        shutdown = getattr(module, "shutdown", None)
        if callable(shutdown):
            shutdown()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK


# --------------------------------------------------------------------------------------------- driver side

def list_files(root: str) -> tuple[list[str], list[str]]:
    """Absolute paths of the files under root, sorted by path components; hidden entries are left out
    (and returned apart, to be reported). Whether Azure ML hands hidden files to run() is not confirmed: see the
    one note on the parallel steps in lib/componentSpec.ts and the README's list."""
    found, hidden = [], []
    for folder, dirs, files in os.walk(root):
        for name in sorted(dirs):
            if name.startswith("."):
                dirs.remove(name)
                hidden.append(os.path.relpath(os.path.join(folder, name), root))
        for name in files:
            path = os.path.join(folder, name)
            if name.startswith("."):
                hidden.append(os.path.relpath(path, root))
            elif os.path.isfile(path):
                found.append(path)
    found.sort(key=lambda p: os.path.relpath(p, root).split(os.sep))
    return found, sorted(hidden)


def mini_batches(files: list[str], size: int) -> list[list[str]]:
    return [files[i:i + size] for i in range(0, len(files), size)]


class Fatal(Exception):
    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


class Output:
    """Line-safe writes to this process's stdout/stderr from several reader threads."""

    def __init__(self):
        self.lock = threading.Lock()

    def write(self, stream, text: str) -> None:
        with self.lock:
            stream.write(text)
            stream.flush()


class Slot:
    """One worker place: its current process, its log, and the mini-batch it is running."""

    def __init__(self, index: int, log_path: str | None):
        self.index = index
        self.log = open(log_path, "a", encoding="utf-8", buffering=1) if log_path else None
        self.log_lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.generation = 0
        self.ready = False
        self.task: dict | None = None
        self.deadline = 0.0
        self.started = 0.0
        self.pumps: list[threading.Thread] = []

    def note(self, text: str) -> None:
        if self.log:
            with self.log_lock:
                self.log.write(f"[{time.strftime('%H:%M:%S')}] driver: {text}\n")

    def record(self, text: str) -> None:
        if self.log:
            with self.log_lock:
                self.log.write(text)


class Driver:
    def __init__(self, args: argparse.Namespace, program: list[str]):
        self.args = args
        self.program = program
        self.name = step_name(args.entry_script)
        self.events: queue.Queue = queue.Queue()
        self.out = Output()
        self.slots: list[Slot] = []
        self.stopping = False
        self.throttle: threading.Thread | None = None

    # -- workers
    def spawn(self, slot: Slot) -> None:
        read_fd, write_fd = os.pipe()
        command = [sys.executable, os.path.abspath(__file__), "--worker", "--entry-script", self.args.entry_script,
                   "--result-fd", str(write_fd), "--logging-level", self.args.logging_level, "--", *self.program]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "AZUREML_PARALLEL_LOCAL_WORKER": str(slot.index)}
        # N workers share the machine's cores: each library thread pool gets its share, unless the caller chose.
        threads = str(max(1, (os.cpu_count() or 1) // len(self.slots)))
        for name in THREAD_VARIABLES:
            env.setdefault(name, threads)
        slot.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        pass_fds=(write_fd,), env=env, text=True, encoding="utf-8", errors="replace", bufsize=1)
        os.close(write_fd)
        slot.generation += 1
        slot.ready = False
        slot.task = None
        generation = slot.generation
        slot.note(f"worker {slot.index} started (pid {slot.process.pid}): init()")
        for stream, target in ((slot.process.stdout, sys.stdout), (slot.process.stderr, sys.stderr)):
            thread = threading.Thread(target=self.pump, args=(slot, stream, target), daemon=True)
            thread.start()
            slot.pumps.append(thread)
        threading.Thread(target=self.read_results, args=(slot, generation, read_fd), daemon=True).start()

    def pump(self, slot: Slot, stream, target) -> None:
        for line in stream:
            if not line.endswith("\n"):
                line += "\n"  # a worker stopped mid-line: the next writer's line must not join it
            slot.record(line)
            self.out.write(target, line)

    def read_results(self, slot: Slot, generation: int, fd: int) -> None:
        with os.fdopen(fd, "r", encoding="utf-8") as results:
            for line in results:
                self.events.put((slot, generation, json.loads(line)))
        process = slot.process
        code = process.wait() if process is not None else None
        self.events.put((slot, generation, {"exited": code}))

    def kill(self, slot: Slot) -> None:
        if slot.process and slot.process.poll() is None:
            try:
                slot.process.send_signal(signal.SIGCONT)
                slot.process.kill()
            except ProcessLookupError:
                pass

    def stop_all(self, graceful: bool) -> None:
        self.stopping = True
        for slot in self.slots:
            if slot.process and slot.process.poll() is None:
                try:
                    if graceful:
                        slot.process.stdin.close()
                    else:
                        slot.process.send_signal(signal.SIGCONT)
                        slot.process.terminate()
                except (BrokenPipeError, ProcessLookupError, OSError):
                    pass
        deadline = time.monotonic() + 5
        for slot in self.slots:
            if slot.process:
                try:
                    slot.process.wait(timeout=None if graceful else max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.kill(slot)
                    slot.process.wait()
            for thread in slot.pumps:
                thread.join(timeout=5)  # everything the worker printed reaches the logs before they close

    def duty_cycle(self, share: float, period: float = 0.2, tick: float = 0.005) -> None:
        """Worker i may run while (time / period) mod 1 lies in [i * share, i * share + share) (wrapping), and is
        paused (SIGSTOP) otherwise: each gets `share` of a CPU, and at any moment at most ceil(n * share)
        workers run, so n workers with n * share <= the CPUs never compete for a core."""
        running: dict[int, bool] = {}
        while not self.stopping:
            phase = (time.monotonic() / period) % 1.0
            for slot in self.slots:
                start = (slot.index * share) % 1.0
                inside = (phase - start) % 1.0 < share
                p = slot.process
                if p is None or p.poll() is not None:
                    continue
                if running.get(p.pid) != inside:
                    try:
                        p.send_signal(signal.SIGCONT if inside else signal.SIGSTOP)
                        running[p.pid] = inside
                    except ProcessLookupError:
                        pass
            time.sleep(tick)
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                slot.process.send_signal(signal.SIGCONT)

    # -- the run
    def run(self) -> int:
        a = self.args
        root = os.path.abspath(a.input_data)
        if not os.path.isdir(root):
            raise Fatal(f"--input-data {root}: folder does not exist", INPUT_ERROR)
        files, hidden = list_files(root)
        for h in hidden:
            self.out.write(sys.stderr, f"warning: skipping hidden {h}\n")
        if not files:
            raise Fatal(f"{root}: folder is empty (expected one or more files)", INPUT_ERROR)
        batches = mini_batches(files, a.mini_batch_size)
        workers = min(a.workers, len(batches))
        self.out.write(sys.stderr, f"{self.name}: {len(files)} file(s) in {len(batches)} mini-batch(es) of up to "
                                   f"{a.mini_batch_size}, {workers} worker(s)\n")
        if a.log_dir:
            os.makedirs(a.log_dir, exist_ok=True)
        self.slots = [Slot(i, os.path.join(a.log_dir, f"worker-{i}.log") if a.log_dir else None) for i in range(workers)]
        pending = deque({"id": i, "items": b, "attempt": 1} for i, b in enumerate(batches))
        done, failed, retried = 0, 0, 0
        started = time.monotonic()
        for slot in self.slots:
            self.spawn(slot)
        if a.cpu_share is not None and a.cpu_share < 1:
            self.throttle = threading.Thread(target=self.duty_cycle, args=(a.cpu_share,), daemon=True)
            self.throttle.start()

        def fail(slot: Slot, task: dict, message: str, kind: str) -> None:
            nonlocal failed, retried
            where = f"mini-batch {task['id']} ({', '.join(os.path.relpath(p, root) for p in task['items'])})"
            if task["attempt"] <= a.max_retries:
                retried += 1
                slot.note(f"{where} failed on attempt {task['attempt']}: {kind}: {message}; retrying")
                pending.append({**task, "attempt": task["attempt"] + 1})
                return
            failed += 1
            slot.note(f"{where} failed on attempt {task['attempt']} of {a.max_retries + 1}: {kind}: {message}")
            if 0 <= a.mini_batch_error_threshold < failed:
                raise Fatal(message if kind == INPUT_ERROR else f"{where} failed {task['attempt']} time(s), "
                            f"last with {kind}: {message}", kind)
            self.out.write(sys.stderr, f"warning: {self.name}: {where} failed after {task['attempt']} attempt(s) "
                                       f"({kind}: {message}); ignored (mini_batch_error_threshold "
                                       f"{a.mini_batch_error_threshold})\n")

        while True:
            for slot in self.slots:
                if slot.ready and slot.task is None and pending:
                    task = pending.popleft()
                    slot.task, slot.started = task, time.monotonic()
                    slot.deadline = slot.started + a.timeout
                    slot.note(f"mini-batch {task['id']} ({len(task['items'])} file(s)), attempt {task['attempt']}")
                    try:
                        slot.process.stdin.write(json.dumps({"id": task["id"], "items": task["items"]}) + "\n")
                        slot.process.stdin.flush()
                    except (BrokenPipeError, OSError):
                        pass  # its exit is reported by read_results
            if not pending and all(s.task is None for s in self.slots):
                break
            busy = [s.deadline for s in self.slots if s.task is not None]
            wait = max(0.01, min(busy) - time.monotonic()) if busy else 1.0
            try:
                slot, generation, message = self.events.get(timeout=min(wait, 1.0))
            except queue.Empty:
                slot = None
            if slot is not None and generation == slot.generation:
                if message.get("ready"):
                    slot.ready = True
                    slot.note(f"init() done in {message['seconds']:.3f} s (cpu {message['cpu']:.3f} s)")
                elif "init_error" in message:
                    raise Fatal(f"init() failed: {message['init_error']}" if message["kind"] != INPUT_ERROR
                                else message["init_error"], message["kind"])
                elif "exited" in message:
                    task = slot.task
                    slot.note(f"worker {slot.index} exited with code {message['exited']}")
                    if task is None and not slot.ready:
                        raise Fatal(f"worker {slot.index} exited with code {message['exited']} during init()", "WorkerExit")
                    self.spawn(slot)
                    if task is not None:
                        fail(slot, task, f"the worker process exited with code {message['exited']}", "WorkerExit")
                elif slot.task is not None and message.get("id") == slot.task["id"]:
                    task, slot.task = slot.task, None
                    count = len(task["items"])
                    if message["ok"] and message["returned"] >= count:
                        done += 1
                        slot.note(f"mini-batch {task['id']} done in {message['seconds']:.3f} s (cpu {message['cpu']:.3f} s)")
                    elif message["ok"]:
                        fail(slot, task, f"run() returned {message['returned']} result(s) for {count} file(s)", "MissingResults")
                    else:
                        fail(slot, task, message["error"], message["kind"])
            now = time.monotonic()
            for slot in self.slots:
                if slot.task is not None and now >= slot.deadline:
                    task = slot.task
                    slot.note(f"mini-batch {task['id']} timed out after {a.timeout:g} s: killing worker {slot.index}")
                    self.kill(slot)
                    self.spawn(slot)  # the old process's exit is ignored: its generation is over
                    fail(slot, task, f"run() took longer than {a.timeout:g} s (retry_settings.timeout)", "Timeout")
        self.stop_all(graceful=True)
        seconds = time.monotonic() - started
        self.out.write(sys.stderr, f"{self.name}: {done} of {len(batches)} mini-batch(es) done in {seconds:.1f} s "
                                   f"({retried} retried, {failed} failed)\n")
        return EXIT_OK


def driver_main(args: argparse.Namespace, program: list[str]) -> int:
    driver = Driver(args, program)

    def interrupt(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupt)
    try:
        return driver.run()
    except Fatal as error:
        driver.stop_all(graceful=False)
        print(f"{driver.name}: error: {error}", file=sys.stderr, flush=True)
        return EXIT_INPUT if error.kind == INPUT_ERROR else EXIT_INTERNAL
    except KeyboardInterrupt:
        driver.stop_all(graceful=False)
        print(f"{driver.name}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    finally:
        driver.stopping = True
        for slot in driver.slots:
            if slot.log:
                slot.log.close()


def main(argv: list[str] | None = None) -> int:
    args, program = parse_args(sys.argv[1:] if argv is None else argv)
    return worker_main(args, program) if args.worker else driver_main(args, program)


if __name__ == "__main__":
    sys.exit(main())

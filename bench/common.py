"""Shared helpers: result lines, timing, configs, process facts."""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Line:
    """One printed figure: ``value`` against ``bound``; ``ok`` None means informational."""

    key: str
    name: str
    value: str
    bound: str
    ratio: float | None = None
    ok: bool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "INFO" if self.ok is None else ("PASS" if self.ok else "FAIL")

    def render(self) -> str:
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else "-"
        out = f"{self.key:<4}{self.name:<34}{self.value:>22}   {self.bound:<42}{ratio:>8}  {self.verdict}"
        for note in self.notes:
            out += f"\n      · {note}"
        return out


@dataclass
class Timing:
    cpu: float  # process CPU seconds (all threads of this process)
    wall: float


def timed(fn: Callable[[], Any]) -> tuple[Timing, Any]:
    """Run ``fn`` once with the collector run beforehand; CPU (process_time) and wall."""
    gc.collect()
    c0, w0 = time.process_time(), time.perf_counter()
    result = fn()
    c1, w1 = time.process_time(), time.perf_counter()
    return Timing(cpu=c1 - c0, wall=w1 - w0), result


def best(timings: Iterable[Timing]) -> Timing:
    ts = list(timings)
    return Timing(cpu=min(t.cpu for t in ts), wall=min(t.wall for t in ts))


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.3f} s"


def write_config(path: Path, *, state: Path | str, feeds: list[tuple[str, str]], out: Path | None = None,
                 output: bool = True, extra: str = "", poll_interval: str = "15m") -> Path:
    """A feeds.yaml for the benchmarks (``feeds``: (name, url) pairs; ``state``: a path or a
    database URL; ``out``: the feeds' output dir, or the default)."""
    lines = [f"state: {state}", f"poll_interval: {poll_interval}", "feeds:"]
    for name, url in feeds:
        lines += [f"  - name: {name}", f"    url: {url}"]
    lines += ["output:", f"  enabled: {'true' if output else 'false'}", *([f"  dir: {out}"] if out else []),
              "log:", "  level: WARNING"]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def load(path: Path, environ: dict[str, str] | None = None) -> Any:
    from syndicate.config import load_config

    return load_config(path, environ or {})


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS / VmHWM (peak RSS) in kB from /proc."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0])
    return out


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env.update(extra)
    return env

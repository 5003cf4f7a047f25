"""Render docs/benchmarks.md and its PNG plots from the JSON results of
`make bench` (bench/results/*.json): tables with every figure and its ratio to
the baseline, the targets of the load-and-scale issue met or missed, and the
machine facts of the run.

    python bench/report.py [--results bench/results] [--md docs/benchmarks.md] [--plots docs/benchmarks]
"""

# ruff: noqa: RUF001 (the report prints typographic signs)
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
from report_targets import Target, targets
from results import ROOT, read_result
from stats import ratio

Cell = dict[str, Any]


def fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def fmt_ratio(value: Any, base: Any) -> str:
    if not isinstance(value, int | float) or not isinstance(base, int | float):
        return "–"
    r = ratio(float(value), float(base))
    return "–" if math.isnan(r) else f"×{r:.2f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _machine(data: dict[str, Any]) -> str:
    m = data.get("machine", {})
    start = ", ".join(f"{x:.2f}" for x in m.get("loadavg", []))
    end = ", ".join(f"{x:.2f}" for x in data.get("loadavg_end", []))
    busy = "; ".join(
        f"{when}: {', '.join(found)}"
        for when, found in (("at start", m.get("busy_processes")), ("at end", data.get("busy_end")))
        if found
    )
    return (
        f"{m.get('at', '?')}, commit `{m.get('commit', '?')}`, {m.get('cores', '?')} cores, "
        f"{m.get('memory_gib', '?')} GiB, Python {m.get('python', '?')}; load average (1/5/15 min) "
        f"at start {start or '?'}, at end {end or '?'}; other processes busy (≥ 10 % CPU) "
        f"{busy or 'none'}"
    )


def matrix_section(matrix: dict[str, Any]) -> str:
    cells: list[Cell] = matrix["cells"]
    base = {c["streams"]: c for c in cells if c["config"] == "direct"}
    s = matrix["settings"]
    out = [
        "## Streams: the direct relay against Parley with 1, 2 and 4 workers",
        "",
        f"Each stream: {s['tokens']} tokens at {s['rate']:g} tokens/s from the provider; sessions start "
        f"over N × {s['ramp_per_stream_s'] * 1000:g} ms (at most {s.get('ramp_most_s', math.inf):g} s) "
        f"and send {s['rounds']} prompts one after another "
        f"(one fewer at 1,000). Ratios (×) are to the direct relay at the same N. `accepted` is the time "
        "from the prompt to the gateway's `accepted` frame (its publish of `prompt.submitted`, confirmed by "
        "the broker); `provider TTFT` is what the worker (or relay) waited for the provider's first token.",
        "",
        f"Run: {_machine(matrix)}.",
        "",
    ]
    header = [
        "N",
        "config",
        "TTFT p50 ms",
        "TTFT p99 ms",
        "added p50 / p99 ms",
        "accepted p50 ms",
        "accepted → first text p50 ms",
        "provider TTFT p50 ms",
        "tokens/s",
        "slowest stream tok/s",
        "peak streams",
        "errors",
        "broker msgs / token",
        "RSS / idle session KiB",
        "RSS / streaming session KiB",
        "serving CPU ms / 1k tokens",
    ]
    rows = []
    for c in sorted(cells, key=_order):
        b = base.get(c["streams"], {})
        direct = c["config"] == "direct"
        added = (
            "–"
            if direct or not b
            else f"{c['ttft_p50_ms'] - b['ttft_p50_ms']:+.1f} / {c['ttft_p99_ms'] - b['ttft_p99_ms']:+.1f}"
        )

        def with_ratio(key: str, digits: int = 1, c: Cell = c, b: Cell = b, direct: bool = direct) -> str:
            text = fmt(c.get(key), digits)
            return text if direct else f"{text} ({fmt_ratio(c.get(key), b.get(key))})"

        rows.append(
            [
                fmt(c["streams"]),
                c["config"],
                with_ratio("ttft_p50_ms"),
                with_ratio("ttft_p99_ms"),
                added,
                fmt(c.get("accepted_p50_ms")),
                fmt(c.get("after_accepted_p50_ms")),
                fmt(c.get("provider_ttft_p50_ms")),
                with_ratio("tokens_per_s", 0),
                fmt(c.get("slowest_stream_rate")),
                fmt(c.get("peak_streams")),
                fmt(c["errors"]),
                fmt(c.get("broker_messages_per_token"), 3),
                with_ratio("rss_per_idle_session_kb"),
                with_ratio("rss_per_streaming_session_kb"),
                with_ratio("serving_cpu_ms_per_1k_tokens"),
            ]
        )
    out += [table(header, rows), "", "### CPU of each process during the streams (100 % = one core)", ""]
    names = sorted({k for c in cells for k in c["cpu_percent"]}, key=_process_order)
    cpu_rows = [
        [fmt(c["streams"]), c["config"], *(fmt(c["cpu_percent"].get(n)) for n in names), c["busiest"]]
        for c in sorted(cells, key=_order)
    ]
    out += [
        table(["N", "config", *names, "busiest"], cpu_rows),
        "",
        "`rabbitmq` is the shared broker's whole process: other work on the machine shows there too. "
        "*Serving CPU* in the table above is the CPU of the relay, or of the gateways, workers and "
        "RabbitMQ, per 1,000 delivered tokens (the provider and the load generator left out). "
        "`loadgen` is the load generator itself (one Python process reading every stream).",
        "",
        "![TTFT](benchmarks/ttft.png)",
        "",
        "![Throughput](benchmarks/throughput.png)",
        "",
    ]
    return "\n".join(out)


def _order(cell: Cell) -> tuple[int, bool, int, int]:
    """By N; the baseline first, then one gateway by worker count, then more gateways."""
    return (cell["streams"], cell["config"] != "direct", cell.get("gateways", 1), cell.get("workers", 0))


def _process_order(name: str) -> tuple[int, str]:
    order = ["provider", "relay", "gateway", "rabbitmq", "loadgen"]
    return (order.index(name) if name in order else 2, name)


def idle_section(idle: dict[str, Any]) -> str:
    g, d = idle["gateway"], idle["direct"]
    rows = [
        ["sessions open", fmt(d["sessions"]), fmt(g["sessions"])],
        ["failed to open", fmt(d["failed"]), fmt(g["failed"])],
        ["time to open them, s", fmt(d["open_s"]), fmt(g["open_s"])],
        ["sessions opened per second", fmt(d["sessions_per_s"]), fmt(g["sessions_per_s"])],
        [
            "server RSS per session, KiB",
            fmt(d["rss_per_session_kb"]),
            f"{fmt(g['rss_per_session_kb'])} ({fmt_ratio(g['rss_per_session_kb'], d['rss_per_session_kb'])})",
        ],
        ["server RSS before → after, MiB", _mib(d), _mib(g)],
        ["session queues in RabbitMQ", "–", fmt(g.get("session_queues"))],
        ["RabbitMQ memory per session queue, KB", "–", fmt(_kb(g.get("queue_memory_bytes_per_session")))],
        ["RabbitMQ RSS growth per session, KiB", "–", fmt(g.get("broker_rss_per_session_kb"))],
        [
            "`ping` round trip p50 / p99 with all open, ms",
            "–",
            f"{fmt(g['ping_p50_ms'])} / {fmt(g['ping_p99_ms'])}",
        ],
    ]
    return "\n".join(
        [
            f"## {g['sessions']:,} idle sessions on one gateway process",
            "",
            "Each session opened a socket and said `hello` (at most 100 handshakes at once); the gateway "
            "declares its `session.<id>` queue. Memory read once all were open; the relay is the baseline.",
            "",
            f"Run: {_machine(idle)}.",
            "",
            table(["", "direct relay", "gateway"], rows),
            "",
        ]
    )


def _mib(row: dict[str, Any]) -> str:
    return f"{row['rss_before_kb'] / 1024:.0f} → {row['rss_after_kb'] / 1024:.0f}"


def _kb(value: Any) -> float | None:
    return None if value is None else float(value) / 1000


def replay_section(replay: dict[str, Any]) -> str:
    live, stream, log = replay["live"], replay["from_stream"], replay["from_log"]
    rows = [
        [
            "live consumer (history `consume`)",
            fmt(live["stored"]),
            fmt(live["ingest_s"]),
            fmt(live["events_per_s"]),
            "–",
        ],
        [
            "`replay --from-stream`",
            fmt(stream["events"]),
            fmt(stream["replay_s"]),
            fmt(stream["events_per_s"]),
            fmt(stream["wall_s"]),
        ],
        [
            "`replay --from-log`",
            fmt(log["events"]),
            fmt(log["replay_s"]),
            fmt(log["events_per_s"]),
            fmt(log["wall_s"]),
        ],
    ]
    return "\n".join(
        [
            "## Replay: rebuilding history from the stream and from the log",
            "",
            f"{replay['conversations']:,} conversations (prompt, answer, follow-up, answer; every tenth "
            "renamed) published on `chat.events`; history consumed them live (asking a title for each, "
            "so its log holds more events than were published), then each replay rebuilt the projection "
            "into a fresh PostgreSQL database. Events/s are the command's own count over its replay time "
            "(the stream's final idle wait left out); the wall time adds start-up and migrations.",
            "",
            f"Run: {_machine(replay)}.",
            "",
            table(["", "events", "seconds", "events/s", "command wall s"], rows),
            "",
            f"Both replays stored every event ({fmt(stream['rows'])} and {fmt(log['rows'])} audit rows).",
            "",
        ]
    )


def soak_section(soak: dict[str, Any]) -> str:
    rows = [
        ["prompts answered", fmt(soak["prompts"])],
        ["errors", fmt(soak["errors"])],
        ["TTFT p50 / p99, ms", f"{fmt(soak['ttft_p50_ms'])} / {fmt(soak['ttft_p99_ms'])}"],
        ["delivered tokens/s", fmt(soak["tokens_per_s"])],
        ["slowest stream, tokens/s", fmt(soak["slowest_stream_rate"])],
        ["gateway RSS first → last sample, MiB", _pair_mib(soak["gateway_rss_first_last_kb"])],
        ["gateway RSS slope over the second half, KiB/min", fmt(soak["gateway_rss_growth_kb_per_min"])],
        ["worker RSS first → last sample, MiB", _pair_mib(soak["worker_rss_first_last_kb"])],
        ["worker RSS slope over the second half, KiB/min", fmt(soak["worker_rss_growth_kb_per_min"])],
        ["most messages waiting in one queue (any but the audit stream)", fmt(soak["max_queue_depth"])],
        ["messages waiting at the end", fmt(soak["queue_depth_last"])],
        [
            "unacknowledged (prompts being answered), most / at the end",
            f"{fmt(max(s.get('unacked_messages', 0) for s in soak['samples']))} / "
            f"{fmt(soak['samples'][-1].get('unacked_messages'))}",
        ],
    ]
    return "\n".join(
        [
            f"## Soak: {soak['minutes']:g} min at {soak['streams']} streams",
            "",
            f"{soak['streams']} sessions prompting one after another through one gateway and one worker "
            f"({soak['tokens']} tokens at {soak['rate']:g} tokens/s each), sampled every "
            f"{soak['samples'][1]['t_s'] - soak['samples'][0]['t_s']:.0f} s.",
            "",
            f"Run: {_machine(soak)}.",
            "",
            table(["", "figure"], rows),
            "",
            "![Soak RSS](benchmarks/soak_rss.png)",
            "",
        ]
    )


def _pair_mib(pair: list[int]) -> str:
    return f"{pair[0] / 1024:.1f} → {pair[1] / 1024:.1f}"


def flood_section(flood: dict[str, Any]) -> str:
    rows = []
    for p in flood["phases"]:
        seen = p.get("flood") or {}
        refused = sum(v for k, v in seen.items() if k.startswith("error:"))
        rows.append(
            [
                p["phase"],
                fmt(p["prompts"]),
                fmt(p["errors"]),
                fmt(p["ttft_p50_ms"]),
                fmt(p["ttft_p99_ms"]),
                fmt(p["slowest_stream_rate"]),
                fmt(p["cpu_percent"].get("gateway")),
                f"{fmt(seen.get('sent'))} sent, {fmt(seen.get('accepted'))} accepted, {fmt(refused)} refused"
                if seen
                else "–",
            ]
        )
    polite = " and ".join(
        f"{p['polite_user']['prompts']:,} prompts, {p['polite_user']['errors']:,} errors"
        for p in flood["phases"]
        if "polite_user" in p
    )
    refusals = ", ".join(
        f"`{k[6:]}` {v:,}"
        for p in flood["phases"]
        for k, v in (p.get("flood") or {}).items()
        if k.startswith("error:")
    )
    return "\n".join(
        [
            "## A flood of prompts from one user",
            "",
            f"{flood['victims']} users stream prompts one after another for three phases of "
            f"{flood['phase_s']:g} s; in the middle one, one user sends a prompt every "
            f"{flood['flood_interval_ms']:g} ms on each of {flood['flood_sockets']} sockets. The gateway's "
            f"limits are its defaults (4 generations at once per user) and {flood['per_minute']} prompts a "
            f"minute per user. Refusals: {refusals or 'none'}."
            + (
                f" In the quiet phases one more user streams on 4 sockets ({polite}), using the "
                "allowance the flood is admitted politely, so that the flooded phase differs from the "
                "quiet ones only by what the limits refuse."
                if polite
                else ""
            ),
            "",
            f"Run: {_machine(flood)}.",
            "",
            table(
                [
                    "phase",
                    "others' prompts",
                    "errors",
                    "TTFT p50 ms",
                    "TTFT p99 ms",
                    "slowest tok/s",
                    "gateway CPU %",
                    "flood",
                ],
                rows,
            ),
            "",
            _flood_bands(flood),
            "",
        ]
    )


def _flood_bands(flood: dict[str, Any]) -> str:
    parts = []
    for name in ("p50", "p99"):
        judged = flood[name]
        low, high = judged["band_ms"]
        verdict = "unchanged" if judged["unchanged"] else "above it and both quiet phases"
        parts.append(f"{name} {judged['flooded']:.1f} ms against {low:.1f}-{high:.1f} ms ({verdict})")
    return (
        "The noise: the quiet phases' prompts, pooled and drawn again 2,000 times as many as the "
        f"flooded phase had ({flood['p99']['prompts']:,}), give its figure within a band 19 times in "
        "20; the machine also drifts between phases. A flooded figure is harm only above that band "
        f"and above both quiet phases' figures. Flooded: {'; '.join(parts)}."
    )


def ui_section(ui: dict[str, Any]) -> str:
    """`bench/ui_long_chat.py`: a 1,000-message chat in Chromium against a short one."""
    short, long = ui["best"]["short"], ui["best"]["long"]
    rows = [
        ("open: the newest messages on screen, ms", "open_ms"),
        ("show every earlier message, ms", "expand_ms"),
        ("messages in the page", "in_page"),
        ("scroll top to bottom: frame p50, ms", "frame_p50_ms"),
        ("scroll: frame p95, ms", "frame_p95_ms"),
        ("scroll: longest frame, ms", "frame_max_ms"),
        ("scroll: frames over 50 ms", "frames_over_50ms"),
        ("a 200-token answer streams in: script, ms", "stream_script_ms"),
        ("the same: layout, ms", "stream_layout_ms"),
        ("the same: style, ms", "stream_style_ms"),
    ]
    body = table(
        ["", f"{short['messages']} messages", f"{long['messages']} messages"],
        [
            [label, fmt(short[key]), f"{fmt(long[key])} ({fmt_ratio(long[key], short[key])})"]
            for label, key in rows
        ],
    )
    return "\n".join(
        [
            "## A long chat in the browser",
            "",
            "`python bench/ui_long_chat.py`: the whole stack with the built app in Debian's Chromium; two "
            "conversations made through the socket with Markdown answers (code, a table, a list), one of "
            f"{long['messages']} messages and one of {short['messages']}, each measured "
            f"{len(ui['runs']['long'])} times, alternating; the best of the runs, figure by figure. The "
            "page renders the newest 100 messages and older ones on demand. Main-thread time is Chrome's "
            "own count (Performance.getMetrics) while the answer streams.",
            "",
            body,
            "",
        ]
    )


def _workers(n: int) -> str:
    return "one worker" if n == 1 else f"{n} workers"


def window_section(data: dict[str, Any]) -> str:
    """`bench/window_bench.py`: a fixed 50 ms coalescing window against the widening one."""
    runs = data["runs"]
    baseline = [r for r in runs if r["config"].startswith("fixed")]
    processes = sorted({p for r in runs for p in r["cpu_ms_per_1k_tokens"]}, key=_process_order)

    def base(key: str) -> float:
        return float(statistics.median(r[key] for r in baseline))

    def base_cpu(process: str) -> float:
        return float(statistics.median(r["cpu_ms_per_1k_tokens"].get(process, math.nan) for r in baseline))

    rows = [
        [
            r["config"],
            fmt(r["rep"] + 1, 0),
            f"{fmt(r['ttft_p50_ms'])} ({fmt_ratio(r['ttft_p50_ms'], base('ttft_p50_ms'))})",
            f"{fmt(r['ttft_p99_ms'])} ({fmt_ratio(r['ttft_p99_ms'], base('ttft_p99_ms'))})",
            f"{fmt(r['tokens_per_s'], 0)} ({fmt_ratio(r['tokens_per_s'], base('tokens_per_s'))})",
            fmt(r["broker_messages_per_token"], 3),
            *(
                f"{fmt(r['cpu_ms_per_1k_tokens'].get(p))} "
                f"({fmt_ratio(r['cpu_ms_per_1k_tokens'].get(p), base_cpu(p))})"
                for p in processes
            ),
        ]
        for r in runs
    ]
    header = [
        "window",
        "run",
        "TTFT p50 ms",
        "TTFT p99 ms",
        "tokens/s",
        "broker msgs / token",
        *(f"{p} CPU ms / 1k tokens" for p in processes),
    ]
    return "\n".join(
        [
            "## The coalescing window under load",
            "",
            f"`{data['command']}`: {_workers(data.get('workers', 1))} behind one gateway at "
            f"{data['streams']} streams, each stream as in the matrix; the fixed 50 ms window (as before) "
            "against the window that widens past a number of running generations on a worker, in "
            "proportion to them, up to 150 ms, alternating. Ratios (×) are to the median of the fixed "
            f"window's runs. Run: {_machine(data)}.",
            "",
            table(header, rows),
            "",
        ]
    )


def provider_requests_section(data: dict[str, Any]) -> str:
    """`bench/provider_requests.py`: the worker's CPU per provider request, by conversation length."""
    rows = [
        [
            fmt(row["messages"], 0),
            fmt(row["sdk_us"], 0),
            f"{fmt(row['parley_us'], 0)} ({fmt_ratio(row['parley_us'], row['sdk_us'])})",
        ]
        for row in data["rows"]
    ]
    return "\n".join(
        [
            "## The worker's CPU per provider request",
            "",
            f"`{data['command']}`: one process sends requests to the test provider (one token per "
            "answer, so that the request dominates), 50 at once, through the `openai` SDK's typed "
            "`create()` (the baseline, as the worker called it before) and through the worker's "
            "adapter, which hands the body to the SDK as it is (`extra_body`): the SDK's conversion of "
            "typed arguments costs about 330 us per message, on the worker's event loop. Median of the "
            f"rounds. Run: {_machine(data)}.",
            "",
            table(["messages in the conversation", "SDK typed create, us CPU", "Parley, us CPU"], rows),
            "",
        ]
    )


def targets_section(found: list[Target]) -> str:
    rows = [
        [t.target, t.figure, "met" if t.met else ("missed" if t.met is False else "reported"), t.why]
        for t in found
    ]
    return "\n".join(
        ["## Targets of the issue", "", table(["target", "measured", "", "why / note"], rows), ""]
    )


def plot_matrix(matrix: dict[str, Any], plots: Path) -> None:
    cells: list[Cell] = matrix["cells"]
    configs = sorted({c["config"] for c in cells}, key=lambda n: (n != "direct", n))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for config in configs:
        mine = sorted((c for c in cells if c["config"] == config), key=lambda c: c["streams"])
        xs = [c["streams"] for c in mine]
        for ax, key in zip(axes, ("ttft_p50_ms", "ttft_p99_ms"), strict=True):
            ax.plot(xs, [c[key] for c in mine], marker="o", label=config)
    for ax, title in zip(axes, ("TTFT p50", "TTFT p99"), strict=True):
        _n_axis(ax, sorted({c["streams"] for c in cells}))
        ax.set_yscale("log")
        ax.set_ylabel("ms")
        ax.set_title(title)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(plots / "ttft.png", dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    ns = sorted({c["streams"] for c in cells})
    for config in configs:
        mine = sorted((c for c in cells if c["config"] == config), key=lambda c: c["streams"])
        ax.plot([c["streams"] for c in mine], [c["tokens_per_s"] for c in mine], marker="o", label=config)
    rate = matrix["settings"]["rate"]
    ax.plot(ns, [n * rate for n in ns], color="k", linestyle="dotted", label="offered (N × rate)")
    _n_axis(ax, ns)
    ax.set_yscale("log")
    ax.set_ylabel("delivered tokens/s")
    ax.set_title("Delivered tokens/s")
    ax.legend()
    fig.tight_layout()
    fig.savefig(plots / "throughput.png", dpi=90)
    plt.close(fig)


def _n_axis(ax: Any, ns: list[int]) -> None:
    ax.set_xscale("log")
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.set_xlabel("concurrent streams (N)")
    ax.grid(True, which="both", alpha=0.3)


def plot_soak(soak: dict[str, Any], plots: Path) -> None:
    samples = soak["samples"]
    fig, ax = plt.subplots(figsize=(8, 4))
    minutes = [s["t_s"] / 60 for s in samples]
    ax.plot(minutes, [s["gateway_rss_kb"] / 1024 for s in samples], marker=".", label="gateway RSS")
    ax.plot(minutes, [s["worker_rss_kb"] / 1024 for s in samples], marker=".", label="worker RSS")
    ax.set_xlabel("minutes")
    ax.set_ylabel("MiB")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(
        minutes, [s["queued_messages"] for s in samples], color="grey", linestyle="dotted", label="queued"
    )
    ax2.set_ylabel("messages waiting (dotted)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(plots / "soak_rss.png", dpi=90)
    plt.close(fig)


def render(results: Path, md: Path, plots: Path) -> str:
    found = {
        name: read_result(results / f"{name}.json")
        for name in ("matrix", "idle_sessions", "replay", "soak", "flood")
    }
    plots.mkdir(parents=True, exist_ok=True)
    window = read_result(results / "window.json")
    provider_requests = read_result(results / "provider_requests.json")
    ui = read_result(results / "ui_long_chat.json")
    commands = [
        f"    {d['command']}"
        for d in [*found.values(), window, provider_requests, ui]
        if d and "command" in d
    ]
    parts = [
        "# Benchmarks",
        "",
        "Written by `bench/report.py` from the JSON under `bench/results/` (`make bench` runs every "
        "benchmark, then this). Everything runs on one machine: the provider is the test kit's "
        "OpenAI-compatible server at a fixed token rate, the baseline a direct WebSocket relay of it "
        "(`bench/direct_relay.py`), Parley real processes on the shared RabbitMQ (a fresh vhost) and "
        "PostgreSQL. The commands that made these figures:",
        "",
        *commands,
        "",
        "**Read every figure with the machine in mind**: two cores for everything (provider, relay, "
        "gateway, workers, RabbitMQ, PostgreSQL and the load generator), and the load average of each run "
        "is printed beside it; a load above 2 means other work shared the cores. The machine is a shared "
        "virtual one whose speed changes from day to day (the direct relay has taken from 44 to 98 ms "
        "of CPU per 1,000 tokens at 200 streams): compare figures of one run, as the ratios do, not of "
        "runs of different sections.",
        "",
        targets_section(targets(found)),
    ]
    if found["matrix"]:
        plot_matrix(found["matrix"], plots)
        parts.append(matrix_section(found["matrix"]))
    if found["idle_sessions"]:
        parts.append(idle_section(found["idle_sessions"]))
    if found["replay"]:
        parts.append(replay_section(found["replay"]))
    if found["soak"]:
        plot_soak(found["soak"], plots)
        parts.append(soak_section(found["soak"]))
    if found["flood"]:
        parts.append(flood_section(found["flood"]))
    if window:
        parts.append(window_section(window))
    if provider_requests:
        parts.append(provider_requests_section(provider_requests))
    if ui:
        parts.append(ui_section(ui))
    text = "\n".join(parts).rstrip() + "\n"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--md", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--plots", type=Path, default=None, help="default: benchmarks/ beside --md")
    args = parser.parse_args()
    plots = args.plots or args.md.parent / "benchmarks"
    render(args.results, args.md, plots)
    sys.stdout.write(f"wrote {os.path.relpath(args.md)} and plots in {os.path.relpath(plots)}\n")


if __name__ == "__main__":
    main()

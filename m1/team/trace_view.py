"""Human-readable renderings of an :class:`~m1.team.trace.Episode`: a terminal timeline and a
self-contained HTML page (per-agent lanes of plans, tool steps, revisions and answers; the
shared-memory traffic; the vote).

Nothing here changes an episode; both renderings are pure functions of the trace.
"""

from __future__ import annotations

import html

from m1.team.trace import AgentTrace, Episode, ToolStep, Turn


def _short(text: str, n: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _timeline(a: AgentTrace) -> list[Turn | ToolStep]:
    """The agent's events in order: plan, then per round its step and revision, then the answer."""
    plan = [t for t in a.turns if t.kind == "plan"]
    answer = [t for t in a.turns if t.kind == "answer"]
    revisions = {t.round: t for t in a.turns if t.kind == "revision"}
    out: list[Turn | ToolStep] = list(plan)
    for r in sorted({s.round for s in a.steps} | set(revisions)):
        out += [s for s in a.steps if s.round == r]
        if r in revisions:
            out.append(revisions[r])
    return out + answer


def _agent_lines(ep: Episode, a: AgentTrace) -> list[str]:
    out = [f"── agent {a.agent} · {a.name}" + (" · summariser" if ep.summariser == a.agent else "")]
    by_id = {e.id: e for e in ep.memory}
    for ev in _timeline(a):
        if isinstance(ev, ToolStep):
            e = by_id[ev.memory_id]
            res = f"✗ {e.error}" if e.error else _short(e.text.splitlines()[0] if e.text else "", 70)
            shown_cand = e.candidate is None or e.confidence is None or "candidate=" in res
            cand = "" if shown_cand else f"  → candidate {e.candidate} ({e.confidence:.2f})"
            out.append(f"   step {ev.step} r{ev.round}: {ev.call.tool} {ev.call.args}"
                       f"{' (cached)' if ev.cached else ''}: {res}{cand}  [{e.frames} fr]")
            continue
        body = ev.parsed if ev.parsed is not None else f"✗ {ev.error}"
        body = _short(body.replace("\n", " ; "), 100)
        read = f" (read {ev.memory_seen})" if ev.memory_seen else ""
        label = {"plan": "plan:", "revision": f"revise r{ev.round}:", "answer": "answer:"}[ev.kind]
        out.append(f"   {label:<11}{body}{read}")
    return out


def render_text(ep: Episode) -> str:
    q = ep.question
    lines = [f"Q: {q.question}"]
    lines += [f"   {o}" for o in q.lettered_options()]
    active = ",".join(str(i) for i in ep.topology.active_agents)
    lines.append(f"topology: {ep.topology.kind}, active agents [{active}], {len(ep.topology.edges)} edges")
    for a in ep.agents:
        lines += _agent_lines(ep, a)
    votes = ", ".join(f"{k}={v}" for k, v in ep.votes.items())
    lines.append(f"final answer: {ep.final_answer} (by {ep.aggregation}{'; votes ' + votes if votes else ''})"
                 + (f"   ground truth: {q.answer}" if q.answer is not None else ""))
    lines.append(f"frames used: {ep.frames_used}   tool calls: {ep.tool_calls}   "
                 f"tool time: {ep.tool_seconds:.2f} s   wall time: {ep.wall_seconds:.2f} s")
    return "\n".join(lines)


_CSS = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:18px}
.lanes{display:grid;gap:12px}.lane{border:1px solid #ccc;border-radius:6px;padding:8px}
.lane h2{font-size:15px;margin:0 0 6px}.ev{margin:3px 0;padding:3px 6px;border-radius:4px;white-space:pre-wrap}
.plan{background:#eef5ff}.step{background:#f4f4f4}.rev{background:#fff6e0}.ans{background:#e8f7e8}
.err{background:#fde8e8}.mem{font-size:12px;color:#666}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:2px 6px;font-size:12px}
"""


def render_html(ep: Episode) -> str:
    """A standalone HTML page for ``ep`` (no external assets)."""
    e = html.escape
    q = ep.question
    by_id = {m.id: m for m in ep.memory}
    parts = [f"<!doctype html><meta charset=utf-8><title>episode {e(ep.episode_id)}</title><style>{_CSS}</style>",
             f"<h1>{e(q.question)}</h1>"]
    if q.options:
        parts.append("<ol type=A>" + "".join(f"<li>{e(o)}</li>" for o in q.options) + "</ol>")
    parts.append(f"<p><b>Answer:</b> {e(str(ep.final_answer))} ({e(ep.aggregation)}"
                 + (f"; votes {e(str(ep.votes))}" if ep.votes else "") + ")"
                 + (f" — ground truth {e(q.answer)}" if q.answer is not None else "")
                 + f"<br>frames {ep.frames_used} · tool calls {ep.tool_calls} · wall {ep.wall_seconds:.2f} s"
                 + f" · topology {e(ep.topology.kind)} edges {e(str(list(ep.topology.edges)))}</p>")
    parts.append("<div class=lanes>")
    for a in ep.agents:
        parts.append(f"<div class=lane><h2>agent {a.agent} · {e(a.name)}"
                     + (" · summariser" if ep.summariser == a.agent else "") + "</h2>")
        for ev in _timeline(a):
            if isinstance(ev, ToolStep):
                m = by_id[ev.memory_id]
                parts.append(f"<div class='ev {'err' if m.error else 'step'}'>step {ev.step} · {e(ev.call.tool)} "
                             f"{e(str(ev.call.args))}{' (cached)' if ev.cached else ''} · {m.frames} frames\n"
                             f"{e(m.error or m.text)}</div>")
                continue
            cls = "err" if ev.parsed is None else {"plan": "plan", "revision": "rev", "answer": "ans"}[ev.kind]
            body = ev.parsed if ev.parsed is not None else f"format error: {ev.error}"
            seen = f"<div class=mem>read memory entries {ev.memory_seen}</div>" if ev.memory_seen else ""
            parts.append(f"<div class='ev {cls}'><b>{ev.kind}</b> {e(body)}{seen}</div>")
        parts.append("</div>")
    parts.append("</div><h2>Shared memory</h2><table><tr><th>id</th><th>agent</th><th>step</th><th>tool</th>"
                 "<th>candidate</th><th>frames</th><th>text</th></tr>")
    for m in ep.memory:
        parts.append(f"<tr><td>{m.id}</td><td>{m.agent}</td><td>{m.step}</td><td>{e(m.tool)}</td>"
                     f"<td>{e(str(m.candidate))}</td><td>{m.frames}</td>"
                     f"<td>{e(_short(m.error or m.text, 160))}</td></tr>")
    parts.append("</table>")
    return "\n".join(parts)

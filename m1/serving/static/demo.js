// The demo page: posts the question to /v1/answer with stream=true, draws the server-sent
// progress events as they arrive (plans, tool steps, revisions, answers), then the answer and
// the keyframes of the stored trace. No framework, no build step.
"use strict";
const $ = (id) => document.getElementById(id);
const lanes = new Map();

function headers() {
  const key = $("apikey").value.trim();
  return key ? { "X-API-Key": key } : {};
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function lane(ev) {
  if (!lanes.has(ev.agent)) {
    const div = el("div", "lane");
    div.dataset.agent = ev.agent;
    div.appendChild(el("h3", "", `agent ${ev.agent} · ${ev.name}`));
    $("lanes").appendChild(div);
    lanes.set(ev.agent, div);
  }
  return lanes.get(ev.agent);
}

function onProgress(ev) {
  if (ev.kind === "start") {
    $("status").textContent = `the team (${ev.team.join(", ")}) is working… trace ${ev.trace_id}`;
    return;
  }
  if (ev.kind === "step") {
    const res = ev.error ? `✗ ${ev.error}` : ev.text;
    const when = ev.times && ev.times.length ? ` · frames at ${ev.times.map((t) => t.toFixed(1)).join(", ")} s` : "";
    lane(ev).appendChild(el("div", ev.error ? "ev error" : "ev step",
      `step ${ev.step} · ${ev.tool} ${JSON.stringify(ev.args)}${when}\n${res}`));
    $("memory").appendChild(el("li", "", `#${ev.entry} agent ${ev.agent} (${ev.name}) · ${ev.tool}` +
      (ev.candidate ? ` → candidate ${ev.candidate}` : "") + ` · ${ev.frames} frames`));
    return;
  }
  lane(ev).appendChild(el("div", `ev ${ev.kind}`, `${ev.kind}: ${ev.text || "(empty)"}`));
}

async function showKeyframes(traceId) {
  const r = await fetch(`/v1/traces/${traceId}`, { headers: headers() });
  if (!r.ok) return;
  const rec = await r.json();
  const box = $("keyframes");
  const shown = new Set();
  for (const k of rec.keyframes) {
    const key = `${k.t}`;
    if (shown.has(key)) continue;
    shown.add(key);
    const fig = el("figure", "keyframe");
    if (k.thumbnail !== null && k.thumbnail !== undefined) {
      const img = document.createElement("img");
      img.alt = `frame at ${k.t.toFixed(2)} s`;
      const jpg = await fetch(`/v1/traces/${traceId}/frames/${k.thumbnail}`, { headers: headers() });
      if (jpg.ok) img.src = URL.createObjectURL(await jpg.blob());
      fig.appendChild(img);
    }
    fig.appendChild(el("figcaption", "", `${k.t.toFixed(2)} s · ${k.tool} (agent ${k.agent})`));
    box.appendChild(fig);
  }
  if (!rec.keyframes.length) box.textContent = "no tool looked at a frame in this episode";
}

function onResult(res) {
  $("result").hidden = false;
  $("answer").textContent = res.answer === null ? "(no parseable answer)"
    : res.answer + (res.answer_text ? ` — ${res.answer_text}` : "");
  const votes = Object.entries(res.votes).map(([k, v]) => `${k}: ${v}`).join(", ");
  $("votes").textContent = `by ${res.aggregation}` + (votes ? ` · votes ${votes}` : "");
  $("usage").textContent = `${res.frames_used} frames · ${res.tool_calls} tool calls · ${res.seconds.toFixed(2)} s` +
    ` (video ${res.video_seconds.toFixed(1)} s)`;
  $("status").textContent = `done · trace ${res.trace_id}`;
  return showKeyframes(res.trace_id);
}

function parseEvents(buffer, handle) {
  let idx;
  while ((idx = buffer.indexOf("\n\n")) >= 0) {
    const block = buffer.slice(0, idx);
    buffer = buffer.slice(idx + 2);
    let event = "message", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (data) handle(event, JSON.parse(data));
  }
  return buffer;
}

async function ask(e) {
  e.preventDefault();
  lanes.clear();
  for (const id of ["lanes", "memory", "keyframes"]) $(id).replaceChildren();
  $("result").hidden = true;
  $("status").className = "";
  $("status").textContent = "uploading…";
  $("go").disabled = true;
  const form = new FormData();
  const file = $("video").files[0];
  if (file) form.append("video", file);
  else if ($("sample").value) form.append("sample", $("sample").value);
  form.append("question", $("question").value);
  for (const o of $("options").value.split("\n").map((s) => s.trim()).filter(Boolean)) form.append("options", o);
  if ($("task").value) form.append("task_type", $("task").value);
  form.append("stream", "true");
  const done = [];
  try {
    const r = await fetch("/v1/answer", { method: "POST", body: form, headers: headers() });
    if (!r.ok || !r.body) {
      const body = await r.json().catch(() => ({ error: { message: r.statusText } }));
      throw new Error(`${r.status}: ${body.error.message}`);
    }
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      buffer = parseEvents(buffer + dec.decode(value, { stream: true }), (event, data) => {
        if (event === "progress") onProgress(data);
        else if (event === "result") done.push(onResult(data));
        else if (event === "error") throw new Error(`${data.status}: ${data.error.message}`);
      });
    }
    await Promise.all(done);
  } catch (err) {
    $("status").className = "error";
    $("status").textContent = `error ${err.message}`;
  } finally {
    $("go").disabled = false;
  }
}

async function loadSamples() {
  const r = await fetch("/v1/samples", { headers: headers() });
  if (!r.ok) return;
  for (const name of await r.json()) {
    const o = el("option", "", name);
    o.value = name;
    $("sample").appendChild(o);
  }
}

$("ask").addEventListener("submit", ask);
loadSamples();

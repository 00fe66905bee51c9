/* Job timeline: which task ran on which node, when, for how long, and which attempts failed.
 *
 * Source: the master's compact task list when it has one (TASKS_ENDPOINT), else the job's
 * raw event log (read incrementally with Range), whose Disco messages are parsed:
 *   "<stage>:<id> assigned to <host>", "DONE: [<stage>:<id>] ...", "SYS: [<stage>:<id>] Received results from <host>",
 *   "Task <stage>:<id> failed on <host>...", "ERROR|FATAL|WARNING: [<stage>:<id>] ...".
 */
"use strict";
const Timeline = (function () {
  const {el, replaceChildren, parseStamp, formatDuration} = Disco;
  const TASKS_ENDPOINT = "/disco/ctrl/jobtasks";
  const COLORS = ["#4e79a7", "#59a14f", "#9c755f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#bab0ac"];
  let endpointMissing = false;
  let offset = 0, tasks = [], open = new Map(), jobName = null, partial = "";

  function reset(name) {
    jobName = name; offset = 0; tasks = []; open = new Map(); partial = "";
  }

  function seconds(stamp) { const d = parseStamp(stamp); return d ? d.getTime() / 1000 : null; }

  function parseEvent([stamp, host, message]) {
    const t = seconds(stamp);
    let m;
    if ((m = /^(\S+):(\d+) assigned to (\S+)/.exec(message))) {
      const key = m[1] + ":" + m[2];
      const attempt = tasks.filter((x) => x.key === key).length + 1;
      const task = {key: key, stage: m[1], task: +m[2], attempt: attempt, host: m[3], start: t, end: null, status: "running"};
      tasks.push(task);
      open.set(key, task);
    } else if ((m = /^DONE: \[(\S+):(\d+)\]/.exec(message)) ||
               (m = /^SYS: \[(\S+):(\d+)\] Received results from/.exec(message))) {
      close(m[1] + ":" + m[2], t, "done");
    } else if ((m = /Task (\S+):(\d+) failed on (\S+?),?\s/.exec(message)) ||
               (m = /^(?:ERROR|FATAL): \[(\S+):(\d+)\]/.exec(message))) {
      close(m[1] + ":" + m[2], t, "failed");
    }
  }

  function close(key, t, status) {
    const task = open.get(key);
    if (!task) return;
    task.end = t; task.status = status;
    open.delete(key);
  }

  async function fromEvents(name) {
    const response = await fetch("/disco/ctrl/rawevents?name=" + encodeURIComponent(name),
                                 {headers: offset ? {Range: "bytes=" + offset + "-"} : {}, cache: "no-store"});
    if (response.status === 416) return tasks;
    if (!response.ok) throw new Error("rawevents: HTTP " + response.status);
    const buffer = await response.arrayBuffer();
    if (response.status === 200 && offset) reset(name);      // Range ignored: parse everything again
    offset += buffer.byteLength;
    const text = partial + new TextDecoder().decode(buffer);
    const lines = text.split("\n");
    partial = lines.pop();
    for (const line of lines) {
      if (!line.trim()) continue;
      try { parseEvent(JSON.parse(line)); } catch (e) { /* a line we do not understand */ }
    }
    return tasks;
  }

  /* The master's task list (GET /disco/ctrl/jobtasks): one entry per task with its latest
   * attempt's host and times (Unix seconds), "attempts" and "failures". */
  async function fromEndpoint(name) {
    const response = await fetch(TASKS_ENDPOINT + "?name=" + encodeURIComponent(name), {cache: "no-store"});
    if (!response.ok) { endpointMissing = true; return null; }
    const data = await response.json();
    const list = Array.isArray(data) ? data : (data.tasks || []);
    return list.filter((t) => t.host && t.start !== null && t.start !== undefined && t.status !== "dropped")
      .map((t) => ({stage: t.stage, task: t.task, attempt: t.attempts || 1, host: t.host, start: t.start,
                    end: t.end, status: t.status === "done" ? "done" : (t.end ? "failed" : "running"),
                    failures: t.failures || 0}));
  }

  /* Latest attempts from the task list, plus the failed earlier attempts from the event log. */
  async function load(name) {
    if (name !== jobName) reset(name);
    let list = null;
    if (!endpointMissing) {
      try { list = await fromEndpoint(name); } catch (e) { endpointMissing = true; }
    }
    const fromLog = await fromEvents(name);
    if (!list) return fromLog;
    const latest = new Set(list.map((t) => t.stage + ":" + t.task + ":" + t.attempt));
    const failedBefore = fromLog.filter((t) => t.status === "failed" && !latest.has(t.key + ":" + t.attempt));
    return list.concat(failedBefore);
  }

  function render(list, finished) {
    const box = document.getElementById("timeline");
    const legend = document.getElementById("timeline-legend");
    const withTimes = list.filter((t) => t.start !== null && t.start !== undefined && t.host);
    if (!withTimes.length) {
      replaceChildren(box, [el("p", {class: "empty", text: finished ? "No task ran." : "No task has started yet."})]);
      replaceChildren(legend, []);
      return;
    }
    const now = Date.now() / 1000;
    const stages = [...new Set(withTimes.map((t) => t.stage))];
    const color = (stage) => COLORS[stages.indexOf(stage) % COLORS.length];
    const t0 = Math.min(...withTimes.map((t) => t.start));
    const endOf = (t) => (t.end !== null && t.end !== undefined) ? t.end : (finished ? t.start : now);
    const t1 = Math.max(t0 + 1, ...withTimes.map(endOf));
    const span = t1 - t0;
    const x = (t) => (100 * (t - t0) / span);
    const hosts = [...new Set(withTimes.map((t) => t.host))].sort();
    const rows = hosts.map((host) => {
      const lanes = [];   // greedy packing of overlapping tasks into lanes
      const bars = [];
      for (const task of withTimes.filter((t) => t.host === host).sort((a, b) => a.start - b.start)) {
        let lane = lanes.findIndex((end) => end <= task.start);
        if (lane < 0) { lane = lanes.length; lanes.push(0); }
        lanes[lane] = Math.max(endOf(task), task.start + span / 200);
        const duration = endOf(task) - task.start;
        const status = task.status || (task.end ? "done" : "running");
        const bar = el("div", {class: "tl-task " + status + (task.failures ? " retried" : ""),
          title: task.stage + ":" + task.task + " attempt " + (task.attempt || 1) + " on " + host + " \u2014 " +
                 status + ", " + formatDuration(duration) +
                 (task.failures ? " (" + task.failures + " earlier attempt" + (task.failures > 1 ? "s" : "") + " failed)" : ""),
          dataset: {stage: task.stage, task: task.task, status: status, host: host}});
        bar.style.left = x(task.start) + "%";
        bar.style.width = Math.max(0.3, x(endOf(task)) - x(task.start)) + "%";
        bar.style.top = (4 + lane * 18) + "px";
        bar.style.background = color(task.stage);
        bars.push(bar);
      }
      const lane = el("div", {class: "tl-lane"}, bars);
      lane.style.height = (8 + lanes.length * 18) + "px";
      return el("div", {class: "tl-row"}, [el("div", {class: "tl-host", title: host, text: host}), lane]);
    });
    const ticks = [];
    for (let i = 0; i <= 5; i++) {
      const at = span * i / 5;
      const tick = el("span", {text: span < 10 ? at.toFixed(1) + "s" : formatDuration(at)});
      tick.style.left = (i * 20) + "%";
      if (i === 5) tick.style.transform = "translateX(-100%)";
      if (i === 0) tick.style.transform = "none";
      ticks.push(tick);
    }
    rows.push(el("div", {class: "tl-axis"}, [el("div", {}), el("div", {class: "ticks"}, ticks)]));
    replaceChildren(box, rows);
    const failed = withTimes.filter((t) => t.status === "failed").length;
    const items = stages.map((s) => {
      const swatch = el("i");
      swatch.style.background = color(s);
      return el("span", {}, [swatch, s]);
    });
    items.push(el("span", {}, [el("i", {class: "tl-task failed", style: "position:static;display:inline-block"}), "failed attempt"]));
    items.push(el("span", {text: withTimes.length + " attempts, " + failed + " failed, " + hosts.length + " nodes"}));
    replaceChildren(legend, items);
  }

  async function refresh(name, info, finished) {
    try { render(await load(name), finished); }
    catch (e) { replaceChildren(document.getElementById("timeline"), [el("p", {class: "empty", text: "Timeline unavailable: " + e.message})]); }
  }

  return {refresh: refresh, parseEventsForTest: (lines) => { reset("test"); lines.forEach(parseEvent); return tasks; }};
})();

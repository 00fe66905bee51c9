/* Job page: the job's counters (GET /disco/ctrl/counters, docs/counters.md).
 * Per stage: records and bytes in/out, bytes fetched from other nodes, shuffle size, and the
 * skew view (largest task vs the median); then the user counters in a table. */
"use strict";
const Counters = (function () {
  const {el, replaceChildren, api, formatKB} = Disco;
  const ENDPOINT = "/disco/ctrl/counters";
  let last = "";

  function bytes(n) { return n === undefined ? "\u2013" : formatKB(n / 1024); }
  function count(n) { return n === undefined ? "\u2013" : Number(n).toLocaleString("en-US"); }

  function skewCell(stage) {
    const skew = (stage.skew || {}).records_in || (stage.skew || {}).bytes_in;
    if (!skew) return el("td", {class: "num", text: "\u2013"});
    const ratio = skew.ratio === null || skew.ratio === undefined ? "\u2013" : "\u00d7" + skew.ratio;
    const heavy = skew.ratio >= 2;
    return el("td", {class: "num" + (heavy ? " skewed" : ""),
      title: "largest task " + skew.max_task + ": " + count(skew.max) + ", median " + count(skew.median)}, [
      el("span", {class: "skew-ratio", text: ratio}), " ",
      el("span", {class: "muted", text: count(skew.max) + " / " + count(skew.median)})]);
  }

  function stageRow(stage) {
    const d = (stage.counters || {}).disco || {};
    return el("tr", {dataset: {stage: stage.stage}}, [
      el("td", {class: "mono", text: stage.stage}),
      el("td", {class: "num", text: count(stage.tasks)}),
      el("td", {class: "num records-in", text: count(d.records_in)}),
      el("td", {class: "num", text: bytes(d.bytes_in)}),
      el("td", {class: "num", text: bytes(d.bytes_fetched)}),
      el("td", {class: "num records-out", text: count(d.records_out)}),
      el("td", {class: "num", text: bytes(d.bytes_out)}),
      el("td", {class: "num", text: stage.shuffle_bytes ? bytes(stage.shuffle_bytes) : "\u2013"}),
      skewCell(stage),
      el("td", {class: "num", text: d.cpu_ms === undefined ? "\u2013" : (d.cpu_ms / 1000).toFixed(2) + " s"}),
    ]);
  }

  function userRows(user) {
    const rows = [];
    for (const group of Object.keys(user).sort())
      for (const counter of Object.keys(user[group]).sort())
        rows.push(el("tr", {dataset: {group: group, counter: counter}}, [
          el("td", {class: "mono", text: group}), el("td", {class: "mono", text: counter}),
          el("td", {class: "num value", text: count(user[group][counter])})]));
    return rows;
  }

  function render(summary) {
    const note = summary.status === "active"
      ? summary.tasks + " finished task(s) so far" : summary.tasks + " task(s)";
    document.getElementById("counters-count").textContent = note;
    replaceChildren(document.getElementById("counter-stages"), summary.stages.map(stageRow));
    const rows = userRows(summary.user || {});
    if (!rows.length) rows.push(el("tr", {}, [el("td", {class: "empty", colspan: 3, text: "no user counters"})]));
    replaceChildren(document.getElementById("user-counters"), rows);
  }

  async function refresh(name) {
    let summary;
    try { summary = await api.get(ENDPOINT, {name: name}); } catch (e) { return; }
    const text = JSON.stringify(summary);
    if (text === last) return;
    last = text;
    render(summary);
  }

  return {refresh};
})();

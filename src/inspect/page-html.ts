/**
 * The inspector page's HTML and CSS: a static skeleton (no data is ever
 * written into it; `page/main.ts` fills it through the DOM). Kept as a module
 * so the relay serves it from memory, in `src/` and in `dist/` alike.
 */

const STYLES = `
:root {
  --bg: #f8fafc; --panel: #ffffff; --ink: #0f172a; --muted: #64748b; --line: #e2e8f0;
  --state: #ffffff; --state-line: #94a3b8; --compound: #f8fafc; --region: #fbfdff;
  --active: #16a34a; --active-fill: #dcfce7; --active-soft: rgba(22, 163, 74, 0.06);
  --edge: #94a3b8; --edge-after: #b45309; --edge-always: #7c3aed; --taken: #ea580c;
  --font: ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  --mono: ui-monospace, SFMono-Regular, Menlo, "DejaVu Sans Mono", monospace;
}
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; background: var(--bg); color: var(--ink); font: 13px/1.4 var(--font); }
body { display: grid; grid-template-rows: auto 1fr; }
header { display: flex; align-items: center; gap: 12px; padding: 8px 14px; background: #0f172a; color: #e2e8f0; }
header h1 { font-size: 14px; margin: 0; font-weight: 600; letter-spacing: .02em; }
header .spacer { flex: 1; }
.pill { padding: 2px 8px; border-radius: 999px; font-size: 12px; background: #334155; }
.pill.relay-open { background: #166534; color: #dcfce7; }
.pill.relay-closed { background: #991b1b; color: #fee2e2; }
#counts { color: #94a3b8; font-size: 12px; }
main { display: grid; grid-template-columns: minmax(0, 1fr) 360px; grid-template-rows: minmax(0, 1fr) minmax(180px, 34%); gap: 10px; padding: 10px; min-height: 0; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; display: flex; flex-direction: column; min-height: 0; min-width: 0; }
section > h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0; padding: 8px 12px; border-bottom: 1px solid var(--line); display: flex; align-items: center; gap: 8px; }
section > h2 .title { color: var(--ink); text-transform: none; letter-spacing: 0; font-weight: 600; }
section > h2 .spacer { flex: 1; }
#chart-panel { grid-column: 1; grid-row: 1; }
#side { grid-column: 2; grid-row: 1 / span 2; display: grid; grid-template-rows: auto minmax(0, 1fr); gap: 10px; min-height: 0; }
#log-panel { grid-column: 1; grid-row: 2; }
button { font: inherit; font-size: 12px; border: 1px solid var(--line); background: #f1f5f9; border-radius: 6px; padding: 2px 10px; cursor: pointer; color: var(--ink); }
button:hover { background: #e2e8f0; }
button[aria-pressed="true"] { background: #fef3c7; border-color: #f59e0b; }
#chart { flex: 1; overflow: auto; padding: 8px; min-height: 0; }
#chart.fit svg.chart { width: 100%; height: 100%; }
#chart-problems { color: #b91c1c; font-size: 12px; padding: 0 12px; }
#chart-problems:empty { display: none; }
.chart-note { color: var(--muted); padding: 16px; }
svg.chart { display: block; font-family: var(--font); }
svg .state rect { fill: var(--state); stroke: var(--state-line); stroke-width: 1.2; }
svg .state text { font-size: 13px; fill: var(--ink); }
svg .state.compound > rect { fill: var(--compound); stroke: #cbd5e1; }
svg .state.kind-region > rect { fill: var(--region); stroke-dasharray: 5 4; }
svg .state.compound .compound-label { font-size: 12px; font-weight: 600; fill: #334155; }
svg .state .hint { font-weight: 400; fill: var(--muted); font-size: 11px; }
svg .state.atomic.active rect { fill: var(--active-fill); stroke: var(--active); stroke-width: 2.4; }
svg .state.atomic.active text { font-weight: 600; }
svg .state.compound.active > rect { stroke: var(--active); stroke-width: 1.8; fill: var(--active-soft); }
svg .state.compound.active .compound-label { fill: var(--active); }
svg .state .inner { fill: none; }
svg circle.initial { fill: #334155; }
svg .edge path { fill: none; stroke: var(--edge); stroke-width: 1.3; }
svg .edge.kind-after path { stroke: var(--edge-after); stroke-dasharray: 6 3; }
svg .edge.kind-always path { stroke: var(--edge-always); stroke-dasharray: 2 3; }
svg .edge.kind-initial path { stroke: #334155; }
svg .edge.taken path { stroke: var(--taken); stroke-width: 2.4; stroke-dasharray: none; }
svg .arrowhead { fill: var(--edge); }
svg .arrowhead.taken { fill: var(--taken); }
svg .edge-label rect { fill: rgba(255, 255, 255, .92); stroke: none; }
svg .edge-label text { font-size: 10.5px; fill: #334155; }
svg .edge-label.kind-after text { fill: #92400e; }
svg .edge-label.kind-always text { fill: #6d28d9; }
svg .edge-label .guard { fill: var(--muted); }
svg .edge-label line.leader { stroke: #94a3b8; stroke-width: .8; stroke-dasharray: 2 2; }
svg .edge-label circle.leader { fill: #94a3b8; }
svg .edge-label:hover rect { fill: #fef3c7; }
#actors-panel ul { list-style: none; margin: 0; padding: 6px; max-height: 180px; overflow: auto; }
#actors-panel li { margin: 2px 0; }
button.actor { width: 100%; text-align: left; display: flex; align-items: center; gap: 6px; background: transparent; border-color: transparent; padding: 4px 8px; }
button.actor.selected { background: #eff6ff; border-color: #bfdbfe; }
button.actor.gone .name { color: var(--muted); text-decoration: line-through; }
button.actor .name { font-weight: 600; }
.dot { width: 8px; height: 8px; border-radius: 50%; background: #cbd5e1; flex: none; }
.dot.live { background: var(--active); }
.muted { color: var(--muted); }
#context { overflow: auto; padding: 8px 12px; font: 12px/1.5 var(--mono); min-height: 0; flex: 1; }
#context details { margin-left: 12px; }
#context > details { margin-left: 0; }
#context summary { cursor: pointer; }
#context .leaf { margin-left: 24px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#context .key { color: #0f172a; }
#context .kind-string { color: #047857; }
#context .kind-number { color: #1d4ed8; }
#context .kind-boolean, #context .kind-null { color: #7c3aed; }
#context .kind-redacted { color: #b91c1c; font-style: italic; }
#log-wrap { overflow: auto; flex: 1; min-height: 0; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; font: 12px/1.4 var(--mono); }
th { position: sticky; top: 0; background: #f1f5f9; text-align: left; font: 600 11px var(--font); color: var(--muted); padding: 4px 8px; text-transform: uppercase; letter-spacing: .05em; }
td { padding: 2px 8px; border-bottom: 1px solid #f1f5f9; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
td.time { color: var(--muted); width: 96px; }
td.event { color: #1d4ed8; }
td.event.delayed { color: #b45309; }
td.state { color: var(--active); }
col.time { width: 100px; } col.event { width: 26%; } col.state { width: 30%; }
section > h2 .note { text-transform: none; letter-spacing: 0; }
#log-status { font-size: 11px; text-transform: none; letter-spacing: 0; }
`;

/** The page, loading elkjs from `elkPath` and its bundle from `scriptPath`. */
export function pageHtml(scriptPath = '/inspector.js', elkPath = '/elk.js'): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>statesocket inspector</title>
<style>${STYLES}</style>
</head>
<body>
<header>
  <h1>statesocket inspector</h1>
  <span id="relay-status" class="pill">connecting to relay…</span>
  <span class="spacer"></span>
  <span id="counts"></span>
</header>
<main>
  <section id="chart-panel" aria-label="statechart">
    <h2><span>chart</span><span id="chart-title" class="title"></span><span class="spacer"></span><button id="chart-zoom" type="button">100%</button></h2>
    <p id="chart-problems"></p>
    <div id="chart" class="fit"></div>
  </section>
  <div id="side">
    <section id="actors-panel" aria-label="inspected machines">
      <h2>machines</h2>
      <ul id="actors"></ul>
    </section>
    <section id="context-panel" aria-label="context">
      <h2>context <span class="note">(secrets redacted)</span></h2>
      <div id="context"></div>
    </section>
  </div>
  <section id="log-panel" aria-label="event log">
    <h2><span>events</span><span id="log-status"></span><span class="spacer"></span><button id="log-pause" type="button" aria-pressed="false">Pause</button><button id="log-clear" type="button">Clear</button></h2>
    <div id="log-wrap">
      <table>
        <colgroup><col class="time"><col class="event"><col class="payload"><col class="state"></colgroup>
        <thead><tr><th>time</th><th>event</th><th>payload</th><th>resulting state</th></tr></thead>
        <tbody id="log-body"></tbody>
      </table>
    </div>
  </section>
</main>
<script src="${elkPath}"></script>
<script type="module" src="${scriptPath}"></script>
</body>
</html>
`;
}

// Draws the status page's bar charts from the JSON the page embeds; no library, no network.
const data = JSON.parse(document.getElementById('series').textContent);
const colors = data.colors;
const charts = [['chart-hour', data.hour, '-60 min'], ['chart-day', data.day, '-24 h']];
for (const [id, series, start] of charts) {
  const svg = document.getElementById(id), ns = 'http://www.w3.org/2000/svg';
  const n = series[data.outcomes[0]].length, w = 600, h = 140, group = w / n, bar = (group - 4) / data.outcomes.length;
  const max = Math.max(1, ...data.outcomes.flatMap(o => series[o]));
  data.outcomes.forEach((outcome, k) => series[outcome].forEach((value, i) => {
    const r = document.createElementNS(ns, 'rect'), height = Math.round(value / max * (h - 10));
    r.setAttribute('x', i * group + 2 + k * bar); r.setAttribute('width', bar);
    r.setAttribute('y', h - height); r.setAttribute('height', height); r.setAttribute('fill', colors[outcome]);
    r.setAttribute('data-outcome', outcome); r.setAttribute('data-value', value);
    const t = document.createElementNS(ns, 'title'); t.textContent = outcome + ': ' + value; r.appendChild(t);
    svg.appendChild(r);
  }));
  for (const [x, anchor, label] of [[2, 'start', start], [w - 2, 'end', 'now']]) {
    const t = document.createElementNS(ns, 'text');
    t.setAttribute('x', x); t.setAttribute('y', 12); t.setAttribute('text-anchor', anchor);
    t.setAttribute('font-size', '11'); t.setAttribute('fill', '#666'); t.textContent = label;
    svg.appendChild(t);
  }
}

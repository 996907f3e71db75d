// Draws the status page's bar charts from the JSON the page embeds, and wires the dead-letter replay buttons.
// No library, no network but the replay POST to this page's own origin.
const data = JSON.parse(document.getElementById('series').textContent);
const ns = 'http://www.w3.org/2000/svg';
const charts = [
  ['chart-hour', data.hour, data.hour_starts, 3, 'events per 5 min'],
  ['chart-day', data.day, data.day_starts, 4, 'events per hour'],
];

function niceCeiling(value) {
  // The smallest 1, 2 or 5 times a power of ten at or above `value`: round numbers on the y axis.
  const power = 10 ** Math.floor(Math.log10(Math.max(1, value)));
  return [1, 2, 5, 10].map(step => step * power).find(top => top >= value);
}

function add(svg, tag, attributes, text) {
  const element = document.createElementNS(ns, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  svg.appendChild(element);
  return element;
}

const clock = seconds => new Date(seconds * 1000).toISOString().slice(11, 16);

for (const [id, series, starts, labelEvery, unit] of charts) {
  const svg = document.getElementById(id);
  const width = +svg.getAttribute('width'), height = +svg.getAttribute('height');
  const left = 48, right = 8, top = 10, bottom = 34, plotW = width - left - right, plotH = height - top - bottom;
  const n = starts.length, group = plotW / n, bar = (group - 4) / data.outcomes.length;
  const peak = Math.max(0, ...data.outcomes.flatMap(o => series[o]));
  const ceiling = niceCeiling(peak);
  const step = [ceiling / 5, ceiling / 4, ceiling / 2, ceiling].find(s => Number.isInteger(s) && s >= 1);
  const ticks = Array.from({length: ceiling / step + 1}, (_, i) => i * step);  // whole numbers only
  const y = value => top + plotH - value / ceiling * plotH;
  for (const tick of ticks) {
    add(svg, 'line', {x1: left, x2: width - right, y1: y(tick), y2: y(tick), class: 'grid'});
    add(svg, 'text', {x: left - 6, y: y(tick) + 4, 'text-anchor': 'end', class: 'y-tick', 'data-value': tick}, tick);
  }
  add(svg, 'text', {x: 12, y: top + plotH / 2, 'text-anchor': 'middle',
    transform: `rotate(-90 12 ${top + plotH / 2})`}, unit);
  data.outcomes.forEach((outcome, k) => series[outcome].forEach((value, i) => {
    const r = add(svg, 'rect', {
      x: left + i * group + 2 + k * bar, width: bar, y: y(value), height: top + plotH - y(value),
      fill: data.colors[outcome], 'data-outcome': outcome, 'data-value': value,
    });
    add(r, 'title', {}, `${outcome}: ${value} (from ${clock(starts[i])} UTC)`);
  }));
  add(svg, 'line', {x1: left, x2: width - right, y1: top + plotH, y2: top + plotH, class: 'axis'});
  add(svg, 'line', {x1: left, x2: left, y1: top, y2: top + plotH, class: 'axis'});
  starts.forEach((start, i) => {
    if (i % labelEvery !== 0) return;
    add(svg, 'text', {x: left + i * group, y: top + plotH + 14, 'text-anchor': 'start', class: 'x-tick',
      'data-time': start}, clock(start));
  });
  add(svg, 'text', {x: width - right, y: height - 4, 'text-anchor': 'end'}, 'time (UTC), now at the right');
}

// Replay one dead letter. A same-origin fetch with a JSON body: what http/admin.py's forgery check lets through, and what
// a form on another site cannot send.
for (const button of document.querySelectorAll('button[data-replay]')) {
  button.addEventListener('click', async () => {
    const result = button.parentElement.querySelector('.replay-result');
    button.disabled = true;
    try {
      const response = await fetch(new URL('/v1/admin/dead/replay', location.origin), {
        method: 'POST',
        credentials: 'same-origin',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({event_id: button.dataset.replay, destination: button.dataset.destination}),
      });
      const answer = await response.json();
      result.textContent = response.ok ? `replayed ${answer.replayed}` : `refused: ${answer.message || answer.error}`;
      result.dataset.outcome = response.ok ? 'replayed' : 'refused';
      if (!response.ok) button.disabled = false;
    } catch (error) {
      result.textContent = `failed: ${error}`;
      result.dataset.outcome = 'failed';
      button.disabled = false;
    }
  });
}

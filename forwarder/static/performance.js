// The status page's Performance section (http/status_performance.py): drawn from GET /v1/report.
(() => {
  const KPIS = [...document.querySelectorAll('#performance-campaigns th[data-kpi]')].map(th => th.dataset.kpi);
  const FIGURES = new Set(['spend', 'impressions', 'clicks', 'app_install']);
  const KEYS = ['email', 'phone', 'external_id', 'idfa', 'gaid', 'ip_user_agent', 'ttclid'];
  const SVG = 'http://www.w3.org/2000/svg';
  const since = document.getElementById('performance-since');
  const until = document.getElementById('performance-until');
  const status = document.getElementById('performance-status');
  const shown = value => (value === null || value === undefined ? '-' : value);

  function cell(row, text, attributes = {}) {
    const td = row.insertCell();
    td.textContent = shown(text);
    for (const [name, value] of Object.entries(attributes)) td.dataset[name] = value;
    return td;
  }

  function svgAdd(svg, tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    svg.appendChild(node);
    return node;
  }

  // Bars or lines of several series over days; a missing value (null) draws nothing.
  function chart(svg, days, series, kind) {
    svg.replaceChildren();
    const width = +svg.getAttribute('width'), height = +svg.getAttribute('height');
    const left = 48, bottom = 20, top = 8, plot = width - left - 8;
    const values = series.flatMap(s => s.values).filter(v => v !== null).map(Number);
    const ceiling = Math.max(1e-9, ...values) * 1.1;
    const y = v => top + (height - top - bottom) * (1 - v / ceiling);
    const step = plot / Math.max(1, days.length);
    for (const tick of [0, ceiling / 2, ceiling]) {
      svgAdd(svg, 'text', {x: left - 6, y: y(tick) + 4, 'text-anchor': 'end', class: 'y-tick'}, tick.toFixed(2));
    }
    days.forEach((day, i) => {
      if (i % Math.ceil(days.length / 7) === 0) {
        svgAdd(svg, 'text', {x: left + i * step + step / 2, y: height - 4, 'text-anchor': 'middle', class: 'x-tick'},
          day.slice(5));
      }
    });
    series.forEach((s, k) => {
      const points = [];
      s.values.forEach((value, i) => {
        if (value === null) return;
        const x = left + i * step;
        if (kind === 'bars') {
          const w = step / series.length - 2;
          svgAdd(svg, 'rect', {x: x + k * (w + 2) + 1, y: y(+value), width: Math.max(1, w), height: y(0) - y(+value),
            fill: s.color, 'data-series': s.name, 'data-day': days[i], 'data-value': value});
        } else {
          points.push(`${x + step / 2},${y(+value)}`);
          svgAdd(svg, 'circle', {cx: x + step / 2, cy: y(+value), r: 3, fill: s.color, 'data-series': s.name,
            'data-day': days[i], 'data-value': value});
        }
      });
      if (kind === 'lines' && points.length) {
        svgAdd(svg, 'polyline', {points: points.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2});
      }
      svgAdd(svg, 'text', {x: left + 8 + k * 180, y: top + 10, fill: s.color, class: 'legend'}, s.name);
    });
  }

  async function report(level) {
    const query = new URLSearchParams({level});
    if (since.value) query.set('since', since.value);
    if (until.value) query.set('until', until.value);
    // Against location.origin: a page opened as http://user:pass@host/ cannot fetch a URL resolved with credentials.
    const response = await fetch(new URL(`/v1/report?${query}`, location.origin), {credentials: 'same-origin'});
    const answer = await response.json();
    if (!response.ok) throw new Error(`${answer.field || ''} ${answer.message || response.status}`);
    return answer;
  }

  async function show() {
    status.textContent = 'loading';
    try {
      const [campaigns, days] = await Promise.all([report('campaign'), report('day')]);
      since.value = days.since;  // the range the service chose when none was given
      until.value = days.until;
      if (location.hash.slice(1) || saved.get('chosen')) location.hash = `since=${since.value}&until=${until.value}`;
      const body = document.querySelector('#performance-campaigns tbody');
      body.replaceChildren();
      for (const advertiser of campaigns.advertisers) {
        for (const line of advertiser.rows) {
          const row = body.insertRow();
          row.dataset.campaign = line.campaign_id;
          cell(row, advertiser.name || advertiser.advertiser_id);
          cell(row, line.campaign_name || line.campaign_id);
          for (const kpi of KPIS) {
            cell(row, FIGURES.has(kpi) ? line.figures[kpi] : line.kpis[kpi], {kpi});
          }
        }
      }
      const advertiser = days.advertisers[0];
      const series = advertiser ? advertiser.series : [];
      const dayNames = series.map(s => s.day);
      chart(document.getElementById('performance-spend'), dayNames, [
        {name: `spend (${advertiser ? advertiser.currency : ''})`, color: '#1a73e8', values: series.map(s => s.spend)},
        {name: 'forwarded revenue', color: '#137333', values: series.map(s => s.forwarded_revenue)},
      ], 'bars');
      const roas = (value, spend) => (value === null || spend === null || +spend === 0 ? null : (+value / +spend).toFixed(4));
      chart(document.getElementById('performance-roas'), dayNames, [
        {name: 'ROAS (TikTok)', color: '#b06000', values: series.map(s => roas(s.attributed_revenue, s.spend))},
        {name: 'blended ROAS', color: '#137333', values: series.map(s => s.blended_roas)},
      ], 'lines');
      const audit = document.querySelector('#performance-audit tbody');
      audit.replaceChildren();
      for (const section of days.advertisers) {
        for (const line of section.audit.filter(a => a.flags.length)) {
          const row = audit.insertRow();
          row.dataset.flag = line.flags.join(' ');
          for (const value of [line.day, line.event_name, line.metric, line.sent, line.acknowledged, line.reported,
            line.flags.join(', ')]) cell(row, value);
        }
      }
      const coverage = document.querySelector('#performance-coverage tbody');
      coverage.replaceChildren();
      for (const line of days.coverage) {
        const row = coverage.insertRow();
        row.dataset.event = line.event_name;
        cell(row, line.event_name);
        cell(row, line.events);
        for (const key of KEYS) cell(row, `${Math.round(+line.shares[key] * 100)}%`, {key});
      }
      const warnings = document.getElementById('performance-warnings');
      warnings.replaceChildren();
      for (const text of [...days.warnings, ...days.advertisers.flatMap(a => a.warnings)]) {
        warnings.appendChild(document.createElement('li')).textContent = text;
      }
      status.textContent = campaigns.advertisers.length ? '' : 'no report pulled yet';
      status.dataset.loaded = 'true';
    } catch (error) {
      status.textContent = `could not load: ${error.message}`;
    }
  }

  const saved = new URLSearchParams(location.hash.slice(1));
  if (saved.get('since')) since.value = saved.get('since');
  if (saved.get('until')) until.value = saved.get('until');
  document.getElementById('performance-range').addEventListener('submit', event => {
    event.preventDefault();
    saved.set('chosen', '1');
    show();
  });
  show();
})();

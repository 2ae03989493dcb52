// Deliveries -> a chart's series: outcomes per minute and p50 / p95 duration per minute.

export const OUTCOMES = ['delivered', 'filtered', 'rejected', 'retry', 'failed'];

// Nearest-rank percentile of numbers (null for none).
export function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

// {x: [unix seconds of each minute], counts: {outcome: [...]}, p50: [...], p95: [...]}
// covering every minute from the first delivery to `now`: at least `minMinutes`, at most
// `maxMinutes`.
export function perMinute(deliveries, now = Date.now(), maxMinutes = 60, minMinutes = 15) {
  const end = Math.floor(now / 60000);
  let start = end - Math.min(minMinutes, maxMinutes) + 1;
  for (const d of deliveries) {
    const m = Math.floor(Date.parse(d.at) / 60000);
    if (Number.isFinite(m) && m < start) start = m;
  }
  start = Math.max(start, end - maxMinutes + 1);
  const n = end - start + 1;
  const x = Array.from({ length: n }, (_, i) => (start + i) * 60);
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, new Array(n).fill(0)]));
  const durations = Array.from({ length: n }, () => []);
  for (const d of deliveries) {
    const i = Math.floor(Date.parse(d.at) / 60000) - start;
    if (!(i >= 0 && i < n)) continue;
    if (counts[d.outcome]) counts[d.outcome][i] += 1;
    if (typeof d.duration_ms === 'number' && d.outcome !== 'failed') durations[i].push(d.duration_ms);
  }
  return {
    x,
    counts,
    p50: durations.map((v) => percentile(v, 50)),
    p95: durations.map((v) => percentile(v, 95)),
  };
}

export const WINDOWS = { '15m': 15, '1h': 60, '24h': 1440, all: null };

// The deliveries route's query for the filters.
export function deliveriesQuery({ outcome = '', window = 'all', limit = 200 }, now = Date.now()) {
  const params = new URLSearchParams();
  if (outcome) params.set('outcome', outcome);
  const minutes = WINDOWS[window];
  if (minutes) params.set('since', new Date(now - minutes * 60000).toISOString());
  params.set('limit', String(limit));
  return params.toString();
}

// The page's datasets: TF Playground's six generators (re-implemented from their documented
// behaviour, with a seeded generator so that a link reproduces the same points), the library's
// own generators (the seed's spirals, three blobs) through the engine, and CSV files.

/** A seeded uniform generator in [0, 1) (mulberry32). */
export function rng(seed) {
  let a = (seed >>> 0) + 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniform(r, a, b) { return a + (b - a) * r(); }

function normal(r, mean, variance) {
  // Box–Muller; `variance` as TF Playground's Gaussian data uses it.
  const u = 1 - r(), v = r();
  return mean + Math.sqrt(variance) * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Builds rows {x1, x2, y} for a TF Playground dataset; classes are 0/1, regression values in [-1, 1]. */
export function tfDataset(name, n, noise, seed) {
  const r = rng(seed);
  const rows = [];
  const push = (x1, x2, y) => rows.push([x1, x2, y]);
  const jitter = (scale) => uniform(r, -scale, scale) * noise;
  if (name === 'circle') {
    const R = 5;
    const label = (x, y) => (Math.hypot(x, y) < R * 0.5 ? 1 : 0);
    for (const [lo, hi] of [[0, R * 0.5], [R * 0.7, R]]) {
      for (let i = 0; i < n / 2; i++) {
        const rad = uniform(r, lo, hi), ang = uniform(r, 0, 2 * Math.PI);
        const x = rad * Math.sin(ang), y = rad * Math.cos(ang);
        push(x, y, label(x + jitter(R), y + jitter(R)));
      }
    }
  } else if (name === 'xor') {
    for (let i = 0; i < n; i++) {
      let x = uniform(r, -5, 5), y = uniform(r, -5, 5);
      x += x > 0 ? 0.3 : -0.3;
      y += y > 0 ? 0.3 : -0.3;
      push(x, y, (x + jitter(5)) * (y + jitter(5)) >= 0 ? 1 : 0);
    }
  } else if (name === 'gauss') {
    const variance = 0.5 + noise * 7; // 0.5 at no noise, 4 at 50%
    for (const [c, label] of [[2, 1], [-2, 0]]) {
      for (let i = 0; i < n / 2; i++) push(normal(r, c, variance), normal(r, c, variance), label);
    }
  } else if (name === 'spiral') {
    const half = n / 2;
    for (const [dt, label] of [[0, 1], [Math.PI, 0]]) {
      for (let i = 0; i < half; i++) {
        const rad = (i / half) * 5, t = (1.75 * i / half) * 2 * Math.PI + dt;
        push(rad * Math.sin(t) + uniform(r, -1, 1) * noise, rad * Math.cos(t) + uniform(r, -1, 1) * noise, label);
      }
    }
  } else if (name === 'reg-plane' || name === 'reg-gauss') {
    const bumps = [[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]];
    const value = name === 'reg-plane'
      ? (x, y) => (x + y) / 10
      : (x, y) => {
        let best = 0;
        for (const [cx, cy, s] of bumps) {
          const v = s * Math.max(0, 1 - Math.hypot(x - cx, y - cy) / 2);
          if (Math.abs(v) > Math.abs(best)) best = v;
        }
        return best;
      };
    for (let i = 0; i < n; i++) {
      const x = uniform(r, -6, 6), y = uniform(r, -6, 6);
      push(x, y, value(x + jitter(6), y + jitter(6)));
    }
  } else {
    throw new Error(`unknown dataset ${name}`);
  }
  return rows;
}

/** Whether a TF Playground dataset is a regression. */
export function isRegression(name) { return name === 'reg-plane' || name === 'reg-gauss'; }

/**
 * Parses a CSV file with a header; the last column (or the one named `label`, `y` or `target`)
 * is the target. Returns {columns, rows, targetName}; throws with the line that is wrong.
 */
export function parseCsv(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new Error('the CSV file needs a header line and at least one row');
  const header = lines[0].split(',').map((s) => s.trim().replace(/^"|"$/g, ''));
  let t = header.findIndex((h) => ['label', 'y', 'target', 'class'].includes(h.toLowerCase()));
  if (t < 0) t = header.length - 1;
  if (header.length < 2) throw new Error('the CSV file needs at least one feature column and a target column');
  const rows = [];
  const labels = new Map();
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i].split(',').map((s) => s.trim().replace(/^"|"$/g, ''));
    if (cells.length !== header.length) {
      throw new Error(`line ${i + 1}: ${cells.length} fields, but the header has ${header.length}`);
    }
    const row = [];
    cells.forEach((c, j) => {
      if (j === t) return;
      const v = Number(c);
      if (c === '' || !Number.isFinite(v)) throw new Error(`line ${i + 1}, column ${header[j]}: '${c}' is not a number`);
      row.push(v);
    });
    row.push(cells[t]);
    rows.push(row);
  }
  // A target that is all whole numbers with few distinct values, or any text, is a class.
  const targets = rows.map((r) => r[r.length - 1]);
  const numeric = targets.every((v) => v !== '' && Number.isFinite(Number(v)));
  const distinct = [...new Set(targets)];
  const classes = !numeric || (distinct.length <= 20 && targets.every((v) => Number.isInteger(Number(v))));
  let names = null;
  if (classes) {
    names = distinct.sort((a, b) => (numeric ? Number(a) - Number(b) : a.localeCompare(b)));
    names.forEach((n, i) => labels.set(n, i));
  }
  for (const r of rows) r[r.length - 1] = classes ? labels.get(r[r.length - 1]) : Number(r[r.length - 1]);
  return { columns: header.filter((_, j) => j !== t), rows, targetName: header[t], classNames: names };
}

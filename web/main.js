// The page: controls, the state in the address, and drawing. Training runs in worker.js; this
// thread only draws what the worker sends, once per animation frame.
import { isRegression, parseCsv } from './data.js';

const $ = (id) => document.getElementById(id);
const TF_SETS = ['circle', 'xor', 'gauss', 'spiral', 'reg-plane', 'reg-gauss'];
const ENGINE_SETS = { 'seed-spirals': 'spirals?n=1000&cycles=1.2&sd=0.03', blobs: 'blobs?n=100&sd=1' };
const FEATURES = ['x1', 'x2', 'x1^2', 'x2^2', 'x1*x2', 'sin(x1)', 'sin(x2)'];
const LABELS = { x1: 'X₁', x2: 'X₂', 'x1^2': 'X₁²', 'x2^2': 'X₂²', 'x1*x2': 'X₁X₂', 'sin(x1)': 'sin(X₁)', 'sin(x2)': 'sin(X₂)' };
const ACTS = ['tanh', 'relu', 'sigmoid', 'linear', 'leaky_relu', 'elu', 'softplus', 'prelu', 'maxout'];
const LRS = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const RATES = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const PALETTE = [[245, 147, 34], [8, 119, 189], [60, 170, 80], [200, 60, 160], [120, 90, 200], [200, 200, 40]];
const GRID = 64;
const THUMB = 20;

// TF Playground's defaults, and the extras off.
const DEFAULTS = {
  data: 'circle', noise: 0, ratio: 50, batch: 10, n: 500, lr: 0.03, act: 'tanh', reg: 'none', rate: 0,
  problem: 'classification', features: 'x1,x2', layers: '4,2', acts: '', opt: 'sgd', loss: 'auto', out: 'auto',
  init: 'glorot_uniform', seed: 0, plateau: 0, early: 0, test: 0, disc: 0,
};
const NUMERIC = new Set(['noise', 'ratio', 'batch', 'n', 'lr', 'rate', 'seed', 'plateau', 'early', 'test', 'disc']);

const state = readHash();
const page = {
  worker: null, ready: false, data: null, describe: null, frame: null, dirty: false, mode: 'train', csv: null,
  curve: [], fps: 0, eps: 0, status: null, finished: false, error: '', frames: 0, opened: null,
};
window.playground = page; // for the browser tests and curious users

function readHash() {
  const s = { ...DEFAULTS };
  for (const [k, v] of new URLSearchParams(location.hash.slice(1))) {
    if (k in DEFAULTS) s[k] = NUMERIC.has(k) ? Number(v) : v;
  }
  return s;
}

function writeHash() {
  const q = new URLSearchParams();
  for (const k of Object.keys(DEFAULTS)) if (state[k] !== DEFAULTS[k]) q.set(k, state[k]);
  history.replaceState(null, '', `#${q.toString()}`);
}

const hidden = () => (state.layers === '' ? [] : state.layers.split(',').map(Number));
const layerActs = () => {
  const given = state.acts === '' ? [] : state.acts.split(',');
  return hidden().map((_, i) => given[i] || state.act);
};
const selected = () => (page.csv ? page.csv.columns : state.features.split(',').filter(Boolean));

function classCount() {
  if (page.csv) return page.csv.classNames ? page.csv.classNames.length : null;
  if (state.data === 'blobs') return 3;
  if (isRegression(state.data)) return null;
  return state.problem === 'regression' ? null : 2;
}

/** The output layer and loss: TF Playground's tanh + squared error for two classes, softmax beyond. */
function head(classes) {
  let out = state.out;
  if (out === 'auto') out = classes === null ? 'linear' : classes > 2 ? 'softmax' : 'tanh';
  const units = out === 'softmax' ? Math.max(2, classes || 2) : 1;
  let loss = state.loss;
  if (loss === 'auto') loss = out === 'softmax' ? 'categorical_crossentropy' : out === 'sigmoid' ? 'binary_crossentropy' : 'mse';
  return { layer: `${units}:${out}`, loss };
}

function setupFor() {
  const classes = classCount();
  const { layer, loss } = head(classes);
  const spec = hidden().map((u, i) => `${u}:${layerActs()[i]}`).concat([layer]).join(',');
  return {
    layers: spec, loss, optimizer: `${state.opt}(lr=${state.lr})`, init: state.init, batch_size: state.batch,
    l1: state.reg === 'L1' ? state.rate : 0, l2: state.reg === 'L2' ? state.rate : 0,
    columns: page.csv ? page.csv.columns : ['x1', 'x2'], features: selected(), classes,
    test_fraction: (100 - state.ratio) / 100, seed: state.seed, plateau: !!state.plateau,
    early_stopping: state.early > 0 ? state.early : null,
  };
}

function dataFor() {
  if (page.csv) return { rows: page.csv.rows };
  if (ENGINE_SETS[state.data]) return { builtin: `${ENGINE_SETS[state.data]}&seed=${state.seed}` };
  const n = isRegression(state.data) && state.n === DEFAULTS.n ? 1200 : state.n;
  return { name: state.data, n, noise: state.noise / 100, seed: state.seed };
}

function bounds() {
  if (page.mode === 'model') return page.opened.bounds;
  if (!page.csv && TF_SETS.includes(state.data)) return [-6, 6, -6, 6];
  if (!page.data) return [-6, 6, -6, 6];
  const { x, cols } = page.data;
  let lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
  for (let i = 0; i < x.length; i += cols) {
    for (let j = 0; j < 2; j++) { lo[j] = Math.min(lo[j], x[i + j]); hi[j] = Math.max(hi[j], x[i + j]); }
  }
  const pad = (a, b) => { const p = (b - a) * 0.08 || 1; return [a - p, b + p]; };
  return [...pad(lo[0], hi[0]), ...pad(lo[1], hi[1])];
}

const view = () => ({ bounds: bounds(), grid: page.data && page.data.cols !== 2 ? 0 : GRID, thumb: THUMB });

// ---- talking to the worker

function reset() {
  writeHash();
  page.mode = 'train'; page.curve = []; page.finished = false; page.status = null; page.frame = null;
  page.error = ''; page.opened = null;
  $('error').textContent = ''; $('stop').textContent = '';
  $('play').textContent = '▶';
  buildControls();
  if (!page.ready) return;
  // Bounds depend on the data, which the worker generates; it answers `data`, then a frame.
  page.worker.postMessage({ type: 'setup', setup: setupFor(), data: dataFor(), view: view() });
}

function onWorker(e) {
  const m = e.data;
  if (m.type === 'ready') { page.ready = true; reset(); } else if (m.type === 'data') {
    page.data = m; page.describe = m.describe;
    $('data-info').textContent = `${m.y.length} rows, ${m.cols} columns, ${m.mask.reduce((a, b) => a + b, 0)} held out for testing`;
    page.worker.postMessage({ type: 'view', view: view() });
  } else if (m.type === 'frame') {
    page.frame = m; page.dirty = true; page.status = m.status; page.eps = m.eps;
    if (m.status.finished) page.finished = true;
  } else if (m.type === 'model') {
    const url = URL.createObjectURL(new Blob([m.bytes], { type: 'application/octet-stream' }));
    const a = document.createElement('a');
    a.href = url; a.download = 'playground.safetensors';
    document.body.append(a); a.click(); a.remove();
    page.downloaded = (page.downloaded || 0) + 1;
  } else if (m.type === 'opened') {
    const d = m.describe;
    const at = (f) => d.features.indexOf(f);
    const range = (i) => (i < 0 ? [-6, 6] : [d.mean[i] - 3 * d.std[i], d.mean[i] + 3 * d.std[i]]);
    page.mode = 'model'; page.describe = d; page.data = null; page.curve = [];
    page.opened = { name: m.name, bounds: [...range(at('x1')), ...range(at('x2'))] };
    $('data-info').textContent = `opened ${m.name}: ${d.features.join(', ')} → ${d.layers} (${d.loss})`;
    buildNet();
    page.worker.postMessage({ type: 'view', view: view() });
  } else if (m.type === 'error') {
    page.error = m.message; $('error').textContent = m.message; $('play').textContent = '▶';
  }
}

// ---- controls

function options(sel, values, fmt = String) {
  sel.innerHTML = values.map((v) => `<option value="${v}">${fmt(v)}</option>`).join('');
}

function bind(id, key, ev = 'change') {
  const el = $(id);
  el.addEventListener(ev, () => {
    state[key] = el.type === 'checkbox' ? (el.checked ? 1 : 0) : NUMERIC.has(key) ? Number(el.value) : el.value;
    if (key === 'test' || key === 'disc') { writeHash(); page.dirty = true; return; }
    reset();
  });
}

function buildControls() {
  for (const [id, key] of [['lr', 'lr'], ['act', 'act'], ['reg', 'reg'], ['rate', 'rate'], ['problem', 'problem'],
    ['opt', 'opt'], ['loss', 'loss'], ['out', 'out'], ['init', 'init'], ['seed', 'seed'], ['early', 'early'],
    ['ratio', 'ratio'], ['noise', 'noise'], ['batch', 'batch'], ['n', 'n']]) $(id).value = state[key];
  $('plateau').checked = !!state.plateau; $('show-test').checked = !!state.test; $('discretize').checked = !!state.disc;
  $('ratio-v').textContent = state.ratio; $('noise-v').textContent = state.noise; $('batch-v').textContent = state.batch;
  $('layer-count').textContent = `${hidden().length} hidden layer${hidden().length === 1 ? '' : 's'}`;
  for (const c of document.querySelectorAll('#datasets canvas')) c.classList.toggle('on', !page.csv && c.dataset.name === state.data);
  buildNet();
}

function datasetPicker() {
  const box = $('datasets');
  const names = [...TF_SETS, 'seed-spirals', 'blobs'];
  const caption = { 'reg-plane': 'plane (regression)', 'reg-gauss': 'gaussians (regression)', 'seed-spirals': 'seed spirals (mlp)', blobs: '3 blobs (mlp)' };
  for (const name of names) {
    const fig = document.createElement('figure');
    const c = document.createElement('canvas');
    c.width = 60; c.height = 60; c.dataset.name = name; c.id = `ds-${name}`;
    c.title = name;
    c.addEventListener('click', () => {
      page.csv = null; state.data = name;
      state.problem = isRegression(name) ? 'regression' : 'classification';
      reset();
    });
    fig.append(c);
    fig.insertAdjacentHTML('beforeend', `<figcaption>${caption[name] || name}</figcaption>`);
    box.append(fig);
    drawIcon(c, name);
  }
}

/** A dataset's icon: a fixed sketch of its shape (the real points are drawn on the output). */
function drawIcon(c, name) {
  const g = c.getContext('2d');
  g.fillStyle = '#eee'; g.fillRect(0, 0, 60, 60);
  const dot = (x, y, k) => { g.fillStyle = `rgb(${PALETTE[k]})`; g.fillRect(30 + x * 5 - 1, 30 - y * 5 - 1, 3, 3); };
  for (let i = 0; i < 140; i++) {
    const t = i / 140, a = t * 6.283 * 3, r = (i * 7919 % 100) / 100 * 5.5;
    const px = r * Math.cos(a * 7), py = r * Math.sin(a * 7);
    if (name === 'circle') dot(px, py, Math.hypot(px, py) < 2.5 ? 1 : 0);
    else if (name === 'xor') dot(px, py, px * py >= 0 ? 1 : 0);
    else if (name === 'gauss') dot(px * 0.3 + (i % 2 ? 2 : -2), py * 0.3 + (i % 2 ? 2 : -2), i % 2);
    else if (name === 'spiral' || name === 'seed-spirals') {
      const s = i % 2, rr = t * 5, th = t * 1.75 * 6.283 + s * Math.PI;
      dot(rr * Math.sin(th), rr * Math.cos(th), s);
    } else if (name === 'blobs') dot(px * 0.25 + [-3, 0, 3][i % 3], py * 0.25 + [-3, 3, -3][i % 3], i % 3);
    else if (name === 'reg-plane') { g.fillStyle = ramp((px + py) / 10 * 0.5 + 0.5); g.fillRect(30 + px * 5 - 1, 30 - py * 5 - 1, 3, 3); } else if (name === 'reg-gauss') { g.fillStyle = ramp(0.5 + 0.5 * Math.sin(px) * Math.sign(py)); g.fillRect(30 + px * 5 - 1, 30 - py * 5 - 1, 3, 3); }
  }
}

// ---- colours

/** Orange (0) through white (0.5) to blue (1), TF Playground's scale. */
function rampRGB(t) {
  t = Math.min(1, Math.max(0, t));
  const [a, b] = t < 0.5 ? [PALETTE[0], [255, 255, 255]] : [[255, 255, 255], PALETTE[1]];
  const u = t < 0.5 ? t * 2 : (t - 0.5) * 2;
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * u));
}
const ramp = (t) => `rgb(${rampRGB(t)})`;

function regressionRange() {
  if (!page.data) return [-1, 1];
  let lo = Infinity, hi = -Infinity;
  for (const v of page.data.y) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return hi > lo ? [lo, hi] : [lo - 1, hi + 1];
}

/** The colour of one output (a slice of `units` values) of the network. */
function outputColor(v, units, classes, disc) {
  if (classes === null) {
    const [lo, hi] = regressionRange();
    return pale(rampRGB((v[0] - lo) / (hi - lo)));
  }
  if (units === 1) return pale(rampRGB(disc ? (v[0] > 0.5 ? 1 : 0) : v[0]));
  let best = 0;
  for (let k = 1; k < units; k++) if (v[k] > v[best]) best = k;
  const s = disc ? 1 : Math.max(0, (v[best] - 1 / units) / (1 - 1 / units));
  const c = PALETTE[best % PALETTE.length];
  return [0, 1, 2].map((k) => Math.round(255 + (c[k] - 255) * 0.6 * (0.25 + 0.75 * s)));
}

/** The heat map is lighter than the points drawn on it. */
const pale = (c) => c.map((v) => Math.round(255 + (v - 255) * 0.6));

// ---- drawing

function drawOutput() {
  const cv = $('output'), g = cv.getContext('2d');
  const f = page.frame;
  g.fillStyle = '#fff'; g.fillRect(0, 0, cv.width, cv.height);
  const classes = page.describe ? page.describe.classes : classCount();
  if (f && f.grid) {
    const units = f.grid.length / (GRID * GRID);
    const img = new ImageData(GRID, GRID);
    for (let p = 0; p < GRID * GRID; p++) {
      const c = outputColor(f.grid.subarray(p * units, (p + 1) * units), units, classes, !!state.disc);
      img.data.set([c[0], c[1], c[2], 255], p * 4);
    }
    const tmp = new OffscreenCanvas(GRID, GRID);
    tmp.getContext('2d').putImageData(img, 0, 0);
    g.imageSmoothingEnabled = true;
    g.drawImage(tmp, 0, 0, cv.width, cv.height);
  }
  const d = page.data;
  if (!d || d.cols < 2) return;
  const [x0, x1, y0, y1] = bounds();
  const [lo, hi] = classes === null ? regressionRange() : [0, 1];
  for (let i = 0; i < d.y.length; i++) {
    const test = d.mask[i] === 1;
    if (test && !state.test) continue;
    const px = ((d.x[i * d.cols] - x0) / (x1 - x0)) * cv.width;
    const py = ((y1 - d.x[i * d.cols + 1]) / (y1 - y0)) * cv.height;
    const c = classes === null ? rampRGB((d.y[i] - lo) / (hi - lo)) : PALETTE[d.y[i] % PALETTE.length];
    g.beginPath(); g.arc(px, py, 3, 0, 2 * Math.PI);
    g.fillStyle = `rgb(${c})`; g.fill();
    g.lineWidth = 1; g.strokeStyle = test ? '#000' : '#fff'; g.stroke();
  }
}

function drawCurve() {
  const cv = $('curve'), g = cv.getContext('2d');
  g.fillStyle = '#fff'; g.fillRect(0, 0, cv.width, cv.height);
  const pts = page.curve;
  if (pts.length < 2) return;
  let hi = 0;
  for (const p of pts) hi = Math.max(hi, p.loss || 0, p.val || 0);
  const last = pts[pts.length - 1].epoch;
  for (const [key, color] of [['val', '#999'], ['loss', '#183d4e']]) {
    g.beginPath(); g.strokeStyle = color; g.lineWidth = 1.5;
    pts.forEach((p, i) => {
      if (p[key] === undefined) return;
      const x = (p.epoch / last) * cv.width, y = cv.height - (p[key] / (hi || 1)) * (cv.height - 4);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }
}

/** The network: feature thumbnails (with checkboxes), hidden layers, the output; links drawn per frame. */
function layout() {
  const d = page.mode === 'model' ? page.describe : null;
  const feats = d ? d.features : page.csv ? page.csv.columns : FEATURES;
  const outUnits = Number(head(classCount()).layer.split(':')[0]);
  const layers = d ? d.layers.split(',').map((s) => Number(s.split(':')[0])) : hidden().concat([outUnits]);
  const cols = [feats.length, ...layers];
  const colW = 110, box = 36, gapY = 46;
  const height = Math.max(...cols) * gapY + 20;
  const pos = cols.map((n, c) => Array.from({ length: n }, (_, i) => [60 + c * colW, 10 + i * gapY]));
  return { feats, layers, cols, pos, box, width: 80 + cols.length * colW, height };
}

function buildNet() {
  const L = layout();
  const cv = $('net');
  cv.width = L.width; cv.height = L.height;
  const ctl = $('layer-ctl');
  ctl.innerHTML = '';
  ctl.style.width = `${L.width}px`;
  // The feature checkboxes (TF Playground's inputs); an uploaded file's columns are all used.
  const fx = document.createElement('div');
  fx.className = 'layer'; fx.style.left = '20px';
  fx.textContent = page.mode === 'model' ? 'inputs' : page.csv ? 'columns' : 'features';
  ctl.append(fx);
  for (const old of document.querySelectorAll('#net-wrap .feat-box')) old.remove();
  if (page.mode !== 'model' && !page.csv) {
    FEATURES.forEach((f, i) => {
      const [, y] = L.pos[0][i];
      const el = document.createElement('label');
      el.className = 'feat-box'; el.title = f;
      el.style.top = `${52 + y + 10}px`;
      el.innerHTML = `<input type="checkbox" class="feat" id="feat-${i}" value="${f}" ${selected().includes(f) ? 'checked' : ''}>`;
      $('net-wrap').append(el);
    });
  }
  if (page.mode !== 'model') {
    hidden().forEach((units, i) => {
      const el = document.createElement('div');
      el.className = 'layer'; el.style.left = `${40 + (i + 1) * 110}px`;
      el.innerHTML = `<button class="minus" data-i="${i}">−</button> ${units} <button class="plus" data-i="${i}">+</button><br>` +
        `<select class="layer-act" data-i="${i}">${ACTS.map((a) => `<option ${a === layerActs()[i] ? 'selected' : ''}>${a}</option>`).join('')}</select>`;
      ctl.append(el);
    });
  }
  for (const b of ctl.querySelectorAll('.plus, .minus')) {
    b.addEventListener('click', () => {
      const h = hidden(); const i = Number(b.dataset.i);
      h[i] = Math.max(1, h[i] + (b.classList.contains('plus') ? 1 : -1));
      state.layers = h.join(','); reset();
    });
  }
  for (const s of ctl.querySelectorAll('.layer-act')) {
    s.addEventListener('change', () => {
      const a = layerActs(); a[Number(s.dataset.i)] = s.value; state.acts = a.join(','); reset();
    });
  }
  for (const c of document.querySelectorAll('#net-wrap .feat')) {
    c.addEventListener('change', () => {
      state.features = [...document.querySelectorAll('#net-wrap .feat')].filter((x) => x.checked).map((x) => x.value).join(',');
      reset();
    });
  }
  page.layout = L;
}

function thumb(g, values, n, x, y, size) {
  let m = 1e-9;
  for (const v of values) m = Math.max(m, Math.abs(v));
  const img = new ImageData(n, n);
  for (let p = 0; p < n * n; p++) img.data.set([...rampRGB(0.5 + 0.5 * values[p] / m), 255], p * 4);
  const tmp = new OffscreenCanvas(n, n);
  tmp.getContext('2d').putImageData(img, 0, 0);
  g.drawImage(tmp, x, y, size, size);
}

function drawNet() {
  const L = page.layout, f = page.frame;
  const g = $('net').getContext('2d');
  g.clearRect(0, 0, L.width, L.height);
  const half = L.box / 2;
  // Which feature thumbnails are fed to the network (in training mode, the checked ones).
  const used = page.mode === 'model' || page.csv ? L.feats.map((_, i) => i) : L.feats.map((ft, i) => (selected().includes(ft) ? i : -1));
  const inputCol = used.filter((i) => i >= 0);
  if (f && f.weights) {
    f.weights.forEach((w, c) => {
      const from = c === 0 ? inputCol.map((i) => L.pos[0][i]) : L.pos[c];
      const to = L.pos[c + 1] || [];
      for (let i = 0; i < w.fan_in && i < from.length; i++) {
        for (let j = 0; j < to.length && j < w.width; j++) {
          const v = w.weight[i * w.width + j];
          g.strokeStyle = v >= 0 ? `rgba(${PALETTE[1]},.8)` : `rgba(${PALETTE[0]},.8)`;
          g.lineWidth = Math.min(8, 0.5 + Math.abs(v) * 2);
          g.beginPath(); g.moveTo(from[i][0] + L.box, from[i][1] + half); g.lineTo(to[j][0], to[j][1] + half); g.stroke();
        }
      }
    });
  }
  // Thumbnails: features (as the network sees them, standardized), then every unit.
  const nn = THUMB * THUMB;
  let off = 0;
  const blocks = f && f.neurons ? f.neurons : null;
  L.cols.forEach((count, c) => {
    for (let i = 0; i < count; i++) {
      const [x, y] = L.pos[c][i];
      if (c === 0 && used[i] < 0) {
        g.fillStyle = '#ddd'; g.fillRect(x, y, L.box, L.box);
        g.fillStyle = '#888'; g.font = '11px sans-serif'; g.fillText(LABELS[L.feats[i]] || L.feats[i], x - 60, y + half + 4);
        continue;
      }
      if (blocks && off + nn <= blocks.length) thumb(g, blocks.subarray(off, off + nn), THUMB, x, y, L.box);
      else { g.fillStyle = '#eee'; g.fillRect(x, y, L.box, L.box); }
      off += nn;
      g.strokeStyle = '#888'; g.lineWidth = 1; g.strokeRect(x, y, L.box, L.box);
      if (c === 0) { g.fillStyle = '#222'; g.font = '11px sans-serif'; g.fillText(LABELS[L.feats[i]] || L.feats[i], x - 60, y + half + 4); }
    }
  });
  if (f && f.dead) {
    f.dead.forEach((d, c) => {
      const [x, y] = L.pos[c + 1][L.cols[c + 1] - 1];
      g.fillStyle = '#555'; g.font = '10px sans-serif';
      g.fillText(`dead ${(d * 100).toFixed(0)}%`, x - 4, y + L.box + 10);
    });
    $('dead').textContent = f.dead.length ? f.dead.map((d, i) => `layer ${i + 1}: ${(d * 100).toFixed(0)}%`).join(', ') : 'no hidden layer';
  }
}

const fmt = (v, pct) => (v === undefined ? '–' : pct ? `${(v * 100).toFixed(1)}%` : v.toFixed(4));

function drawStatus() {
  const s = page.status;
  if (!s) return;
  const m = s.metrics;
  $('epoch').textContent = String(s.epoch).padStart(6, '0');
  $('train-loss').textContent = fmt(m.loss); $('test-loss').textContent = fmt(m.val_loss);
  $('train-acc').textContent = fmt(m.accuracy, true); $('test-acc').textContent = fmt(m.val_accuracy, true);
  $('eps').textContent = page.eps ? Math.round(page.eps).toString() : '–';
  if (page.mode === 'model') $('stop').textContent = `Showing ${page.opened.name}`;
  else if (s.finished) { $('stop').textContent = `Stopped: ${s.stop}`; $('play').textContent = '▶'; }
  const last = page.curve[page.curve.length - 1];
  if (m.loss !== undefined && (!last || last.epoch < s.epoch)) {
    page.curve.push({ epoch: s.epoch, loss: m.loss, val: m.val_loss });
    if (page.curve.length > 2000) page.curve = page.curve.filter((_, i) => i % 2 === 0);
  }
}

// One draw per animation frame, of the newest frame the worker sent; then the worker may send the next.
let fpsCount = 0, fpsStart = performance.now();
function animate(t) {
  fpsCount++;
  if (t - fpsStart >= 1000) { page.fps = (fpsCount * 1000) / (t - fpsStart); fpsCount = 0; fpsStart = t; $('fps').textContent = page.fps.toFixed(0); }
  if (page.dirty) {
    page.dirty = false;
    drawStatus(); drawOutput(); drawCurve(); drawNet();
    page.frames++;
    if (page.frame) page.worker.postMessage({ type: 'drawn' });
  }
  requestAnimationFrame(animate);
}

// ---- start

function start() {
  options($('lr'), LRS); options($('rate'), RATES); options($('act'), ACTS);
  datasetPicker();
  for (const [id, key] of [['lr', 'lr'], ['act', 'act'], ['reg', 'reg'], ['rate', 'rate'], ['problem', 'problem'],
    ['opt', 'opt'], ['loss', 'loss'], ['out', 'out'], ['init', 'init'], ['seed', 'seed'], ['early', 'early'],
    ['plateau', 'plateau'], ['show-test', 'test'], ['discretize', 'disc'], ['ratio', 'ratio'], ['noise', 'noise'],
    ['batch', 'batch'], ['n', 'n']]) bind(id, key);
  $('act').addEventListener('change', () => { state.acts = ''; reset(); });
  $('regen').addEventListener('click', () => { state.seed += 1; reset(); });
  $('add-layer').addEventListener('click', () => { state.layers = hidden().concat([Math.max(1, hidden().slice(-1)[0] || 4)]).join(','); reset(); });
  $('remove-layer').addEventListener('click', () => { state.layers = hidden().slice(0, -1).join(','); reset(); });
  $('reset').addEventListener('click', reset);
  $('play').addEventListener('click', () => {
    if (page.mode !== 'train' || page.finished) return;
    const on = $('play').textContent === '▶';
    $('play').textContent = on ? '⏸' : '▶';
    page.worker.postMessage({ type: on ? 'play' : 'pause' });
  });
  $('step').addEventListener('click', () => { if (page.mode === 'train') page.worker.postMessage({ type: 'step' }); });
  $('download').addEventListener('click', () => page.worker.postMessage({ type: 'download' }));
  $('csv').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      page.csv = parseCsv(await file.text());
      state.problem = page.csv.classNames ? 'classification' : 'regression';
      reset();
    } catch (err) { $('error').textContent = `${file.name}: ${err.message}`; }
  });
  $('model-file').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    $('error').textContent = ''; $('stop').textContent = '';
    page.worker.postMessage({ type: 'open', bytes: await file.arrayBuffer(), name: file.name, view: view() });
  });
  page.worker = new Worker('worker.js', { type: 'module' });
  page.worker.onmessage = onWorker;
  page.worker.onerror = (e) => { $('error').textContent = `worker: ${e.message}`; };
  page.worker.postMessage({ type: 'init' });
  buildControls();
  requestAnimationFrame(animate);
}

start();

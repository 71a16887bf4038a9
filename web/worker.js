// The training thread: owns the engine (mlp compiled to WebAssembly), trains in slices of a few
// milliseconds, and sends the page a frame whenever the page has drawn the previous one.
import init, { Playground, builtin_rows } from './mlp_wasm.js';
import { tfDataset } from './data.js';

let pg = null;
let playing = false;
let view = null; // {bounds:[x0,x1,y0,y1], grid, thumb}
let pageReady = true; // the page has drawn the last frame
let scheduled = false;
const speed = { t: 0, epoch: 0, eps: 0 };

const tick = new MessageChannel();
tick.port1.onmessage = () => { scheduled = false; loop(); };
function schedule() {
  // A message, not setTimeout: nested timeouts are clamped to 4 ms, a quarter of every slice.
  if (!scheduled) { scheduled = true; tick.port2.postMessage(0); }
}

function fail(e) { postMessage({ type: 'error', message: String(e && e.message ? e.message : e) }); }

/** Raw rows and targets of a dataset the page names (CSV rows come from the page). */
function rows(data) {
  if (data.rows) return data.rows;
  if (data.builtin) {
    const flat = builtin_rows(data.builtin);
    const out = [];
    for (let i = 0; i < flat.length; i += 3) out.push([flat[i], flat[i + 1], flat[i + 2]]);
    return out;
  }
  return tfDataset(data.name, data.n, data.noise, data.seed);
}

function setup(msg) {
  if (pg) { pg.free(); pg = null; }
  playing = false;
  const raw = rows(msg.data);
  const cols = msg.setup.columns.length;
  const x = new Float32Array(raw.length * cols);
  const y = new Float32Array(raw.length);
  raw.forEach((r, i) => { for (let j = 0; j < cols; j++) x[i * cols + j] = r[j]; y[i] = r[cols]; });
  view = msg.view;
  pg = new Playground(JSON.stringify(msg.setup), x, y);
  postMessage({ type: 'data', x, y, cols, mask: pg.test_mask(), describe: JSON.parse(pg.describe()) });
  frame(JSON.parse(pg.status()));
}

/** Sends what the page draws: the output grid, the thumbnails, the weights, the dead units. */
function frame(status) {
  pageReady = false;
  const [x0, x1, y0, y1] = view.bounds;
  let grid = null, neurons = null;
  if (view.grid) {
    grid = pg.output_grid(view.grid, x0, x1, y0, y1);
    neurons = pg.neuron_grids(view.thumb, x0, x1, y0, y1);
  }
  const msg = {
    type: 'frame', status, grid, neurons, eps: speed.eps, playing,
    weights: JSON.parse(pg.weights()), dead: Array.from(pg.dead_fractions()),
  };
  postMessage(msg, [grid, neurons].filter(Boolean).map((a) => a.buffer));
}

function measure(epoch) {
  const t = performance.now();
  if (speed.t === 0) { speed.t = t; speed.epoch = epoch; return; }
  if (t - speed.t >= 500) {
    speed.eps = (epoch - speed.epoch) / ((t - speed.t) / 1000);
    speed.t = t; speed.epoch = epoch;
  }
}

function loop() {
  if (!playing || !pg) return;
  try {
    const status = JSON.parse(pg.train_for(12, 1e9));
    measure(status.epoch);
    if (status.finished) playing = false;
    if (pageReady || status.finished) frame(status);
  } catch (e) { playing = false; fail(e); }
  if (playing) schedule();
}

onmessage = async (e) => {
  const msg = e.data;
  try {
    switch (msg.type) {
      case 'init': await init(); postMessage({ type: 'ready' }); break;
      case 'setup': setup(msg); break;
      case 'view': view = msg.view; if (pg) frame(JSON.parse(pg.status())); break;
      case 'play': if (pg) { playing = true; speed.t = 0; speed.eps = 0; schedule(); } break;
      case 'pause': playing = false; if (pg) frame(JSON.parse(pg.status())); break;
      case 'step': if (pg) { playing = false; frame(JSON.parse(pg.train_for(0, 1))); } break;
      case 'drawn': pageReady = true; break;
      case 'download': if (pg) { const b = pg.model_file(); postMessage({ type: 'model', bytes: b }, [b.buffer]); } break;
      case 'open': {
        if (pg) { pg.free(); pg = null; }
        playing = false;
        pg = Playground.open(new Uint8Array(msg.bytes), msg.name);
        view = msg.view;
        postMessage({ type: 'opened', describe: JSON.parse(pg.describe()), name: msg.name });
        break;
      }
      default: fail(`unknown message ${msg.type}`);
    }
  } catch (err) { fail(err); }
};

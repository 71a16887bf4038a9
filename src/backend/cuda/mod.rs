//! The CUDA backend (feature `cuda`): buffers in GPU memory, products through cuBLAS, and every other operation a kernel ported line by line from the CPU backend.
//!
//! # What runs where
//! - Matrix products: cuBLAS SGEMM (`cublasGemmEx`, FP32 compute; TF32 only after
//!   [`Cuda::with_tf32`]). cuBLAS is column-major; a row-major product is the column-major product
//!   of the transposed operands in swapped order, so nothing is copied or transposed.
//! - Everything else: the kernels in `*.cu` beside this file, compiled at start-up by NVRTC from the
//!   source embedded in the binary ([`SOURCE`]) to machine code for the device's own architecture.
//! - The host sees a value only where the [`Backend`] trait returns one: the loss, the optimizer
//!   penalty, `sum_squares`, `all_finite`, `get` and `read`. Each of those is one small copy and
//!   a wait for the stream; everything else is queued without waiting.
//!
//! CUDA is loaded at run time (cudarc's dynamic loading): a binary built with `--features cuda`
//! links no CUDA library, runs anywhere, and [`Cuda::new`] says what is missing on a machine
//! without a GPU instead of panicking.
//!
//! Every reduction adds in an order fixed by the shapes alone (no atomics), so results repeat
//! bit for bit from run to run on the same GPU.
//!
//! Errors: the [`Backend`] operations return no `Result` (the CPU cannot fail), so a CUDA failure
//! inside one (out of memory, a lost device) panics with the driver's message. Everything a user
//! controls is checked in [`Cuda::new`], which returns an [`Error::Cuda`].

mod launch;

pub use launch::{KERNEL_NAMES, SOURCE, compile as compile_kernels, nvrtc_version};

use super::Backend;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::nn::Activation;
use crate::optim::{OptimizerConfig, UpdateRule};
use cudarc::cublas::CudaBlas;
use cudarc::cublas::sys::{cublasComputeType_t, cublasOperation_t, cudaDataType_t};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DevicePtrMut, LaunchArgs, LaunchConfig, PushKernelArg,
};
use launch::{Kernels, act_code, dim, elementwise, loss_code, one_per_element, per_column_tile, per_row, single_block};
use std::ffi::c_void;
use std::sync::{Arc, Mutex, MutexGuard};

/// The GPU backend: a device, one stream, a cuBLAS handle and the compiled kernels.
///
/// Cloning is cheap and shares all of them. Use it through [`Backend`], like [`super::Cpu`].
#[derive(Clone)]
pub struct Cuda {
    inner: Arc<Inner>,
    tf32: bool,
}

struct Inner {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    k: Kernels,
    ordinal: usize,
    device_name: String,
    scratch: Mutex<Scratch>,
}

/// Device buffers reused from call to call, so that no operation allocates in the training loop.
struct Scratch {
    /// Batch row indices for `gather_rows`.
    idx: CudaSlice<u32>,
    /// Per-row losses and per-block partial sums.
    partials: CudaSlice<f64>,
    /// The total of a reduction, read back by the host.
    total: CudaSlice<f64>,
    /// `all_finite`'s flag.
    flag: CudaSlice<u32>,
}

impl std::fmt::Debug for Cuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cuda(cuda:{} {}, tf32 {})", self.inner.ordinal, self.inner.device_name, self.tf32)
    }
}

/// A null device pointer, for the kernels' optional buffers (PReLU slopes, sample weights…).
static NULL: u64 = 0;

/// Which of the libraries cudarc loads at run time cannot be opened, with what each one is for.
fn missing_libraries() -> (bool, Vec<&'static str>) {
    // SAFETY: each probe only tries to dlopen the library under its usual names; no CUDA function
    // is called, and the library handle is dropped again.
    let driver = unsafe { cudarc::driver::sys::is_culib_present() };
    let mut others = Vec::new();
    if !unsafe { cudarc::cublas::sys::is_culib_present() } {
        others.push("cuBLAS (libcublas.so.13)");
    }
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        others.push("NVRTC (libnvrtc.so.13)");
    }
    (driver, others)
}

/// Checks that the driver and the libraries can be loaded, so that no later call panics inside cudarc.
fn probe() -> Result<()> {
    const CPU_HINT: &str = "run on the CPU with --device cpu";
    match missing_libraries() {
        (true, others) if others.is_empty() => Ok(()),
        (false, others) => {
            let also = if others.is_empty() { String::new() } else { format!("; also missing: {}", others.join(", ")) };
            Err(Error::Cuda(format!(
                "no CUDA driver found (libcuda.so): this machine has no NVIDIA driver, or it is not on the library \
                 path{also}; {CPU_HINT}"
            )))
        }
        (true, others) => Err(Error::Cuda(format!(
            "CUDA libraries not found: {}; install the CUDA 13 runtime libraries (the nvidia-cublas and \
             nvidia-cuda-nvrtc wheels, say) and put their folder on LD_LIBRARY_PATH, or {CPU_HINT}",
            others.join(", ")
        ))),
    }
}

fn driver_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Cuda(format!("{what}: {e}; run on the CPU with --device cpu"))
}

/// Panics with the driver's message: a failure inside an operation is not the user's to handle
/// (see the module docs), but it must say what failed.
#[track_caller]
fn ok<T, E: std::fmt::Display>(r: std::result::Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("cuda: {what} failed: {e}"))
}

#[track_caller]
fn need(len: usize, n: usize, what: &str) {
    assert!(len >= n, "cuda: {what} holds {len} values, needs {n}");
}

/// Pushes a buffer that may be absent as a pointer that may be null.
fn opt_arg<'a>(l: &mut LaunchArgs<'a>, buf: Option<&'a CudaSlice<f32>>) {
    match buf {
        Some(b) => l.arg(b),
        None => l.arg(&NULL),
    };
}

fn opt_arg_mut<'a, T>(l: &mut LaunchArgs<'a>, buf: Option<&'a mut CudaSlice<T>>) {
    match buf {
        Some(b) => l.arg(b),
        None => l.arg(&NULL),
    };
}

impl Cuda {
    /// Opens GPU `device` (0 for the first), compiles the kernels for it and loads them.
    ///
    /// Fails with a one-line [`Error::Cuda`] saying what is missing (the driver, cuBLAS, NVRTC,
    /// the device) and how to run on the CPU instead. It never panics for want of CUDA.
    pub fn new(device: usize) -> Result<Self> {
        probe()?;
        let count = CudaContext::device_count().map_err(|e| driver_error("the CUDA driver failed to start", e))?;
        if count <= 0 {
            return Err(Error::Cuda(
                "no CUDA device found: the driver is installed but sees no GPU; run on the CPU with --device cpu"
                    .into(),
            ));
        }
        if device >= count as usize {
            return Err(Error::Cuda(format!(
                "CUDA device {device} does not exist: this machine has {count} (numbered from 0); pick one of \
                 them, or run on the CPU with --device cpu"
            )));
        }
        let ctx =
            CudaContext::new(device).map_err(|e| driver_error(&format!("cannot open CUDA device {device}"), e))?;
        // SAFETY: the backend queues all its work on one stream, so stream order alone keeps every
        // read after the write it depends on and every free after the last use. cudarc's
        // per-buffer events would only add a record and a wait to each launch.
        unsafe { ctx.disable_event_tracking() };
        // A stream of our own rather than the legacy default stream: only such a stream can be
        // captured into a CUDA graph.
        let stream = ctx.new_stream().map_err(|e| driver_error("cannot create a CUDA stream", e))?;
        let blas = CudaBlas::new(stream.clone()).map_err(|e| driver_error("cannot start cuBLAS", e))?;
        let (major, minor) =
            ctx.compute_capability().map_err(|e| driver_error("cannot read the device's compute capability", e))?;
        let device_name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
        let k = Kernels::load(&ctx, &launch::arch_for(major, minor))?;
        let alloc = |what: &str| driver_error(&format!("cannot allocate the {what} buffer"), "out of memory");
        let scratch = Scratch {
            idx: stream.alloc_zeros::<u32>(1).map_err(|_| alloc("index"))?,
            partials: stream.alloc_zeros::<f64>(1).map_err(|_| alloc("reduction"))?,
            total: stream.alloc_zeros::<f64>(1).map_err(|_| alloc("reduction"))?,
            flag: stream.alloc_zeros::<u32>(1).map_err(|_| alloc("flag"))?,
        };
        let inner = Inner { ctx, stream, blas, k, ordinal: device, device_name, scratch: Mutex::new(scratch) };
        Ok(Self { inner: Arc::new(inner), tf32: false })
    }

    /// Whether [`Cuda::new`]`(0)` can work: the driver and libraries load and a GPU is present.
    pub fn is_available() -> bool {
        probe().is_ok() && CudaContext::device_count().is_ok_and(|n| n > 0)
    }

    /// Why no GPU can be used (the message [`Cuda::new`] would fail with), or `None` when one can.
    pub fn unavailable_reason() -> Option<String> {
        match probe() {
            Err(e) => Some(e.to_string()),
            Ok(()) => match CudaContext::device_count() {
                Ok(n) if n > 0 => None,
                Ok(_) => Some("no CUDA device found: the driver is installed but sees no GPU".into()),
                Err(e) => Some(format!("the CUDA driver failed to start: {e}")),
            },
        }
    }

    /// Lets cuBLAS round the products' inputs to TF32 (10-bit mantissa) on the tensor cores:
    /// several times the FP32 rate, with about 1e-3 relative error per product. Off by default.
    pub fn with_tf32(mut self, on: bool) -> Self {
        self.tf32 = on;
        self
    }

    /// Whether products may use TF32.
    pub fn tf32(&self) -> bool {
        self.tf32
    }

    /// The GPU's name, as the driver reports it.
    pub fn device_name(&self) -> &str {
        &self.inner.device_name
    }

    /// Waits until every queued operation has finished (for timing).
    pub fn synchronize(&self) {
        ok(self.inner.stream.synchronize(), "stream synchronize");
    }

    fn stream(&self) -> &Arc<CudaStream> {
        &self.inner.stream
    }

    fn scratch(&self) -> MutexGuard<'_, Scratch> {
        // A panic elsewhere cannot leave the buffers half-updated in a way that matters: each
        // operation rewrites what it reads.
        self.inner.scratch.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn launcher<'a>(&'a self, f: &'a CudaFunction) -> LaunchArgs<'a> {
        self.stream().launch_builder(f)
    }

    #[track_caller]
    fn go(&self, mut l: LaunchArgs<'_>, cfg: LaunchConfig, name: &str) {
        // SAFETY: every launch site pushes the arguments in the order and with the types of the
        // kernel's C signature (the parity tests run each one), and asserts beforehand that each
        // buffer holds at least the elements the sizes it passes make the kernel touch.
        ok(unsafe { l.launch(cfg) }, name);
    }

    /// Grows a scratch buffer to at least `n` elements (doubling, so growth is rare).
    fn ensure<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        &self,
        buf: &mut CudaSlice<T>,
        n: usize,
    ) {
        if buf.len() < n {
            *buf = ok(self.stream().alloc_zeros::<T>(n.next_power_of_two()), "scratch allocation");
        }
    }

    /// Adds `partials[..n]` on the device and copies the total to the host.
    fn total(&self, s: &mut Scratch, n: usize) -> f64 {
        let n_i = dim(n);
        let mut l = self.launcher(&self.inner.k.reduce_sum);
        l.arg(&n_i).arg(&s.partials).arg(&mut s.total);
        self.go(l, single_block(), "reduce_sum");
        let mut out = [0.0f64];
        ok(self.stream().memcpy_dtoh(&s.total, &mut out), "copy to host");
        self.synchronize();
        out[0]
    }
}

impl Backend for Cuda {
    type Buf = CudaSlice<f32>;

    fn name(&self) -> String {
        format!("cuda:{}", self.inner.ordinal)
    }

    fn zeros(&self, n: usize) -> CudaSlice<f32> {
        // At least one element: a zero-byte allocation is an error for the driver.
        ok(self.stream().alloc_zeros::<f32>(n.max(1)), &format!("allocating {n} floats on the GPU"))
    }

    fn upload(&self, src: &[f32]) -> CudaSlice<f32> {
        let mut buf = self.zeros(src.len());
        self.write(src, &mut buf);
        buf
    }

    fn write(&self, src: &[f32], dst: &mut CudaSlice<f32>) {
        if src.is_empty() {
            return;
        }
        need(dst.len(), src.len(), "write destination");
        // From pageable memory the copy returns once `src` is staged, so the caller may reuse it at once.
        ok(self.stream().memcpy_htod(src, &mut dst.slice_mut(..src.len())), "copy to GPU");
    }

    fn read(&self, src: &CudaSlice<f32>, out: &mut [f32]) {
        if out.is_empty() {
            return;
        }
        need(src.len(), out.len(), "read source");
        ok(self.stream().memcpy_dtoh(&src.slice(..out.len()), out), "copy to host");
        // The copy into pageable memory is synchronous already; the wait makes that explicit.
        self.synchronize();
    }

    fn get(&self, buf: &CudaSlice<f32>, i: usize) -> f64 {
        let mut v = [0.0f32];
        ok(self.stream().memcpy_dtoh(&buf.slice(i..i + 1), &mut v), "copy to host");
        self.synchronize();
        v[0] as f64
    }

    fn set(&self, buf: &mut CudaSlice<f32>, i: usize, v: f64) {
        ok(self.stream().memcpy_htod(&[v as f32], &mut buf.slice_mut(i..i + 1)), "copy to GPU");
    }

    fn copy(&self, src: &CudaSlice<f32>, dst: &mut CudaSlice<f32>, n: usize) {
        if n == 0 {
            return;
        }
        need(src.len(), n, "copy source");
        need(dst.len(), n, "copy destination");
        ok(self.stream().memcpy_dtod(&src.slice(..n), &mut dst.slice_mut(..n)), "device copy");
    }

    fn fill_zero(&self, buf: &mut CudaSlice<f32>, n: usize) {
        if n == 0 {
            return;
        }
        need(buf.len(), n, "buffer");
        ok(self.stream().memset_zeros(&mut buf.slice_mut(..n)), "memset");
    }

    fn gather_rows(&self, src: &CudaSlice<f32>, cols: usize, idx: &[u32], dst: &mut CudaSlice<f32>) {
        if idx.is_empty() || cols == 0 {
            return;
        }
        need(dst.len(), idx.len() * cols, "gather destination");
        // The CPU would panic on an index past the end; a kernel would read out of bounds.
        let src_rows = src.len() / cols;
        if let Some(&bad) = idx.iter().find(|&&i| i as usize >= src_rows) {
            panic!("cuda: gather_rows index {bad} out of range for {src_rows} rows");
        }
        let mut s = self.scratch();
        self.ensure(&mut s.idx, idx.len());
        ok(self.stream().memcpy_htod(idx, &mut s.idx.slice_mut(..idx.len())), "copy indices to GPU");
        let (n_idx, cols_i) = (dim(idx.len()), dim(cols));
        let mut l = self.launcher(&self.inner.k.gather_rows);
        l.arg(&n_idx).arg(&cols_i).arg(src).arg(&s.idx).arg(dst);
        self.go(l, elementwise(idx.len() * cols), "gather_rows");
    }

    fn matmul(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &CudaSlice<f32>,
        ta: bool,
        b: &CudaSlice<f32>,
        tb: bool,
        c: &mut CudaSlice<f32>,
        accumulate: bool,
    ) {
        need(a.len(), m * k, "matmul lhs");
        need(b.len(), k * n, "matmul rhs");
        need(c.len(), m * n, "matmul dst");
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            if !accumulate {
                self.fill_zero(c, m * n);
            }
            return;
        }
        let op = |t: bool| if t { cublasOperation_t::CUBLAS_OP_T } else { cublasOperation_t::CUBLAS_OP_N };
        let compute = if self.tf32 {
            cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32
        } else {
            cublasComputeType_t::CUBLAS_COMPUTE_32F
        };
        // Row-major C (m, n) is column-major Cᵀ (n, m) = op(B)ᵀ·op(A)ᵀ. A row-major buffer read
        // column-major is its transpose, so cuBLAS gets B first, then A, with the same op flags;
        // the leading dimension of each is its stored row length.
        let (lda, ldb) = (if tb { k } else { n }, if ta { m } else { k });
        let (alpha, beta) = (1.0f32, if accumulate { 1.0f32 } else { 0.0 });
        let s = self.stream();
        ok(self.inner.ctx.bind_to_thread(), "binding the CUDA context");
        let (pa, _ra) = a.device_ptr(s);
        let (pb, _rb) = b.device_ptr(s);
        let (pc, _rc) = c.device_ptr_mut(s);
        // SAFETY: the handle works on this backend's stream; the pointers are live device buffers
        // that the asserts above show to hold m·k, k·n and m·n floats; alpha and beta are host
        // scalars (the handle's default pointer mode) that outlive the call.
        let r = unsafe {
            cudarc::cublas::result::gemm_ex(
                /* handle = */ *self.inner.blas.handle(),
                /* transa = */ op(tb),
                /* transb = */ op(ta),
                /* m = */ dim(n),
                /* n = */ dim(m),
                /* k = */ dim(k),
                /* alpha = */ (&alpha as *const f32).cast::<c_void>(),
                /* A = */ pb as *const c_void,
                /* Atype = */ cudaDataType_t::CUDA_R_32F,
                /* lda = */ dim(lda),
                /* B = */ pa as *const c_void,
                /* Btype = */ cudaDataType_t::CUDA_R_32F,
                /* ldb = */ dim(ldb),
                /* beta = */ (&beta as *const f32).cast::<c_void>(),
                /* C = */ pc as *mut c_void,
                /* Ctype = */ cudaDataType_t::CUDA_R_32F,
                /* ldc = */ dim(n),
                /* computeType = */ compute,
                /* algo = */ cudarc::cublas::sys::cublasGemmAlgo_t::CUBLAS_GEMM_DFALT,
            )
        };
        ok(r, "cublasGemmEx");
    }

    fn bias_act_forward(
        &self,
        act: &Activation,
        rows: usize,
        units: usize,
        z: &mut CudaSlice<f32>,
        bias: &CudaSlice<f32>,
        alpha: Option<&CudaSlice<f32>>,
        a: &mut CudaSlice<f32>,
    ) {
        let width = act.pre_width(units);
        need(z.len(), rows * width, "pre-activation");
        need(a.len(), rows * units, "activation");
        need(bias.len(), width, "bias");
        if rows * units == 0 {
            return;
        }
        let k = &self.inner.k;
        let (rows_i, units_i) = (dim(rows), dim(units));
        match *act {
            Activation::Softmax => {
                let mut l = self.launcher(&k.softmax_forward);
                l.arg(&rows_i).arg(&units_i).arg(z).arg(bias).arg(a);
                self.go(l, per_row(rows), "softmax_forward");
            }
            Activation::Maxout { pieces } => {
                let pieces_i = dim(pieces);
                let mut l = self.launcher(&k.maxout_forward);
                l.arg(&rows_i).arg(&units_i).arg(&pieces_i).arg(z).arg(bias).arg(a);
                self.go(l, elementwise(rows * units), "maxout_forward");
            }
            _ => {
                let (code, param) = act_code(act);
                if act.has_alpha() {
                    need(alpha.expect("PReLU needs its slopes").len(), units, "PReLU slopes");
                }
                let mut l = self.launcher(&k.bias_act_forward);
                l.arg(&code).arg(&param).arg(&rows_i).arg(&units_i).arg(z).arg(bias);
                opt_arg(&mut l, alpha);
                l.arg(a);
                self.go(l, elementwise(rows * units), "bias_act_forward");
            }
        }
    }

    fn act_backward(
        &self,
        act: &Activation,
        rows: usize,
        units: usize,
        z: &CudaSlice<f32>,
        a: &CudaSlice<f32>,
        da: &CudaSlice<f32>,
        alpha: Option<&CudaSlice<f32>>,
        dz: &mut CudaSlice<f32>,
        dalpha: Option<&mut CudaSlice<f32>>,
    ) {
        let width = act.pre_width(units);
        need(z.len(), rows * width, "pre-activation");
        need(a.len(), rows * units, "activation");
        need(da.len(), rows * units, "activation gradient");
        need(dz.len(), rows * width, "pre-activation gradient");
        let k = &self.inner.k;
        let (rows_i, units_i) = (dim(rows), dim(units));
        if rows * units > 0 {
            match *act {
                Activation::Softmax => {
                    let mut l = self.launcher(&k.softmax_backward);
                    l.arg(&rows_i).arg(&units_i).arg(a).arg(da).arg(&mut *dz);
                    self.go(l, per_row(rows), "softmax_backward");
                }
                Activation::Maxout { pieces } => {
                    let pieces_i = dim(pieces);
                    let mut l = self.launcher(&k.maxout_backward);
                    l.arg(&rows_i).arg(&units_i).arg(&pieces_i).arg(z).arg(da).arg(&mut *dz);
                    self.go(l, elementwise(rows * units), "maxout_backward");
                }
                _ => {
                    let (code, param) = act_code(act);
                    if act.has_alpha() {
                        need(alpha.expect("PReLU needs its slopes").len(), units, "PReLU slopes");
                    }
                    let mut l = self.launcher(&k.act_backward);
                    l.arg(&code).arg(&param).arg(&rows_i).arg(&units_i).arg(z).arg(a).arg(da);
                    opt_arg(&mut l, alpha);
                    l.arg(&mut *dz);
                    self.go(l, elementwise(rows * units), "act_backward");
                }
            }
        }
        if let Some(dalpha) = dalpha
            && units > 0
        {
            need(dalpha.len(), units, "PReLU slope gradient");
            let mut l = self.launcher(&k.prelu_dalpha);
            l.arg(&rows_i).arg(&units_i).arg(z).arg(da).arg(dalpha);
            self.go(l, per_column_tile(units), "prelu_dalpha");
        }
    }

    fn sum_rows(&self, rows: usize, cols: usize, dz: &CudaSlice<f32>, db: &mut CudaSlice<f32>) {
        need(dz.len(), rows * cols, "sum_rows source");
        need(db.len(), cols, "sum_rows destination");
        if cols == 0 {
            return;
        }
        let (rows_i, cols_i) = (dim(rows), dim(cols));
        let mut l = self.launcher(&self.inner.k.sum_rows);
        l.arg(&rows_i).arg(&cols_i).arg(dz).arg(db);
        self.go(l, per_column_tile(cols), "sum_rows");
    }

    fn loss(
        &self,
        loss: Loss,
        act: &Activation,
        rows: usize,
        cols: usize,
        z: &CudaSlice<f32>,
        a: &CudaSlice<f32>,
        t: &CudaSlice<f32>,
        w: Option<&CudaSlice<f32>>,
        grad: Option<(&mut CudaSlice<f32>, f64)>,
    ) -> f64 {
        for (len, what) in [(z.len(), "logits"), (a.len(), "outputs"), (t.len(), "targets")] {
            need(len, rows * cols, what);
        }
        if let Some(w) = w {
            need(w.len(), rows, "row weights");
        }
        if rows == 0 || cols == 0 {
            return 0.0;
        }
        if loss_code(loss) < 0 {
            return super::loss_via_host(self, loss, act, rows, cols, (z, a, t), w, grad);
        }
        let (kind, fused) = (loss_code(loss), i32::from(loss.fused_with(act)));
        let (rows_i, cols_i) = (dim(rows), dim(cols));
        // The CPU rounds the scale to the element type before multiplying by the row weight.
        let (grad, scale) = match grad {
            Some((g, scale)) => {
                need(g.len(), rows * cols, "loss gradient");
                (Some(g), scale as f32)
            }
            None => (None, 0.0f32),
        };
        let mut s = self.scratch();
        self.ensure(&mut s.partials, rows);
        let mut l = self.launcher(&self.inner.k.loss_rows);
        l.arg(&kind).arg(&fused).arg(&rows_i).arg(&cols_i).arg(z).arg(a).arg(t);
        opt_arg(&mut l, w);
        opt_arg_mut(&mut l, grad);
        l.arg(&scale).arg(&mut s.partials);
        self.go(l, per_row(rows), "loss_rows");
        self.total(&mut s, rows)
    }

    fn update(
        &self,
        rule: &UpdateRule,
        n: usize,
        param: &mut CudaSlice<f32>,
        grad: &CudaSlice<f32>,
        state: &mut [CudaSlice<f32>],
    ) -> f64 {
        need(param.len(), n, "parameter");
        need(grad.len(), n, "gradient");
        for s in state.iter() {
            need(s.len(), n, "optimizer state");
        }
        if n == 0 {
            return 0.0;
        }
        if matches!(
            rule.opt,
            OptimizerConfig::Nadam { .. }
                | OptimizerConfig::Adamax { .. }
                | OptimizerConfig::Rprop { .. }
                | OptimizerConfig::Lbfgs { .. }
        ) {
            // No kernel yet: the shared formula on the host.
            return super::update_via_host(self, rule, n, param, grad, state);
        }
        let k = &self.inner.k;
        let has_penalty = rule.l1 != 0.0 || rule.l2 != 0.0;
        let (cfg, blocks) = one_per_element(n);
        let mut scratch = self.scratch();
        let s = &mut *scratch;
        if has_penalty {
            self.ensure(&mut s.partials, blocks);
        }
        let partials = if has_penalty { Some(&mut s.partials) } else { None };
        let (n64, l1, l2, t) = (n as u64, rule.l1, rule.l2, rule.step);
        match rule.opt {
            OptimizerConfig::Sgd { lr, momentum, nesterov, dampening, weight_decay } => {
                let damp = 1.0f32 - dampening;
                let (nesterov, first) = (i32::from(nesterov), i32::from(t == 1));
                let b = match state {
                    [] => None,
                    [b] => Some(b),
                    _ => unreachable!("sgd keeps at most one buffer"),
                };
                let mut l = self.launcher(&k.sgd_update);
                l.arg(&n64).arg(&mut *param).arg(grad);
                opt_arg_mut(&mut l, b);
                l.arg(&lr).arg(&momentum).arg(&damp).arg(&weight_decay).arg(&nesterov).arg(&first);
                l.arg(&l1).arg(&l2);
                opt_arg_mut(&mut l, partials);
                self.go(l, cfg, "sgd_update");
            }
            OptimizerConfig::Adagrad { lr, eps, lr_decay, weight_decay, .. } => {
                let [sum] = state else { unreachable!("adagrad keeps one buffer") };
                let clr = (lr as f64 / (1.0 + (t as f64 - 1.0) * lr_decay as f64)) as f32;
                let mut l = self.launcher(&k.adagrad_update);
                l.arg(&n64).arg(&mut *param).arg(grad).arg(sum);
                l.arg(&clr).arg(&eps).arg(&weight_decay).arg(&l1).arg(&l2);
                opt_arg_mut(&mut l, partials);
                self.go(l, cfg, "adagrad_update");
            }
            OptimizerConfig::RmsProp { lr, rho, eps, momentum, centered, weight_decay } => {
                let one_rho = 1.0f32 - rho;
                let (v, rest) = state.split_first_mut().expect("rmsprop keeps its square average");
                let (buf, gavg) = match (momentum != 0.0, centered, rest) {
                    (true, true, [b, ga]) => (Some(b), Some(ga)),
                    (true, false, [b]) => (Some(b), None),
                    (false, true, [ga]) => (None, Some(ga)),
                    (false, false, []) => (None, None),
                    _ => unreachable!("rmsprop state count"),
                };
                let mut l = self.launcher(&k.rmsprop_update);
                l.arg(&n64).arg(&mut *param).arg(grad).arg(v);
                opt_arg_mut(&mut l, buf);
                opt_arg_mut(&mut l, gavg);
                l.arg(&lr).arg(&rho).arg(&one_rho).arg(&eps).arg(&momentum).arg(&weight_decay);
                l.arg(&l1).arg(&l2);
                opt_arg_mut(&mut l, partials);
                self.go(l, cfg, "rmsprop_update");
            }
            // AMSGrad is told by its third state buffer.
            OptimizerConfig::Adam { lr, beta1, beta2, eps, weight_decay, .. }
            | OptimizerConfig::AdamW { lr, beta1, beta2, eps, weight_decay, .. } => {
                let decoupled = matches!(rule.opt, OptimizerConfig::AdamW { .. });
                let bc1 = 1.0 - (beta1 as f64).powi(t as i32);
                let bc2_sqrt = (1.0 - (beta2 as f64).powi(t as i32)).sqrt() as f32;
                let step_size = (lr as f64 / bc1) as f32;
                let (l2wd, decay) = if decoupled { (0.0f32, 1.0f32 - lr * weight_decay) } else { (weight_decay, 1.0) };
                let (one_b1, one_b2) = (1.0f32 - beta1, 1.0f32 - beta2);
                let [m, v, rest @ ..] = state else { unreachable!("adam keeps m and v") };
                let vmax = rest.first_mut();
                let mut l = self.launcher(&k.adam_update);
                l.arg(&n64).arg(&mut *param).arg(grad).arg(m).arg(v);
                opt_arg_mut(&mut l, vmax);
                l.arg(&beta1).arg(&one_b1).arg(&beta2).arg(&one_b2).arg(&step_size).arg(&bc2_sqrt).arg(&eps);
                l.arg(&l2wd).arg(&decay).arg(&l1).arg(&l2);
                opt_arg_mut(&mut l, partials);
                self.go(l, cfg, "adam_update");
            }
            _ => unreachable!("handled on the host above"),
        }
        if has_penalty { self.total(s, blocks) } else { 0.0 }
    }

    fn sum_squares(&self, buf: &CudaSlice<f32>, n: usize) -> f64 {
        need(buf.len(), n, "buffer");
        if n == 0 {
            return 0.0;
        }
        let (cfg, blocks) = one_per_element(n);
        let mut scratch = self.scratch();
        let s = &mut *scratch;
        self.ensure(&mut s.partials, blocks);
        let n64 = n as u64;
        let mut l = self.launcher(&self.inner.k.sum_squares);
        l.arg(&n64).arg(buf).arg(&mut s.partials);
        self.go(l, cfg, "sum_squares");
        self.total(s, blocks)
    }

    fn scale(&self, buf: &mut CudaSlice<f32>, n: usize, factor: f32) {
        need(buf.len(), n, "buffer");
        if n == 0 {
            return;
        }
        let n64 = n as u64;
        let mut l = self.launcher(&self.inner.k.scale);
        l.arg(&n64).arg(buf).arg(&factor);
        self.go(l, elementwise(n), "scale");
    }

    fn all_finite(&self, buf: &CudaSlice<f32>, n: usize) -> bool {
        need(buf.len(), n, "buffer");
        if n == 0 {
            return true;
        }
        let mut s = self.scratch();
        ok(self.stream().memset_zeros(&mut s.flag), "memset");
        let n64 = n as u64;
        let mut l = self.launcher(&self.inner.k.all_finite);
        l.arg(&n64).arg(buf).arg(&mut s.flag);
        self.go(l, elementwise(n), "all_finite");
        let mut flag = [0u32];
        ok(self.stream().memcpy_dtoh(&s.flag, &mut flag), "copy to host");
        self.synchronize();
        flag[0] == 0
    }
}

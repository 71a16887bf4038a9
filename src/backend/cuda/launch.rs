//! The kernels' source, their compilation by NVRTC, the loaded functions, and the codes and grid shapes that the `.cu` files expect.

use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::nn::Activation;
use cudarc::driver::{CudaContext, CudaFunction, LaunchConfig};
use cudarc::nvrtc::{self, Ptx};
use std::ffi::CString;
use std::sync::Arc;

/// The CUDA C source of every kernel, one program. `common.cuh` comes first: the others use its helpers.
pub const SOURCE: &str = concat!(
    include_str!("common.cuh"),
    include_str!("activation.cu"),
    include_str!("reduce.cu"),
    include_str!("loss.cu"),
    include_str!("optim.cu"),
);

/// Threads per block of the 1-D kernels (`BLOCK` in `common.cuh`).
pub const BLOCK: u32 = 256;
/// Rows per block of the warp-per-row kernels (`ROW_WARPS`).
const ROW_WARPS: u32 = 4;
/// Columns per block of the column sums (`COL_TILE`), and thread rows splitting the rows (`COL_SPLIT`).
const COL_TILE: u32 = 32;
const COL_SPLIT: u32 = 8;
/// Grid-stride kernels need no more blocks than this to fill any current GPU several times over.
const MAX_GRID: u64 = 1 << 16;

macro_rules! kernels {
    ($($name:ident),* $(,)?) => {
        /// Every kernel of [`SOURCE`], loaded once per backend.
        pub struct Kernels {
            $(pub $name: CudaFunction,)*
        }

        /// The kernels' names, as `extern "C"` exports them.
        pub const KERNEL_NAMES: &[&str] = &[$(stringify!($name)),*];

        impl Kernels {
            /// Compiles [`SOURCE`] for `arch` and loads every kernel into `ctx`.
            pub fn load(ctx: &Arc<CudaContext>, arch: &str) -> Result<Self> {
                let cubin = compile(arch)?;
                let module = ctx.load_module(Ptx::from_binary(cubin)).map_err(|e| {
                    Error::Cuda(format!(
                        "the CUDA driver rejected the kernels that NVRTC {} compiled for {arch}: {e}; \
                         use an NVRTC (libnvrtc.so) of the driver's CUDA major version, or run on the CPU with --device cpu",
                        nvrtc_version()
                    ))
                })?;
                let load = |name: &str| {
                    module
                        .load_function(name)
                        .map_err(|e| Error::Cuda(format!("kernel {name} is missing from the compiled module: {e}")))
                };
                Ok(Self { $($name: load(stringify!($name))?,)* })
            }
        }
    };
}

kernels!(
    bias_act_forward,
    softmax_forward,
    maxout_forward,
    act_backward,
    softmax_backward,
    maxout_backward,
    sum_rows,
    prelu_dalpha,
    gather_rows,
    scale,
    sum_squares,
    all_finite,
    reduce_sum,
    loss_rows,
    sgd_update,
    adagrad_update,
    rmsprop_update,
    adam_update,
);

/// An NVRTC program, destroyed when dropped.
struct Program(nvrtc::sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: the handle came from create_program and is destroyed only here, once.
        let _ = unsafe { nvrtc::result::destroy_program(self.0) };
    }
}

/// A NUL-terminated C string from NVRTC, as text.
fn c_text(chars: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The NVRTC library's version, `major.minor`.
pub fn nvrtc_version() -> String {
    let (mut major, mut minor) = (0, 0);
    // SAFETY: two out-pointers to live integers; callers have checked that the library loads.
    match unsafe { nvrtc::sys::nvrtcVersion(&mut major, &mut minor) }.result() {
        Ok(()) => format!("{major}.{minor}"),
        Err(_) => "(unknown version)".into(),
    }
}

/// Compiles [`SOURCE`] with NVRTC to machine code (a cubin) for `arch`, e.g. `sm_90`.
///
/// Machine code rather than PTX: PTX would be compiled again by the driver, which refuses PTX
/// from an NVRTC newer than itself (NVRTC 13.2 writes PTX 9.2, which a 13.0 driver rejects),
/// whereas a cubin from any 13.x NVRTC runs on every 13.x driver.
///
/// Needs only `libnvrtc` (no GPU, no driver), which is how the tests check the kernels on a
/// machine without a GPU.
pub fn compile(arch: &str) -> Result<Vec<u8>> {
    // SAFETY: only tries to dlopen the library; cudarc would panic on the first call without it.
    if !unsafe { nvrtc::sys::is_culib_present() } {
        return Err(Error::Cuda(
            "NVRTC (libnvrtc.so.13) not found: put the CUDA 13 runtime libraries on LD_LIBRARY_PATH".into(),
        ));
    }
    let fail = |what: &str, e: nvrtc::result::NvrtcError| Error::Cuda(format!("NVRTC {what} failed: {e}"));
    let src = CString::new(SOURCE).expect("the kernel source holds no NUL");
    let name = CString::new("mlp_kernels.cu").expect("no NUL");
    let prog = Program(nvrtc::result::create_program(&src, Some(&name)).map_err(|e| fail("create program", e))?);
    let options = [
        format!("--gpu-architecture={arch}"),
        // No contraction of a*b + c into one rounding: the kernels then round exactly as the CPU
        // code, whose parity tests allow 1e-5. The kernels are memory-bound, so FMA would not pay.
        "--fmad=false".to_string(),
    ];
    // SAFETY: `prog` is a live program; the options are plain strings.
    if let Err(e) = unsafe { nvrtc::result::compile_program(prog.0, &options) } {
        // SAFETY: as above.
        let log = unsafe { nvrtc::result::get_program_log(prog.0) }.map(|l| c_text(&l)).unwrap_or_default();
        return Err(Error::Cuda(format!(
            "NVRTC {} could not compile the kernels for {arch} ({e}):\n{log}",
            nvrtc_version()
        )));
    }
    let mut size = 0usize;
    // SAFETY: `prog` compiled successfully; the buffer is exactly the size NVRTC reports.
    unsafe { nvrtc::sys::nvrtcGetCUBINSize(prog.0, &mut size) }.result().map_err(|e| fail("cubin size", e))?;
    let mut cubin = vec![0u8; size];
    unsafe { nvrtc::sys::nvrtcGetCUBIN(prog.0, cubin.as_mut_ptr().cast()) }
        .result()
        .map_err(|e| fail("get cubin", e))?;
    Ok(cubin)
}

/// The NVRTC target for a device of compute capability `major.minor`: its own machine code.
pub fn arch_for(major: i32, minor: i32) -> String {
    format!("sm_{major}{minor}")
}

/// The code `common.cuh` gives an element-wise activation, with its fixed parameter.
pub fn act_code(act: &Activation) -> (i32, f32) {
    match *act {
        Activation::Linear => (0, 0.0),
        Activation::Sigmoid => (1, 0.0),
        Activation::Tanh => (2, 0.0),
        Activation::Relu => (3, 0.0),
        Activation::LeakyRelu { alpha } => (4, alpha),
        Activation::Prelu { .. } => (5, 0.0),
        Activation::Elu { alpha } => (6, alpha),
        Activation::Softplus => (7, 0.0),
        Activation::Softmax | Activation::Maxout { .. } => unreachable!("{act} is row-wise: it has its own kernels"),
    }
}

/// The code `common.cuh` gives a loss.
pub fn loss_code(loss: Loss) -> i32 {
    match loss {
        Loss::Mse => 0,
        Loss::Mae => 1,
        Loss::BinaryCrossEntropy => 2,
        Loss::CategoricalCrossEntropy | Loss::SparseCategoricalCrossEntropy => 3,
        // No kernel yet: the backend computes these on the host.
        _ => -1,
    }
}

/// A dimension as the kernels' `int`.
pub fn dim(x: usize) -> i32 {
    i32::try_from(x).unwrap_or_else(|_| panic!("cuda: dimension {x} exceeds the kernels' 32-bit sizes"))
}

/// Grid-stride element-wise kernels over `n` elements.
pub fn elementwise(n: usize) -> LaunchConfig {
    let blocks = (n as u64).div_ceil(BLOCK as u64).clamp(1, MAX_GRID) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

/// Exactly one thread per element (no grid stride): the kernels whose per-block partial sums
/// must be partitioned by `n` alone. Returns the configuration and the number of blocks.
pub fn one_per_element(n: usize) -> (LaunchConfig, usize) {
    let blocks = n.div_ceil(BLOCK as usize).max(1);
    let grid = u32::try_from(blocks).expect("cuda: too many elements for one grid");
    (LaunchConfig { grid_dim: (grid, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }, blocks)
}

/// One warp per row.
pub fn per_row(rows: usize) -> LaunchConfig {
    let blocks = u32::try_from(rows.div_ceil(ROW_WARPS as usize).max(1)).expect("cuda: too many rows for one grid");
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (32 * ROW_WARPS, 1, 1), shared_mem_bytes: 0 }
}

/// Column sums: a block per `COL_TILE` columns.
pub fn per_column_tile(cols: usize) -> LaunchConfig {
    let blocks = u32::try_from(cols.div_ceil(COL_TILE as usize).max(1)).expect("cuda: too many columns");
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (COL_TILE, COL_SPLIT, 1), shared_mem_bytes: 0 }
}

/// The single block of `reduce_sum`.
pub fn single_block() -> LaunchConfig {
    LaunchConfig { grid_dim: (1, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

//! A model loaded once and shared for predictions: `predict(&self)` from any number of threads at once, each call on a network checked out of a pool.

use crate::backend::{Backend, Cpu};
use crate::error::{Error, Result};
use crate::nn::{Model, Net};
use crate::tensor::Matrix;
use std::sync::Mutex;

/// A model loaded once for repeated predictions: the backend, weights and buffers stay allocated,
/// so a call does no allocation beyond its output.
///
/// `Predictor` is `Send + Sync`: a server keeps one behind an `Arc` and calls
/// [`Predictor::predict`] from every request thread. Each call checks a network (weights and
/// activation buffers) out of a pool and puts it back afterwards; the pool grows to the largest
/// number of calls that ran at once. Every network holds the same weights and the products do
/// not depend on who runs them, so outputs are bit-identical whichever thread asks.
///
/// ```
/// use mlp::{Matrix, ModelConfig, Predictor};
/// let model = ModelConfig::parse(2, "4:relu,1:sigmoid").unwrap().init(0).unwrap();
/// let p = Predictor::new(&model, 64, 1).unwrap();
/// let x = Matrix::new(2, 2, vec![0.0, 1.0, 1.0, 0.0]);
/// let outs: Vec<Matrix> = std::thread::scope(|s| {
///     let hs: Vec<_> = (0..2).map(|_| s.spawn(|| p.predict(&x).unwrap())).collect();
///     hs.into_iter().map(|h| h.join().unwrap()).collect()
/// });
/// assert_eq!(outs[0], outs[1]);
/// ```
pub struct Predictor {
    model: Model,
    backend: Cpu<f32>,
    max_rows: usize,
    /// Networks not in use by a call.
    idle: Mutex<Vec<Net<Cpu<f32>>>>,
}

impl Predictor {
    /// Prepares `model` for batches of up to `max_rows` rows on `threads` CPU threads (0: all cores;
    /// 1 suits single-row latency).
    pub fn new(model: &Model, max_rows: usize, threads: usize) -> Result<Self> {
        model.check()?;
        let backend = Cpu::<f32>::shared(threads)?;
        let mut net = Net::new(&backend, model, max_rows);
        net.set_training(false);
        let max_rows = net.max_rows();
        Ok(Self { model: model.clone(), backend, max_rows, idle: Mutex::new(vec![net]) })
    }

    /// The model predicted with.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Outputs for every row of `x`.
    pub fn predict(&self, x: &Matrix) -> Result<Matrix> {
        let mut out = Matrix::zeros(x.rows, self.model.config.output_dim());
        self.predict_into(x, &mut out.data)?;
        Ok(out)
    }

    /// Outputs for every row of `x` into `out` (`x.rows × outputs` values).
    pub fn predict_into(&self, x: &Matrix, out: &mut [f32]) -> Result<()> {
        let input = self.model.config.input_dim;
        if x.cols != input {
            return Err(Error::Data(format!("the input has {} features but the model expects {input}", x.cols)));
        }
        self.predict_slice_into(&x.data, out)
    }

    /// Outputs for rows held in a borrowed row-major slice (`x.len() / inputs` rows) into `out`
    /// (`rows × outputs` values): for callers whose inputs live in someone else's buffer (a numpy
    /// array), which then need no copy. A slice that is not whole rows, or an `out` of the wrong
    /// length, is an error, not a panic.
    pub fn predict_slice_into(&self, x: &[f32], out: &mut [f32]) -> Result<()> {
        let (input, output) = (self.model.config.input_dim, self.model.config.output_dim());
        if !x.len().is_multiple_of(input) {
            return Err(Error::Data(format!(
                "{} input values do not make whole rows of the {input} features the model expects",
                x.len()
            )));
        }
        let rows = x.len() / input;
        if out.len() != rows * output {
            return Err(Error::Data(format!(
                "the output buffer holds {} values but {rows} rows of {output} outputs need {}",
                out.len(),
                rows * output
            )));
        }
        let mut net = self.checkout();
        forward_all(&mut net, x, out);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(net);
        Ok(())
    }

    /// One prediction with a network of its own, for [`Model::predict`]: no pool and no copy of
    /// the model to build more networks from.
    pub(crate) fn predict_once(model: &Model, x: &Matrix, max_rows: usize) -> Result<Matrix> {
        model.check()?;
        let input = model.config.input_dim;
        if x.cols != input {
            return Err(Error::Data(format!("the input has {} features but the model expects {input}", x.cols)));
        }
        let mut net = Net::new(&Cpu::<f32>::shared(0)?, model, max_rows);
        net.set_training(false);
        let mut out = Matrix::zeros(x.rows, model.config.output_dim());
        forward_all(&mut net, &x.data, &mut out.data);
        Ok(out)
    }

    /// An idle network, or a new one when every network is in use.
    fn checkout(&self) -> Net<Cpu<f32>> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        idle.unwrap_or_else(|| {
            let mut net = Net::new(&self.backend, &self.model, self.max_rows);
            net.set_training(false);
            net
        })
    }
}

/// The outputs of every row of `x` (row-major, the network's input width) into `out`, through
/// `net` in batches of its `max_rows`.
fn forward_all(net: &mut Net<Cpu<f32>>, x: &[f32], out: &mut [f32]) {
    let (input, output) = (net.config().input_dim, net.config().output_dim());
    let be = net.backend().clone();
    let bs = net.max_rows();
    be.clone().install(|| {
        for (start, xs) in (0..x.len() / input.max(1)).step_by(bs).zip(x.chunks(bs * input)) {
            let rows = xs.len() / input;
            be.write(xs, net.input_mut());
            net.forward(rows);
            be.read(net.output(), &mut out[start * output..(start + rows) * output]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::ModelConfig;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn predictor_is_shared_by_eight_threads_with_the_single_thread_outputs() {
        assert_send_sync::<Predictor>();
        let model = ModelConfig::parse(5, "32:relu,16:tanh,3:softmax").unwrap().init(11).unwrap();
        let rows = 300;
        let x = Matrix::new(rows, 5, (0..rows * 5).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect());
        for threads in [1, 2] {
            let p = Predictor::new(&model, 64, threads).unwrap();
            let alone = p.predict(&x).unwrap();
            let single_rows: Vec<Matrix> = (0..rows).map(|r| p.predict(&x.select_rows(&[r])).unwrap()).collect();
            std::thread::scope(|s| {
                for t in 0..8 {
                    let (p, x, alone, single_rows) = (&p, &x, &alone, &single_rows);
                    s.spawn(move || {
                        for round in 0..20 {
                            // Alternate whole batches and single rows so calls of both sizes overlap.
                            if (round + t) % 2 == 0 {
                                let got = p.predict(x).unwrap();
                                assert!(got.data.iter().zip(&alone.data).all(|(a, b)| a.to_bits() == b.to_bits()));
                            } else {
                                let r = (round * 31 + t * 7) % rows;
                                let got = p.predict(&x.select_rows(&[r])).unwrap();
                                assert_eq!(got.data, single_rows[r].data, "thread {t}, row {r}");
                            }
                        }
                    });
                }
            });
            let pooled = p.idle.lock().unwrap().len();
            let mut out = vec![0.0; rows * 3];
            p.predict_slice_into(&x.data, &mut out).unwrap();
            assert_eq!(out, alone.data, "a borrowed slice predicts what a matrix does");
            assert!(p.predict_slice_into(&x.data[..7], &mut out).is_err(), "7 values are not whole rows of 5");
            assert!(p.predict_slice_into(&x.data, &mut out[..3]).is_err(), "the output buffer is too small");
            assert!((1..=8).contains(&pooled), "{pooled} networks pooled");
        }
    }

    /// The outputs of `model`'s training-mode forward pass over `x` on `be`.
    fn training_forward<B: Backend>(be: &B, model: &Model, x: &Matrix) -> Vec<f32> {
        let mut net = Net::new(be, model, x.rows);
        net.set_training(true);
        be.write(&x.data, net.input_mut());
        net.forward(x.rows);
        let mut out = vec![0.0; x.rows * model.config.output_dim()];
        be.read(net.output(), &mut out);
        out
    }

    /// Digit-like rows (85% zeros) take the zero-skipping product: each row's outputs are the
    /// same bits alone as in any batch, on any thread count, and in training mode (which takes
    /// the same product), and agree with the arithmetic done in f64. Both a wide first layer
    /// (packed blocks) and a narrow one (784→100: a tail of 4 columns) are covered.
    #[test]
    fn mostly_zero_rows_predict_alike_alone_batched_in_training_and_in_f64() {
        for (spec, width) in [("512:relu,10:softmax", 512), ("100:relu,10:softmax", 100)] {
            let model = ModelConfig::parse(784, spec).unwrap().init(3).unwrap();
            let rows = 40;
            let x = Matrix::new(
                rows,
                784,
                (0..rows * 784)
                    .map(|i| if (i * 2654435761) % 100 < 15 { (i % 255) as f32 / 255.0 } else { 0.0 })
                    .collect(),
            );
            // The first layer's product skips the zeros of these rows (it declines otherwise).
            let w = model.params[0].values("weight").to_vec();
            let mut z = vec![0.0; rows * width];
            let be = Cpu::<f32>::new(2).unwrap();
            assert!(be.matmul_sparse_lhs(rows, width, 784, &x.data, false, &w, &mut z), "{spec}: zeros skipped");
            let batched = Predictor::new(&model, 64, 2).unwrap().predict(&x).unwrap();
            let one = Predictor::new(&model, 1, 1).unwrap();
            for r in 0..rows {
                let alone = one.predict(&x.select_rows(&[r])).unwrap();
                assert_eq!(alone.data, batched.data[r * 10..(r + 1) * 10], "{spec}: row {r}");
            }
            let training = training_forward(&be, &model, &x);
            assert_eq!(training, batched.data, "{spec}: training and inference predict alike");
            let exact = training_forward(&Cpu::<f64>::new(1).unwrap(), &model, &x);
            let worst = exact.iter().zip(&batched.data).map(|(d, s)| (d - s).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-6, "{spec}: f32 and f64 outputs differ by {worst}");
        }
    }
}

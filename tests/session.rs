//! The training session you can hold (issue 9): driven batch by batch it gives the `Trainer`'s bits; it resumes from its own checkpoints; the gradient hook sees every batch; the flat parameter view adds up; the clock is the caller's.

use mlp::backend::Cpu;
use mlp::data::{Dataset, synth};
use mlp::nn::Model;
use mlp::train::{
    BatchInfo, Callback, Control, EarlyStopping, Event, FitConfig, Next, ParamView, Session, StopReason, Trainer,
    TrainingData,
};
use mlp::{Loss, ModelConfig, OptimizerConfig};
use std::sync::{Arc, Mutex};

fn bits(m: &Model) -> Vec<u32> {
    m.params.iter().flat_map(|p| p.tensors.iter().flat_map(|t| &t.data)).map(|v| v.to_bits()).collect()
}

fn setup() -> (Dataset, Model, FitConfig) {
    let data = synth::circles(240, 0.1, 0.5, 3);
    let model = ModelConfig::parse(2, "12:relu,6:prelu,2:softmax").unwrap().with_penalties(0.0, 1e-3).init(1).unwrap();
    let cfg = FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: OptimizerConfig::adam(0.01),
        epochs: 6,
        batch_size: 32,
        validation_split: 0.25,
        early_stopping: Some(EarlyStopping { patience: 2, ..Default::default() }),
        clip_norm: Some(1.0),
        threads: 1,
        seed: 4,
        ..Default::default()
    };
    (data, model, cfg)
}

/// Drives `s` to the end one call at a time, as a front end holding it would.
fn drive(s: &mut Session) {
    loop {
        match s.next() {
            Next::Batch => {
                s.train_batch().unwrap();
            }
            Next::EndEpoch => {
                s.end_epoch().unwrap().expect("an epoch ended");
            }
            Next::Finish => break,
        }
    }
}

fn without_seconds(mut h: mlp::History) -> mlp::History {
    for r in &mut h.epochs {
        r.seconds = 0.0;
    }
    h
}

#[test]
fn a_session_driven_step_by_step_gives_the_trainers_bits() {
    let (data, model, cfg) = setup();
    let mut trained = model.clone();
    let h_trainer = Trainer::new(&cfg).fit(&mut trained, &data).unwrap();

    let be = Cpu::<f32>::new(1).unwrap();
    let mut s = Session::prepare(&be, &cfg, &model, TrainingData::new(&data)).unwrap();
    assert_eq!((s.epoch(), s.batch(), s.batches(), s.samples()), (1, 0, 6, 180));
    drive(&mut s);
    let (m, h) = s.finish();
    assert_eq!(bits(&m), bits(&trained));
    assert_eq!(without_seconds(h), without_seconds(h_trainer));
}

#[test]
fn a_session_moves_to_another_thread_and_resumes_from_its_own_checkpoint() {
    fn owned_and_sendable<T: Send + 'static>() {}
    owned_and_sendable::<Session>();
    let (data, model, cfg) = setup();
    let be = Cpu::<f32>::new(1).unwrap();
    let mut whole = Session::prepare(&be, &cfg, &model, TrainingData::new(&data)).unwrap();
    whole.run().unwrap();
    let (m_whole, h_whole) = whole.finish();

    let mut first = Session::prepare(&be, &cfg, &model, TrainingData::new(&data)).unwrap();
    // Stop mid-epoch 3, as Ctrl-C would, then continue in a fresh session on another thread.
    while (first.epoch(), first.batch()) != (3, 2) {
        match first.next() {
            Next::Batch => drop(first.train_batch().unwrap()),
            Next::EndEpoch => drop(first.end_epoch().unwrap()),
            Next::Finish => unreachable!("stopped before epoch 3"),
        }
    }
    first.stop(StopReason::Interrupted { epoch: 3, batch: 2 }).unwrap();
    assert!(first.stopped_mid_epoch() && first.next() == Next::Finish);
    let ck = first.checkpoint();
    let (cfg2, data2) = (cfg.clone(), data.clone());
    let (m, h) = std::thread::spawn(move || {
        let be = Cpu::<f32>::new(1).unwrap();
        let mut s = Session::resume(&be, &cfg2, ck, TrainingData::new(&data2)).unwrap();
        s.run().unwrap();
        s.finish()
    })
    .join()
    .unwrap();
    assert_eq!(bits(&m), bits(&m_whole));
    assert_eq!(without_seconds(h), without_seconds(h_whole));
}

#[test]
fn a_checkpoint_taken_as_early_stopping_ends_the_run_resumes_stopped() {
    let (data, model, mut cfg) = setup();
    cfg.epochs = 300;
    let be = Cpu::<f32>::new(1).unwrap();
    let mut whole = Session::prepare(&be, &cfg, &model, TrainingData::new(&data)).unwrap();
    // The checkpoint a --checkpoint-every 1 run writes after its last epoch, then a kill.
    let mut last = None;
    loop {
        match whole.next() {
            Next::Batch => drop(whole.train_batch().unwrap()),
            Next::EndEpoch => {
                whole.end_epoch().unwrap();
                last = Some(whole.checkpoint());
            }
            Next::Finish => break,
        }
    }
    let (m_whole, h_whole) = whole.finish();
    assert!(matches!(h_whole.stop, StopReason::EarlyStopping { .. }), "{:?}", h_whole.stop);
    let mut s = Session::resume(&be, &cfg, last.unwrap(), TrainingData::new(&data)).unwrap();
    assert_eq!(s.next(), Next::Finish, "the resumed run trains on after early stopping ended it");
    s.run().unwrap();
    let (m, h) = s.finish();
    assert_eq!(bits(&m), bits(&m_whole));
    assert_eq!(without_seconds(h), without_seconds(h_whole));
}

#[test]
fn the_gradient_hook_sees_every_batch_and_a_flat_round_trip_changes_nothing() {
    let (data, model, cfg) = setup();
    let be = Cpu::<f32>::new(1).unwrap();
    let mut plain = Session::prepare(&be, &cfg, &model, TrainingData::new(&data)).unwrap();
    plain.run().unwrap();
    let (m_plain, _) = plain.finish();

    let seen: Arc<Mutex<Vec<BatchInfo>>> = Arc::default();
    let log = seen.clone();
    let mut s = Session::prepare(&be, &cfg, &model, TrainingData::new(&data)).unwrap();
    let n = model.param_count();
    let mut flat = vec![0.0f32; n];
    // What an allreduce over one process does: gradients out to the host and back unchanged.
    s.set_gradient_hook(move |p: &mut ParamView<'_, Cpu>, info: &BatchInfo| {
        assert_eq!(p.len(), n);
        p.store_grads(&mut flat);
        p.load_grads(&flat);
        log.lock().unwrap().push(*info);
        Ok(())
    });
    s.run().unwrap();
    let epochs = s.history().epochs.len();
    let (m, _) = s.finish();
    assert_eq!(bits(&m), bits(&m_plain));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), epochs * 6);
    assert_eq!((seen[0].epoch, seen[0].batch, seen[0].rows), (1, 1, 32));
    assert_eq!((seen[5].batch, seen[5].rows), (6, 180 - 5 * 32));
}

#[test]
fn a_failing_gradient_hook_ends_training_with_its_error() {
    let (data, model, cfg) = setup();
    let be = Cpu::<f32>::new(1).unwrap();
    let mut s = Session::prepare(&be, &cfg, &model, TrainingData::new(&data)).unwrap();
    s.set_gradient_hook(
        |_: &mut ParamView<'_, Cpu>, info: &BatchInfo| {
            if info.batch == 3 { Err(mlp::Error::Data("rank 2 is gone".into())) } else { Ok(()) }
        },
    );
    let e = s.run().unwrap_err().to_string();
    assert_eq!(e, "rank 2 is gone");
    assert_eq!(s.next(), Next::Finish);
}

#[test]
fn the_parameter_view_is_one_flat_vector() {
    let (data, model, cfg) = setup();
    let be = Cpu::<f32>::new(1).unwrap();
    let mut s = Session::prepare(&be, &cfg, &model, TrainingData::new(&data)).unwrap();
    s.train_batch().unwrap();
    let host = bits(&model).into_iter().map(f32::from_bits).collect::<Vec<_>>();
    let mut p = s.params();
    let n = p.len();
    assert_eq!(p.tensor_lens().iter().sum::<usize>(), n);
    let (mut x, mut g) = (vec![0.0f32; n], vec![0.0f32; n]);
    p.store_params(&mut x);
    p.store_grads(&mut g);
    // One Adam step moved every weight a little from the initial ones.
    assert!(x.iter().zip(&host).all(|(a, b)| (a - b).abs() < 0.02) && x != host);
    let sq = |v: &[f32]| v.iter().map(|&a| a as f64 * a as f64).sum::<f64>();
    assert_eq!(p.params_dot(&x), sq(&x));
    assert_eq!(p.grads_dot(&g), sq(&g));
    assert!((p.grad_norm() - sq(&g).sqrt()).abs() < 1e-6);
    // x ← x + 2·x − 3·x = 0: axpy with exact small multiples.
    p.params_axpy(2.0, &x);
    p.params_axpy(-3.0, &x);
    let mut y = vec![1.0f32; n];
    p.store_params(&mut y);
    assert!(y.iter().all(|&v| v == 0.0));
    p.load_params(&x);
    p.store_params(&mut y);
    assert_eq!(y, x);
    p.grads_axpy(-1.0, &g);
    p.store_grads(&mut y);
    assert!(y.iter().all(|&v| v == 0.0));
    assert_eq!(s.model().param_count(), n);
}

/// Records the epoch times it is told.
struct Seconds(Arc<Mutex<Vec<f64>>>);
impl Callback for Seconds {
    fn on_event(&mut self, e: &Event<'_>) -> Control {
        if let Event::EpochEnd { record } = e {
            self.0.lock().unwrap().push(record.seconds);
        }
        Control::Continue
    }
}

#[test]
fn epoch_times_come_from_the_callers_clock() {
    let (data, model, cfg) = setup();
    let cfg = FitConfig { early_stopping: None, validation_split: 0.0, epochs: 3, ..cfg };
    let be = Cpu::<f32>::new(1).unwrap();
    let mut s = Session::prepare(&be, &cfg, &model, TrainingData::new(&data)).unwrap();
    // A clock that advances one second per reading.
    let ticks = Mutex::new(0.0);
    s.set_clock(move || {
        let mut t = ticks.lock().unwrap();
        *t += 1.0;
        *t
    });
    let times: Arc<Mutex<Vec<f64>>> = Arc::default();
    s.add_callback(Box::new(Seconds(times.clone())));
    s.run().unwrap();
    let (_, h) = s.finish();
    // Two readings per epoch (its first batch and its end): one second each.
    assert_eq!(h.series("loss").len(), 3);
    assert_eq!(*times.lock().unwrap(), vec![1.0; 3]);
    assert!(h.epochs.iter().all(|r| r.seconds == 1.0));
}

#[test]
fn shared_rows_train_to_the_bits_of_lent_rows_and_are_let_go_at_the_end() {
    // Shared features are read in place on the CPU (no upload): the same batches, the same bits,
    // with a validation split drawn from them, in f32 and in f64.
    let (data, model, cfg) = setup();
    let shared: Arc<Vec<f32>> = Arc::new(data.x.data.clone());
    for threads in [1, 2] {
        let cfg = FitConfig { threads, ..cfg.clone() };
        let be = Cpu::<f32>::new(threads).unwrap();
        let mut lent = Session::prepare(&be, &cfg, &model, TrainingData::new(&data)).unwrap();
        lent.run().unwrap();
        let (m_lent, h_lent) = lent.finish();
        let rows = TrainingData::shared(shared.clone(), 2, &data.y).unwrap();
        let mut s = Session::prepare(&be, &cfg, &model, rows).unwrap();
        assert_eq!(Arc::strong_count(&shared), 2, "the session holds the rows");
        s.run().unwrap();
        let (m, h) = s.finish();
        assert_eq!(Arc::strong_count(&shared), 1, "a finished session lets the rows go");
        assert_eq!(bits(&m), bits(&m_lent));
        assert!(h_lent.epochs.iter().all(|r| r.metrics.contains_key("val_loss")));
        assert_eq!(without_seconds(h), without_seconds(h_lent));
    }
    let be = Cpu::<f64>::new(1).unwrap();
    let mut lent = Session::prepare(&be, &cfg, &model, TrainingData::new(&data)).unwrap();
    lent.run().unwrap();
    let mut s = Session::prepare(&be, &cfg, &model, TrainingData::shared(shared.clone(), 2, &data.y).unwrap()).unwrap();
    s.run().unwrap();
    assert_eq!(bits(&s.finish().0), bits(&lent.finish().0));
}

#[test]
fn shared_rows_that_do_not_match_the_targets_are_refused() {
    let (data, _, _) = setup();
    let rows = Arc::new(data.x.data[..data.x.data.len() - 1].to_vec());
    let err = TrainingData::shared(rows, 2, &data.y).unwrap_err().to_string();
    assert!(err.contains("479 training feature values do not make 240 rows of 2"), "{err}");
    let err = TrainingData::shared(Arc::new(data.x.data.clone()), 3, &data.y).unwrap_err().to_string();
    assert!(err.contains("rows of 3"), "{err}");
}

#[test]
fn shared_validation_rows_score_as_lent_ones_and_are_checked() {
    let (data, model, cfg) = setup();
    let cfg = FitConfig { validation_split: 0.0, ..cfg };
    let valid = synth::circles(60, 0.1, 0.5, 8);
    let be = Cpu::<f32>::new(2).unwrap();
    let mut lent = Session::prepare(&be, &cfg, &model, TrainingData::new(&data).valid(&valid)).unwrap();
    lent.run().unwrap();
    let (m_lent, h_lent) = lent.finish();
    let vx: Arc<Vec<f32>> = Arc::new(valid.x.data.clone());
    let rows = TrainingData::new(&data).valid_shared(vx.clone(), 2, &valid.y).unwrap();
    let mut s = Session::prepare(&be, &cfg, &model, rows).unwrap();
    assert_eq!(Arc::strong_count(&vx), 2, "the session reads the validation rows in place");
    s.run().unwrap();
    let (m, h) = s.finish();
    assert_eq!(Arc::strong_count(&vx), 1);
    assert!(h.epochs.iter().all(|r| r.metrics.contains_key("val_loss") && r.metrics.contains_key("val_accuracy")));
    assert_eq!((bits(&m), without_seconds(h)), (bits(&m_lent), without_seconds(h_lent)));

    let err = TrainingData::new(&data).valid_shared(vx.clone(), 3, &valid.y).unwrap_err().to_string();
    assert!(err.contains("120 validation feature values do not make 60 rows of 3"), "{err}");
    let wide = synth::circles(60, 0.1, 0.5, 8).x.data.iter().flat_map(|&v| [v, v]).collect::<Vec<f32>>();
    let rows = TrainingData::new(&data).valid_shared(Arc::new(wide), 4, &valid.y).unwrap();
    let err = Session::prepare(&be, &cfg, &model, rows).err().expect("refused").to_string();
    assert!(err.contains("the validation data has 4 features but the model expects 2"), "{err}");
}

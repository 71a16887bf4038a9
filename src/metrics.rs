//! Metrics on host predictions: accuracy, binary and top-k accuracy, MSE, MAE, R², the confusion matrix.

use crate::tensor::Matrix;

/// The predicted class of one output row: argmax, or `p ≥ 0.5` for a single sigmoid unit.
pub fn predicted_class(row: &[f32]) -> usize {
    if row.len() == 1 { usize::from(row[0] >= 0.5) } else { crate::tensor::argmax(row) }
}

/// The predicted class of each row (see [`predicted_class`]).
pub fn predicted_classes(p: &Matrix) -> Vec<usize> {
    (0..p.rows).map(|r| predicted_class(p.row(r))).collect()
}

/// The fraction of rows whose predicted class is the label (0 for no rows).
pub fn accuracy(p: &Matrix, labels: &[usize]) -> f64 {
    let pred = predicted_classes(p);
    let hits = pred.iter().zip(labels).filter(|(a, b)| a == b).count();
    hits as f64 / labels.len().max(1) as f64
}

/// Element-wise accuracy of thresholded probabilities against 0/1 targets (Keras's `binary_accuracy`).
pub fn binary_accuracy(p: &Matrix, t: &Matrix) -> f64 {
    let hits = p.data.iter().zip(&t.data).filter(|&(&a, &b)| (a >= 0.5) == (b >= 0.5)).count();
    hits as f64 / p.data.len().max(1) as f64
}

/// The fraction of rows whose label is among the `k` highest scores.
pub fn top_k_accuracy(p: &Matrix, labels: &[usize], k: usize) -> f64 {
    let hits = (0..p.rows)
        .filter(|&r| {
            let row = p.row(r);
            let mine = row[labels[r]];
            // Ties count against the label, so that a constant prediction is not "top-k".
            row.iter().filter(|&&v| v >= mine).count() <= k
        })
        .count();
    hits as f64 / p.rows.max(1) as f64
}

/// Mean squared error over all elements.
pub fn mse(p: &Matrix, t: &Matrix) -> f64 {
    let s: f64 = p.data.iter().zip(&t.data).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
    s / p.data.len().max(1) as f64
}

/// Mean absolute error over all elements.
pub fn mae(p: &Matrix, t: &Matrix) -> f64 {
    let s: f64 = p.data.iter().zip(&t.data).map(|(&a, &b)| (a as f64 - b as f64).abs()).sum();
    s / p.data.len().max(1) as f64
}

/// The coefficient of determination, averaged over output columns (scikit-learn's `r2_score`).
pub fn r2(p: &Matrix, t: &Matrix) -> f64 {
    let n = t.rows as f64;
    let mut total = 0.0;
    for c in 0..t.cols {
        let mean = (0..t.rows).map(|r| t.data[r * t.cols + c] as f64).sum::<f64>() / n;
        let (mut ss_res, mut ss_tot) = (0.0, 0.0);
        for r in 0..t.rows {
            let y = t.data[r * t.cols + c] as f64;
            ss_res += (y - p.data[r * p.cols + c] as f64).powi(2);
            ss_tot += (y - mean).powi(2);
        }
        // A constant target: perfect predictions score 1, others 0 (as scikit-learn does).
        total += if ss_tot == 0.0 { if ss_res == 0.0 { 1.0 } else { 0.0 } } else { 1.0 - ss_res / ss_tot };
    }
    total / t.cols.max(1) as f64
}

/// `counts[true][predicted]` over `n_classes` classes.
pub fn confusion_matrix(pred: &[usize], labels: &[usize], n_classes: usize) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0; n_classes]; n_classes];
    for (&p, &l) in pred.iter().zip(labels) {
        if p < n_classes && l < n_classes {
            m[l][p] += 1;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_examples() {
        let p = Matrix::new(3, 3, vec![0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.3, 0.4, 0.3]);
        let y = [0, 1, 1];
        assert!((accuracy(&p, &y) - 2.0 / 3.0).abs() < 1e-12);
        assert!((top_k_accuracy(&p, &y, 2) - 1.0).abs() < 1e-12);
        assert_eq!(confusion_matrix(&predicted_classes(&p), &y, 3), vec![vec![1, 0, 0], vec![0, 1, 1], vec![0, 0, 0]]);
        let s = Matrix::new(4, 1, vec![0.9, 0.4, 0.6, 0.1]);
        assert_eq!(predicted_classes(&s), vec![1, 0, 1, 0]);
        let t = Matrix::new(2, 1, vec![1.0, 3.0]);
        let q = Matrix::new(2, 1, vec![2.0, 3.0]);
        assert_eq!(mse(&q, &t), 0.5);
        assert_eq!(mae(&q, &t), 0.5);
        // mean 2, ss_tot 2, ss_res 1.
        assert!((r2(&q, &t) - 0.5).abs() < 1e-12);
    }
}

//! The network's inputs computed from the raw columns: TF Playground's X1, X2, X1², X2², X1X2, sin X1 and sin X2, or any raw column by name.

use mlp::Matrix;

/// One input of the network.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Feature {
    Column(usize),
    Square(usize),
    Product(usize, usize),
    Sin(usize),
}

/// The features a setup asks for, in order, over named raw columns.
#[derive(Clone, Debug)]
pub struct FeatureMap {
    columns: usize,
    features: Vec<Feature>,
    names: Vec<String>,
}

impl FeatureMap {
    /// Parses `names` (`x1`, `x1^2`, `x1*x2`, `sin(x1)`, …) over the raw `columns`; the error names
    /// the feature that is neither a column nor a formula of columns.
    pub fn parse(names: &[String], columns: &[String]) -> Result<Self, String> {
        let col = |c: &str| columns.iter().position(|n| n == c.trim());
        let one = |name: &str| -> Option<Feature> {
            if let Some(i) = col(name) {
                return Some(Feature::Column(i));
            }
            if let Some(c) = name.strip_suffix("^2") {
                return col(c).map(Feature::Square);
            }
            if let Some(c) = name.strip_prefix("sin(").and_then(|r| r.strip_suffix(')')) {
                return col(c).map(Feature::Sin);
            }
            let (a, b) = name.split_once('*')?;
            Some(Feature::Product(col(a)?, col(b)?))
        };
        if names.is_empty() {
            return Err("no input feature is selected; choose at least one".into());
        }
        let features = names
            .iter()
            .map(|n| {
                one(n).ok_or_else(|| {
                    format!("feature `{n}` is neither a column ({}) nor COL^2, COL*COL or sin(COL)", columns.join(", "))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { columns: columns.len(), features, names: names.to_vec() })
    }

    /// The feature names, as the model file records them.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The number of raw columns the map reads.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// The features of every row of `raw` (`rows × columns`).
    pub fn apply(&self, raw: &Matrix) -> Matrix {
        debug_assert_eq!(raw.cols, self.columns);
        let mut out = Matrix::zeros(raw.rows, self.features.len());
        for r in 0..raw.rows {
            let x = raw.row(r);
            for (o, f) in out.row_mut(r).iter_mut().zip(&self.features) {
                *o = match *f {
                    Feature::Column(i) => x[i],
                    Feature::Square(i) => x[i] * x[i],
                    Feature::Product(i, j) => x[i] * x[j],
                    Feature::Sin(i) => x[i].sin(),
                };
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tf_playground_features_are_computed_from_the_columns() {
        let m = FeatureMap::parse(
            &names(&["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]),
            &names(&["x1", "x2"]),
        )
        .unwrap();
        let f = m.apply(&Matrix::new(1, 2, vec![2.0, -0.5]));
        assert_eq!(f.data, vec![2.0, -0.5, 4.0, 0.25, -1.0, 2f32.sin(), (-0.5f32).sin()]);
    }

    #[test]
    fn unknown_features_are_named() {
        let e = FeatureMap::parse(&names(&["x3^2"]), &names(&["x1", "x2"])).unwrap_err();
        assert!(e.contains("`x3^2`") && e.contains("x1, x2"), "{e}");
        assert!(FeatureMap::parse(&[], &names(&["x1"])).is_err());
    }
}

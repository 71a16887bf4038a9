//! MLflow's scoring endpoint, `POST /invocations`: named raw columns (`dataframe_split`,
//! `dataframe_records`, `instances`, `inputs`, or a `text/csv` body) through the model's own
//! preprocessing (one-hot, imputation, standardization), answered as `{"predictions": [...]}`.
//!
//! A classifier answers its labels, or with `"params": {"proba": true}` (`?proba=true` for CSV)
//! one record per row with `prediction` and `p_<label>`, the columns of `mlp predict --proba`.

use crate::body;
use crate::error::{ApiError, json_response};
use crate::infer::{self, argmax, probabilities};
use crate::server::{App, lookup};
use crate::v2::respond;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::{Buf, Bytes};
use mlp::data::csv::Table;
use mlp::rows::{NamedRows, Rows, Value as Cell};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// `POST /invocations`: the one model served.
pub async fn invocations(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let names = app.registry.list();
    let name = match names.as_slice() {
        [(name, _)] => name.clone(),
        _ => {
            let served: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
            return respond(
                &app,
                "",
                Err(ApiError::bad(format!(
                    "{} models are served ({}); name one: POST /models/NAME/invocations",
                    served.len(),
                    served.join(", ")
                ))),
            );
        }
    };
    let r = score(&app, &name, query.as_deref(), &headers, body).await;
    respond(&app, &name, r)
}

/// `POST /models/{name}/invocations`.
pub async fn named_invocations(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = score(&app, &name, query.as_deref(), &headers, body).await;
    respond(&app, &name, r)
}

async fn score(
    app: &App,
    name: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let model = lookup(app, name, None)?;
    model.stats.requests.increment(1);
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != "application/json" && media != "text/csv" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content type `{content_type}` is not scored; send application/json or text/csv"),
        ));
    }
    let bytes = body::read(headers, body, app.config.max_body, app.config.read_timeout).await?;
    let (x, proba) = if media == "text/csv" {
        let proba = query.is_some_and(|q| q.split('&').any(|kv| kv == "proba=true" || kv == "proba=1"));
        (model.meta.input.transform_rows(&csv_rows(bytes)?)?, proba)
    } else {
        let (rows, proba) = json_rows(&bytes, model.encoder.columns())?;
        (model.meta.input.transform_rows(&rows)?, proba)
    };
    if proba && model.meta.classes.is_none() {
        return Err(ApiError::bad("proba: the model is a regression; it predicts values, not classes"));
    }
    let rows = x.rows;
    let out = if rows == 0 {
        mlp::Matrix::zeros(0, model.outputs)
    } else {
        infer::predict(&model, x, app.config.request_timeout).await?
    };
    let predictions: Vec<Value> = (0..out.rows)
        .map(|r| {
            let row = out.row(r);
            match &model.meta.classes {
                Some(labels) => {
                    let p = probabilities(row);
                    let label = Value::from(labels.get(argmax(&p)).map_or("?", String::as_str));
                    if !proba {
                        return label;
                    }
                    let mut rec = Map::new();
                    rec.insert("prediction".into(), label);
                    for (j, l) in labels.iter().enumerate() {
                        rec.insert(format!("p_{l}"), number(p.get(j).copied().unwrap_or(0.0)));
                    }
                    Value::Object(rec)
                }
                None if row.len() == 1 => number(row[0]),
                None => Value::Array(row.iter().map(|&v| number(v)).collect()),
            }
        })
        .collect();
    Ok(json_response(StatusCode::OK, json!({ "predictions": predictions }).to_string()))
}

fn csv_rows(bytes: Bytes) -> Result<Table, ApiError> {
    let table = Table::from_reader(bytes.reader(), "request")?;
    table.check_f32_range()?;
    Ok(table)
}

/// The rows of a JSON body and whether probabilities were asked for.
fn json_rows(bytes: &[u8], raw_columns: &[String]) -> Result<(NamedRows, bool), ApiError> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::bad(format!("the request body is not valid JSON: {e}")))?;
    let Value::Object(mut doc) = doc else {
        return Err(ApiError::bad(FORMATS));
    };
    let proba = match doc.remove("params") {
        None => false,
        Some(Value::Object(p)) => match p.get("proba") {
            None | Some(Value::Bool(false)) => false,
            Some(Value::Bool(true)) => true,
            Some(v) => return Err(ApiError::bad(format!("params.proba is {v}; give true or false"))),
        },
        Some(v) => return Err(ApiError::bad(format!("params is {v}; give an object such as {{\"proba\": true}}"))),
    };
    let keys: Vec<String> = doc.keys().cloned().collect();
    let [key] = keys.as_slice() else {
        return Err(ApiError::bad(format!("{FORMATS}; the body has {}", describe_keys(&keys))));
    };
    let payload = doc.remove(key.as_str()).unwrap_or(Value::Null);
    let rows = match key.as_str() {
        "dataframe_split" => split(payload)?,
        "dataframe_records" => records(payload, key)?,
        "instances" | "inputs" => match payload {
            Value::Object(cols) => columnar(cols, key)?,
            Value::Array(items) if items.iter().all(Value::is_array) => lists(items, raw_columns, key)?,
            other => records(other, key)?,
        },
        _ => return Err(ApiError::bad(format!("{FORMATS}; the body has {}", describe_keys(&keys)))),
    };
    Ok((rows, proba))
}

const FORMATS: &str = "the body must be a JSON object with exactly one of dataframe_split, dataframe_records, \
                       instances or inputs (and optionally params)";

fn describe_keys(keys: &[String]) -> String {
    if keys.is_empty() { "none".into() } else { keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ") }
}

fn cell(v: Value, row: usize, column: &str) -> Result<Cell, ApiError> {
    match v {
        Value::Null => Ok(Cell::Missing),
        Value::String(s) => Ok(Cell::Text(s)),
        Value::Number(n) => Ok(Cell::Number(n.as_f64().unwrap_or(f64::NAN))),
        other => {
            Err(ApiError::bad(format!("row {}, column `{column}`: {other} is not a number, a string or null", row + 1)))
        }
    }
}

fn named(columns: Vec<String>, rows: Vec<Vec<Cell>>) -> Result<NamedRows, ApiError> {
    Ok(NamedRows::new("request", columns, rows)?)
}

/// `{"columns": [...], "data": [[...], ...]}` (pandas' `split` orientation; `index` is ignored).
fn split(payload: Value) -> Result<NamedRows, ApiError> {
    let Value::Object(mut obj) = payload else {
        return Err(ApiError::bad("dataframe_split must be an object with `columns` and `data`"));
    };
    let columns: Vec<String> = match obj.remove("columns") {
        Some(Value::Array(c)) => c
            .into_iter()
            .map(|c| match c {
                Value::String(s) => Ok(s),
                other => Err(ApiError::bad(format!("dataframe_split.columns holds {other}, not a column name"))),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(ApiError::bad("dataframe_split needs `columns`, a list of column names")),
    };
    let Some(Value::Array(data)) = obj.remove("data") else {
        return Err(ApiError::bad("dataframe_split needs `data`, a list of rows"));
    };
    let mut rows = Vec::with_capacity(data.len());
    for (r, row) in data.into_iter().enumerate() {
        let Value::Array(cells) = row else {
            return Err(ApiError::bad(format!("dataframe_split.data[{r}] is not a list of cells")));
        };
        if cells.len() != columns.len() {
            return Err(ApiError::bad(format!(
                "dataframe_split.data[{r}] has {} cells but there are {} columns ({})",
                cells.len(),
                columns.len(),
                columns.join(", ")
            )));
        }
        rows.push(cells.into_iter().zip(&columns).map(|(v, c)| cell(v, r, c)).collect::<Result<_, _>>()?);
    }
    named(columns, rows)
}

/// `[{"column": value, ...}, ...]`; a column absent from a record is missing there.
fn records(payload: Value, key: &str) -> Result<NamedRows, ApiError> {
    let Value::Array(items) = payload else {
        return Err(ApiError::bad(format!("{key} must be a list of records ({{\"column\": value}})")));
    };
    let mut columns: Vec<String> = Vec::new();
    let mut objects = Vec::with_capacity(items.len());
    for (r, item) in items.into_iter().enumerate() {
        let Value::Object(obj) = item else {
            return Err(ApiError::bad(format!("{key}[{r}] is not a record ({{\"column\": value}})")));
        };
        for k in obj.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
        objects.push(obj);
    }
    let mut rows = Vec::with_capacity(objects.len());
    for (r, mut obj) in objects.into_iter().enumerate() {
        rows.push(
            columns
                .iter()
                .map(|c| obj.remove(c).map_or(Ok(Cell::Missing), |v| cell(v, r, c)))
                .collect::<Result<_, _>>()?,
        );
    }
    named(columns, rows)
}

/// `{"column": [values...], ...}`: one list per column, all the same length.
fn columnar(cols: Map<String, Value>, key: &str) -> Result<NamedRows, ApiError> {
    let mut columns = Vec::with_capacity(cols.len());
    let mut lists = Vec::with_capacity(cols.len());
    for (c, v) in cols {
        let Value::Array(values) = v else {
            return Err(ApiError::bad(format!("{key}.{c} must be a list of values, one per row")));
        };
        columns.push(c);
        lists.push(values);
    }
    let n = lists.first().map_or(0, Vec::len);
    if let Some(i) = lists.iter().position(|l| l.len() != n) {
        return Err(ApiError::bad(format!(
            "{key}: column `{}` has {} values but `{}` has {n}",
            columns[i],
            lists[i].len(),
            columns[0]
        )));
    }
    let mut rows: Vec<Vec<Cell>> = (0..n).map(|_| Vec::with_capacity(columns.len())).collect();
    for (c, list) in columns.iter().zip(lists) {
        for (r, v) in list.into_iter().enumerate() {
            rows[r].push(cell(v, r, c)?);
        }
    }
    named(columns, rows)
}

/// `[[v, ...], ...]`: rows of the model's raw input columns, in training order.
fn lists(items: Vec<Value>, raw_columns: &[String], key: &str) -> Result<NamedRows, ApiError> {
    let mut rows = Vec::with_capacity(items.len());
    for (r, item) in items.into_iter().enumerate() {
        let Value::Array(cells) = item else { unreachable!("checked to be lists") };
        if cells.len() != raw_columns.len() {
            return Err(ApiError::bad(format!(
                "{key}[{r}] has {} values but the model takes {} columns ({})",
                cells.len(),
                raw_columns.len(),
                raw_columns.join(", ")
            )));
        }
        rows.push(cells.into_iter().zip(raw_columns).map(|(v, c)| cell(v, r, c)).collect::<Result<_, _>>()?);
    }
    let rows = named(raw_columns.to_vec(), rows)?;
    debug_assert_eq!(rows.columns().len(), raw_columns.len());
    Ok(rows)
}

/// An f32 as JSON with its own shortest digits (`0.1`, not the f64 widening `0.10000000149011612`).
fn number(v: f32) -> Value {
    v.to_string().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
}

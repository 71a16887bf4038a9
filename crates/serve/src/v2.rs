//! The Open Inference Protocol (KServe V2) over HTTP: health, server and model metadata, model
//! readiness and inference, with JSON tensors, the binary tensor data extension
//! (`Inference-Header-Content-Length`, what `tritonclient.http` sends by default) and the
//! classification extension (top-k `score:index:label`).
//!
//! A model has one input, `input`, `[-1, n]` numbers: the raw values of its input columns in
//! training order, put through its fitted scaling; and one output, `output`, `[-1, m]` FP32.

use crate::body;
use crate::error::{ApiError, json_response};
use crate::infer::{self, argmax, probabilities};
use crate::models::{INPUT, Model, OUTPUT};
use crate::server::{App, lookup};
use crate::stats::ModelStats;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mlp::Matrix;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

const HEADER_LENGTH: &str = "inference-header-content-length";

/// `GET /v2`.
pub async fn server_metadata() -> Response {
    json_response(
        StatusCode::OK,
        json!({
            "name": "mlp",
            "version": env!("CARGO_PKG_VERSION"),
            "extensions": ["binary_tensor_data", "classification"],
        })
        .to_string(),
    )
}

/// `GET /v2/health/live`: 200 with `{"live": true}` (tritonclient reads the status, kserve the body).
pub async fn live() -> Response {
    json_response(StatusCode::OK, r#"{"live":true}"#)
}

/// `GET /v2/health/ready`: 503 while shutting down.
pub async fn ready(State(app): State<Arc<App>>) -> Response {
    if app.draining() {
        json_response(StatusCode::SERVICE_UNAVAILABLE, r#"{"ready":false}"#)
    } else {
        json_response(StatusCode::OK, r#"{"ready":true}"#)
    }
}

/// `GET /v2/models/{name}`.
pub async fn metadata(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    respond(&app, &name, model_metadata(&app, &name, None))
}

/// `GET /v2/models/{name}/versions/{version}`.
pub async fn version_metadata(State(app): State<Arc<App>>, Path((name, v)): Path<(String, String)>) -> Response {
    respond(&app, &name, model_metadata(&app, &name, Some(&v)))
}

/// `GET /v2/models/{name}/ready`.
pub async fn model_ready(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    respond(&app, &name, ready_answer(&app, &name, None))
}

/// `GET /v2/models/{name}/versions/{version}/ready`.
pub async fn version_ready(State(app): State<Arc<App>>, Path((name, v)): Path<(String, String)>) -> Response {
    respond(&app, &name, ready_answer(&app, &name, Some(&v)))
}

/// `POST /v2/models/{name}/infer`.
pub async fn infer(State(app): State<Arc<App>>, Path(name): Path<String>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let r = infer_request(&app, &name, None, &parts.headers, body).await;
    respond(&app, &name, r)
}

/// `POST /v2/models/{name}/versions/{version}/infer`.
pub async fn version_infer(
    State(app): State<Arc<App>>,
    Path((name, v)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let r = infer_request(&app, &name, Some(&v), &parts.headers, body).await;
    respond(&app, &name, r)
}

/// The answer, counting a failure against the model named (when it is served).
/// A name the client made up is not used as a label (that would let clients grow the metrics).
pub fn respond(app: &App, name: &str, r: Result<Response, ApiError>) -> Response {
    match r {
        Ok(resp) => resp,
        Err(e) => {
            let label = if app.registry.get(name, None).is_some() { name } else { "" };
            ModelStats::failure(label, e.status.as_u16());
            e.into_response()
        }
    }
}

fn model_metadata(app: &App, name: &str, version: Option<&str>) -> Result<Response, ApiError> {
    let model = lookup(app, name, version)?;
    let versions: Vec<String> = app
        .registry
        .list()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.iter().map(u64::to_string).collect())
        .unwrap_or_default();
    let body = json!({
        "name": model.name,
        "versions": versions,
        "platform": "mlp",
        "inputs": [{"name": INPUT, "datatype": "FP32", "shape": [-1, model.encoder.width()]}],
        "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": [-1, model.outputs]}],
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

fn ready_answer(app: &App, name: &str, version: Option<&str>) -> Result<Response, ApiError> {
    let model = lookup(app, name, version)?;
    let ready = !app.draining();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok(json_response(status, json!({"name": model.name, "ready": ready}).to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<serde_json::Map<String, Value>>,
    inputs: Vec<InputTensor>,
    #[serde(default)]
    outputs: Option<Vec<OutputRequest>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputTensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    data: Option<Flat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputRequest {
    name: String,
    #[serde(default)]
    parameters: Option<serde_json::Map<String, Value>>,
}

/// A tensor's `data`, flat or nested to any depth, read straight into FP32 (booleans count 0 and
/// 1; a string is remembered, and refused once the datatype has been checked, so a BYTES tensor
/// hears that its datatype is the problem). A number beyond FP32's range becomes infinite and is
/// refused as not finite.
#[derive(Default)]
struct Flat {
    values: Vec<f32>,
    text: bool,
}

impl<'de> Deserialize<'de> for Flat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut flat = Flat::default();
        d.deserialize_any(FlatVisitor(&mut flat))?;
        Ok(flat)
    }
}

struct FlatVisitor<'a>(&'a mut Flat);

impl<'de> Visitor<'de> for FlatVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("numbers, in an array nested to any depth")
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.values.push(v as f32);
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.values.push(v as f32);
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.values.push(v as f32);
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.values.push(f32::from(u8::from(v)));
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.0.text = true;
        self.0.values.push(f32::NAN);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let Some(n) = seq.size_hint() {
            self.0.values.reserve(n);
        }
        while seq.next_element_seed(FlatSeed(self.0))?.is_some() {}
        Ok(())
    }
}

struct FlatSeed<'a>(&'a mut Flat);

impl<'de> DeserializeSeed<'de> for FlatSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(FlatVisitor(self.0))
    }
}

/// Bytes per element of the numeric datatypes accepted.
fn element_size(datatype: &str) -> Option<usize> {
    Some(match datatype {
        "BOOL" | "INT8" | "UINT8" => 1,
        "INT16" | "UINT16" => 2,
        "FP32" | "INT32" | "UINT32" => 4,
        "FP64" | "INT64" | "UINT64" => 8,
        _ => return None,
    })
}

/// Little-endian elements of `datatype` as f32.
fn decode(datatype: &str, raw: &[u8]) -> Vec<f32> {
    macro_rules! each {
        ($t:ty) => {
            raw.chunks_exact(size_of::<$t>()).map(|c| <$t>::from_le_bytes(c.try_into().unwrap()) as f32).collect()
        };
    }
    match datatype {
        "BOOL" | "UINT8" => raw.iter().map(|&b| f32::from(b)).collect(),
        "INT8" => each!(i8),
        "INT16" => each!(i16),
        "UINT16" => each!(u16),
        "FP32" => each!(f32),
        "INT32" => each!(i32),
        "UINT32" => each!(u32),
        "FP64" => each!(f64),
        "INT64" => each!(i64),
        _ => each!(u64),
    }
}

fn param_bool(p: &Option<serde_json::Map<String, Value>>, key: &str) -> bool {
    p.as_ref().and_then(|p| p.get(key)).and_then(Value::as_bool).unwrap_or(false)
}

/// What the client asked of the output.
struct Wanted {
    binary: bool,
    /// Top-k classes instead of the raw values.
    classes: Option<usize>,
}

async fn infer_request(
    app: &App,
    name: &str,
    version: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let model = lookup(app, name, version)?;
    model.stats.requests.increment(1);
    let bytes = body::read(headers, body, app.config.max_body, app.config.read_timeout).await?;
    let header_len = match headers.get(HEADER_LENGTH) {
        None => bytes.len(),
        Some(v) => {
            v.to_str().ok().and_then(|s| s.trim().parse::<usize>().ok()).filter(|&n| n <= bytes.len()).ok_or_else(
                || {
                    ApiError::bad(format!(
                        "Inference-Header-Content-Length is {v:?}, not a length within the {} bytes of the body",
                        bytes.len()
                    ))
                },
            )?
        }
    };
    let (json_part, binary) = bytes.split_at(header_len);
    let mut req: InferRequest = serde_json::from_slice(json_part)
        .map_err(|e| ApiError::bad(format!("the request is not a valid inference request: {e}")))?;
    let width = model.encoder.width();
    let [input] = req.inputs.as_mut_slice() else {
        return Err(ApiError::bad(format!(
            "the request has {} inputs; the model takes one, `{INPUT}`, FP32 of shape [-1, {width}]",
            req.inputs.len()
        )));
    };
    let (rows, values) = input_values(input, binary, width)?;
    let wanted = wanted_output(&req, &model)?;
    let x = Matrix::new(rows, model.encoder.features(), model.encoder.encode(values)?);
    let out = infer::predict(&model, x, app.config.request_timeout).await?;
    Ok(answer(&model, req.id, &out, &wanted))
}

/// The rows and raw values of the request's one input: its JSON `data`, or its share of the
/// binary bytes after the JSON header (which it must use up).
fn input_values(input: &mut InputTensor, binary: &[u8], width: usize) -> Result<(usize, Vec<f32>), ApiError> {
    if input.name != INPUT {
        return Err(ApiError::bad(format!(
            "unknown input `{}`; the model takes one input, `{INPUT}`, FP32 of shape [-1, {width}]",
            input.name
        )));
    }
    let (shape, datatype) = (&input.shape, &input.datatype);
    let Some(size) = element_size(datatype) else {
        return Err(ApiError::bad(format!(
            "input `{INPUT}` has datatype {datatype}; the model takes numbers: FP32 (or FP64, INT8-64, UINT8-64, BOOL)"
        )));
    };
    let rows = match shape.as_slice() {
        [n, w] if *n >= 1 && *w == width as i64 => *n as usize,
        _ => {
            return Err(ApiError::bad(format!(
                "input `{INPUT}` has shape {shape:?}; the model takes [-1, {width}] (rows of {width} values, at least one row)"
            )));
        }
    };
    let count = rows.checked_mul(width).ok_or_else(|| ApiError::bad("the input shape is too large"))?;
    let binary_size = input.parameters.as_ref().and_then(|p| p.get("binary_data_size"));
    let mut rest = binary;
    let values: Vec<f32> = match (binary_size, input.data.take()) {
        (Some(n), None) => {
            let n = n.as_u64().map(|n| n as usize).filter(|&n| n <= binary.len()).ok_or_else(|| {
                ApiError::bad(format!(
                    "binary_data_size {n} of input `{INPUT}` is not a length within the {} bytes after the JSON header",
                    binary.len()
                ))
            })?;
            if n != count * size {
                return Err(ApiError::bad(format!(
                    "input `{INPUT}` has {n} bytes of binary data, but shape {shape:?} of {datatype} needs {}",
                    count * size
                )));
            }
            let (raw, tail) = binary.split_at(n);
            rest = tail;
            decode(datatype, raw)
        }
        (None, Some(Flat { values, text })) => {
            if values.len() != count {
                return Err(ApiError::bad(format!(
                    "input `{INPUT}` has {} values, but shape {shape:?} needs {count}",
                    values.len()
                )));
            }
            if text {
                return Err(ApiError::bad(format!("input `{INPUT}` holds text; datatype {datatype} takes numbers")));
            }
            values
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(format!("input `{INPUT}` has both `data` and binary_data_size; give one")));
        }
        (None, None) => return Err(ApiError::bad(format!("input `{INPUT}` has no `data`"))),
    };
    if !rest.is_empty() {
        return Err(ApiError::bad(format!(
            "{} bytes after the JSON header belong to no input (check binary_data_size)",
            rest.len()
        )));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(ApiError::bad(format!(
            "input `{INPUT}` row {}, column {}: {} is not a finite number in FP32's range",
            i / width + 1,
            i % width + 1,
            values[i]
        )));
    }
    Ok((rows, values))
}

fn wanted_output(req: &InferRequest, model: &Model) -> Result<Wanted, ApiError> {
    let mut wanted = Wanted { binary: param_bool(&req.parameters, "binary_data_output"), classes: None };
    let Some(outputs) = &req.outputs else { return Ok(wanted) };
    let [out] = outputs.as_slice() else {
        return Err(ApiError::bad(format!(
            "the request asks for {} outputs; the model has one, `{OUTPUT}`",
            outputs.len()
        )));
    };
    if out.name != OUTPUT {
        return Err(ApiError::bad(format!("unknown output `{}`; the model has one output, `{OUTPUT}`", out.name)));
    }
    wanted.binary = param_bool(&out.parameters, "binary_data");
    if let Some(k) = out.parameters.as_ref().and_then(|p| p.get("classification")) {
        let n = model.meta.classes.as_ref().map_or(model.outputs, |c| c.len()).max(model.outputs);
        match k.as_u64() {
            Some(k) if k >= 1 && k as usize <= n => wanted.classes = Some(k as usize),
            _ => {
                return Err(ApiError::bad(format!("classification {k} is not a number of classes from 1 to {n}")));
            }
        }
    }
    Ok(wanted)
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutData<'a> {
    Numbers(&'a [f32]),
    Strings(&'a [String]),
}

#[derive(Serialize)]
struct OutTensor<'a> {
    name: &'static str,
    datatype: &'static str,
    shape: [usize; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<OutData<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Value>,
}

#[derive(Serialize)]
struct InferResponse<'a> {
    model_name: &'a str,
    model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    outputs: [OutTensor<'a>; 1],
}

/// The response: JSON, or the JSON header followed by the output's bytes.
fn answer(model: &Model, id: Option<String>, out: &Matrix, wanted: &Wanted) -> Response {
    let mut raw: Vec<u8> = Vec::new();
    let mut strings = Vec::new();
    let (datatype, cols) = match wanted.classes {
        None => {
            if wanted.binary {
                raw.reserve(out.data.len() * 4);
                for v in &out.data {
                    raw.extend_from_slice(&v.to_le_bytes());
                }
            }
            ("FP32", out.cols)
        }
        Some(k) => {
            let labels = model.meta.classes.as_deref();
            strings.reserve(out.rows * k);
            for r in 0..out.rows {
                let p = probabilities(out.row(r));
                let mut order: Vec<usize> = (0..p.len()).collect();
                order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
                debug_assert_eq!(argmax(&p), order[0]);
                for &j in order.iter().take(k) {
                    strings.push(match labels.and_then(|l| l.get(j)) {
                        Some(label) => format!("{}:{j}:{label}", p[j]),
                        None => format!("{}:{j}", p[j]),
                    });
                }
            }
            if wanted.binary {
                for s in &strings {
                    raw.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    raw.extend_from_slice(s.as_bytes());
                }
            }
            ("BYTES", k)
        }
    };
    let data = match (wanted.binary, wanted.classes) {
        (true, _) => None,
        (false, None) => Some(OutData::Numbers(&out.data)),
        (false, Some(_)) => Some(OutData::Strings(&strings)),
    };
    let parameters = wanted.binary.then(|| json!({"binary_data_size": raw.len()}));
    let head = InferResponse {
        model_name: &model.name,
        model_version: model.version.to_string(),
        id,
        outputs: [OutTensor { name: OUTPUT, datatype, shape: [out.rows, cols], data, parameters }],
    };
    // Sized once for the usual answer (a short header, then at most 16 bytes a number), so that
    // writing it does not grow the buffer step by step.
    let mut body = Vec::with_capacity(160 + raw.len() + 16 * out.data.len());
    if serde_json::to_writer(&mut body, &head).is_err() {
        body.clear();
    }
    if !wanted.binary {
        return json_response(StatusCode::OK, body);
    }
    let head_len = body.len();
    body.extend_from_slice(&raw);
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(HEADER_LENGTH, HeaderValue::from(head_len));
    resp
}

//! `mlp serve` end to end: the real binary on a free loopback port, called over plain HTTP (and by
//! Python's `tritonclient[http]` where `$MLP_TEST_PYTHON` has it), every answer compared with
//! `mlp predict` on the same rows; bad requests, hot reload, signals, limits and a 60 s soak.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A scratch directory, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "mlp-serve-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn mlp(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_mlp")).current_dir(&self.0).args(args).output().unwrap();
        assert!(out.status.success(), "mlp {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A CSV with a text column (one-hot), two numeric columns and three classes.
fn mixed_csv(rows: usize) -> String {
    let mut s = String::from("color,size,weight,kind\n");
    for i in 0..rows {
        let color = ["red", "green", "blue"][i % 3];
        let size = (i * 37 % 101) as f64 / 10.0;
        let weight = ((i * 53 % 89) as f64 - 40.0) / 7.0;
        let kind = ["a", "b", "c"][(i / 3 + i % 2) % 3];
        s.push_str(&format!("{color},{size},{weight},{kind}\n"));
    }
    s
}

/// Numeric columns only (V2 tensors carry them), two classes.
fn numeric_csv(rows: usize) -> String {
    let mut s = String::from("x1,x2,x3,y\n");
    for i in 0..rows {
        let (a, b, c) = ((i * 37 % 101) as f64 / 9.0, (i * 53 % 89) as f64 - 40.0, (i % 7) as f64 * 0.25);
        s.push_str(&format!("{a},{b},{c},{}\n", (i / 2) % 2));
    }
    s
}

/// A directory with `NAME.safetensors` trained on `csv` (saved as `NAME.csv`).
fn train(d: &Dir, name: &str, csv: &str, layers: &str) {
    std::fs::write(d.join(&format!("{name}.csv")), csv).unwrap();
    d.mlp(&[
        "train",
        "--data",
        &format!("{name}.csv"),
        "--layers",
        layers,
        "--epochs",
        "3",
        "--out",
        &format!("{name}.safetensors"),
        "-q",
    ]);
}

/// `mlp predict --proba` on the same rows: the label and the probabilities of each row.
fn predict(d: &Dir, model: &str, csv: &str) -> Vec<(String, Vec<f64>)> {
    let out = d.mlp(&["predict", model, "--input", csv, "--proba"]);
    out.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1..].iter().map(|v| v.parse().unwrap()).collect())
        })
        .collect()
}

/// A running `mlp serve`, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(dir: &Path, args: &[&str]) -> Server {
        Self::try_start(dir, args).unwrap_or_else(|log| panic!("mlp serve did not start: {log}"))
    }

    /// Starts it and waits for `listening on`; `Err` holds its stderr when it exits instead.
    fn try_start(dir: &Path, args: &[&str]) -> Result<Server, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mlp"))
            .current_dir(dir)
            .arg("serve")
            .args(args)
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut addr = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            log.lock().unwrap().push(line.clone());
            if let Some(rest) = line.split("listening on http://").nth(1) {
                addr = Some(rest.split_whitespace().next().unwrap().parse().unwrap());
                break;
            }
        }
        let Some(addr) = addr else {
            let _ = child.wait();
            return Err(log.lock().unwrap().join("\n"));
        };
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Ok(Server { child, addr, log })
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn get(&self, path: &str) -> Reply {
        http(self.addr, "GET", path, &[], b"")
    }

    fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Reply {
        http(self.addr, "POST", path, &[("Content-Type", content_type)], body)
    }

    fn json(&self, path: &str, body: &str) -> Reply {
        self.post(path, "application/json", body.as_bytes())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, headers (lower-case names), body.
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Asserts the status and a JSON `{"error": ...}` holding every needle.
    fn fails(&self, status: u16, needles: &[&str]) {
        assert_eq!(self.status, status, "{}", self.text());
        let msg =
            self.value()["error"].as_str().unwrap_or_else(|| panic!("no error message: {}", self.text())).to_string();
        for n in needles {
            assert!(msg.contains(n), "`{n}` not in {msg:?}");
        }
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), the whole response read.
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut req = req.into_bytes();
    req.extend_from_slice(body);
    round_trip(addr, &req)
}

/// A POST whose head declares `len` bytes of body, none of them sent: the reply to the head alone.
fn head_only(addr: SocketAddr, path: &str, content_type: &str, len: usize) -> Reply {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\r\n"
    );
    round_trip(addr, head.as_bytes())
}

/// `request`'s bytes on a fresh connection, and the whole reply the server sends before closing.
fn round_trip(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(request).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_reply(&raw)
}

/// A keep-alive connection: requests one after another, each response read by its Content-Length.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Conn { stream: BufReader::new(s) }
    }

    /// One request; its status, headers (lower-case names) and body.
    fn request(
        &mut self,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, HashMap<String, String>, Vec<u8>) {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        // One write: a second small one would wait for the delayed ACK of the first (Nagle).
        let mut req = head.into_bytes();
        req.extend_from_slice(body);
        self.stream.get_mut().write_all(&req).unwrap();
        let mut status = 0;
        let mut headers = HashMap::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if status == 0 {
                status = l.split_whitespace().nth(1).unwrap().parse().unwrap();
            } else if let Some((k, v)) = l.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let length = headers.get("content-length").map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).unwrap();
        (status, headers, body)
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no header in {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply { status, headers, body: raw[end + 4..].to_vec() }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6
}

/// Rows of a CSV (header first) as JSON cells: numbers where they parse.
fn csv_cells(csv: &str) -> (Vec<String>, Vec<Vec<serde_json::Value>>) {
    let mut lines = csv.lines();
    let cols: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let rows = lines
        .map(|l| {
            l.split(',')
                .map(|c| c.parse::<f64>().map_or_else(|_| serde_json::json!(c), |v| serde_json::json!(v)))
                .collect()
        })
        .collect();
    (cols, rows)
}

#[test]
fn invocations_in_every_mlflow_format_match_mlp_predict() {
    let d = Dir::new("mlflow");
    train(&d, "mixed", &mixed_csv(90), "8:relu,3:softmax");
    let rows_csv = mixed_csv(30);
    std::fs::write(d.join("rows.csv"), &rows_csv).unwrap();
    let want = predict(&d, "mixed.safetensors", "rows.csv");
    let s = Server::start(&d.0, &["mixed.safetensors"]);

    // text/csv, the target column present (ignored), labels then probabilities.
    let r = s.post("/invocations", "text/csv", rows_csv.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let labels: Vec<String> =
        r.value()["predictions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(labels, want.iter().map(|w| w.0.clone()).collect::<Vec<_>>());
    let check_proba = |v: &serde_json::Value, what: &str| {
        let preds = v["predictions"].as_array().unwrap_or_else(|| panic!("{what}: {v}"));
        assert_eq!(preds.len(), want.len(), "{what}");
        for (p, (label, probs)) in preds.iter().zip(&want) {
            assert_eq!(p["prediction"].as_str(), Some(label.as_str()), "{what}");
            for (j, c) in ["a", "b", "c"].iter().enumerate() {
                let got = p[format!("p_{c}")].as_f64().unwrap();
                assert!(close(got, probs[j]), "{what}: p_{c} {got} vs {}", probs[j]);
            }
        }
    };
    let r = s.post("/invocations?proba=true", "text/csv; charset=utf-8", rows_csv.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    check_proba(&r.value(), "csv");

    // The JSON formats, without the target, columns in another order where the format names them.
    let (cols, cells) = csv_cells(&rows_csv);
    let features: Vec<&str> = cols[..3].iter().map(String::as_str).collect();
    let order = [2usize, 0, 1];
    let split = serde_json::json!({
        "dataframe_split": {
            "columns": order.iter().map(|&j| features[j]).collect::<Vec<_>>(),
            "data": cells.iter().map(|r| order.iter().map(|&j| r[j].clone()).collect::<Vec<_>>()).collect::<Vec<_>>(),
        },
        "params": {"proba": true},
    });
    let records: Vec<serde_json::Value> = cells
        .iter()
        .map(|r| serde_json::Value::Object(features.iter().zip(r).map(|(c, v)| (c.to_string(), v.clone())).collect()))
        .collect();
    let columnar: serde_json::Map<String, serde_json::Value> = features
        .iter()
        .enumerate()
        .map(|(j, c)| (c.to_string(), serde_json::json!(cells.iter().map(|r| r[j].clone()).collect::<Vec<_>>())))
        .collect();
    let lists: Vec<Vec<serde_json::Value>> = cells.iter().map(|r| r[..3].to_vec()).collect();
    let bodies = [
        ("dataframe_split", split),
        ("dataframe_records", serde_json::json!({"dataframe_records": records, "params": {"proba": true}})),
        ("instances records", serde_json::json!({"instances": records, "params": {"proba": true}})),
        ("instances lists", serde_json::json!({"instances": lists, "params": {"proba": true}})),
        ("inputs columnar", serde_json::json!({"inputs": columnar, "params": {"proba": true}})),
    ];
    for (what, body) in bodies {
        let r = s.json("/invocations", &body.to_string());
        assert_eq!(r.status, 200, "{what}: {}", r.text());
        check_proba(&r.value(), what);
        let r = s.json("/models/mixed/invocations", &body.to_string());
        check_proba(&r.value(), what);
    }
    let metrics = s.get("/metrics").text();
    assert!(metrics.contains("mlp_requests_total{model=\"mixed\"} 12"), "{metrics}");
    assert!(metrics.contains("mlp_compute_seconds_bucket{model=\"mixed\""), "{metrics}");
}

/// A V2 inference request for `rows` in JSON (`datatype` FP32 or FP64).
fn v2_json(rows: &[Vec<f64>], datatype: &str, outputs: &str) -> String {
    let data: Vec<f64> = rows.iter().flatten().copied().collect();
    format!(
        r#"{{"id":"q1","inputs":[{{"name":"input","shape":[{},{}],"datatype":"{datatype}","data":{}}}]{outputs}}}"#,
        rows.len(),
        rows[0].len(),
        serde_json::json!(data)
    )
}

#[test]
fn v2_json_and_binary_tensors_match_mlp_predict() {
    let d = Dir::new("v2");
    train(&d, "num", &numeric_csv(80), "6:tanh,2:softmax");
    let rows_csv = numeric_csv(25);
    std::fs::write(d.join("rows.csv"), &rows_csv).unwrap();
    let want = predict(&d, "num.safetensors", "rows.csv");
    let (_, cells) = csv_cells(&rows_csv);
    let rows: Vec<Vec<f64>> = cells.iter().map(|r| r[..3].iter().map(|v| v.as_f64().unwrap()).collect()).collect();
    let s = Server::start(&d.0, &[d.0.to_str().unwrap()]);
    assert_eq!(s.get("/v2/health/live").value()["live"], true);
    assert_eq!(s.get("/v2/health/ready").value()["ready"], true);
    assert_eq!(s.get("/v2/models/num/ready").status, 200);
    assert_eq!(s.get("/v2/models/num/versions/1/ready").status, 200);
    let meta = s.get("/v2/models/num").value();
    assert_eq!(meta["inputs"][0]["shape"], serde_json::json!([-1, 3]), "{meta}");
    assert_eq!(meta["outputs"][0]["shape"], serde_json::json!([-1, 2]), "{meta}");
    assert_eq!(s.get("/v2").value()["extensions"][0], "binary_tensor_data");

    let check = |values: &[f64], what: &str| {
        assert_eq!(values.len(), want.len() * 2, "{what}");
        for (r, (_, probs)) in want.iter().enumerate() {
            for j in 0..2 {
                assert!(close(values[r * 2 + j], probs[j]), "{what} row {r}: {} vs {}", values[r * 2 + j], probs[j]);
            }
        }
    };
    for dt in ["FP32", "FP64"] {
        let r = s.json("/v2/models/num/infer", &v2_json(&rows, dt, ""));
        let v = r.value();
        assert_eq!(v["id"], "q1");
        assert_eq!(v["model_version"], "1");
        assert_eq!(v["outputs"][0]["shape"], serde_json::json!([25, 2]));
        let got: Vec<f64> = v["outputs"][0]["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        check(&got, dt);
    }
    // Classification: top-2 "score:index:label", best first.
    let r = s.json(
        "/v2/models/num/versions/1/infer",
        &v2_json(&rows, "FP32", r#","outputs":[{"name":"output","parameters":{"classification":2}}]"#),
    );
    let v = r.value();
    assert_eq!(v["outputs"][0]["datatype"], "BYTES", "{v}");
    let strings = v["outputs"][0]["data"].as_array().unwrap();
    for (r, (label, probs)) in want.iter().enumerate() {
        let best: Vec<&str> = strings[r * 2].as_str().unwrap().split(':').collect();
        assert_eq!(best[2], label);
        assert!(close(best[0].parse().unwrap(), probs[best[1].parse::<usize>().unwrap()]));
    }
    // Binary in and out: FP32 little-endian after the JSON header.
    let head = format!(
        r#"{{"inputs":[{{"name":"input","shape":[{},3],"datatype":"FP32","parameters":{{"binary_data_size":{}}}}}],"outputs":[{{"name":"output","parameters":{{"binary_data":true}}}}]}}"#,
        rows.len(),
        rows.len() * 12
    );
    let mut body = head.clone().into_bytes();
    for v in rows.iter().flatten() {
        body.extend_from_slice(&(*v as f32).to_le_bytes());
    }
    let len = head.len().to_string();
    let r = http(s.addr, "POST", "/v2/models/num/infer", &[("Inference-Header-Content-Length", &len)], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let hl: usize = r.headers["inference-header-content-length"].parse().unwrap();
    let head: serde_json::Value = serde_json::from_slice(&r.body[..hl]).unwrap();
    assert_eq!(head["outputs"][0]["parameters"]["binary_data_size"], 25 * 2 * 4);
    let got: Vec<f64> = r.body[hl..].chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect();
    check(&got, "binary");
    tritonclient(&s, &d, &rows, &want);
}

/// Python's tritonclient[http], unmodified: binary and JSON inputs, metadata, readiness.
fn tritonclient(s: &Server, d: &Dir, rows: &[Vec<f64>], want: &[(String, Vec<f64>)]) {
    let Some(python) = std::env::var_os("MLP_TEST_PYTHON") else {
        assert!(std::env::var_os("MLP_REQUIRE_ALL").is_none(), "MLP_REQUIRE_ALL is set but MLP_TEST_PYTHON is not");
        eprintln!("skipped: the tritonclient check (MLP_TEST_PYTHON is not set; scripts/test sets it)");
        return;
    };
    let rows_json = serde_json::json!(rows).to_string();
    let want_json = serde_json::json!(want.iter().map(|w| &w.1).collect::<Vec<_>>()).to_string();
    let labels_json = serde_json::json!(want.iter().map(|w| &w.0).collect::<Vec<_>>()).to_string();
    std::fs::write(d.join("rows.json"), rows_json).unwrap();
    std::fs::write(d.join("want.json"), want_json).unwrap();
    std::fs::write(d.join("labels.json"), labels_json).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../serve/tests/clients/triton.py");
    let out = Command::new(python).arg(script).arg(s.addr.to_string()).arg("num").arg(&d.0).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "tritonclient check failed:\n{text}");
    assert!(text.contains("tritonclient: ok"), "{text}");
}

#[test]
fn bad_requests_get_their_status_and_say_what_to_change() {
    let d = Dir::new("bad");
    train(&d, "num", &numeric_csv(40), "4:relu,2:softmax");
    train(&d, "mixed", &mixed_csv(40), "4:relu,3:softmax");
    let s = Server::start(&d.0, &[d.0.to_str().unwrap(), "--max-body-mib", "1"]);
    let infer = "/v2/models/num/infer";
    s.json("/v2/models/nope/infer", "{}").fails(404, &["unknown model `nope`", "served: mixed, num"]);
    s.get("/v2/models/nope").fails(404, &["unknown model"]);
    s.get("/v2/models/num/versions/7").fails(404, &["no version 7", "it has 1"]);
    s.get("/v2/models/num/versions/x").fails(404, &["no version `x`"]);
    s.get("/v2/models/..%2F..%2Fetc%2Fpasswd").fails(404, &["unknown model"]);
    s.get("/nowhere").fails(404, &["no such endpoint: GET /nowhere"]);
    http(s.addr, "DELETE", "/v2/models/num", &[], b"").fails(405, &["DELETE is not allowed"]);
    s.json(infer, "{not json").fails(400, &["not a valid inference request"]);
    s.json(infer, r#"{"inputs":[]}"#).fails(400, &["0 inputs", "[-1, 3]"]);
    let t = |name: &str, shape: &str, dt: &str, data: &str| {
        format!(r#"{{"inputs":[{{"name":"{name}","shape":{shape},"datatype":"{dt}","data":{data}}}]}}"#)
    };
    s.json(infer, &t("x", "[1,3]", "FP32", "[1,2,3]")).fails(400, &["unknown input `x`", "`input`"]);
    s.json(infer, &t("input", "[1,4]", "FP32", "[1,2,3,4]")).fails(400, &["shape [1, 4]", "[-1, 3]"]);
    s.json(infer, &t("input", "[3]", "FP32", "[1,2,3]")).fails(400, &["shape [3]"]);
    s.json(infer, &t("input", "[2,3]", "FP32", "[1,2,3]")).fails(400, &["3 values", "needs 6"]);
    s.json(infer, &t("input", "[1,3]", "BYTES", r#"["a","b","c"]"#)).fails(400, &["datatype BYTES", "FP32"]);
    s.json(infer, &t("input", "[1,3]", "FP32", r#"[1,"b",3]"#)).fails(400, &["holds text", "FP32 takes numbers"]);
    s.json(infer, &t("input", "[1,3]", "FP32", r#"[1,{},3]"#)).fails(400, &["not a valid inference request"]);
    s.json(infer, &t("input", "[1,3]", "FP32", "[1,NaN,3]")).fails(400, &["not a valid inference request"]);
    s.json(infer, &t("input", "[1,3]", "FP64", "[1,1e300,3]")).fails(400, &["not a finite number"]);
    let out =
        r#"{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}],"outputs":[{"name":"probs"}]}"#;
    s.json(infer, out).fails(400, &["unknown output `probs`"]);
    let out = r#"{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}],"outputs":[{"name":"output","parameters":{"classification":9}}]}"#;
    s.json(infer, out).fails(400, &["classification 9", "1 to 2"]);
    // A NaN in binary data, and binary sizes that do not add up.
    let head = r#"{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}}]}"#;
    let mut body = head.as_bytes().to_vec();
    for v in [1.0f32, f32::NAN, 2.0] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    let hl = head.len().to_string();
    http(s.addr, "POST", infer, &[("Inference-Header-Content-Length", &hl)], &body)
        .fails(400, &["NaN", "not a finite number"]);
    http(s.addr, "POST", infer, &[("Inference-Header-Content-Length", &hl)], &body[..body.len() - 4])
        .fails(400, &["binary_data_size 12"]);
    http(s.addr, "POST", infer, &[("Inference-Header-Content-Length", "99999")], &body)
        .fails(400, &["Inference-Header-Content-Length"]);
    // A model with a text column cannot take a numeric tensor.
    s.json("/v2/models/mixed/infer", &t("input", "[1,3]", "FP32", "[1,2,3]")).fails(400, &["`color`", "named columns"]);

    // MLflow: several models need a name; wrong columns, cells and formats.
    s.json("/invocations", r#"{"instances":[]}"#).fails(400, &["2 models are served", "/models/NAME/invocations"]);
    let inv = "/models/mixed/invocations";
    s.json(inv, r#"{"dataframe_records":[{"color":"red","size":1}]}"#).fails(400, &["no column `weight`"]);
    s.json(inv, r#"{"dataframe_records":[{"color":"red","size":1,"weight":2,"extra":3}]}"#).fails(400, &["`extra`"]);
    s.json(inv, r#"{"dataframe_split":{"columns":["color","size"],"data":[["red"]]}}"#)
        .fails(400, &["1 cells", "2 columns"]);
    s.json(inv, r#"{"dataframe_records":[{"color":"red","size":"big","weight":2}]}"#).fails(400, &["size", "big"]);
    s.json(inv, r#"{"dataframe_records":[{"color":"red","size":[1],"weight":2}]}"#)
        .fails(400, &["not a number, a string or null"]);
    s.json(inv, r#"{"dataframe_records":[{"color":"red","size":1e300,"weight":2}]}"#).fails(400, &["size"]);
    s.json(inv, r#"{"instances":[[1,2]]}"#).fails(400, &["2 values", "3 columns (color, size, weight)"]);
    s.json(inv, r#"{"instances":[],"inputs":[]}"#).fails(400, &["exactly one of", "`inputs`, `instances`"]);
    s.json(inv, r#"[1,2]"#).fails(400, &["exactly one of"]);
    s.json(inv, r#"{"instances":[{"color":"red","size":1,"weight":2}],"params":{"proba":"yes"}}"#)
        .fails(400, &["params.proba"]);
    s.post(inv, "text/plain", b"x").fails(415, &["text/plain", "application/json or text/csv"]);
    s.post(inv, "text/csv", b"color,size\nred,1\n").fails(400, &["weight"]);
    s.post("/models/num/invocations", "text/csv", b"x1,x2,x3\n1,2\n").fails(400, &["request"]);
    // The body limit: 413 from the declared length, before the body is read: the request's head
    // alone gets the answer. (Writing the whole body as well races the server's close, which
    // resets a connection with unread bytes, and the reset can discard the answer.)
    head_only(s.addr, inv, "application/json", (1 << 20) + 1).fails(413, &["larger than the limit of 1048576 bytes"]);
    let metrics = s.get("/metrics").text();
    assert!(metrics.contains("mlp_request_failures_total{model=\"num\",status=\"400\"}"), "{metrics}");
    assert!(metrics.contains("mlp_request_failures_total{model=\"\",status=\"404\"}"), "{metrics}");
    assert!(!metrics.contains("nope"), "a made-up name became a label: {metrics}");
}

#[test]
fn a_bad_file_keeps_the_old_version_and_a_good_one_is_reloaded() {
    let d = Dir::new("reload");
    std::fs::create_dir_all(d.join("models")).unwrap();
    train(&d, "num", &numeric_csv(40), "4:relu,2:softmax");
    std::fs::copy(d.join("num.safetensors"), d.join("models/num.safetensors")).unwrap();
    let s = Server::start(&d.0, &["models"]);
    let req = v2_json(&[vec![1.0, 2.0, 3.0]], "FP32", "");
    let before = s.json("/v2/models/num/infer", &req).value()["outputs"][0]["data"].clone();
    let wait_for = |needle: &str| {
        let t = Instant::now();
        while !s.log().contains(needle) {
            assert!(t.elapsed() < Duration::from_secs(10), "no `{needle}` in the log:\n{}", s.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    std::fs::write(d.join("models/num.safetensors"), b"garbage, not a model").unwrap();
    wait_for("the version loaded before keeps serving");
    let r = s.json("/v2/models/num/infer", &req);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.value()["outputs"][0]["data"], before);
    // A retrained model replaces it; a new file appears as a new model.
    train(&d, "other", &numeric_csv(60), "5:tanh,2:softmax");
    std::fs::copy(d.join("other.safetensors"), d.join("models/num.safetensors")).unwrap();
    wait_for("reloaded model num");
    let after = s.json("/v2/models/num/infer", &req).value()["outputs"][0]["data"].clone();
    assert_ne!(after, before);
    std::fs::create_dir_all(d.join("models/v/2")).unwrap();
    std::fs::copy(d.join("num.safetensors"), d.join("models/v/2/m.safetensors")).unwrap();
    wait_for("loaded model v version 2");
    let r = s.json("/v2/models/v/versions/2/infer", &req);
    assert_eq!(r.value()["outputs"][0]["data"], before, "{}", r.text());
    assert_eq!(s.get("/v2/models/v").value()["versions"], serde_json::json!(["2"]));
    let metrics = s.get("/metrics").text();
    assert!(metrics.contains("mlp_model_load_failures_total{model=\"num\"} 1"), "{metrics}");
}

#[test]
fn sigterm_during_load_drains_without_a_failed_request() {
    let d = Dir::new("drain");
    train(&d, "mixed", &mixed_csv(60), "16:relu,3:softmax");
    let s = Server::start(&d.0, &["mixed.safetensors"]);
    // Requests large enough to be in flight when the signal comes.
    let body = Arc::new(mixed_csv(40_000));
    let started = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let (addr, body, started) = (s.addr, body.clone(), started.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let head = format!(
                    "POST /invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                s.write_all(head.as_bytes()).unwrap();
                // Half the body, then the rest once the signal is on its way.
                let half = body.len() / 2;
                s.write_all(&body.as_bytes()[..half]).unwrap();
                started.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
                s.write_all(&body.as_bytes()[half..]).unwrap();
                let mut raw = Vec::new();
                s.read_to_end(&mut raw).unwrap();
                parse_reply(&raw)
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < 6 {
        std::thread::sleep(Duration::from_millis(5));
    }
    s.signal("TERM");
    for c in clients {
        let r = c.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.value()["predictions"].as_array().unwrap().len(), 40_000);
    }
    let mut s = s;
    let status = s.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", s.log());
    assert!(s.log().contains("stopped"), "{}", s.log());
    assert!(TcpStream::connect(s.addr).is_err(), "still listening after the shutdown");
}

#[test]
fn listening_beyond_loopback_needs_a_token_and_cors_is_off_unless_asked() {
    let d = Dir::new("auth");
    train(&d, "num", &numeric_csv(40), "4:relu,2:softmax");
    let refused = Server::try_start(&d.0, &["num.safetensors", "--host", "0.0.0.0"]).err().expect("it must refuse");
    assert!(refused.contains("--token-file") && refused.contains("--no-auth"), "{refused}");
    std::fs::write(d.join("token"), "s3cret-token\n").unwrap();
    let s = Server::start(&d.0, &["num.safetensors", "--token-file", "token", "--cors", "https://app.example"]);
    let req = v2_json(&[vec![1.0, 2.0, 3.0]], "FP32", "");
    s.json("/v2/models/num/infer", &req).fails(401, &["bearer token"]);
    let wrong = [("Authorization", "Bearer s3cret-tokem")];
    http(s.addr, "GET", "/v2/models/num", &wrong, b"").fails(401, &["bearer token"]);
    assert_eq!(s.get("/v2/health/ready").status, 200, "health checks need no token");
    let good = [("Authorization", "Bearer s3cret-token"), ("Origin", "https://app.example")];
    let r = http(s.addr, "GET", "/v2/models/num", &good, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers.get("access-control-allow-origin").map(String::as_str), Some("https://app.example"));
    drop(s);
    let s = Server::start(&d.0, &["num.safetensors"]);
    let r = http(s.addr, "GET", "/v2/models/num", &[("Origin", "https://app.example")], b"");
    assert_eq!(r.status, 200);
    assert!(!r.headers.contains_key("access-control-allow-origin"), "CORS must be off by default");
}

#[test]
fn a_slow_client_is_cut_off_and_does_not_hold_the_server() {
    let d = Dir::new("slow");
    train(&d, "num", &numeric_csv(40), "4:relu,2:softmax");
    let s = Server::start(&d.0, &["num.safetensors", "--read-timeout", "0.5"]);
    // Headers that never end: the connection is closed.
    let mut stuck = TcpStream::connect(s.addr).unwrap();
    stuck.write_all(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n").unwrap();
    // A body that never completes: 408.
    let mut slow = TcpStream::connect(s.addr).unwrap();
    slow.write_all(
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n\r\nx1,",
    )
    .unwrap();
    let t = Instant::now();
    assert_eq!(s.get("/v2/health/ready").status, 200, "served while the slow clients wait");
    stuck.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let _ = stuck.read_to_end(&mut buf);
    assert!(t.elapsed() < Duration::from_secs(4), "the stuck connection was not closed");
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut raw = Vec::new();
    let _ = slow.read_to_end(&mut raw);
    parse_reply(&raw).fails(408, &["did not arrive within 0.5 s"]);
}

/// A V2 binary tensor request for `rows`: its JSON header and the whole body.
fn v2_binary(rows: &[Vec<f64>]) -> (String, Vec<u8>) {
    let head = format!(
        r#"{{"inputs":[{{"name":"input","shape":[{},{}],"datatype":"FP32","parameters":{{"binary_data_size":{}}}}}],"parameters":{{"binary_data_output":true}}}}"#,
        rows.len(),
        rows[0].len(),
        rows.len() * rows[0].len() * 4
    );
    let mut body = head.clone().into_bytes();
    for v in rows.iter().flatten() {
        body.extend_from_slice(&(*v as f32).to_le_bytes());
    }
    (head, body)
}

/// The output values of a V2 answer, JSON or binary.
fn v2_outputs(headers: &HashMap<String, String>, body: &[u8]) -> Vec<f64> {
    match headers.get("inference-header-content-length") {
        Some(n) => {
            let n: usize = n.parse().unwrap();
            body[n..].chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect()
        }
        None => {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap();
            v["outputs"][0]["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
        }
    }
}

#[test]
fn a_soak_of_concurrent_batched_requests_has_no_errors_right_answers_and_flat_memory() {
    // 60 s (MLP_SOAK_SECS) of 8 keep-alive clients on a batching server, V2 JSON and binary tensors
    // and MLflow JSON and CSV at once, every answer checked against `mlp predict`: long enough to
    // see a leak per request or a batch that hands rows to the wrong request.
    let secs: u64 = std::env::var("MLP_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let d = Dir::new("soak");
    train(&d, "mixed", &mixed_csv(60), "16:relu,3:softmax");
    train(&d, "num", &numeric_csv(60), "16:relu,2:softmax");
    let rows_csv = numeric_csv(16);
    std::fs::write(d.join("rows.csv"), &rows_csv).unwrap();
    let want: Vec<Vec<f64>> = predict(&d, "num.safetensors", "rows.csv").into_iter().map(|w| w.1).collect();
    let (_, cells) = csv_cells(&rows_csv);
    let rows: Vec<Vec<f64>> = cells.iter().map(|r| r[..3].iter().map(|v| v.as_f64().unwrap()).collect()).collect();
    let s = Server::start(&d.0, &[d.0.to_str().unwrap(), "--batching", "on", "--max-batch", "8"]);
    let mixed_rows = mixed_csv(8);
    let (_, mixed_cells) = csv_cells(&mixed_rows);
    let records: Vec<serde_json::Value> =
        mixed_cells.iter().map(|r| serde_json::json!({"color": r[0], "size": r[1], "weight": r[2]})).collect();
    let records = Arc::new(serde_json::json!({"dataframe_records": records}).to_string());
    let mixed_rows = Arc::new(mixed_rows);
    let (rows, want) = (Arc::new(rows), Arc::new(want));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (addr, records, mixed_rows, rows, want, errors, done) =
                (s.addr, records.clone(), mixed_rows.clone(), rows.clone(), want.clone(), errors.clone(), done.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                // Each V2 client asks for its own one or two rows, so that rows crossed between
                // requests of one batch show.
                let mine: Vec<usize> = (0..1 + i % 2).map(|k| (i * 2 + k) % rows.len()).collect();
                let picked: Vec<Vec<f64>> = mine.iter().map(|&r| rows[r].clone()).collect();
                let expected: Vec<f64> = mine.iter().flat_map(|&r| want[r].clone()).collect();
                let json = v2_json(&picked, "FP32", "");
                let (head, binary) = v2_binary(&picked);
                let head_len = head.len().to_string();
                while Instant::now() < deadline {
                    let (status, headers, body) = match i % 4 {
                        0 => conn.request("/models/mixed/invocations", "application/json", &[], records.as_bytes()),
                        1 => conn.request("/v2/models/num/infer", "application/json", &[], json.as_bytes()),
                        2 => conn.request(
                            "/v2/models/num/infer",
                            "application/octet-stream",
                            &[("Inference-Header-Content-Length", head_len.as_str())],
                            &binary,
                        ),
                        _ => conn.request("/models/mixed/invocations", "text/csv", &[], mixed_rows.as_bytes()),
                    };
                    let wrong = if status != 200 {
                        Some(format!("client {i}: status {status}: {}", String::from_utf8_lossy(&body)))
                    } else if i % 4 == 1 || i % 4 == 2 {
                        let got = v2_outputs(&headers, &body);
                        (got.len() != expected.len() || got.iter().zip(&expected).any(|(a, b)| !close(*a, *b)))
                            .then(|| format!("client {i}: {got:?}, not {expected:?}"))
                    } else {
                        None
                    };
                    if let Some(w) = wrong {
                        errors.lock().unwrap().push(w);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let mut rss = Vec::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        rss.push(s.rss_kib());
    }
    for c in clients {
        c.join().unwrap();
    }
    let n = done.load(Ordering::SeqCst);
    let errors = errors.lock().unwrap();
    assert!(
        errors.is_empty(),
        "{} of {n} requests failed, the first: {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );
    assert!(n as u64 > 300 * secs, "only {n} requests in {secs} s");
    // After the warm-up (pools, allocator arenas: the first quarter) the resident size stays put:
    // the last quarter's highest is within 4 MiB of the second quarter's.
    let q = rss.len() / 4;
    let (early, late) = (rss[q..2 * q].iter().max().unwrap(), rss[3 * q..].iter().max().unwrap());
    assert!(*late <= early + 4096, "RSS grew from {early} KiB to {late} KiB over {n} requests: {rss:?}");
    let metrics = s.get("/metrics").text();
    assert!(metrics.contains("mlp_batch_rows_count{model=\"num\"}"), "{metrics}");
    eprintln!("soak: {n} requests in {secs} s, 0 errors, RSS {early} -> {late} KiB");
}

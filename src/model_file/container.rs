//! The safetensors container: a deterministic writer, and a reader that checks every size the
//! header declares against the bytes present before it allocates or indexes anything.

use super::meta::Header;
use super::{FORMAT, FORMAT_VERSION};
use crate::error::{Error, Result};
use safetensors::tensor::TensorInfo;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// safetensors' own limit on the JSON header.
const MAX_HEADER: u64 = 100_000_000;

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

pub(super) struct F32Tensor {
    pub(super) shape: Vec<usize>,
    pub(super) bytes: Vec<u8>,
}

impl F32Tensor {
    pub(super) fn new(shape: Vec<usize>, values: impl IntoIterator<Item = f32>) -> Self {
        Self { shape, bytes: values.into_iter().flat_map(f32::to_le_bytes).collect() }
    }

    /// The number of values.
    pub(super) fn len(&self) -> usize {
        self.bytes.len() / 4
    }
}

/// The safetensors bytes: the 8-byte little-endian header length, the JSON header padded with
/// spaces to a multiple of 8, then the tensors back to back.
///
/// Written here rather than by `safetensors::serialize`, whose metadata is a `HashMap` and comes
/// out in a different order on every run: the same model must give the same bytes (issue 5).
/// Keys are sorted, tensors laid out in name order, as safetensors itself orders equal dtypes.
pub(super) fn serialize(tensors: &[(String, F32Tensor)], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut order: Vec<&(String, F32Tensor)> = tensors.iter().collect();
    order.sort_by(|a, b| a.0.cmp(&b.0));
    let enc = |v: &str| serde_json::to_string(v).expect("a string always encodes");
    let mut header = String::from("{\"__metadata__\":{");
    let meta: Vec<String> = metadata.iter().map(|(k, v)| format!("{}:{}", enc(k), enc(v))).collect();
    header.push_str(&meta.join(","));
    header.push('}');
    let mut offset = 0usize;
    for (name, t) in &order {
        let shape: Vec<String> = t.shape.iter().map(usize::to_string).collect();
        let end = offset + t.bytes.len();
        header.push_str(&format!(
            ",{}:{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            enc(name),
            shape.join(",")
        ));
        offset = end;
    }
    header.push('}');
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    if header.len() as u64 > MAX_HEADER {
        return Err(Error::Data(format!(
            "the model's header would be {} bytes, over safetensors' limit",
            header.len()
        )));
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for (_, t) in order {
        out.extend_from_slice(&t.bytes);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// A checked safetensors file: header, metadata and the raw data section.
pub(super) struct RawFile {
    pub(super) path: PathBuf,
    pub(super) tensors: BTreeMap<String, TensorInfo>,
    pub(super) metadata: HashMap<String, String>,
    pub(super) data: Vec<u8>,
}

impl RawFile {
    pub(super) fn err(&self, msg: impl Into<String>) -> Error {
        Error::format(&self.path, msg)
    }

    /// Reads and checks a file. A file of another kind (say a large CSV passed by mistake) is
    /// refused from its first 8 bytes, and a header that claims more data than the file holds
    /// from the header alone: the data is read only once the header vouches for it.
    pub(super) fn read(path: &Path) -> Result<RawFile> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut head = [0u8; 8];
        if len >= 8 {
            file.read_exact(&mut head).map_err(|e| Error::io(path, e))?;
        }
        let n = Self::header_len(path, len, head)?;
        let mut header = vec![0u8; n as usize];
        file.read_exact(&mut header).map_err(|e| Error::io(path, e))?;
        Self::parse_header(path, &header, len - 8 - n)?;
        let mut whole = Vec::with_capacity(len as usize);
        file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(path, e))?;
        file.read_to_end(&mut whole).map_err(|e| Error::io(path, e))?;
        Self::parse(path, whole)
    }

    /// The header length from the first 8 bytes of a `len`-byte file, when it fits the file.
    pub(super) fn header_len(path: &Path, len: u64, head: [u8; 8]) -> Result<u64> {
        let fmt = |msg: String| Error::format(path, msg);
        if len < 8 {
            return Err(fmt(format!(
                "is not a safetensors model file: it has only {len} bytes (a model file starts with an 8-byte \
                 header length); check the path, or re-save the model"
            )));
        }
        let n = u64::from_le_bytes(head);
        if n > len - 8 || n > MAX_HEADER {
            return Err(fmt(format!(
                "is truncated or not a safetensors file: its header claims {n} bytes but only {} follow; \
                 re-download or re-save the model",
                len - 8
            )));
        }
        Ok(n)
    }

    /// Decodes the JSON header and checks each tensor's dtype, offsets and shape against the
    /// `data_len` bytes of data that follow it.
    #[allow(clippy::type_complexity)]
    fn parse_header(
        path: &Path,
        header: &[u8],
        data_len: u64,
    ) -> Result<(BTreeMap<String, TensorInfo>, Option<HashMap<String, String>>)> {
        let fmt = |msg: String| Error::format(path, msg);
        let text = std::str::from_utf8(header).map_err(|_| {
            fmt("is not a safetensors file: its header is not UTF-8 text; the file is damaged or of another kind"
                .into())
        })?;
        let json: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).map_err(|e| {
            fmt(format!("has a garbled header (not a JSON object: {e}); the file is damaged, re-save the model"))
        })?;
        let mut tensors = BTreeMap::new();
        let mut metadata = None;
        for (name, value) in json {
            if name == "__metadata__" {
                let m: HashMap<String, String> = serde_json::from_value(value).map_err(|e| {
                    fmt(format!("has garbled metadata (`__metadata__` must map strings to strings: {e})"))
                })?;
                metadata = Some(m);
                continue;
            }
            let dtype = value.get("dtype").and_then(|d| d.as_str()).unwrap_or("?").to_string();
            if dtype != "F32" {
                return Err(fmt(format!(
                    "tensor `{name}` has dtype {dtype}, but mlp model files hold F32 only; convert the weights to \
                     float32 before saving"
                )));
            }
            let info: TensorInfo = serde_json::from_value(value)
                .map_err(|e| fmt(format!("tensor `{name}` has a garbled entry in the header: {e}")))?;
            tensors.insert(name, info);
        }
        for (name, info) in &tensors {
            let (start, end) = info.data_offsets;
            if start > end || end as u64 > data_len {
                return Err(fmt(format!(
                    "is truncated: tensor `{name}` needs bytes {start}..{end} of the data but the file holds only \
                     {data_len}; re-download or re-save the model"
                )));
            }
            let elems = info.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if elems.and_then(|e| e.checked_mul(4)) != Some(end - start) {
                return Err(fmt(format!(
                    "tensor `{name}` has shape {:?} but {} bytes of data; the file is damaged",
                    info.shape,
                    end - start
                )));
            }
        }
        Ok((tensors, metadata))
    }

    /// Checks a whole file held in memory (`path` only names it in messages): lengths, header
    /// JSON, dtypes and offsets, then the data. Every size the header declares is checked against
    /// the bytes present before anything is allocated for it.
    pub(super) fn parse(path: &Path, mut whole: Vec<u8>) -> Result<RawFile> {
        let fmt = |msg: String| Error::format(path, msg);
        let len = whole.len() as u64;
        let mut head = [0u8; 8];
        if len >= 8 {
            head.copy_from_slice(&whole[..8]);
        }
        let n = Self::header_len(path, len, head)?;
        let (tensors, metadata) = Self::parse_header(path, &whole[8..8 + n as usize], len - 8 - n)?;
        // The container rules (contiguous offsets, nothing left over) are safetensors' own.
        safetensors::SafeTensors::deserialize(&whole).map_err(|e| {
            fmt(format!("is not a valid safetensors file ({e}); the file is damaged, re-download or re-save it"))
        })?;
        let metadata = metadata.ok_or_else(|| {
            fmt("has no metadata: it is a safetensors file but was not written by mlp (no `__metadata__` with \
                 `format`, `format_version` and `mlp`); save it with mlp or add that metadata"
                .into())
        })?;
        let data = whole.split_off(8 + n as usize);
        Ok(RawFile { path: path.to_path_buf(), tensors, metadata, data })
    }

    pub(super) fn meta_key(&self, key: &str) -> Result<&str> {
        self.metadata.get(key).map(String::as_str).ok_or_else(|| {
            self.err(format!("has no `{key}` metadata entry, which mlp model files have; the file is not an mlp model"))
        })
    }

    /// Checks `format` and `format_version` and decodes the `mlp` entry.
    pub(super) fn header(&self) -> Result<Header> {
        let format = self.meta_key("format")?;
        if format != FORMAT {
            return Err(self.err(format!("is a `{format}` file, not an mlp model (metadata `format` must be `mlp`)")));
        }
        let version = self.meta_key("format_version")?;
        let v: u32 = version.trim().parse().map_err(|_| {
            self.err(format!("has a garbled `format_version` `{version}`; expected a whole number such as 1"))
        })?;
        if v > FORMAT_VERSION {
            return Err(self.err(format!(
                "was written by a newer mlp (format version {v}; this mlp reads up to {FORMAT_VERSION}); upgrade mlp"
            )));
        }
        if v == 0 {
            return Err(self.err("has format version 0, which no mlp ever wrote; the file is damaged"));
        }
        let json = self.meta_key("mlp")?;
        let header: Header = serde_json::from_str(json).map_err(|e| {
            self.err(format!("has garbled `mlp` metadata ({e}); the file is damaged, re-save the model"))
        })?;
        header.architecture.validate().map_err(|e| self.err(format!("describes an impossible architecture: {e}")))?;
        Ok(header)
    }

    pub(super) fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let info = self.tensors.get(name).ok_or_else(|| {
            self.err(format!("has no tensor `{name}`, which its architecture needs; the file is incomplete"))
        })?;
        if info.shape != shape {
            return Err(self.err(format!(
                "tensor `{name}` has shape {:?} but the architecture in the metadata says {shape:?}; \
                 the weights and the metadata do not belong together",
                info.shape
            )));
        }
        let bytes = &self.data[info.data_offsets.0..info.data_offsets.1];
        let v: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(self.err(format!(
                "tensor `{name}` holds a non-finite value ({} at index {i}); the model is unusable, retrain it",
                v[i]
            )));
        }
        Ok(v)
    }

    /// Fails on a tensor not in `used`: weights that the architecture does not account for.
    pub(super) fn no_extra(&self, used: &[String]) -> Result<()> {
        if let Some(extra) = self.tensors.keys().find(|k| !used.contains(k)) {
            return Err(self.err(format!(
                "has an unexpected tensor `{extra}` that its architecture does not use; the weights and the \
                 metadata do not belong together"
            )));
        }
        Ok(())
    }
}

//! The IDX reader (the MNIST file layout), raw or gzip-compressed, and the loaders built on it: any IDX image set (MNIST, Fashion-MNIST, KMNIST, EMNIST; any image size, the classes read from the labels) and MNIST itself.
//!
//! An IDX file is a big-endian header, `00 00 <type> <n_dims>` then one `u32` per dimension,
//! followed by the data. Only unsigned bytes (type `0x08`) are read, which is what MNIST uses:
//! images are magic `0x00000803` (count × rows × cols) and labels `0x00000801` (count).

use super::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::tensor::Matrix;
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// The magic number of an IDX file of `u8` images: three dimensions (count, rows, cols).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// The magic number of an IDX file of `u8` labels: one dimension (count).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Deflate cannot shrink data by more than about 1032:1, so a gzip file declaring more than this
/// many bytes per compressed byte is truncated or lying, and we say so before allocating.
const MAX_GZIP_RATIO: u64 = 1032;

/// Which half of MNIST to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MnistSplit {
    /// The 60000 training images (`train-*`).
    Train,
    /// The 10000 test images (`t10k-*`).
    Test,
}

/// Reads an IDX file of `u8` images (raw or gzip) as a matrix with one image per row, pixels
/// scaled from `0..=255` to `[0, 1]`.
pub fn read_images(path: &Path) -> Result<Matrix> {
    Ok(read_images_sized(path)?.0)
}

/// [`read_images`] with the image size `(rows, cols)` the file declares.
pub fn read_images_sized(path: &Path) -> Result<(Matrix, (usize, usize))> {
    let (dims, bytes) = read_idx(path, IMAGES_MAGIC, "images")?;
    let (n, size) = (dims[0] as usize, (dims[1] as usize, dims[2] as usize));
    if size.0 == 0 || size.1 == 0 {
        return Err(Error::format(
            path,
            format!("declares {}×{} images; an image needs at least one pixel", size.0, size.1),
        ));
    }
    Ok((Matrix::new(n, size.0 * size.1, bytes.iter().map(|&b| f32::from(b) / 255.0).collect()), size))
}

/// One split of an IDX image set: the images (one per row, in `[0, 1]`), their size and their raw labels.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxSet {
    /// Pixels, `(n, rows × cols)`.
    pub x: Matrix,
    /// `(rows, cols)` of every image.
    pub size: (usize, usize),
    /// The label byte of each image, as the file has it (EMNIST letters: 1–26).
    pub labels: Vec<u8>,
}

impl IdxSet {
    /// The distinct label values, in increasing order: the classes a model trained on this set knows.
    pub fn label_values(&self) -> Vec<u8> {
        let mut seen = [false; 256];
        self.labels.iter().for_each(|&l| seen[l as usize] = true);
        (0..=255u8).filter(|&l| seen[l as usize]).collect()
    }

    /// As a dataset whose class `k` is `values[k]`; a label not among `values` is an error naming it.
    pub fn to_dataset(&self, values: &[u8], labels_path: &Path) -> Result<Dataset> {
        let mut index = [usize::MAX; 256];
        values.iter().enumerate().for_each(|(k, &v)| index[v as usize] = k);
        let labels = self
            .labels
            .iter()
            .enumerate()
            .map(|(i, &l)| match index[l as usize] {
                usize::MAX => Err(Error::format(
                    labels_path,
                    format!(
                        "label {i} is {l}, which is not one of the model's classes ({}); give it images of the same set",
                        values.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")
                    ),
                )),
                k => Ok(k),
            })
            .collect::<Result<Vec<usize>>>()?;
        Ok(Dataset::new(self.x.clone(), Targets::Classes { labels, n_classes: values.len() }))
    }
}

/// Loads one split of an IDX image set from `dir` (or `dir/mnist`): images of any size and labels
/// of any byte value, e.g. EMNIST letters (28×28, labels 1–26), KMNIST or Fashion-MNIST. Returns
/// the set and the path of its labels file (for messages). The files are found as for
/// [`load_mnist`], or by any name holding `train-images`/`test-images`/`t10k-images` (and
/// `-labels`) with `idx3-ubyte`/`idx1-ubyte` (`emnist-letters-train-images-idx3-ubyte.gz`).
pub fn load_idx(dir: &Path, split: MnistSplit) -> Result<(IdxSet, PathBuf)> {
    let prefixes: &[&str] = match split {
        MnistSplit::Train => &["train"],
        MnistSplit::Test => &["t10k", "test"],
    };
    let images_path = find_idx_file(dir, prefixes, "images", "idx3")?;
    let labels_path = find_idx_file(dir, prefixes, "labels", "idx1")?;
    let (x, size) = read_images_sized(&images_path)?;
    let (_, labels) = read_idx(&labels_path, LABELS_MAGIC, "labels")?;
    if x.rows != labels.len() {
        return Err(Error::format(
            &images_path,
            format!(
                "has {} images but {} has {} labels; the two files must come from the same split, re-download them",
                x.rows,
                labels_path.display(),
                labels.len()
            ),
        ));
    }
    Ok((IdxSet { x, size, labels }, labels_path))
}

/// The MNIST spelling of a file if there is one, else the first (by name) file in `dir` or
/// `dir/mnist` whose name holds `{prefix}-{kind}` and `{idx}-ubyte`.
fn find_idx_file(dir: &Path, prefixes: &[&str], kind: &str, idx: &str) -> Result<PathBuf> {
    if let Ok(p) = find_mnist_file(dir, prefixes[0], kind, idx) {
        return Ok(p);
    }
    for base in [dir.to_path_buf(), dir.join("mnist")] {
        let Ok(entries) = std::fs::read_dir(&base) else { continue };
        let mut names: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
        names.sort();
        let found = names.into_iter().find(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
            let idx_ok = name.contains(&format!("{idx}-ubyte"));
            idx_ok && prefixes.iter().any(|pre| name.contains(&format!("{pre}-{kind}")))
        });
        if let Some(p) = found {
            return Ok(p);
        }
    }
    Err(Error::format(
        dir,
        format!(
            "no IDX {kind} file found here or in its `mnist` subdirectory (looked for names with {}-{kind} and {idx}-ubyte); \
             pass the directory that holds the IDX files, or set MLP_DATA_DIR",
            prefixes.join("/")
        ),
    ))
}

/// Reads an IDX file of `u8` labels (raw or gzip).
pub fn read_labels(path: &Path) -> Result<Vec<usize>> {
    let (_, bytes) = read_idx(path, LABELS_MAGIC, "labels")?;
    Ok(bytes.into_iter().map(usize::from).collect())
}

/// Loads one split of MNIST from `dir` (or from `dir/mnist`) as 784 features in `[0, 1]` and 10 classes.
///
/// The files may be named `train-images-idx3-ubyte` or `train-images.idx3-ubyte`, each with or
/// without `.gz` (and `t10k-…` for the test split). A missing file, a count mismatch between
/// images and labels, or a label outside `0..10` is an error naming the file.
pub fn load_mnist(dir: &Path, split: MnistSplit) -> Result<Dataset> {
    let prefix = match split {
        MnistSplit::Train => "train",
        MnistSplit::Test => "t10k",
    };
    let images_path = find_mnist_file(dir, prefix, "images", "idx3")?;
    let labels_path = find_mnist_file(dir, prefix, "labels", "idx1")?;
    let x = read_images(&images_path)?;
    let labels = read_labels(&labels_path)?;
    if x.rows != labels.len() {
        return Err(Error::format(
            &images_path,
            format!(
                "has {} images but {} has {} labels; the two files must come from the same MNIST split, re-download them",
                x.rows,
                labels_path.display(),
                labels.len()
            ),
        ));
    }
    if let Some((i, &bad)) = labels.iter().enumerate().find(|&(_, &l)| l >= 10) {
        return Err(Error::format(
            &labels_path,
            format!("label {i} is {bad}, expected a digit 0 to 9; this is not an MNIST labels file"),
        ));
    }
    Ok(Dataset::new(x, Targets::Classes { labels, n_classes: 10 }))
}

/// The first existing spelling of an MNIST file in `dir` or `dir/mnist`.
fn find_mnist_file(dir: &Path, prefix: &str, kind: &str, idx: &str) -> Result<PathBuf> {
    let names = [
        format!("{prefix}-{kind}-{idx}-ubyte.gz"),
        format!("{prefix}-{kind}-{idx}-ubyte"),
        format!("{prefix}-{kind}.{idx}-ubyte.gz"),
        format!("{prefix}-{kind}.{idx}-ubyte"),
    ];
    for base in [dir.to_path_buf(), dir.join("mnist")] {
        for name in &names {
            let path = base.join(name);
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    Err(Error::format(
        dir,
        format!(
            "no MNIST {kind} file found here or in its `mnist` subdirectory (looked for {}); \
             download MNIST into this directory, pass the directory that holds it, or set MLP_DATA_DIR",
            names.join(", ")
        ),
    ))
}

/// Reads and checks one IDX file: the magic number, then exactly the bytes its dimensions declare.
fn read_idx(path: &Path, magic: u32, what: &str) -> Result<(Vec<u32>, Vec<u8>)> {
    let result = read_idx_unchecked(path, magic, what);
    if let Err(Error::Format { .. }) = &result {
        // A damaged gzip stream decodes to garbage before its CRC is checked at the end, so a bad
        // magic number or size may really be a corrupt download: say that if it is.
        verify_gzip(path)?;
    }
    result
}

/// Decodes the whole file if it is gzip, to report a corrupt stream rather than its garbage output.
fn verify_gzip(path: &Path) -> Result<()> {
    let mut file = BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?);
    let mut magic = [0u8; 2];
    if read_up_to(&mut file, &mut magic).map_err(|e| Error::io(path, e))? < 2 || magic != [0x1f, 0x8b] {
        return Ok(());
    }
    let head = std::io::Cursor::new(magic);
    match std::io::copy(&mut MultiGzDecoder::new(head.chain(file)), &mut std::io::sink()) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(Error::format(path, "the gzip stream ends early (truncated download?); re-download it"))
        }
        Err(e) => Err(Error::format(path, format!("is not a valid gzip file ({e}); re-download it"))),
    }
}

fn read_idx_unchecked(path: &Path, magic: u32, what: &str) -> Result<(Vec<u32>, Vec<u8>)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut buffered = BufReader::new(file);
    let mut first = [0u8; 2];
    let got = read_up_to(&mut buffered, &mut first).map_err(|e| Error::io(path, e))?;
    let gzip = got == 2 && first == [0x1f, 0x8b];
    let head = std::io::Cursor::new(first[..got].to_vec());
    let mut reader: Box<dyn Read> =
        if gzip { Box::new(MultiGzDecoder::new(head.chain(buffered))) } else { Box::new(head.chain(buffered)) };
    let read_err = |e: std::io::Error| -> Error {
        if gzip && matches!(e.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput) {
            Error::format(path, format!("is not a valid gzip file ({e}); re-download it"))
        } else if gzip && e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::format(path, "the gzip stream ends early (truncated download?); re-download it")
        } else {
            Error::io(path, e)
        }
    };

    let n_dims = (magic & 0xff) as usize;
    let mut header = vec![0u8; 4 * (1 + n_dims)];
    let got = read_up_to(&mut reader, &mut header).map_err(read_err)?;
    if got < 4 {
        return Err(Error::format(
            path,
            format!("is {got} bytes long, too short for an IDX header; expected an IDX {what} file"),
        ));
    }
    let found = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if found != magic {
        return Err(Error::format(
            path,
            format!(
                "magic number is 0x{found:08x}, expected 0x{magic:08x} (IDX {what}: unsigned bytes, {n_dims} dimension{}); \
                 check that this is the {what} file, uncompressed or gzip",
                if n_dims == 1 { "" } else { "s" },
            ),
        ));
    }
    if got < header.len() {
        return Err(Error::format(
            path,
            format!(
                "the header ends after {got} bytes, expected {} for {n_dims} dimensions; the file is truncated",
                header.len()
            ),
        ));
    }
    let dims: Vec<u32> = header[4..].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
    let expected = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d))).unwrap_or(u64::MAX);
    let dims_text = dims.iter().map(u32::to_string).collect::<Vec<_>>().join(" × ");
    let header_len = header.len() as u64;
    let limit = if gzip { file_len.saturating_mul(MAX_GZIP_RATIO) } else { file_len.saturating_sub(header_len) };
    if expected > limit {
        let found = if gzip {
            format!("a {file_len}-byte gzip file cannot hold that many")
        } else {
            format!("found {}", file_len.saturating_sub(header_len))
        };
        return Err(Error::format(
            path,
            format!(
                "declares {dims_text} {what}, so expected {expected} data bytes, but {found}; the file is truncated or corrupt, re-download it"
            ),
        ));
    }
    // `take(expected + 1)` lets us notice trailing bytes without reading an unbounded file, and the
    // buffer grows with what actually arrives rather than with what the header claims.
    let mut data = Vec::new();
    reader.take(expected.saturating_add(1)).read_to_end(&mut data).map_err(read_err)?;
    if data.len() as u64 != expected {
        let found = if data.len() as u64 > expected { "more".to_string() } else { data.len().to_string() };
        return Err(Error::format(
            path,
            format!(
                "declares {dims_text} {what}, so expected {expected} data bytes after the header, but found {found}; \
                 the file is truncated or corrupt, re-download it"
            ),
        ));
    }
    Ok((dims, data))
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    /// A fresh empty directory under the system temp dir, unique per test.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mlp-idx-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn two_images() -> Vec<u8> {
        idx(IMAGES_MAGIC, &[2, 2, 2], &[0, 255, 51, 102, 255, 0, 0, 0])
    }

    #[test]
    fn reads_raw_and_gzip_images_and_labels() {
        let dir = temp_dir("happy");
        // The gzip is detected by its magic bytes, not by the name.
        for (name, bytes) in [("a", two_images()), ("b.gz", gz(&two_images())), ("c", gz(&two_images()))] {
            let m = read_images(&write(&dir, name, &bytes)).unwrap();
            assert_eq!((m.rows, m.cols), (2, 4));
            assert_eq!(m.data, vec![0.0, 1.0, 0.2, 0.4, 1.0, 0.0, 0.0, 0.0]);
        }
        let labels = idx(LABELS_MAGIC, &[3], &[7, 0, 9]);
        assert_eq!(read_labels(&write(&dir, "l", &labels)).unwrap(), vec![7, 0, 9]);
        assert_eq!(read_labels(&write(&dir, "l.gz", &gz(&labels))).unwrap(), vec![7, 0, 9]);
    }

    #[test]
    fn load_mnist_finds_both_spellings() {
        let dir = temp_dir("load");
        write(&dir, "t10k-images-idx3-ubyte.gz", &gz(&two_images()));
        write(&dir, "t10k-labels.idx1-ubyte", &idx(LABELS_MAGIC, &[2], &[3, 4]));
        let d = load_mnist(&dir, MnistSplit::Test).unwrap();
        assert_eq!(d.y, Targets::Classes { labels: vec![3, 4], n_classes: 10 });
        assert_eq!(d.x.cols, 4);
    }

    #[test]
    fn wrong_magic_says_found_and_expected() {
        let dir = temp_dir("magic");
        let p = write(&dir, "labels-as-images", &idx(LABELS_MAGIC, &[2], &[1, 2]));
        let m = read_images(&p).unwrap_err().to_string();
        assert!(m.starts_with(&p.display().to_string()), "{m}");
        assert!(m.contains("magic number is 0x00000801, expected 0x00000803"), "{m}");
        let p = write(&dir, "img-as-labels.gz", &gz(&two_images()));
        let m = read_labels(&p).unwrap_err().to_string();
        assert!(m.contains("magic number is 0x00000803, expected 0x00000801"), "{m}");
        let p = write(&dir, "tiny", &[0, 0]);
        let m = read_labels(&p).unwrap_err().to_string();
        assert!(m.contains("is 2 bytes long, too short for an IDX header"), "{m}");
    }

    #[test]
    fn truncated_data_says_expected_and_found() {
        let dir = temp_dir("trunc");
        let mut bytes = two_images();
        bytes.truncate(bytes.len() - 3);
        let p = write(&dir, "short", &bytes);
        let m = read_images(&p).unwrap_err().to_string();
        assert!(m.contains("declares 2 × 2 × 2 images, so expected 8 data bytes, but found 5"), "{m}");
        let p = write(&dir, "short.gz", &gz(&bytes));
        let m = read_images(&p).unwrap_err().to_string();
        assert!(m.contains("expected 8 data bytes after the header, but found 5"), "{m}");
        let p =
            write(&dir, "header", &IMAGES_MAGIC.to_be_bytes().iter().chain(&[0, 0, 0, 2]).copied().collect::<Vec<_>>());
        let m = read_images(&p).unwrap_err().to_string();
        assert!(m.contains("the header ends after 8 bytes, expected 16"), "{m}");
        let mut long = two_images();
        long.push(0);
        let m = read_images(&write(&dir, "long", &long)).unwrap_err().to_string();
        assert!(m.contains("expected 8 data bytes after the header, but found more"), "{m}");
    }

    #[test]
    fn huge_declared_size_is_rejected_before_allocating() {
        let dir = temp_dir("huge");
        let raw = idx(IMAGES_MAGIC, &[u32::MAX, 28, 28], &[0; 10]);
        let m = read_images(&write(&dir, "raw", &raw)).unwrap_err().to_string();
        assert!(m.contains("expected 3367254359280 data bytes, but found 10"), "{m}");
        let m = read_images(&write(&dir, "z.gz", &gz(&raw))).unwrap_err().to_string();
        assert!(m.contains("gzip file cannot hold that many"), "{m}");
    }

    #[test]
    fn corrupt_gzip_is_reported() {
        let dir = temp_dir("corrupt");
        let pixels: Vec<u8> = (0..3 * 28 * 28).map(|i| (i * 7 % 256) as u8).collect();
        let good = gz(&idx(IMAGES_MAGIC, &[3, 28, 28], &pixels));
        for at in [12, good.len() / 2, good.len() - 6] {
            let mut bytes = good.clone();
            bytes[at] ^= 0x5a;
            let m = read_images(&write(&dir, "bad.gz", &bytes)).unwrap_err().to_string();
            assert!(m.contains("bad.gz: is not a valid gzip file") && m.contains("re-download"), "byte {at}: {m}");
        }
        let whole = gz(&two_images());
        let m = read_images(&write(&dir, "cut.gz", &whole[..whole.len() - 12])).unwrap_err().to_string();
        assert!(m.contains("cut.gz") && (m.contains("ends early") || m.contains("but found")), "{m}");
    }

    #[test]
    fn count_mismatch_and_bad_labels() {
        let dir = temp_dir("mismatch");
        write(&dir, "train-images-idx3-ubyte", &two_images());
        write(&dir, "train-labels-idx1-ubyte", &idx(LABELS_MAGIC, &[3], &[1, 2, 3]));
        let m = load_mnist(&dir, MnistSplit::Train).unwrap_err().to_string();
        assert!(m.contains("train-images-idx3-ubyte: has 2 images but") && m.contains("has 3 labels"), "{m}");
        write(&dir, "train-labels-idx1-ubyte", &idx(LABELS_MAGIC, &[2], &[1, 12]));
        let m = load_mnist(&dir, MnistSplit::Train).unwrap_err().to_string();
        assert!(m.contains("label 1 is 12, expected a digit 0 to 9"), "{m}");
    }

    #[test]
    fn missing_files_suggest_mlp_data_dir() {
        let dir = temp_dir("missing");
        let m = load_mnist(&dir, MnistSplit::Train).unwrap_err().to_string();
        assert!(m.starts_with(&dir.display().to_string()), "{m}");
        assert!(m.contains("train-images-idx3-ubyte.gz") && m.contains("MLP_DATA_DIR"), "{m}");
        let m = read_images(&dir.join("nope")).unwrap_err().to_string();
        assert!(m.contains("nope"), "{m}");
    }

    /// The real data: `MLP_DATA_DIR`, else `../shared/data` beside the crate. Missing data fails loudly.
    fn real_data_dir() -> PathBuf {
        let dir = std::env::var_os("MLP_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")));
        assert!(dir.is_dir(), "test data directory {} is missing: set MLP_DATA_DIR to the shared data", dir.display());
        dir
    }

    #[test]
    fn real_mnist_test_split() {
        let d = load_mnist(&real_data_dir(), MnistSplit::Test).unwrap_or_else(|e| panic!("MNIST test split: {e}"));
        assert_eq!((d.x.rows, d.x.cols), (10000, 784));
        let Targets::Classes { labels, n_classes } = &d.y else { panic!("classes expected") };
        assert_eq!(*n_classes, 10);
        let mut counts = [0; 10];
        for &l in labels {
            counts[l] += 1;
        }
        assert_eq!(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
        let max = d.x.data.iter().copied().fold(f32::MIN, f32::max);
        let min = d.x.data.iter().copied().fold(f32::MAX, f32::min);
        assert_eq!((min, max), (0.0, 1.0));
    }
}

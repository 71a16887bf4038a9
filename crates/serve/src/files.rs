//! Static files over HTTP on loopback: what `mlp playground` serves (the built page in `web/dist`), with the content types a browser needs for WebAssembly and module workers.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::Response;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The content type of a file by its extension (`application/wasm` lets the page compile while
/// it downloads; a module worker refuses a script served as anything but JavaScript).
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "csv" | "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file a request path names inside `root`: `/` is `index.html`; any `..`, absolute or
/// prefixed component is refused, so nothing outside `root` is ever read.
fn resolve(root: &Path, uri_path: &str) -> Option<PathBuf> {
    let rel = uri_path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let rel = Path::new(rel);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(rel))
}

async fn get(State(root): State<Arc<PathBuf>>, uri: Uri) -> Response {
    let reply = |status: StatusCode, ty: &str, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, ty)
            // A rebuilt page shows at the next reload.
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::from(body))
            .unwrap_or_default()
    };
    let Some(path) = resolve(&root, uri.path()) else {
        return reply(StatusCode::BAD_REQUEST, "text/plain", b"bad path\n".to_vec());
    };
    // The page's few files are small and local: a blocking read costs less than a thread hop.
    match std::fs::read(&path) {
        Ok(bytes) => reply(StatusCode::OK, content_type(&path), bytes),
        Err(_) => reply(StatusCode::NOT_FOUND, "text/plain", format!("not found: {}\n", uri.path()).into_bytes()),
    }
}

/// Serves the files under `root` on `addr` until `stop` is raised; `on_ready` gets the bound
/// address (port 0 picks a free one).
pub fn serve_dir(
    root: &Path,
    addr: SocketAddr,
    stop: &'static AtomicBool,
    on_ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let root = Arc::new(root.to_path_buf());
    rt.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        on_ready(listener.local_addr()?);
        let app = Router::new().fallback(get).with_state(root);
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                while !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
            .await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/srv/dist");
        assert_eq!(resolve(root, "/"), Some(root.join("index.html")));
        assert_eq!(resolve(root, "/mlp_wasm_bg.wasm"), Some(root.join("mlp_wasm_bg.wasm")));
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/a/../../x"), None);
        assert_eq!(resolve(root, "//etc/passwd"), Some(root.join("etc/passwd")));
        assert_eq!(content_type(Path::new("x.wasm")), "application/wasm");
        assert_eq!(content_type(Path::new("worker.js")), "text/javascript; charset=utf-8");
    }
}

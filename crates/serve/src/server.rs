//! The HTTP server: routes, bearer-token check, CORS, `/metrics`, the accept loop with header
//! timeouts, and the graceful shutdown (not ready, stop accepting, finish what is in flight).

use crate::error::ApiError;
use crate::models::{Model, Registry};
use crate::{Config, mlflow, stats, v2, watch};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// What every request handler shares.
pub struct App {
    pub registry: Registry,
    pub config: Config,
    draining: AtomicBool,
}

impl App {
    /// Whether a shutdown has begun (readiness then answers 503).
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

/// The model `name` (at `version`, or its latest), or a 404 that lists what is served.
pub fn lookup(app: &App, name: &str, version: Option<&str>) -> Result<Arc<Model>, ApiError> {
    let v = match version {
        None => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            ApiError::not_found(format!("model `{name}` has no version `{v}`; versions are whole numbers"))
        })?),
    };
    if let Some(m) = app.registry.get(name, v) {
        return Ok(m);
    }
    let served = app.registry.list();
    match (served.iter().find(|(n, _)| n == name), v) {
        (Some((_, versions)), Some(v)) => Err(ApiError::not_found(format!(
            "model `{name}` has no version {v}; it has {}",
            versions.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        ))),
        _ => Err(ApiError::not_found(format!(
            "unknown model `{}`; served: {}",
            name.escape_debug(),
            served.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

async fn metrics() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], stats::render()).into_response()
}

async fn not_found(req: Request) -> Response {
    ApiError::not_found(format!("no such endpoint: {} {}", req.method(), req.uri().path())).into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{} is not allowed on {}", req.method(), req.uri().path()))
        .into_response()
}

/// Refuses a request without the bearer token (health checks excepted, so probes need none).
async fn auth(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if let Some(token) = &app.config.token {
        let path = req.uri().path();
        let open = path.starts_with("/v2/health/") || req.method() == Method::OPTIONS;
        let given =
            req.headers().get(header::AUTHORIZATION).and_then(|v| v.as_bytes().strip_prefix(b"Bearer ")).unwrap_or(b"");
        // Constant time in the token's contents (its length is not a secret worth hiding).
        if !open && !bool::from(given.ct_eq(token.as_bytes())) {
            stats::ModelStats::failure("", 401);
            let mut resp = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (send Authorization: Bearer <token from --token-file>)",
            )
            .into_response();
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return resp;
        }
    }
    next.run(req).await
}

fn router(app: Arc<App>) -> anyhow::Result<Router> {
    let mut r = Router::new()
        .route("/v2", get(v2::server_metadata))
        .route("/v2/health/live", get(v2::live))
        .route("/v2/health/ready", get(v2::ready))
        .route("/v2/models/{name}", get(v2::metadata))
        .route("/v2/models/{name}/ready", get(v2::model_ready))
        .route("/v2/models/{name}/infer", post(v2::infer))
        .route("/v2/models/{name}/versions/{version}", get(v2::version_metadata))
        .route("/v2/models/{name}/versions/{version}/ready", get(v2::version_ready))
        .route("/v2/models/{name}/versions/{version}/infer", post(v2::version_infer))
        .route("/invocations", post(mlflow::invocations))
        .route("/models/{name}/invocations", post(mlflow::named_invocations))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), auth));
    if let Some(origin) = &app.config.cors {
        let origin =
            HeaderValue::from_str(origin).map_err(|_| anyhow::anyhow!("--cors {origin:?} is not an origin"))?;
        r = r.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::exact(origin))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::CONTENT_TYPE,
                    header::AUTHORIZATION,
                    header::HeaderName::from_static("inference-header-content-length"),
                ])
                .expose_headers([header::HeaderName::from_static("inference-header-content-length")]),
        );
    }
    Ok(r.with_state(app))
}

/// Loads the models, listens, serves until `stop`, then drains.
pub async fn serve(
    config: Config,
    stop: &'static AtomicBool,
    on_ready: impl FnOnce(SocketAddr, &[String]),
) -> anyhow::Result<()> {
    stats::install()?;
    let log = config.log.clone();
    let registry = Registry::new(config.paths.clone(), config.batch.clone(), log.clone());
    for p in &config.paths {
        if !p.exists() {
            anyhow::bail!("{}: no such file or directory", p.display());
        }
    }
    registry.refresh();
    let names: Vec<String> = registry.list().into_iter().map(|(n, _)| n).collect();
    if names.is_empty() {
        anyhow::bail!(
            "no model could be loaded from {} (model files are NAME.safetensors, or NAME/VERSION/*.safetensors in a directory)",
            config.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let app = Arc::new(App { registry, config: config.clone(), draining: AtomicBool::new(false) });
    let _watcher = if config.watch { Some(watch::start(app.clone())?) } else { None };
    let router = router(app.clone())?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr()?;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(config.read_timeout).keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::spawn(async {
        let mut every = tokio::time::interval(Duration::from_millis(500));
        loop {
            every.tick().await;
            stats::upkeep();
        }
    });
    on_ready(addr, &names);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            conn = listener.accept() => {
                let stream = match conn {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        log(&format!("accept failed: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = tick.tick() => {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
        }
    }
    app.draining.store(true, Ordering::SeqCst);
    drop(listener);
    log(&format!("shutting down: finishing {} open connections", graceful.count()));
    if tokio::time::timeout(config.drain_timeout, graceful.shutdown()).await.is_err() {
        log("shutdown: requests still running after the drain timeout were cut off");
    }
    log("stopped");
    Ok(())
}

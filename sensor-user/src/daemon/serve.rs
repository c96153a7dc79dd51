//! `/metrics`, `/healthz` and `/readyz` over HTTP. Handlers ask the run loop (which owns
//! the pipeline) for an answer, so a stalled pipeline shows as an unhealthy sensor.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use tokio::sync::{mpsc, oneshot};

/// What a handler asks the run loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    Metrics,
    Health,
}

/// The run loop's answer: status, body.
pub type Answer = (u16, String);

pub struct Request {
    pub query: Query,
    pub reply: oneshot::Sender<Answer>,
}

#[derive(Clone)]
struct Shared {
    tx: mpsc::Sender<Request>,
    ready: Arc<AtomicBool>,
}

async fn ask(s: &Shared, query: Query) -> (StatusCode, String) {
    let (reply, rx) = oneshot::channel();
    if s.tx.send(Request { query, reply }).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "sensor stopping\n".into());
    }
    match tokio::time::timeout(Duration::from_secs(5), rx).await {
        Ok(Ok((code, body))) => (StatusCode::from_u16(code).unwrap_or(StatusCode::OK), body),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "pipeline did not answer within 5 s\n".into()),
    }
}

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    let (code, body) = ask(&s, Query::Metrics).await;
    (code, [("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
}

async fn healthz(State(s): State<Shared>) -> impl IntoResponse {
    ask(&s, Query::Health).await
}

async fn readyz(State(s): State<Shared>) -> impl IntoResponse {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

/// Binds `addr` (an error if taken) and serves in the background. Returns the bound
/// address (port 0 picks a free one) and the receiver the run loop answers on.
pub async fn start(
    addr: SocketAddr,
    ready: Arc<AtomicBool>,
) -> std::io::Result<(SocketAddr, mpsc::Receiver<Request>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let (tx, rx) = mpsc::channel(16);
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Shared { tx, ready });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("metrics endpoint stopped: {e}");
        }
    });
    Ok((bound, rx))
}

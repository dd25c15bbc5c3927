//! `/metrics` from a `prometheus-client` registry.

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label naming a controller, for both managers' reconcile metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    /// The controller: `server`, `serverclass`, `environment`; `metalcluster`,
    /// `metalmachine`, `serverbinding`.
    pub controller: &'static str,
}

/// Buckets of the reconcile duration histograms: 5 ms … ~41 s, API round trips up to slow
/// BMCs.
pub fn reconcile_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Encodes `registry` in the OpenMetrics text format.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

/// A router serving `GET /metrics` from `registry`.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let registry = Arc::clone(&registry);
            async move {
                match encode(&registry) {
                    Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
                    Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        }),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    #[test]
    fn counters_are_encoded() {
        let mut r = super::Registry::default();
        let c = Counter::<u64>::default();
        r.register("sidero_things", "Things seen", c.clone());
        c.inc_by(3);
        let text = super::encode(&r).unwrap();
        assert!(text.contains("sidero_things_total 3"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}

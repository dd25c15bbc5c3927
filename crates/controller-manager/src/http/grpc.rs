//! gRPC on the combined listener (spec §1.5): a request that is HTTP/2 **and** has a
//! `content-type` starting with `application/grpc` goes to the gRPC services; everything else
//! (HTTP/1.1, and HTTP/2 without that content type) to the HTTP router. A gRPC method no
//! service serves is answered `Unimplemented`.

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::Version;
use http::header::CONTENT_TYPE;
use tower::{ServiceExt, service_fn};

/// Joins `http` and the gRPC services `grpc` on one router, to be served with
/// [`super::serve`] (h2c and HTTP/1.1 on the same port).
pub fn combined(http: Router, grpc: tonic::service::Routes) -> Router {
    let grpc = grpc.prepare().into_axum_router().fallback(unknown_method);
    Router::new().fallback_service(service_fn(move |req: Request| {
        let target = if is_grpc(&req) {
            grpc.clone()
        } else {
            http.clone()
        };
        target.oneshot(req)
    }))
}

/// Whether the request goes to the gRPC services.
pub fn is_grpc<B>(req: &http::Request<B>) -> bool {
    req.version() == Version::HTTP_2
        && req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// `Unimplemented` for a gRPC method no service serves.
async fn unknown_method(req: Request) -> Response {
    let status = tonic::Status::unimplemented(format!("Unknown method {}", req.uri().path()));
    status.into_http::<axum::body::Body>().into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::is_grpc;
    use http::{Request, Version};

    fn req(version: Version, ct: Option<&str>) -> Request<()> {
        let mut b = Request::builder()
            .version(version)
            .uri("/api.Agent/Heartbeat");
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn routing_rule() {
        let cases = [
            (Version::HTTP_2, Some("application/grpc"), true),
            (Version::HTTP_2, Some("application/grpc+proto"), true),
            (Version::HTTP_2, Some("text/plain"), false),
            (Version::HTTP_2, None, false),
            (Version::HTTP_11, Some("application/grpc"), false),
            (Version::HTTP_10, None, false),
        ];
        for (version, ct, want) in cases {
            assert_eq!(is_grpc(&req(version, ct)), want, "{version:?} {ct:?}");
        }
    }
}

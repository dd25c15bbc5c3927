//! Serves a directory over TFTP: `cargo run -p sidero-tftp --example serve_dir -- DIR [ADDR] [multi]`.
//!
//! Logs go to stderr (`RUST_LOG` filters, default `info`).

use sidero_tftp::{DirSource, ServerConfig, SocketMode, TftpServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: serve_dir DIR [ADDR] [multi]")?;
    let bind = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:6969".to_owned())
        .parse()?;
    let mode = match args.next().as_deref() {
        Some("multi") => SocketMode::MultiPort,
        _ => SocketMode::SinglePort,
    };
    let config = ServerConfig {
        bind,
        mode,
        ..ServerConfig::default()
    };
    let server = TftpServer::bind(config, DirSource::new(dir)?).await?;
    eprintln!("serving on {}", server.local_addr()?);
    server
        .serve_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    Ok(())
}

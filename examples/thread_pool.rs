//! Thread-pool isolation of a blocking client.
//!
//! Run: `cargo run --example thread_pool`
//!
//! A blocking HTTP client (plain `std::net::TcpStream`) would stall an
//! async runtime's thread for as long as the dependency takes. Run on a
//! palisade `ThreadPool`, it blocks the pool's own threads instead: the
//! caller's current-thread runtime keeps serving other work (here, a
//! ticker) while the slow calls run, and a full pool rejects at once
//! instead of queueing without bound.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use palisade::bulkhead::{PoolError, ThreadPool};

/// A blocking HTTP GET, as an old client library would do it.
fn blocking_get(addr: std::net::SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.lines().last().unwrap_or_default().to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A slow dependency: 300 ms per request.
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "slow answer"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // The server runs on its own thread, as a remote service would.
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async { axum::serve(listener, app).await.unwrap() })
    });

    let pool = ThreadPool::builder()
        .name("legacy-http")
        .threads(2)
        .queue(2)
        .build()?;
    let start = Instant::now();
    let calls: Vec<_> = (0..5)
        .map(|_| pool.spawn_blocking(move || blocking_get(addr)))
        .collect();
    // Meanwhile the caller's runtime is free.
    let ticker = tokio::spawn(async move {
        for i in 0..5 {
            println!(
                "  caller still responsive at {:>3} ms (tick {i})",
                start.elapsed().as_millis()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    for (i, call) in calls.into_iter().enumerate() {
        match call.await {
            Ok(Ok(body)) => println!("call {i}: {body} after {} ms", start.elapsed().as_millis()),
            Ok(Err(e)) => println!("call {i}: I/O error {e}"),
            Err(PoolError::Rejected(full)) => println!("call {i}: rejected at once: {full}"),
            Err(e) => println!("call {i}: {e}"),
        }
    }
    ticker.await?;
    println!("{:?}", pool.metrics());
    Ok(())
}

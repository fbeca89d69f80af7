//! The HTTP server's connection bounds, on the real binary: connections that send nothing
//! or send their headers too slowly are closed, and a flood of them beyond
//! `--max-connections` is shed at once while a client already being served keeps being
//! answered.

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::support::{ADMIN_WEBHOOKS, Service};

const LIMIT: usize = 50;

fn start(dir: &std::path::Path) -> Service {
    ADMIN_WEBHOOKS.start(
        dir,
        &[
            "--max-connections",
            &LIMIT.to_string(),
            "--header-read-timeout",
            "1s",
            "--idle-timeout",
            "2s",
        ],
    )
}

/// Waits until the server closes `stream` (EOF or reset), at most until `deadline`;
/// returns the bytes it sent before closing, or `None` if it was still open.
async fn closed_by(stream: &mut TcpStream, deadline: Instant) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectionReset => return Some(received),
            Ok(Err(e)) => panic!("reading: {e}"),
        }
    }
}

#[tokio::test]
async fn a_flood_of_idle_connections_is_shed_and_closed_while_served_clients_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let service = start(dir.path());
    let addr = service.base.trim_start_matches("http://").to_owned();

    // A client connected before the flood, keeping its one connection busy (well within
    // the idle timeout) throughout.
    let client = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let health = service.url("/healthz");
    assert_eq!(client.get(&health).send().await.unwrap().status(), 200);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let served = tokio::spawn({
        let (stop, answered) = (stop.clone(), answered.clone());
        async move {
            let mut pace = tokio::time::interval(Duration::from_millis(100));
            while !stop.load(Ordering::Relaxed) {
                pace.tick().await;
                let status = client.get(&health).send().await.expect("served").status();
                assert_eq!(status, 200);
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }
    });

    // More silent connections than the limit: the excess is closed at once, the rest
    // when their request head does not come within the header timeout.
    let mut idle = Vec::new();
    for _ in 0..LIMIT + 20 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for (i, stream) in idle.iter_mut().enumerate() {
        let sent = closed_by(stream, deadline).await;
        assert_eq!(sent, Some(Vec::new()), "idle connection {i} still open");
    }
    assert!(
        service.log().contains("connection limit reached"),
        "the excess connections were not shed"
    );

    // The served client was answered all along, and new clients are accepted again.
    let before = answered.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while answered.load(Ordering::Relaxed) < before + 3 {
        assert!(Instant::now() < deadline, "the served client stalled");
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    served.await.expect("the served client never failed");
    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    let status = fresh
        .get(service.url("/healthz"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let service = start(dir.path());
    let addr = service.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // One byte every 200 ms keeps the connection from ever being idle (2 s); only the
    // header timeout (1 s) can end it.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(10);
    let mut pace = tokio::time::interval(Duration::from_millis(200));
    let mut buf = [0u8; 256];
    let closed = loop {
        tokio::select! {
            _ = pace.tick() => {
                if stream.write_all(b"a").await.is_err() {
                    break true;
                }
            }
            read = stream.read(&mut buf) => {
                match read {
                    Ok(0) | Err(_) => break true,
                    Ok(n) => panic!("answered a request whose head never ended: {:?}",
                        String::from_utf8_lossy(&buf[..n])),
                }
            }
            _ = tokio::time::sleep_until(deadline) => break false,
        }
    };
    assert!(closed, "a slow-header client was kept for 10 s");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let service = start(dir.path());
    let addr = service.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let answered = Instant::now();
    assert!(
        closed_by(&mut stream, answered + Duration::from_secs(10))
            .await
            .is_some(),
        "an idle kept-alive connection was kept for 10 s"
    );
    // Closed by the idle timeout (2 s), not by the header timeout (1 s): waiting for the
    // next request is not sending a slow one.
    assert!(
        answered.elapsed() >= Duration::from_millis(1_900),
        "{:?}",
        answered.elapsed()
    );
}

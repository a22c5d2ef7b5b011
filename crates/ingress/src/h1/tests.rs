//! The lean client against a scripted upstream on loopback: each accepted connection answers
//! its requests with the next canned responses, byte for byte.

use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

/// An upstream that answers request after request with `answers` in turn (each connection
/// takes the next ones); an answer of `None` closes the connection instead. Returns its
/// address and the count of connections it accepted.
async fn upstream(answers: Vec<Option<&'static str>>) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let conns = Arc::new(AtomicUsize::new(0));
    let answers = Arc::new(Mutex::new(answers.into_iter()));
    let counted = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let mut b = [0u8; 4096];
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&b[..n]),
                        }
                    }
                    got.clear();
                    let next = answers.lock().expect("answers").next().flatten();
                    match next {
                        Some(a) => {
                            s.write_all(a.as_bytes()).await.expect("answer");
                            if a.contains("connection: close") {
                                return;
                            }
                        }
                        None => return,
                    }
                }
            });
        }
    });
    (addr, conns)
}

fn parts(method: &str, headers: &[(&str, &str)]) -> hyper::http::request::Parts {
    let mut b = hyper::Request::builder().method(method).uri("/x");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).expect("request").into_parts().0
}

/// Sends a bodiless `method` request for `/x` through `pool`.
async fn send(pool: &Arc<Pool>, addr: SocketAddr, method: &str) -> Result<Response<H1Body>, Error> {
    let head = parts(method, &[("host", "h")]);
    request(pool, addr, Duration::from_secs(1), &head, "/x", true).await
}

async fn get(pool: &Arc<Pool>, addr: SocketAddr, method: &str) -> Result<(u16, Bytes), Error> {
    let resp = send(pool, addr, method).await?;
    let code = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((code, body))
}

#[tokio::test]
async fn content_length_answers_reuse_one_connection() {
    let answer = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
    let (addr, conns) = upstream(vec![Some(answer), Some(answer), Some(answer)]).await;
    let pool = Arc::new(Pool::default());
    for _ in 0..3 {
        let (code, body) = get(&pool, addr, "GET").await.expect("answer");
        assert_eq!((code, &body[..]), (200, &b"hello"[..]));
        assert_eq!(pool.idle(), 1);
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn chunked_bodies_are_decoded_with_extensions_and_trailers() {
    let answer = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                  5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: t\r\n\r\n";
    let (addr, conns) = upstream(vec![Some(answer), Some(answer)]).await;
    let pool = Arc::new(Pool::default());
    for _ in 0..2 {
        let resp = send(&pool, addr, "GET").await.expect("answer");
        assert!(resp.headers().get("transfer-encoding").is_none());
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], b"hello, world");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_body_without_length_runs_to_close_and_is_not_pooled() {
    let answer = "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it";
    let (addr, _) = upstream(vec![Some(answer), None]).await;
    let pool = Arc::new(Pool::default());
    let resp = send(&pool, addr, "GET").await.expect("answer");
    assert!(resp.headers().get("connection").is_none());
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"all of it");
    assert_eq!(pool.idle(), 0);
}

#[tokio::test]
async fn interim_answers_are_skipped_and_head_has_no_body() {
    let answers = vec![
        Some(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
        ),
        Some("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"),
        Some("HTTP/1.1 204 No Content\r\n\r\n"),
    ];
    let (addr, conns) = upstream(answers).await;
    let pool = Arc::new(Pool::default());
    assert_eq!(
        get(&pool, addr, "GET").await.expect("answer"),
        (201, Bytes::from_static(b"ok"))
    );
    let resp = send(&pool, addr, "HEAD").await.expect("answer");
    assert_eq!(resp.headers()["content-length"], "1000");
    assert!(hyper::body::Body::is_end_stream(resp.body()));
    drop(resp);
    assert_eq!(
        get(&pool, addr, "GET").await.expect("answer"),
        (204, Bytes::new())
    );
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn broken_framing_is_an_upstream_error() {
    let (addr, _) = upstream(vec![Some(
        "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabc",
    )])
    .await;
    let pool = Arc::new(Pool::default());
    assert!(get(&pool, addr, "GET").await.is_err());
    let (addr, _) = upstream(vec![Some(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    )])
    .await;
    assert!(get(&pool, addr, "GET").await.is_err());
    let (addr, _) = upstream(vec![Some(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nabc",
    )])
    .await;
    assert!(get(&pool, addr, "GET").await.is_err());
    assert_eq!(pool.idle(), 0);
}

#[tokio::test]
async fn a_pooled_connection_closed_by_the_upstream_is_replaced_transparently() {
    let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    // The first connection answers once and closes when asked again; the request then goes
    // out again on a new connection.
    let (addr, conns) = upstream(vec![Some(answer), None, Some(answer)]).await;
    let pool = Arc::new(Pool::default());
    get(&pool, addr, "GET").await.expect("first");
    assert_eq!(
        get(&pool, addr, "GET").await.expect("second, retried"),
        (200, Bytes::from_static(b"ok"))
    );
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[test]
fn the_head_joins_cookies_and_drops_transfer_encoding() {
    let p = parts(
        "GET",
        &[
            ("host", "a"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("transfer-encoding", "chunked"),
            ("x-two", "1"),
            ("x-two", "2"),
        ],
    );
    let h = String::from_utf8(head(&p.method, "/p?q=1", &p.headers)).expect("utf-8");
    assert_eq!(
        h,
        "GET /p?q=1 HTTP/1.1\r\nhost: a\r\ncookie: a=1; b=2\r\nx-two: 1\r\nx-two: 2\r\n\r\n"
    );
}

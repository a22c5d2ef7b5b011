//! `knet echo`, the built-in workload, exactly per the contract: HTTP, UDP and WebSocket.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use e2e::{knet_bin, require};
use futures::{SinkExt as _, StreamExt as _};

struct Echo {
    child: Child,
    http: String,
    udp: String,
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> anyhow::Result<Echo> {
    let mut child = Command::new(knet_bin())
        .args(["echo", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
        .env("POD_NAME", "web-1")
        .env("POD_NAMESPACE", "shop")
        .env("POD_IP", "127.0.0.1")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let word = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    Ok(Echo {
        http: word("http="),
        udp: word("udp="),
        child,
    })
}

fn curl(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    require("curl")?;
    let out = Command::new("curl").args(["-sS"]).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[test]
fn http_requests_are_described() -> anyhow::Result<()> {
    let e = start()?;
    let body = curl(&[
        "-X",
        "POST",
        "-H",
        "Host: foo.bar.com",
        "-H",
        "X-Forwarded-For: 127.0.0.1",
        &format!("http://{}/foo?x=1", e.http),
    ])?;
    assert_eq!(body["pod"], "web-1");
    assert_eq!(body["namespace"], "shop");
    assert_eq!(body["pod_ip"], "127.0.0.1");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/foo?x=1");
    assert_eq!(body["host"], "foo.bar.com");
    assert_eq!(body["proto"], "HTTP/1.1");
    assert_eq!(
        body["headers"]["x-forwarded-for"],
        serde_json::json!(["127.0.0.1"])
    );
    assert!(
        body["remote_addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:"))
    );
    for probe in ["/healthz", "/readiness", "/liveness", "/prestop"] {
        assert_eq!(
            curl(&[&format!("http://{}{probe}", e.http)])?["path"],
            probe
        );
    }
    let h2 = curl(&["--http2-prior-knowledge", &format!("http://{}/", e.http)])?;
    assert_eq!(h2["proto"], "HTTP/2.0");
    Ok(())
}

#[test]
fn udp_datagrams_get_the_pod_name() -> anyhow::Result<()> {
    let e = start()?;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    socket.send_to(b"ping", &e.udp)?;
    let mut buf = [0u8; 64];
    let (n, _) = socket.recv_from(&mut buf)?;
    assert_eq!(&buf[..n], b"web-1");
    Ok(())
}

#[tokio::test]
async fn websocket_on_ws_echoes() -> anyhow::Result<()> {
    let e = start()?;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", e.http)).await?;
    ws.send("hello".into()).await?;
    let reply = ws.next().await.expect("a reply")?;
    assert_eq!(reply.into_text()?.as_str(), "hello");
    ws.close(None).await?;
    Ok(())
}
